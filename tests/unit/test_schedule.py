"""Rebalancing schedules on the exchange calendar, bar by bar and for a whole index."""

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
    assert fired == [pd.Timestamp("2023-03-31 00:00", tz="UTC")]  # first bar of that day
    mask = Schedule("month_end").mask(index)
    assert list(index[mask]) == fired


def test_mask_equals_due_on_daily_bars_over_years():
    index = pd.bdate_range("1995-01-01", "2010-12-31", tz="UTC")
    for rule in ("month_end", "week_start"):
        sched = Schedule(rule)
        by_bar = np.array([sched.due(t) for t in index])
        np.testing.assert_array_equal(Schedule(rule).mask(index), by_bar)
        assert 150 < by_bar.sum() < 900


def test_every_calendar_day_without_a_calendar():
    index = pd.date_range("2024-01-01", periods=120, freq="D", tz="UTC")
    mask = Schedule("month_end", calendar=None).mask(index)
    assert [str(d.date()) for d in index[mask]] == ["2024-01-31", "2024-02-29", "2024-03-31"]


def test_bad_rules_and_calendars_say_what_to_use():
    with pytest.raises(ConfigError, match="month_end"):
        Schedule("monthly")
    with pytest.raises(ConfigError, match="not known"):
        Schedule("month_end", calendar="NOPE")
    with pytest.raises(ConfigError, match="calendar=None"):
        Schedule("month_end").due(pd.Timestamp("1950-01-03", tz="UTC"))
