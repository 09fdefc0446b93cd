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
``market_closed``, logged and journaled. ``session="all"`` sends at any time.
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
    """The runner's gate: may a decision on a bar ending at ``end`` send orders now?"""

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

    def allows(self, bar_time: pd.Timestamp) -> tuple[bool, str]:
        """``(True, why)`` when orders of the decision on the bar labelled ``bar_time`` may
        go out now; ``(False, reason)`` otherwise."""
        if self.session == "all":
            return True, "all hours"
        try:
            now, open_ = self.clock.now(), self.clock.is_open()
        except Exception as exc:  # the venue's clock failed: judge by the calendar
            log.warning("market clock failed (%s): using the %s calendar", exc, self.calendar)
            now = pd.Timestamp.now(tz="UTC")
            open_ = self.sessions.is_open(now)
        if open_:
            return True, "market open"
        end = period_end(bar_time, self.timeframe, calendar=self.calendar)
        last_close = self.sessions.last_close(now)
        if end is not None and last_close is not None and end == last_close:
            return True, "after the close: a day order for the next open"
        return False, (
            f"market closed at {now.isoformat()}: the decision on {bar_time.isoformat()} "
            f"is not on the session that just closed"
        )
