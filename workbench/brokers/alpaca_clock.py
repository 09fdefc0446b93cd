"""Alpaca's market clock and calendar (``/v2/clock``, ``/v2/calendar``) as a MarketClock.

The venue says whether its market is open, so the runner follows the venue's idea of
the session (holidays and early closes included) rather than the machine's; against
the emulator that is the replay's clock. Answers are kept ``ttl`` seconds (Alpaca allows
200 requests a minute, shared with the orders). When the venue cannot be asked, the
exchange calendar and the machine's clock answer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from workbench.data.sessions import DEFAULT_CALENDAR, Sessions, sessions, sessions_from

log = logging.getLogger(__name__)


class AlpacaClock:
    """``now()`` and ``is_open()`` from Alpaca's clock endpoint, kept ``ttl`` seconds."""

    def __init__(
        self,
        client: Any,
        *,
        ttl: float = 5.0,
        calendar: str = DEFAULT_CALENDAR,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client  # an alpaca-py TradingClient
        self.ttl = ttl
        self.calendar = calendar
        self._clock = clock
        self._lock = threading.Lock()
        self._answer: tuple[float, pd.Timestamp, bool] | None = None

    def __repr__(self) -> str:
        return f"AlpacaClock(ttl={self.ttl})"

    def _ask(self) -> tuple[pd.Timestamp, bool]:
        with self._lock:
            mono = self._clock()
            if self._answer is not None and mono - self._answer[0] < self.ttl:
                return self._answer[1], self._answer[2]
            try:
                c = self.client.get_clock()
                ts, is_open = _utc(c.timestamp), bool(c.is_open)
            except Exception as exc:  # the calendar answers for the venue
                log.warning(
                    "Alpaca clock unavailable (%s): using the %s calendar",
                    type(exc).__name__, self.calendar,
                    extra={"event": "clock_fallback", "reason": str(exc)},
                )  # fmt: skip
                ts = pd.Timestamp.now(tz="UTC")
                is_open = sessions(self.calendar).is_open(ts)
            self._answer = (mono, ts, is_open)
            return ts, is_open

    def now(self) -> pd.Timestamp:
        return self._ask()[0]

    def fresh_now(self) -> pd.Timestamp:
        """The venue's time asked now, not kept: what the catch-up of missed bars goes by
        (an answer kept from before an outage would leave the bars since out)."""
        with self._lock:
            self._answer = None
        return self._ask()[0]

    def is_open(self) -> bool:
        return self._ask()[1]

    def venue_sessions(self, start: Any, end: Any) -> Sessions:
        """The venue's sessions from ``start`` to ``end`` (dates), from ``/v2/calendar``."""
        from alpaca.trading.requests import GetCalendarRequest

        days = self.client.get_calendar(
            GetCalendarRequest(start=pd.Timestamp(start).date(), end=pd.Timestamp(end).date())
        )
        # naive New York wall-clock times (alpaca-py builds them so)
        return sessions_from("alpaca", [(_new_york(d.open), _new_york(d.close)) for d in days])


def _utc(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _new_york(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize("America/New_York")
    return ts.tz_convert("UTC")
