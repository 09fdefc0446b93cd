"""Market hours for a live run: is the market open, and may this decision send orders now?

A :class:`MarketClock` tells the venue's time and whether its market is open. Two kinds:

- :class:`CalendarClock`: offline, the exchange calendar (``exchange_calendars``) and the
  machine's clock; used with the simulated broker and as the fallback;
- :class:`~workbench.brokers.alpaca_clock.AlpacaClock`: Alpaca's ``/v2/clock`` (and
  ``/v2/calendar``), so against the emulator the clock is the replay's.

:class:`MarketHours` is the runner's gate. With the run spec's ``session="regular"`` an
order is sent only while the market is open, or right after a session's close for a
decision on a bar that ended at that close (the daily bar; the day's last hourly bar):
that order is a DAY order, which the venue queues for the next session's open (Alpaca
does so for orders sent after the close), where the backtest fills it too. Any other
decision taken while the market is closed (a stale catch-up decision, a feed that slipped
an extended-hours bar through) sends nothing: its orders are refused with the reason
``market_closed``, logged and journaled. ``session="all"`` sends at any time, as the
same DAY orders without extended hours: the venue queues one sent outside the session
for the next open (the backtest of intraday ``all`` bars fills it at the next bar).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import pandas as pd

from workbench.data.sessions import DEFAULT_CALENDAR, Sessions, period_end, sessions
from workbench.timeframe import parse_timeframe

log = logging.getLogger(__name__)


class MarketClock(Protocol):
    """The venue's time and whether its market is open now."""

    def now(self) -> pd.Timestamp: ...

    def is_open(self) -> bool: ...


class CalendarClock:
    """The exchange calendar against the machine's (or an injected) clock."""

    def __init__(
        self,
        calendar: str = DEFAULT_CALENDAR,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.calendar = calendar
        self.sessions: Sessions = sessions(calendar)
        self._clock = clock

    def now(self) -> pd.Timestamp:
        return pd.Timestamp(self._clock(), unit="s", tz="UTC")

    def is_open(self) -> bool:
        return self.sessions.is_open(self.now())

    def __repr__(self) -> str:
        return f"CalendarClock({self.calendar!r})"


class MarketHours:
    """The runner's gate: may a decision on a bar ending at ``end`` send orders now?

    The sessions are the venue's when the clock can list them (``venue_sessions(start,
    end)``: Alpaca's ``/v2/calendar``, refreshed as time moves past the span fetched;
    a closure the venue announces wins over the calendar library), else the library's.
    """

    #: Days before and after ``now`` asked of the venue's calendar at a time.
    SPAN = pd.Timedelta(days=30)

    def __init__(
        self,
        clock: MarketClock,
        timeframe: Any,
        *,
        session: str = "regular",
        calendar: str = DEFAULT_CALENDAR,
    ) -> None:
        self.clock = clock
        self.timeframe = parse_timeframe(timeframe)
        self.session = session
        self.calendar = calendar
        self.sessions = sessions(calendar)
        self._venue: Sessions | None = None
        self._span: tuple[pd.Timestamp, pd.Timestamp] | None = None

    @property
    def venue_calendar(self) -> Sessions | None:
        """The venue's sessions last fetched (None: none yet, or the venue has none)."""
        return self._venue

    def calendar_at(self, now: pd.Timestamp) -> Sessions:
        """The sessions around ``now``: the venue's if it lists them, else the library's."""
        ask = getattr(self.clock, "venue_sessions", None)
        if ask is None:
            return self.sessions
        span = self._span
        if span is None or not span[0] + self.SPAN / 2 <= now <= span[1] - self.SPAN / 2:
            lo, hi = now - self.SPAN, now + self.SPAN
            try:
                self._venue = ask(lo, hi)
            except Exception as exc:  # the library answers for the venue
                log.warning("venue calendar unavailable (%s): using %s", exc, self.calendar,
                            extra={"event": "calendar_fallback", "reason": str(exc)})  # fmt: skip
                self._venue = None
            self._span = (lo, hi)
        return self._venue if self._venue is not None and len(self._venue) else self.sessions

    def allows(self, bar_time: pd.Timestamp) -> tuple[bool, str]:
        """``(True, why)`` when orders of the decision on the bar labelled ``bar_time`` may
        go out now; ``(False, reason)`` otherwise."""
        if self.session == "all":
            return True, "all hours"
        try:
            now, open_ = self.clock.now(), self.clock.is_open()
            fresh = getattr(self.clock, "fresh_now", None)
            if not open_ and fresh is not None and now < bar_time + self.timeframe.length:
                # an answer kept (ttl seconds) from before the bar's period was over: the
                # venue closed then says nothing of now (a daily replay steps a day in
                # less than the ttl), so ask again before refusing
                now, open_ = fresh(), self.clock.is_open()
        except Exception as exc:  # the venue's clock failed: judge by the calendar
            log.warning("market clock failed (%s): using the %s calendar", exc, self.calendar)
            now = pd.Timestamp.now(tz="UTC")
            open_ = self.sessions.is_open(now)
        if open_:
            return True, "market open"
        cal = self.calendar_at(now)
        end = period_end(bar_time, self.timeframe, calendar=self.calendar, within=cal)
        last_close = cal.last_close(now)
        if end is not None and last_close is not None and end == last_close:
            return True, "after the close: a day order for the next open"
        return False, (
            f"market closed at {now.isoformat()}: the decision on {bar_time.isoformat()} "
            f"is not on the session that just closed"
        )
