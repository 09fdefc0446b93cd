"""A feed that replays stored bars in time order, as a live feed would deliver them.

Used for dry runs and rehearsals (``--feed replay:SPEC``): the same runner, risk and
execution objects see the bars one time step at a time, optionally paced in wall-clock
time (``speed`` bars per second; 0 means as fast as possible). :meth:`ReplayFeed.stop`
(what :meth:`~workbench.live.runner.LiveRunner.stop` calls on SIGTERM or Ctrl-C) ends a
replay at once, in the pause between bars too, with no bar after it. With a ``timeframe``
(the bundle's), the stored bars are made into bars of that timeframe on the exchange's
sessions as the live feeds make them (:class:`~workbench.data.aggregate.BarAggregator`):
minute data replays as daily bars for a daily bundle. Data coarser than the timeframe
is refused when the feed is made, as are bars out of order and prices at or below zero
(the backtest refuses both: a replay sorted the first and traded at the second).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from workbench.broker import Bar, Feed
from workbench.data.aggregate import BarAggregator, check_source
from workbench.data.bars import as_bars, bar_interval, check_tradable
from workbench.data.sessions import DEFAULT_CALENDAR
from workbench.sim.broker import SimulatedBroker


class ReplayFeed:
    """Closed bars from frames, grouped by time; never stale (the clock is the data's)."""

    def __init__(
        self,
        bars: Mapping[str, pd.DataFrame],
        *,
        speed: float = 0.0,
        start_after: pd.Timestamp | None = None,
        max_bars: int | None = None,
        timeframe: Any = None,
        session: str = "regular",
        calendar: str = DEFAULT_CALENDAR,
    ) -> None:
        self.bars = {s: as_bars(f, name=s) for s, f in bars.items()}
        for sym, frame in self.bars.items():  # as the backtest refuses them, once
            check_tradable(frame, name=sym)  # as the backtest: sorted, positive, consistent OHLC
        self.speed = speed
        self.start_after = start_after
        self.max_bars = max_bars
        self.timeframe = timeframe
        self.session, self.calendar = session, calendar
        self._lock = threading.Lock()
        self._running: set[threading.Event] = set()  # a stop for each replay in progress
        if timeframe is not None:
            self._aggregator()  # refuses data coarser than the timeframe now, not later

    def _aggregator(self) -> BarAggregator:
        steps = [bar_interval(f.index) for f in self.bars.values() if len(f) > 1]
        source = min(steps) if steps else pd.Timedelta(days=1)
        check_source(source, self.timeframe, feed="the replayed data")
        return BarAggregator(
            list(self.bars), self.timeframe, source=source, session=self.session,
            calendar=self.calendar,
        )  # fmt: skip

    def stop(self) -> None:
        """End the replays in progress: a pause between bars ends now and no bar follows,
        so a runner stopped while it waits handles no further bar. The feed itself stays
        usable: a later iteration (the runner run again) replays from the start."""
        with self._lock:
            for stopped in self._running:
                stopped.set()

    def __iter__(self) -> Iterator[list[Bar]]:
        stopped = threading.Event()
        with self._lock:
            self._running.add(stopped)
        try:
            yield from self._replay(stopped)
        finally:
            with self._lock:
                self._running.discard(stopped)

    def _replay(self, stopped: threading.Event) -> Iterator[list[Bar]]:
        if self.timeframe is None:
            yield from self._steps(stopped)
            return
        agg = self._aggregator()
        pause = 1.0 / self.speed if self.speed > 0 else 0.0
        count = 0
        for group in self._steps(stopped, raw=True):
            for out in agg.add(group):
                if self.start_after is not None and out[0].time <= self.start_after:
                    continue
                yield out
                count += 1
                if self.max_bars is not None and count >= self.max_bars:
                    return
                if _stopped_in(pause, stopped):
                    return
        if not stopped.is_set():
            yield from agg.flush()

    def _steps(self, stopped: threading.Event, raw: bool = False) -> Iterator[list[Bar]]:
        times = np.unique(np.concatenate([f.index.as_unit("ns").asi8 for f in self.bars.values()]))
        if self.start_after is not None and not raw:
            times = times[times > self.start_after.as_unit("ns").value]
        if self.max_bars is not None and not raw:
            times = times[: self.max_bars]
        rows = {
            s: dict(
                zip(
                    f.index.as_unit("ns").asi8.tolist(),
                    f[list(_FIELDS)].itertuples(index=False),
                    strict=True,
                )
            )
            for s, f in self.bars.items()
        }
        pause = 1.0 / self.speed if self.speed > 0 and not raw else 0.0
        for t in times.tolist():
            ts = pd.Timestamp(t, tz="UTC")
            group = [Bar(s, ts, *map(float, rows[s][t])) for s in self.bars if t in rows[s]]
            yield group
            if _stopped_in(pause, stopped):
                return

    def is_stale(self, now: pd.Timestamp) -> bool:
        return False


_FIELDS = ("open", "high", "low", "close", "volume")


def _stopped_in(pause: float, stopped: threading.Event) -> bool:
    """The pace between two bars: wait ``pause`` seconds unless a stop comes first;
    whether one came (during the pause or before it)."""
    return stopped.wait(pause) if pause > 0 else stopped.is_set()


class SimulatedVenueFeed:
    """Drives a simulated broker from a feed: each bar is traded on before it is handed on.

    This is how a dry run looks like a real venue to the runner: a real broker fills
    orders during the bar on its own; the simulated one does it when the bar arrives.
    A bar at or before the venue's time has been traded already (a resumed venue,
    :mod:`workbench.sim.snapshot`, before a replay that starts over): handed on only.
    """

    def __init__(self, feed: Feed, broker: SimulatedBroker) -> None:
        self.feed = feed
        self.broker = broker

    def __iter__(self) -> Iterator[list[Bar]]:
        for group in self.feed:
            done = self.broker.time
            if done is not None and group[0].time <= done:
                yield group  # the runner skips it too: it is in the state file
                continue
            # symbols with a working sell first, as the backtest engine does
            for _, k in self.broker.sells_first([(b.symbol, k) for k, b in enumerate(group)]):
                b = group[k]
                self.broker.process_bar(b.symbol, b.time, b.open, b.high, b.low, b.close, b.volume)
            yield group

    def is_stale(self, now: pd.Timestamp) -> bool:
        return self.feed.is_stale(now)

    def stop(self) -> None:
        """Stop the feed it drives (a replay: at once, no bar more for the venue either)."""
        stop = getattr(self.feed, "stop", None)
        if callable(stop):
            stop()
