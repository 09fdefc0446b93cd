"""Rebalancing schedules on the exchange calendar: the first or last session of a month or week.

A schedule is known in advance (the calendar is public), so asking "is today the last
session of the month?" on that session's close is not look-ahead: the decision fills on
the next session, the first of the new month. :meth:`Schedule.due` answers bar by bar
(the event engine and live); :meth:`Schedule.mask` answers for a whole index at once (the
vectorized path), with the same rule, so both paths rebalance on the same bars.

The session of an intraday bar is its date on the calendar's clock
(:func:`~workbench.data.sessions.calendar_zone`: New York for ``XNYS``), the day Alpaca
cuts a stock's daily bar on: an evening bar after 19:00 New York, past midnight UTC in
winter, is still that day's, and a Friday evening is Friday's. On intraday bars a schedule
fires on the first bar of a scheduled session. Daily bars are labelled 00:00 UTC of their
date and keep it. Which kind a schedule is given is judged from its bars (daily until a
bar is not at midnight UTC or comes less than a day after the one before, by :meth:`due`
and :meth:`mask` alike) unless ``days`` says so. ``calendar=None`` treats every calendar
day as a session, on UTC days (24/7 data such as crypto or the default synthetic bars).
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workbench.data.sessions import calendar_zone, local_dates
from workbench.errors import ConfigError

RULES = ("month_end", "month_start", "week_end", "week_start", "daily")
_NS_PER_DAY = 86_400_000_000_000
_CALENDAR_SPAN = ("1985-01-02", "2045-12-29")


@dataclass(eq=False)
class Schedule:
    """Fires once on each scheduled session (``rule`` is one of :data:`RULES`);
    ``days``: whether the bars are daily (None: judged from them, module docstring)."""

    rule: str = "month_end"
    calendar: str | None = "XNYS"
    days: bool | None = None
    _last_day: int = field(default=-1, repr=False)
    _zone: str = field(default="UTC", init=False, repr=False)
    _previous: int | None = field(default=None, init=False, repr=False)
    _intraday: bool = field(default=False, init=False, repr=False)
    _window: tuple[int, int, int] = field(default=(0, 0, -1), init=False, repr=False)

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ConfigError(
                f"unknown schedule {self.rule!r}", hint=f"use one of {', '.join(RULES)}"
            )
        if self.calendar is not None:
            _session_days(self.calendar.upper())  # a bad name fails here, not mid-run
            self._zone = calendar_zone(self.calendar)

    def due(self, time: pd.Timestamp | int) -> bool:
        """True on the first bar of a scheduled session (bar by bar; remembers what fired)."""
        ns = time if isinstance(time, int) else pd.Timestamp(time).value
        day = self._day(ns)
        if day == self._last_day:
            return False
        if self.calendar is None:
            hit = bool(_scheduled(np.array([day]), self.rule, None)[0])
        else:
            name = self.calendar.upper()
            hit = day in _scheduled_set(self.rule, name)
            if not hit:
                _check_span(np.array([day]), name)
        if hit:
            self._last_day = day
        return hit

    def mask(self, index: pd.DatetimeIndex) -> np.ndarray:
        """For each bar of ``index``: does :meth:`due` fire there (starting fresh)?"""
        ns = pd.DatetimeIndex(index).as_unit("ns").asi8
        if self.days is None:
            gaps = np.diff(ns, prepend=ns[:1])
            intraday = np.logical_or.accumulate(
                (ns % _NS_PER_DAY != 0) | ((gaps > 0) & (gaps < _NS_PER_DAY))
            )
        else:
            intraday = np.full(len(ns), not self.days)
        days = np.where(intraday, local_dates(ns, self._zone), ns // _NS_PER_DAY)
        first = np.ones(len(days), dtype=bool)
        first[1:] = days[1:] != days[:-1]
        return first & _scheduled(days, self.rule, self.calendar)

    def _day(self, ns: int) -> int:
        """The session date of the bar at ``ns`` (days since the epoch), as :meth:`mask`'s."""
        if self.days is None:
            gap = ns - self._previous if self._previous is not None else 0
            self._previous = ns
            self._intraday = self._intraday or bool(ns % _NS_PER_DAY) or 0 < gap < _NS_PER_DAY
        intraday = self._intraday if self.days is None else not self.days
        if not intraday:
            return ns // _NS_PER_DAY
        lo, hi, day = self._window
        if not lo <= ns < hi:  # a new local day: its bounds, so the next bars skip tz work
            self._window = lo, hi, day = _local_day(ns, self._zone)
        return day


