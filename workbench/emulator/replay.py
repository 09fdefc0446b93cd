"""The replay clock: which bar time comes next, and what time it is in the replay.

Bars of several symbols are merged on one time axis (the union of their start times);
one step is one time of that axis. ``cursor`` counts the times already published. The
replay time (``now``) is the *end* of the last published bar: a bar is only known once
it is over. Times before ``replay_from`` are history: published from the start.

Alpaca's ``/v2/clock`` and ``/v2/calendar`` follow the data's exchange calendar
(``XNYS`` by default, :mod:`workbench.data.sessions`). With intraday data the market is
open when the replay time is inside a regular session (so after the 15:59 bar of a
session it is closed until the next session's first bar has been published), and
``next_open`` / ``next_close`` are the calendar's, holidays and early closes included.
Daily data has no time of day: a daily bar is over at the end of its date on the
calendar's clock, where Alpaca's daily bar ends: New York midnight for ``XNYS`` (its stock
day runs until 20:00 there, the evening's extended hours included), midnight UTC for
``24/7``. So after the bar of date D the replay time is the midnight ending D on that
clock (00:00 New York of D+1, when the market is closed and its next open and close are
the next session's), and before the first bar it is the midnight beginning its date.
The simulated broker still works a daily bar at its label (:attr:`Replay.stamp`), so an
order sent after a bar works on the next one; what it did there (a fill, an ioc order's
end) is shown at the date's session open (:meth:`Replay.shown`: 09:30 New York, midnight
UTC for ``24/7``), where Alpaca fills an order sent overnight at the earliest.

The account's day (:meth:`Replay.new_day`) is the calendar's local day, as Alpaca's: its
``last_equity`` is the "Equity as of previous trading day at 16:00:00 ET", so a stock
account's day turns at New York midnight, not at midnight UTC (19:00 or 20:00 in New
York, inside the evening's extended hours); a 24/7 calendar's turns at midnight UTC.
Daily bars are labelled 00:00 UTC of their date: each is a day of its own.

The after-hours session of a session runs 4 hours past its regular close (16:00-20:00 New
York, 13:00-17:00 on an early close: Alpaca's announcement of full extended hours, "During
a half day trading session, the extended session is from 4 am to 5pm ET"), never into the
next session (a ``24/7`` calendar has none). Its end is the calendar's ``session_close``
and the end of the trading day an ``extended_hours`` day order is good for
(:meth:`Replay.after_hours_end`, :mod:`.tif`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from workbench.data.sessions import (
    DEFAULT_CALENDAR,
    Sessions,
    calendar_zone,
    local_dates,
    sessions,
)
from workbench.emulator.marketdata import DAY
from workbench.emulator.shapes import ApiError, new_york
from workbench.errors import ConfigError

COLUMNS = ["open", "high", "low", "close", "volume"]
#: How far before its settlement date a session can be (T+1 over a long holiday weekend).
SETTLEMENT_REACH = pd.Timedelta(days=10)
#: How long the after-hours session runs past the regular close (see the module docstring).
AFTER_HOURS = pd.Timedelta(hours=4)
Row = tuple[str, int, float, float, float, float, float]  # symbol, row, o, h, l, c, v


class Replay:
    """Bar times of several symbols on one axis, and the cursor that walks it."""

    def __init__(
        self,
        frames: Mapping[str, pd.DataFrame],
        interval: pd.Timedelta,
        replay_from: pd.Timestamp | None = None,
        calendar: str = DEFAULT_CALENDAR,
    ) -> None:
        if not frames:
            raise ConfigError("the emulator needs bars of at least one symbol")
        self.symbols = list(frames)
        self.interval = interval
        self._ns = {s: f.index.as_unit("ns").asi8 for s, f in frames.items()}
        self._ohlcv = {s: f[COLUMNS].to_numpy(dtype=float) for s, f in frames.items()}
        self.times = np.unique(np.concatenate(list(self._ns.values())))
        self.cursor = 0
        #: The last steps whose bars are not published yet (a publication delay).
        self.withheld = 0
        if replay_from is not None:
            self.cursor = int(np.searchsorted(self.times, replay_from.value, side="left"))
            if self.cursor >= len(self.times):
                raise ConfigError(
                    f"replay_from {replay_from} is after the last bar",
                    hint=f"the data end at {pd.Timestamp(self.times[-1], tz='UTC')}",
                )
        self.start = pd.Timestamp(self.times[0], tz="UTC")
        self.calendar = calendar
        self.sessions: Sessions = sessions(calendar)
        self.intraday = interval < DAY
        #: Each session's after-hours end (UTC ns, ascending), see the module docstring.
        self.after_hours_ends = after_hours_ends(self.sessions)
        self._days = local_dates(self.times, calendar_zone(calendar) if self.intraday else "UTC")
        #: Daily data: where each bar time's day begins and ends on the calendar's clock.
        none = np.empty(0, dtype=np.int64)
        self._day_begins, self._day_ends = (
            (none, none) if self.intraday else day_bounds(self.times, interval, calendar)
        )
        #: Daily data: each bar time's session open, the earliest an order fills there.
        self._day_opens = (
            none if self.intraday else day_opens(self.times, self._day_begins, self.sessions)
        )

    @property
    def finished(self) -> bool:
        return self.cursor >= len(self.times)

    @property
    def published_ns(self) -> int:
        """Start time of the last published bar (bars at or before it may be served);
        a step's bars withheld by a publication delay are not published yet."""
        shown = self.cursor - self.withheld
        return int(self.times[shown - 1]) if shown > 0 else int(self.times[0]) - 1

    @property
    def last_published(self) -> pd.Timestamp | None:
        return pd.Timestamp(self.times[self.cursor - 1], tz="UTC") if self.cursor else None

    @property
    def now(self) -> pd.Timestamp:
        """The replay time: the end of the last published bar (the first bar's start
        before); a daily bar's on the calendar's clock (see the module docstring)."""
        if not self.intraday:
            at = self._day_ends[self.cursor - 1] if self.cursor else self._day_begins[0]
            return pd.Timestamp(int(at), tz="UTC")
        last = self.last_published
        return self.start if last is None else last + self.interval

    @property
    def stamp(self) -> pd.Timestamp:
        """The simulated broker's time between steps (orders sent now carry it): the last
        published bar's start, just before the first bar's before any."""
        last = self.last_published
        return last if last is not None else self.start - pd.Timedelta(1, "ns")

    @property
    def next_time(self) -> pd.Timestamp | None:
        return None if self.finished else pd.Timestamp(self.times[self.cursor], tz="UTC")

    @property
    def next_begins(self) -> pd.Timestamp | None:
        """Where the next bar's period begins on the replay clock (what :attr:`now` is
        read against): its time; a daily bar's, the midnight beginning its date on the
        calendar's clock (:attr:`now` once the day before is over)."""
        if self.finished or self.intraday:
            return self.next_time
        return pd.Timestamp(int(self._day_begins[self.cursor]), tz="UTC")

    def shown(self, t: pd.Timestamp) -> pd.Timestamp:
        """The time Alpaca shows for what the simulated broker did at ``t`` (a fill, an
        expiry): ``t``, but on daily data a bar's own time (00:00 UTC of its date, where
        the simulated broker works it) is its date's session open on the calendar: an
        order sent overnight (at :attr:`now`, the midnight before) fills at the open at
        the earliest, never before it was created. A time inside the day (a session's
        close, an auction) is shown as it is."""
        if self.intraday:
            return t
        i = int(np.searchsorted(self.times, t.value))
        if i == len(self.times) or self.times[i] != t.value:
            return t
        return pd.Timestamp(int(self._day_opens[i]), tz="UTC")

    def after_hours_end(self, t: pd.Timestamp) -> pd.Timestamp | None:
        """The end of the trading day ``t`` is in: the first after-hours end after ``t``
        (from 20:00 New York on, the next session's: Alpaca's overnight session "marks the
        beginning of a new trading day"); None past the calendar's end."""
        ends = self.after_hours_ends
        i = int(np.searchsorted(ends, t.value, side="right"))
        return pd.Timestamp(int(ends[i]), tz="UTC") if i < len(ends) else None

    def new_day(self) -> bool:
        """Whether the next bar time starts a new day of the account (the calendar's local
        day, see the module docstring) after the last published one."""
        if not self.cursor or self.finished:
            return False
        return bool(self._days[self.cursor] != self._days[self.cursor - 1])

    def rows_at(self, t_ns: int, *, at_or_before: bool = False) -> Iterator[Row]:
        """Each symbol's bar at ``t_ns`` (or its latest bar up to it)."""
        for symbol in self.symbols:
            stamps = self._ns[symbol]
            i = int(np.searchsorted(stamps, t_ns, side="right")) - 1
            if i < 0 or (not at_or_before and stamps[i] != t_ns):
                continue
            o, h, low, c, v = self._ohlcv[symbol][i]
            yield symbol, i, o, h, low, c, v

    def times_of(self, symbol: str) -> np.ndarray:
        """``symbol``'s bar start times (UTC ns, ascending)."""
        return self._ns[symbol]

    def advance(self) -> None:
        self.cursor += 1

    def clock_json(self) -> dict[str, Any]:
        """Alpaca's clock (see the module docstring): the calendar's at the replay time."""
        now = self.now
        cal = self.sessions
        nxt_open, nxt_close = cal.next_open(now), cal.next_close(now)
        return {
            "timestamp": new_york(now),
            "is_open": cal.is_open(now),
            "next_open": new_york(nxt_open or now + DAY),
            "next_close": new_york(nxt_close or now + DAY),
        }

    def calendar_json(
        self, start: str | None, end: str | None, date_type: str = "TRADING"
    ) -> list[dict[str, str]]:
        """Alpaca's calendar: one entry per session, New York wall-clock ``HH:MM`` times;
        ``session_close`` the after-hours end (``1700`` on an early close, as Alpaca's).

        ``date_type`` says what ``start`` and ``end`` mean: the sessions' dates
        (``TRADING``, Alpaca's default) or their settlement dates (``SETTLEMENT``)."""
        try:
            lo = pd.Timestamp(start) if start else None
            hi = pd.Timestamp(end) if end else None
        except ValueError:
            raise ApiError(422, 40010001, f"invalid start or end: {start!r}, {end!r}") from None
        if date_type == "SETTLEMENT":
            first = None if lo is None else lo - SETTLEMENT_REACH  # sessions settling from lo
            days = self.calendar_json(None if first is None else str(first.date()), end)
            low = "" if lo is None else str(lo.date())
            high = "9999" if hi is None else str(hi.date())
            return [d for d in days if low <= d["settlement_date"] <= high]
        if date_type != "TRADING":
            raise ApiError(
                422, 40010001, f"invalid date_type: {date_type!r} (TRADING or SETTLEMENT)"
            )
        cal = self.sessions.between(lo, hi)
        ends = self.after_hours_ends[np.searchsorted(self.sessions.opens, cal.opens)]
        out = []
        for i in range(len(cal)):
            opened = cal.open_at(i).tz_convert("America/New_York")
            closed = cal.close_at(i).tz_convert("America/New_York")
            late = pd.Timestamp(int(ends[i]), tz="UTC").tz_convert("America/New_York")
            out.append(
                {
                    "date": opened.strftime("%Y-%m-%d"),
                    "open": opened.strftime("%H:%M"),
                    "close": closed.strftime("%H:%M"),
                    "session_open": "0400",
                    "session_close": late.strftime("%H%M"),
                    "settlement_date": self._settles(i, cal),
                }
            )
        return out

    def _settles(self, i: int, cal: Sessions) -> str:
        """T+1 (US equities since May 2024): the next session's date."""
        later = self.sessions.next_open(cal.close_at(i))
        return (later or cal.close_at(i) + DAY).tz_convert("America/New_York").strftime("%Y-%m-%d")


