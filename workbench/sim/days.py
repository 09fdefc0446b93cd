"""The end of the trading day a DAY order is for, at the simulated venue.

Alpaca's day order is good for one trading day: it ends at that session's close (16:00
New York, 13:00 on an early close), and one sent after the close is for the next
session. On an exchange calendar (:mod:`workbench.data.sessions`) the session of a DAY
order is the first whose close is after the order's first eligible bar, and the order
ends before the first bar at or after that close. Bars are labelled by their start, so
the 15:59 minute is the session's last; a daily bar, labelled 00:00 UTC of its session's
date, is before its own close, so a DAY order lives exactly one daily bar. The venue's
orders are regular-hours orders (a request has no extended-hours flag): the end of the
extended session (20:00 New York) that Alpaca gives an ``extended_hours`` day order is
not theirs (the emulator's venue enforces it itself, :mod:`workbench.emulator.tif`).

Without a calendar (``None``: a venue open around the clock, as crypto or the synthetic
data) a day is a UTC date, as the ``24/7`` calendar's sessions are. Outside the span a
calendar covers (before 1998, a year past today) the UTC date stands in.
"""

from __future__ import annotations

import numpy as np

from workbench.data.sessions import calendar_zone, sessions

__all__ = ["DayEnds"]

NS_PER_DAY = 86_400_000_000_000


class DayEnds:
    """When a DAY order first eligible at an instant ends (UTC ns), on ``calendar``.

    The calendar's name is checked at once (an unknown one raises ConfigError); its
    sessions are read at the first DAY order (kept on disk for the day, see
    :mod:`workbench.data.session_cache`), so a run without one never loads them.
    """

    __slots__ = ("_closes", "_first_open", "calendar")

    def __init__(self, calendar: str | None) -> None:
        if calendar is not None:
            calendar_zone(calendar)  # ConfigError naming it, before a run starts
        self.calendar = calendar
        self._closes: np.ndarray | None = None
        self._first_open = 0

    def after(self, t_ns: int) -> int:
        """The end of the day of a DAY order whose first eligible bar starts at ``t_ns``."""
        if self.calendar is None:
            return (t_ns // NS_PER_DAY + 1) * NS_PER_DAY
        closes = self._closes
        if closes is None:
            cal = sessions(self.calendar)
            closes = self._closes = cal.closes
            self._first_open = int(cal.opens[0]) if len(cal) else 0
        i = int(np.searchsorted(closes, t_ns, side="right"))  # the first close after t
        if i >= len(closes) or t_ns < self._first_open - NS_PER_DAY:
            return (t_ns // NS_PER_DAY + 1) * NS_PER_DAY
        return int(closes[i])