def _local_day(ns: int, zone: str) -> tuple[int, int, int]:
    """The local day of ``ns`` in ``zone``: its first and past-the-end instants (UTC ns)
    and its date (days since the epoch)."""
    date = pd.Timestamp(ns, tz="UTC").tz_convert(zone).tz_localize(None).normalize()
    lo, hi = (
        (d.tz_localize(zone, ambiguous=True, nonexistent="shift_forward").value)
        for d in (date, date + pd.Timedelta(days=1))
    )
    return lo, hi, date.value // _NS_PER_DAY


def _scheduled(days: np.ndarray, rule: str, calendar: str | None) -> np.ndarray:
    """Whether each day (days since the epoch) is a scheduled session."""
    if rule == "daily":
        if calendar is None:
            return np.ones(len(days), dtype=bool)
        sessions = _session_days(calendar.upper())
        return np.isin(days, sessions)
    if calendar is None:
        lo, hi = int(days.min(initial=0)) - 8, int(days.max(initial=0)) + 40
        sessions = np.arange(lo, hi, dtype=np.int64)
    else:
        sessions = _session_days(calendar.upper())
        _check_span(days, calendar.upper())
    marked = _marks(sessions, rule)
    pos = np.searchsorted(sessions, days)
    pos = np.clip(pos, 0, len(sessions) - 1)
    return (sessions[pos] == days) & marked[pos]


def _marks(sessions: np.ndarray, rule: str) -> np.ndarray:
    stamps = pd.DatetimeIndex(sessions * _NS_PER_DAY, tz="UTC")
    if rule.startswith("month"):
        period = (stamps.year * 12 + stamps.month).to_numpy()
    else:  # weeks start on Monday: days since the epoch's Monday (1970-01-05 is day 4)
        period = (sessions - 4) // 7
    change = np.ones(len(sessions), dtype=bool)
    if rule.endswith("_end"):
        change[:-1] = period[:-1] != period[1:]
    else:
        change[1:] = period[1:] != period[:-1]
    return change


def _check_span(days: np.ndarray, calendar: str) -> None:
    lo, hi = _span(calendar)
    if len(days) and (days.min() < lo or days.max() >= hi):
        raise ConfigError(
            f"bars outside the {calendar} calendar's span {_CALENDAR_SPAN[0]} to "
            f"{_CALENDAR_SPAN[1]}",
            hint="use calendar=None for data on every calendar day",
        )


@functools.lru_cache(maxsize=8)
def _span(calendar: str) -> tuple[int, int]:
    sessions = _session_days(calendar)
    return int(sessions[0]), int(sessions[-1])


@functools.lru_cache(maxsize=32)
def _scheduled_set(rule: str, calendar: str) -> frozenset[int]:
    sessions = _session_days(calendar)
    keep = sessions if rule == "daily" else sessions[_marks(sessions, rule)]
    return frozenset(keep.tolist())


@functools.lru_cache(maxsize=8)
def _session_days(name: str) -> np.ndarray:
    try:
        import exchange_calendars as xcals
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ConfigError("exchange_calendars is not installed") from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cal = xcals.get_calendar(name, start=_CALENDAR_SPAN[0], end=_CALENDAR_SPAN[1])
    except Exception as exc:
        raise ConfigError(
            f"exchange calendar {name!r} is not known ({exc})",
            hint="use an exchange_calendars code such as XNYS, or calendar=None",
        ) from None
    sessions = pd.DatetimeIndex(cal.sessions).tz_localize(None).as_unit("ns").asi8
    return sessions // _NS_PER_DAY


def schedule_of(value: Schedule | str | None, calendar: Any = "XNYS") -> Schedule | None:
    """A schedule from itself or a rule name (``None`` stays ``None``)."""
    if value is None or isinstance(value, Schedule):
        return value
    return Schedule(str(value), calendar)
