"""A run's trading days: the day an instant counts on, on the clock of the run's calendar.

The risk engine's day (the daily loss limit and its "only exits until the next day", the
day's start equity, ``max_orders_per_day``), the live runner's daily holdings check and
end-of-day tasks (``--reconcile-daily``) and the dashboard's "today" turn at midnight of
the calendar's zone (:func:`~workbench.data.sessions.calendar_zone`: New York for
``XNYS``, UTC for ``24/7``), as ``session="all"`` daily bars, the emulator's account day
and :class:`~workbench.schedule.Schedule` do, and as Alpaca's own day does (``last_equity``,
the day's P/L, pattern-day-trader day trades: the New York day). In winter an evening bar
after 19:00 New York is already the next UTC day; here it is still that evening's day.

Daily bars are labelled 00:00 UTC of their session's date (every daily bar in the
workbench is), which on New York's clock is the evening before: a run on daily bars
(``daily=True``) counts each bar on its label's date. The composition root says which a
run has (its timeframe, or its bars); with ``daily=None`` the days judge it from the
instants asked, as :class:`~workbench.schedule.Schedule` does: daily while each is at
00:00 UTC and a day or more after the one before, on the zone's clock from the first
that is not (for good: an intraday run whose first bar is an evening one at 00:00 UTC
counts that bar on the next date, then goes back to the evening's, which the risk engine
takes for the same day).

The day of an instant is worked out once per day, with ``datetime`` and ``zoneinfo`` (no
pandas): :meth:`TradingDays.day` keeps the last day's ``[start, end)`` in UTC ns and only
an instant outside it is dated again, so a caller asking on every bar pays a comparison.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from workbench.data.sessions import DEFAULT_CALENDAR, calendar_zone
from workbench.errors import ConfigError
from workbench.timeframe import parse_timeframe

__all__ = ["Day", "TradingDays", "are_daily"]

NS_PER_DAY = 86_400_000_000_000
_NS_PER_S = 1_000_000_000
_EPOCH = date(1970, 1, 1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Day:
    """One trading day: its date (``number``: days since the epoch; ``iso``, and the next
    day's ``next_iso``) and the instants it holds, ``[start_ns, end_ns)`` in UTC ns."""

    number: int
    start_ns: int
    end_ns: int
    iso: str
    next_iso: str

    @property
    def date(self) -> date:
        return _EPOCH + timedelta(days=self.number)


class TradingDays:
    """The days of a run on ``zone``'s clock (``daily``: bars labelled 00:00 UTC of their
    date, each counted on that date; None: judged from the instants asked, module
    docstring). ``zone`` names the days in messages either way."""

    __slots__ = ("_day", "_previous", "_tz", "daily", "zone")

    def __init__(self, zone: str = "UTC", *, daily: bool | None = False) -> None:
        self.zone = zone
        self.daily = daily
        # None: days are UTC dates (a UTC calendar, or daily bars dated by their label)
        self._tz = None if daily is not False or zone == "UTC" else ZoneInfo(zone)
        self._day: Day | None = None
        self._previous: int | None = None  # the latest instant judged (daily=None)

    @classmethod
    def of(cls, calendar: str | None, *, daily: bool | None = False) -> TradingDays:
        """The days of ``calendar`` (an ``exchange_calendars`` code; None: UTC days)."""
        return cls(calendar_zone(calendar) if calendar else "UTC", daily=daily)

    @classmethod
    def default(cls) -> TradingDays:
        """The days of a part built without being told the run's: the default calendar's
        (``XNYS``, as a run spec's), daily or not judged from the bars."""
        return cls.of(DEFAULT_CALENDAR, daily=None)

    def __repr__(self) -> str:
        return f"TradingDays({self.zone!r}, daily={self.daily})"

    def day(self, ns: int) -> Day:
        """The day holding the instant ``ns`` (UTC epoch ns)."""
        d = self._day
        if d is None or not d.start_ns <= ns < d.end_ns:
            d = self._day = self._dated(ns)
        return d

    def on(self, when: date) -> Day:
        """The day of the date ``when``."""
        number = (when - _EPOCH).days
        if self._tz is None:
            return _day(number, number * NS_PER_DAY, (number + 1) * NS_PER_DAY)
        return _day(number, self._midnight(when), self._midnight(when + _ONE_DAY))

    def start(self, day: Day) -> pd.Timestamp:
        """The first instant of ``day`` on its own clock: the zone's midnight (00:00 UTC
        of the date for daily bars), so that its ``date()`` is the day's."""
        ts = pd.Timestamp(day.start_ns, tz="UTC")
        return ts if self._tz is None else ts.tz_convert(self.zone)

    def meta(self) -> dict[str, str]:
        """What a live run records in its state file's meta (read by :meth:`from_meta`)."""
        return {"day_zone": self.zone, "daily_bars": "true" if self.daily else "false"}

    @classmethod
    def from_meta(cls, meta: Mapping[str, str], *, calendar: str | None = None) -> TradingDays:
        """The days a run recorded in its state file (:meth:`meta`). A state file written
        before runs recorded them: the days of ``calendar`` (the bundle's, if known; else
        UTC, as runs then counted), daily if the recorded timeframe is."""
        zone = meta.get("day_zone")
        if zone:
            return cls(zone, daily=meta.get("daily_bars") == "true")
        timeframe = meta.get("timeframe")
        try:
            daily = bool(timeframe) and not parse_timeframe(timeframe).intraday
        except ConfigError:  # an unreadable old value: judged intraday (dated on the clock)
            daily = False
        return cls.of(calendar, daily=daily)

    def _dated(self, ns: int) -> Day:
        if self.daily is None:
            return self._judged(ns)
        if self._tz is None:
            number = ns // NS_PER_DAY
            return _day(number, number * NS_PER_DAY, (number + 1) * NS_PER_DAY)
        local = datetime.fromtimestamp(ns // _NS_PER_S, self._tz).date()
        return self.on(local)

    def _judged(self, ns: int) -> Day:
        """The day of ``ns`` while bars may still be daily: a day of that one instant if
        it looks like a daily bar (so the next instant is judged too), else for good on the
        zone's clock."""
        previous = self._previous
        if ns % NS_PER_DAY or (previous is not None and 0 < ns - previous < NS_PER_DAY):
            self.daily = False
            self._tz = None if self.zone == "UTC" else ZoneInfo(self.zone)
            return self._dated(ns)
        if previous is None or ns > previous:
            self._previous = ns
        return _day(ns // NS_PER_DAY, ns, ns + 1)

    def _midnight(self, when: date) -> int:
        """``when``'s first instant on the zone's clock, in UTC ns (a midnight that a clock
        change skips: the change's instant, which ``fold=0`` gives)."""
        delta = datetime(when.year, when.month, when.day, tzinfo=self._tz) - _EPOCH_UTC
        return (delta.days * 86_400 + delta.seconds) * _NS_PER_S


def _day(number: int, start_ns: int, end_ns: int) -> Day:
    first = _EPOCH + timedelta(days=number)
    return Day(number, start_ns, end_ns, first.isoformat(), (first + _ONE_DAY).isoformat())


def are_daily(times: Iterable[np.ndarray]) -> bool:
    """Whether bars at these start times (UTC ns, one array per symbol) are daily bars:
    each at 00:00 UTC and a day or more after the one before (the labels of daily bars)."""
    arrays = [np.asarray(t, dtype=np.int64) for t in times]
    return bool(arrays) and all(_daily(t) for t in arrays)


def _daily(t: np.ndarray) -> bool:
    if not len(t) or t[0] % NS_PER_DAY or (len(t) > 1 and t[1] - t[0] < NS_PER_DAY):
        return False  # most intraday bars: told by the first two, not the whole array
    return not (t % NS_PER_DAY).any() and bool((np.diff(t) >= NS_PER_DAY).all())
