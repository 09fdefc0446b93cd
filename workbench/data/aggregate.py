"""Live bars in the researched timeframe: finer bars in, closed bars of the timeframe out.

A :class:`BarAggregator` is fed groups of bars (one time step, several symbols) in time
order, as a live or replayed feed delivers them, and hands back a group of timeframe
bars once their period is over: when the step ending at the period's end has arrived
(the 15:59 minute bar ends the 15:00 hour and the session), when a later bar shows the
period is over (a minute with no trades has no bar), when the clock says so
(:meth:`due`), or at the end of the data (:meth:`flush`). Each bar is made by
:func:`~workbench.data.sessions.session_resample`, the function the backtest resamples
with, so a live bar is the backtest's bar by construction. Bars outside the sessions
(with ``session="regular"``) never reach the strategy.

A minute delivered twice replaces its first delivery, and minutes of the open period may
come in any order (each bar is made of its minutes sorted by time). A bar of a period
already closed (a late minute: the period was handed out on the clock or by a later
bar) is dropped and counted in :attr:`BarAggregator.late`: it neither reopens its
period nor closes the open one early, so no partial bar is ever handed out as final.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from workbench.broker import Bar
from workbench.data.quality import format_interval
from workbench.data.sessions import DEFAULT_CALENDAR, periods, session_resample
from workbench.errors import ConfigError
from workbench.timeframe import parse_timeframe

log = logging.getLogger(__name__)
_FIELDS = ("open", "high", "low", "close", "volume")
ONE_MINUTE = pd.Timedelta(minutes=1)


def check_source(source: pd.Timedelta, timeframe: Any, *, feed: str = "the feed") -> None:
    """Refuse a feed whose bars cannot make the timeframe (coarser, or not a divisor)."""
    tf = parse_timeframe(timeframe)
    daily_source = source >= pd.Timedelta(days=1)
    if daily_source and not tf.intraday:
        return
    if source > tf.length or (tf.intraday and tf.length % source):
        raise ConfigError(
            f"{feed} delivers bars of {_name(source)}, the bundle trades {tf.name} bars",
            hint=f"feed it bars of {tf.name} or finer (e.g. minute bars), or promote the "
            f"strategy with --timeframe matching the feed",
        )


@dataclass
class _Bucket:
    label: int  # ns
    end: int  # ns: the instant the period is over
    rows: dict[str, dict[int, Bar]] = field(default_factory=dict)  # symbol: {start ns: bar}


class BarAggregator:
    """Groups of ``source``-long bars in, groups of ``timeframe`` bars out (module doc)."""

    def __init__(
        self,
        symbols: Sequence[str],
        timeframe: Any,
        *,
        source: pd.Timedelta = ONE_MINUTE,
        session: str = "regular",
        calendar: str = DEFAULT_CALENDAR,
    ) -> None:
        self.symbols = list(symbols)
        self.timeframe = parse_timeframe(timeframe)
        self.source = source
        self.session = session
        self.calendar = calendar
        check_source(source, self.timeframe)
        self._daily_source = source >= pd.Timedelta(days=1)
        self._bucket: _Bucket | None = None
        self._closed = -1  # label (ns) of the last period closed
        self.dropped = 0  # bars outside the sessions
        self.late = 0  # bars of a period already closed

    @property
    def passthrough(self) -> bool:
        """Daily bars for a daily timeframe: they are session bars already."""
        return self._daily_source and not self.timeframe.intraday

    def add(self, group: Sequence[Bar]) -> list[list[Bar]]:
        """Take one time step of bars; return the groups whose period it closed."""
        if not group:
            return []
        if self.passthrough:
            return [[_day_bar(b) for b in self._ordered(group)]]
        t = group[0].time
        p = periods(
            pd.DatetimeIndex([t]), self.timeframe, session=self.session, calendar=self.calendar,
            days=False,
        )  # fmt: skip
        label, end = int(p.labels[0]), int(p.ends[0])
        out: list[list[Bar]] = []
        if label < 0:
            self.dropped += len(group)
            log.debug("bar at %s is outside the %s sessions: not traded", t, self.calendar)
            out += self.due(t)
            return out
        bucket = self._bucket
        if label <= self._closed or (bucket is not None and label < bucket.label):
            self.late += len(group)
            log.info(
                "bar at %s came after its period closed: dropped", t,
                extra={"event": "bar_late"},
            )  # fmt: skip
            return out
        if bucket is not None and bucket.label != label:
            out += self._close()
        if self._bucket is None:
            self._bucket = _Bucket(label, end)
        for b in group:
            self._bucket.rows.setdefault(b.symbol, {})[b.time.value] = b
        if (t + self.source).value >= end:
            out += self._close()
        return out

    def daily(self, bar: Bar) -> Bar:
        """A venue's daily bar (Alpaca stamps New York midnight), labelled as ours."""
        return _day_bar(bar)

    def correct(self, bar: Bar) -> bool:
        """Replace a bar of the open period (a venue correction); False if already closed."""
        bucket = self._bucket
        if bucket is None:
            return False
        rows = bucket.rows.get(bar.symbol, {})
        if bar.time.value not in rows:
            return False
        rows[bar.time.value] = bar
        return True

    @property
    def open_end(self) -> int | None:
        """When the open period is over (ns), None when no period is open."""
        return None if self._bucket is None else self._bucket.end

    def due(self, now: pd.Timestamp) -> list[list[Bar]]:
        """The open period's bars if its end is at or before ``now``."""
        bucket = self._bucket
        if bucket is not None and now.value >= bucket.end:
            return self._close()
        return []

    def flush(self) -> list[list[Bar]]:
        """Whatever period is open (the data ended)."""
        return self._close()

    def _close(self) -> list[list[Bar]]:
        bucket, self._bucket = self._bucket, None
        if bucket is None:
            return []
        self._closed = max(self._closed, bucket.label)
        if not bucket.rows:
            return []
        out = []
        for symbol in self._ordered_symbols(bucket.rows):
            rows = [bucket.rows[symbol][t] for t in sorted(bucket.rows[symbol])]
            frame = pd.DataFrame(
                [[getattr(b, f) for f in _FIELDS] for b in rows],
                index=pd.DatetimeIndex([b.time for b in rows], name="time"),
                columns=list(_FIELDS),
            )
            bar = session_resample(
                frame, self.timeframe, session=self.session, calendar=self.calendar, days=False
            )
            if bar.empty:
                continue
            row = bar.iloc[0]
            out.append(Bar(symbol, bar.index[0], *(float(row[f]) for f in _FIELDS)))
        return [out] if out else []

    def _ordered_symbols(self, rows: dict[str, Any]) -> list[str]:
        known = [s for s in self.symbols if s in rows]
        return known + sorted(s for s in rows if s not in self.symbols)

    def _ordered(self, group: Sequence[Bar]) -> list[Bar]:
        by = {b.symbol: b for b in group}
        return [by[s] for s in self._ordered_symbols(by)]


def _day_bar(bar: Bar) -> Bar:
    """A daily bar labelled 00:00 UTC of its session date (Alpaca stamps New York midnight).

    A bar already at 00:00 UTC is ours (replayed daily data): read in New York it would
    fall on the evening before, and the whole replay would run a day early.
    """
    t = bar.time
    if t == t.normalize():
        return bar
    day = t.tz_convert("America/New_York").tz_localize(None).normalize().tz_localize("UTC")
    return bar if day == t else Bar(bar.symbol, day, bar.open, bar.high, bar.low, bar.close,
                                    bar.volume)  # fmt: skip


def _name(length: pd.Timedelta) -> str:
    return format_interval(length)
