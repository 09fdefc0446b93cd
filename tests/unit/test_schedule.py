"""Rebalancing schedules on the exchange calendar, bar by bar and for a whole index; an
intraday bar's session is its date on the calendar's clock (New York for XNYS)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.errors import ConfigError
from workbench.schedule import Schedule


def days(*dates: str) -> list[pd.Timestamp]:
    return [pd.Timestamp(d, tz="UTC") for d in dates]


@pytest.mark.parametrize(
    ("rule", "hits", "misses"),
    [
        # 2023-03-31 is a Friday session; 2024-03-29 is Good Friday, so 03-28 is the last
        ("month_end", ["2023-03-31", "2024-03-28", "2023-06-30"], ["2024-03-29", "2023-03-30"]),
        # 2024-01-01 is a holiday: the first session of January 2024 is 01-02
        ("month_start", ["2024-01-02", "2023-03-01"], ["2024-01-01", "2024-01-03"]),
        # Juneteenth 2023-06-19 is a Monday holiday: that week starts on Tuesday
        ("week_start", ["2023-06-20", "2023-06-26"], ["2023-06-19", "2023-06-21"]),
        # Good Friday 2024-03-29: that week ends on Thursday
        ("week_end", ["2024-03-28", "2024-04-05"], ["2024-03-29", "2024-04-04"]),
    ],
)
def test_first_and_last_sessions_on_the_new_york_calendar(rule, hits, misses):
    for t in days(*hits):
        assert Schedule(rule).due(t), (rule, t)
    for t in days(*misses):
        assert not Schedule(rule).due(t), (rule, t)


def test_due_fires_once_per_session_on_intraday_bars_and_mask_agrees():
    index = pd.date_range("2023-03-30 14:30", "2023-04-03 20:00", freq="30min", tz="UTC")
    sched = Schedule("month_end")
    fired = [t for t in index if sched.due(t)]
    # the first bar of that New York day: 00:00 EDT (00:00 UTC is the 30th's 20:00)
    assert fired == [pd.Timestamp("2023-03-31 04:00", tz="UTC")]
    mask = Schedule("month_end").mask(index)
    assert list(index[mask]) == fired


def test_mask_equals_due_on_daily_bars_over_years():
    index = pd.bdate_range("1995-01-01", "2010-12-31", tz="UTC")
    for rule in ("month_end", "week_start"):
        sched = Schedule(rule)
        by_bar = np.array([sched.due(t) for t in index])
        np.testing.assert_array_equal(Schedule(rule).mask(index), by_bar)
        assert 150 < by_bar.sum() < 900


def _extended_hours(*dates: str) -> pd.DatetimeIndex:
    """30-minute bars from 04:00 to 20:00 New York: in winter (EST) the bars from 19:00
    are after midnight UTC, on the next UTC date."""
    starts = [pd.Timestamp(f"{d} 04:00", tz="America/New_York") for d in dates]
    index = [t + pd.Timedelta(minutes=30 * k) for t in starts for k in range(32)]
    return pd.DatetimeIndex(index).tz_convert("UTC")


WEEK = ("2024-02-27", "2024-02-28", "2024-02-29", "2024-03-01", "2024-03-04", "2024-03-05")


@pytest.mark.parametrize(
    ("rule", "new_york_days"),
    [
        ("month_end", ["2024-02-29"]),  # a Thursday; Wednesday's evening is not it
        ("month_start", ["2024-03-01"]),  # not Thursday 2024-02-29's evening
        ("week_end", ["2024-03-01"]),  # Friday
        ("week_start", ["2024-03-04"]),  # Monday, not Friday's evening (Saturday in UTC)
        ("daily", list(WEEK)),
    ],
)
def test_an_evening_after_midnight_utc_is_still_its_new_york_day(rule, new_york_days):
    index = _extended_hours(*WEEK)
    want = [pd.Timestamp(f"{d} 04:00", tz="America/New_York") for d in new_york_days]
    sched = Schedule(rule)
    assert [t for t in index if sched.due(t)] == want
    assert list(index[Schedule(rule).mask(index)]) == want


def test_days_tells_a_first_bar_at_midnight_utc_from_a_daily_bar():
    """2024-02-29 00:00 UTC: the daily bar of Thursday the 29th (the last session of
    February), or Wednesday's 19:00 New York minute; judged daily until a bar says not."""
    evening = pd.Timestamp("2024-02-29 00:00", tz="UTC")
    morning = pd.Timestamp("2024-02-29 04:00", tz="America/New_York").tz_convert("UTC")
    minutes = Schedule("month_end", days=False)
    assert (minutes.due(evening), minutes.due(morning)) == (False, True)
    judged = Schedule("month_end")
    assert (judged.due(evening), judged.due(morning)) == (True, False)
    index = pd.DatetimeIndex([evening, morning])
    assert list(Schedule("month_end", days=False).mask(index)) == [False, True]
    assert list(Schedule("month_end").mask(index)) == [True, False]


def test_every_calendar_day_without_a_calendar():
    index = pd.date_range("2024-01-01", periods=120, freq="D", tz="UTC")
    mask = Schedule("month_end", calendar=None).mask(index)
    assert [str(d.date()) for d in index[mask]] == ["2024-01-31", "2024-02-29", "2024-03-31"]


@pytest.mark.parametrize("calendar", [None, "24/7"])
def test_a_24_7_schedule_keeps_utc_days(calendar):
    index = pd.date_range("2024-01-30 18:00", "2024-02-01 06:00", freq="1h", tz="UTC")
    want = [pd.Timestamp("2024-01-31 00:00", tz="UTC")]
    sched = Schedule("month_end", calendar=calendar)
    assert [t for t in index if sched.due(t)] == want
    assert list(index[Schedule("month_end", calendar=calendar).mask(index)]) == want


def test_bad_rules_and_calendars_say_what_to_use():
    with pytest.raises(ConfigError, match="month_end"):
        Schedule("monthly")
    with pytest.raises(ConfigError, match="not known"):
        Schedule("month_end", calendar="NOPE")
    with pytest.raises(ConfigError, match="calendar=None"):
        Schedule("month_end").due(pd.Timestamp("1950-01-03", tz="UTC"))
