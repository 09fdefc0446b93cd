"""resample() against bars computed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.data.resample import resample
from workbench.errors import ConfigError, DataError


def frame(rows: list[tuple[str, float, float, float, float, float]]) -> pd.DataFrame:
    index = pd.DatetimeIndex([r[0] for r in rows], tz="UTC", name="time")
    data = [r[1:] for r in rows]
    out = pd.DataFrame(
        data, index=index, columns=["open", "high", "low", "close", "volume"], dtype=float
    )
    out.attrs = {"symbol": "HAND"}
    return out


DAILY = frame(
    [
        ("2024-01-03", 10, 12, 9, 11, 100),  # Wed
        ("2024-01-04", 11, 13, 10, 12, 200),
        ("2024-01-05", 12, 12.5, 8, 9, 300),  # Fri
        ("2024-01-08", 9, 10, 8.5, 9.5, 400),  # Mon
        ("2024-01-09", 9.5, 11, 9, 10.5, 500),
        # week of 15 Jan: no bars (dropped, not NaN)
        ("2024-01-22", 10, 10.5, 9.5, 10, 50),
        ("2024-02-01", 10, 20, 1, 15, 60),
    ]
)


def test_weekly_bars_from_daily_labelled_monday():
    got = resample(DAILY, "W")
    want = frame(
        [
            ("2024-01-01", 10, 13, 8, 9, 600),
            ("2024-01-08", 9, 11, 8.5, 10.5, 900),
            ("2024-01-22", 10, 10.5, 9.5, 10, 50),
            ("2024-01-29", 10, 20, 1, 15, 60),
        ]
    )
    pd.testing.assert_frame_equal(got, want)
    assert got.attrs["symbol"] == "HAND"


def test_monthly_bars_labelled_on_the_first():
    want = frame([("2024-01-01", 10, 13, 8, 10, 1550), ("2024-02-01", 10, 20, 1, 15, 60)])
    pd.testing.assert_frame_equal(resample(DAILY, "ME"), want)
    pd.testing.assert_frame_equal(resample(DAILY, "MS"), want, check_freq=False)


def test_weeks_ending_friday():
    got = resample(DAILY.iloc[:5], "W-FRI")
    assert list(got.index.strftime("%Y-%m-%d")) == ["2023-12-30", "2024-01-06"]
    assert list(got["volume"]) == [600.0, 900.0]


def test_five_minute_bars_from_minutes():
    minutes = frame(
        [
            ("2024-01-02 14:30", 1, 2, 0.5, 1.5, 10),
            ("2024-01-02 14:31", 1.5, 3, 1, 2, 20),
            ("2024-01-02 14:34", 2, 2.5, 0.1, 0.2, 30),
            ("2024-01-02 14:35", 0.2, 1, 0.2, 0.9, 40),
            ("2024-01-02 14:41", 0.9, 1, 0.8, 0.8, 50),
        ]
    )
    got = resample(minutes, "5min")
    want = frame(
        [
            ("2024-01-02 14:30", 1, 3, 0.1, 0.2, 60),
            ("2024-01-02 14:35", 0.2, 1, 0.2, 0.9, 40),
            ("2024-01-02 14:40", 0.9, 1, 0.8, 0.8, 50),
        ]
    )
    pd.testing.assert_frame_equal(got, want, check_freq=False)


def test_adj_close_last_other_columns_dropped_or_aggregated():
    bars = DAILY.iloc[:2].assign(adj_close=[5.0, 6.0], trades=[3, 4])
    assert list(resample(bars, "W").columns) == [
        "open",
        "high",
        "low",
        "close",
        "volume",
        "adj_close",
    ]
    got = resample(bars, "W", extra={"trades": "sum"})
    assert (got["adj_close"].iloc[0], got["trades"].iloc[0]) == (6.0, 7)


def test_dict_in_dict_out():
    got = resample({"A": DAILY, "B": DAILY.iloc[:3]}, "W")
    assert list(got) == ["A", "B"]
    assert len(got["B"]) == 1


@pytest.mark.parametrize(
    ("rule", "match"),
    [("1h", "finer"), ("B", "not supported"), ("nonsense", "not a frequency"), ("36h", "multiple")],
)
def test_bad_rules_are_refused(rule, match):
    with pytest.raises(ConfigError, match=match):
        resample(DAILY, rule)


def test_unsorted_bars_are_refused():
    with pytest.raises(DataError, match="not sorted"):
        resample(DAILY.iloc[[1, 0, 2]], "W")


def test_alpaca_trade_count_summed_and_vwap_volume_weighted():
    index = pd.date_range("2024-01-02 14:30", periods=4, freq="1min", tz="UTC", name="time")
    bars = pd.DataFrame(
        {"open": 10.0, "high": 11.0, "low": 9.0, "close": 10.0,
         "volume": [100.0, 300.0, 0.0, 50.0], "trade_count": [5.0, 7.0, 0.0, 2.0],
         "vwap": [10.0, 10.4, np.nan, np.nan]},
        index=index,
    )  # fmt: skip
    got = resample(bars, "2min")
    assert list(got["trade_count"]) == [12.0, 2.0]
    assert got["vwap"].iloc[0] == pytest.approx((10.0 * 100 + 10.4 * 300) / 400)
    assert np.isnan(got["vwap"].iloc[1])  # no bar with a known vwap and volume