def after_hours_ends(cal: Sessions) -> np.ndarray:
    """Each session's after-hours end (UTC ns): its close plus :data:`AFTER_HOURS`, but
    not after the next session's open."""
    ends = cal.closes + AFTER_HOURS.value
    ends[:-1] = np.minimum(ends[:-1], cal.opens[1:])
    return ends


def day_bounds(
    times: np.ndarray, interval: pd.Timedelta, calendar: str
) -> tuple[np.ndarray, np.ndarray]:
    """Daily bar times (00:00 UTC of their date): where each one's date begins and where
    the bar is over (``interval`` later), at midnight on the calendar's clock (UTC ns)."""
    dates = pd.DatetimeIndex(times, tz="UTC").tz_localize(None).normalize()
    zone = calendar_zone(calendar)

    def midnights(days: pd.DatetimeIndex) -> np.ndarray:
        local = days.tz_localize(zone, ambiguous=False, nonexistent="shift_forward")
        return local.tz_convert("UTC").as_unit("ns").asi8

    return midnights(dates), midnights(dates + interval)


def day_opens(times: np.ndarray, begins: np.ndarray, cal: Sessions) -> np.ndarray:
    """Daily bar times: their date's session open (UTC ns), or ``begins`` (the midnight
    beginning the date) for a date without a session on the calendar."""
    dates = pd.DatetimeIndex(times, tz="UTC").normalize().as_unit("ns").asi8
    session_dates = cal.dates.as_unit("ns").asi8
    if not len(cal):
        return begins.copy()
    i = np.searchsorted(session_dates, dates).clip(max=len(cal) - 1)
    return np.where(session_dates[i] == dates, cal.opens[i], begins)
