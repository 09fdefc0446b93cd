import pandas as pd
import pytest

from workbench.errors import ConfigError
from workbench.timeframe import TIMEFRAMES, Timeframe, infer_timeframe, parse_timeframe


@pytest.mark.parametrize(
    ("text", "name", "rule"),
    [
        ("1Min", "1Min", "1min"),
        ("1min", "1Min", "1min"),
        ("5Min", "5Min", "5min"),
        ("15min", "15Min", "15min"),
        ("1Hour", "1Hour", "1h"),
        ("1h", "1Hour", "1h"),
        ("60min", "1Hour", "1h"),
        ("1Day", "1Day", "1D"),
        ("1D", "1Day", "1D"),
        ("day", "1Day", "1D"),
    ],
)
def test_parse_names_and_aliases(text, name, rule):
    tf = parse_timeframe(text)
    assert tf.name == name and str(tf) == name
    assert tf.rule == rule
    assert tf.length == pd.Timedelta(rule)
    assert tf.offset == pd.tseries.frequencies.to_offset(rule)


@pytest.mark.parametrize("text", ["2Hour", "3Min", "1Week", "fortnight", "", "1.5h", 5])
def test_unsupported_timeframes_are_refused_naming_the_accepted(text):
    with pytest.raises(ConfigError, match="1Min, 5Min, 15Min, 1Hour, 1Day"):
        parse_timeframe(text)


def test_timeframe_is_frozen_and_validated():
    tf = parse_timeframe("1Day")
    assert tf == Timeframe(1, "Day") and not tf.intraday and parse_timeframe("5Min").intraday
    with pytest.raises(AttributeError):
        tf.amount = 2  # type: ignore[misc]
    with pytest.raises(ConfigError):
        Timeframe(2, "Day")
    assert TIMEFRAMES == ("1Min", "5Min", "15Min", "1Hour", "1Day")


def test_infer_from_business_days_with_holidays():
    days = pd.bdate_range("2024-01-01", "2024-03-01", tz="UTC").delete([10, 20])
    assert infer_timeframe(pd.DataFrame(index=days)).name == "1Day"


def test_infer_from_session_minutes_and_hours():
    minutes = pd.DatetimeIndex(
        list(pd.date_range("2024-01-02 14:30", periods=390, freq="1min", tz="UTC"))
        + list(pd.date_range("2024-01-03 14:30", periods=390, freq="1min", tz="UTC"))
    )
    assert infer_timeframe(minutes).name == "1Min"
    hours = pd.date_range("2024-01-02", periods=50, freq="1h", tz="UTC")
    assert infer_timeframe(hours).name == "1Hour"


def test_infer_refuses_an_unsupported_frequency():
    with pytest.raises(ConfigError, match="--timeframe"):
        infer_timeframe(pd.date_range("2024-01-01", periods=10, freq="2h", tz="UTC"))
