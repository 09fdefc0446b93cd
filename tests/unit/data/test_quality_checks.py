"""validate(): each check flags exactly the defect it is about, and a clean frame passes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from workbench.data.quality import Issue, QualityReport, format_interval, validate
from workbench.errors import ConfigError


def checks(report: QualityReport) -> set[str]:
    return {issue.check for issue in report.issues}


def issue(report: QualityReport, check: str) -> Issue:
    return next(i for i in report.issues if i.check == check)


def test_clean_frame_passes(make_bars):
    report = validate(make_bars())
    assert report.issues == []
    assert report.ok
    assert report.calendar == "XNYS"
    assert report.interval == pd.Timedelta(days=1)
    assert report.rows == 8


def test_duplicate_timestamps(make_bars):
    bars = make_bars()
    bars = pd.concat([bars.iloc[:3], bars.iloc[2:]])
    report = validate(bars)
    assert checks(report) == {"duplicates"}
    found = issue(report, "duplicates")
    assert (found.severity, found.count, found.rows) == ("error", 1, (3,))
    assert found.examples == (str(bars.index[3]),)
    assert not report.ok


def test_out_of_order_rows(make_bars):
    bars = make_bars().iloc[[0, 1, 3, 2, 4, 5, 6, 7]]
    report = validate(bars)
    assert checks(report) == {"order"}
    assert issue(report, "order").rows == (3,)


def test_missing_values(make_bars):
    bars = make_bars()
    bars.iloc[4, bars.columns.get_loc("close")] = np.nan
    report = validate(bars)
    assert checks(report) == {"missing"}
    found = issue(report, "missing")
    assert found.rows == (4,)
    assert "close 1" in found.message


@pytest.mark.parametrize("column", ["open", "low", "close"])
def test_non_positive_price(make_bars, column):
    bars = make_bars()
    bars["low"] = bars["low"].where(bars.index != bars.index[2], -1.0)
    if column != "low":
        bars.loc[bars.index[2], ["low", column]] = [-1.0, 0.0]
    report = validate(bars)
    assert checks(report) == {"non_positive"}
    assert issue(report, "non_positive").rows == (2,)


def test_negative_volume(make_bars):
    bars = make_bars()
    bars.loc[bars.index[1], "volume"] = -5.0
    assert checks(validate(bars)) == {"negative_volume"}


@pytest.mark.parametrize(
    ("column", "value"),
    [("high", 100.0), ("low", 102.0), ("high", 98.0)],
    ids=["high-below-close", "low-above-open", "high-below-low"],
)
def test_ohlc_inconsistency(make_bars, column, value):
    bars = make_bars()  # row 1: open 101, close 101.5, high 102.5, low 100
    bars.loc[bars.index[1], column] = value
    report = validate(bars)
    assert checks(report) == {"ohlc"}
    assert issue(report, "ohlc").rows == (1,)


def test_zero_volume_is_a_warning(make_bars):
    bars = make_bars()
    bars.loc[bars.index[[2, 5]], "volume"] = 0.0
    report = validate(bars)
    assert checks(report) == {"zero_volume"}
    assert issue(report, "zero_volume").severity == "warning"
    assert issue(report, "zero_volume").count == 2
    assert report.ok


def test_missing_session_is_a_gap(make_bars):
    bars = make_bars().drop(pd.Timestamp("2024-01-04", tz="UTC"))
    report = validate(bars)
    assert checks(report) == {"gaps"}
    found = issue(report, "gaps")
    assert (found.severity, found.count, found.examples) == ("warning", 1, ("2024-01-04",))


def test_weekends_and_holidays_are_not_gaps(bars_on):
    holidays = ["2023-12-25", "2024-01-01", "2024-01-15"]  # Christmas, New Year, MLK day
    days = pd.bdate_range("2023-12-20", "2024-01-19", tz="UTC")
    report = validate(bars_on(days.drop(pd.DatetimeIndex(holidays, tz="UTC"))))
    assert report.issues == []


def test_bar_on_a_holiday_is_off_calendar(make_bars):
    bars = make_bars(n=12)  # business days include Mon 15 Jan 2024, MLK day
    report = validate(bars)
    assert checks(report) == {"off_calendar"}
    assert issue(report, "off_calendar").examples == (str(pd.Timestamp("2024-01-15", tz="UTC")),)


def test_without_calendar_daily_bars_are_checked_against_weekdays(make_bars):
    bars = make_bars(n=12)  # includes MLK day: a weekday, so fine without a calendar
    assert validate(bars, calendar=None).issues == []
    report = validate(bars.drop(pd.Timestamp("2024-01-09", tz="UTC")), calendar=None)
    assert checks(report) == {"gaps"}
    assert issue(report, "gaps").examples == ("2024-01-09",)


def test_intraday_gap_within_a_session_but_not_overnight(bars_on):
    days = ["2024-01-02", "2024-01-03"]
    stamps = [pd.date_range(f"{d} 14:30", periods=6, freq="1min", tz="UTC") for d in days]
    index = stamps[0].append(stamps[1])
    assert validate(bars_on(index)).issues == []
    report = validate(bars_on(index.delete(8)))
    assert checks(report) == {"gaps"}
    found = issue(report, "gaps")
    assert found.count == 1
    assert found.examples == (str(index[7]),)
    assert "2min" in found.message


def test_round_the_clock_data_gap_at_weekend_is_flagged(bars_on):
    index = pd.date_range("2024-01-05", periods=6, freq="1D", tz="UTC")  # Fri..Wed
    assert validate(bars_on(index)).issues == []
    report = validate(bars_on(index.delete(2)))  # drop Sunday
    assert checks(report) == {"gaps"}


def test_stale_run_threshold(make_bars):
    bars = make_bars(n=10, start="2024-02-05")
    bars["close"] = [100, 101, 102, 102, 102, 102, 103, 104, 105, 106.0]  # 4 equal
    bars["high"] = bars[["open", "close"]].max(axis=1) + 1
    bars["low"] = bars[["open", "close"]].min(axis=1) - 1
    assert "stale" not in checks(validate(bars))
    bars.loc[bars.index[6], "close"] = 102.0  # now 5 equal closes from row 2
    bars["high"] = bars[["open", "close"]].max(axis=1) + 1
    bars["low"] = bars[["open", "close"]].min(axis=1) - 1
    report = validate(bars)
    assert checks(report) == {"stale"}
    found = issue(report, "stale")
    assert (found.severity, found.rows) == ("warning", (2,))
    assert "longest 5" in found.message
    assert "stale" not in checks(validate(bars, stale_run=None))


def test_naive_index_is_reported_not_raised(make_bars):
    bars = make_bars().tz_localize(None)
    report = validate(bars)
    assert checks(report) == {"timezone"}
    assert "naive" in issue(report, "timezone").message


def test_mixed_time_zones_are_reported(make_bars):
    bars = make_bars(n=4)
    stamps = [t.tz_convert("America/New_York") if i % 2 else t for i, t in enumerate(bars.index)]
    bars.index = pd.Index(stamps, dtype=object)
    report = validate(bars)
    assert "timezone" in checks(report)
    assert "mixed" in issue(report, "timezone").message
    assert not report.ok


def test_missing_column_and_text_values(make_bars):
    assert checks(validate(make_bars().drop(columns="volume"))) == {"columns"}
    bars = make_bars().astype({"close": object})
    bars.loc[bars.index[3], "close"] = "n/a"
    report = validate(bars)
    assert "columns" in checks(report)
    assert issue(report, "columns").rows == (3,)


def test_empty_frame_is_an_error(make_bars):
    report = validate(make_bars().iloc[:0])
    assert checks(report) == {"empty"}
    assert not report.ok


def test_index_that_is_not_time(make_bars):
    bars = make_bars().reset_index(drop=True)
    assert "index" in checks(validate(bars))


def test_report_outputs(make_bars):
    bars = make_bars()
    bars.loc[bars.index[2], "volume"] = 0.0
    bars.loc[bars.index[3], "high"] = 50.0
    report = validate(bars)
    assert [i.severity for i in report.issues] == ["error", "warning"]  # errors first
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False and data["errors"] == 1 and data["warnings"] == 1
    assert data["issues"][0]["check"] == "ohlc"
    frame = report.to_frame()
    assert list(frame["check"]) == ["ohlc", "zero_volume"]
    text = str(report)
    assert "ohlc" in text and "zero_volume" in text and "ERRORS" in text.splitlines()[0]


def test_unknown_calendar_is_a_config_error(make_bars):
    with pytest.raises(ConfigError, match="NOPE"):
        validate(make_bars(), calendar="NOPE")


@pytest.mark.parametrize(
    ("delta", "text"),
    [(pd.Timedelta(minutes=1), "1min"), (pd.Timedelta(hours=4), "4h"),
     (pd.Timedelta(days=1), "1 day"), (pd.Timedelta(days=7), "7 days"), (None, "?")],
)  # fmt: skip
def test_format_interval(delta, text):
    assert format_interval(delta) == text


def test_infinite_values_are_an_error(make_bars):
    bars = make_bars()
    bars.iloc[2, bars.columns.get_loc("high")] = np.inf  # passes the ohlc check
    bars.iloc[5, bars.columns.get_loc("volume")] = np.inf
    report = validate(bars)
    assert not report.ok and checks(report) == {"infinite"}
    found = issue(report, "infinite")
    assert found.rows == (2, 5)
    assert "high 1, volume 1" in found.message
