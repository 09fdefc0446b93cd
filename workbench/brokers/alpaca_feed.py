"""Live bars from Alpaca's market-data WebSocket, as a :class:`~workbench.broker.Feed`.

alpaca-py's ``StockDataStream`` runs in a background thread and reconnects by itself
(with backoff); ``data_timeout`` makes it reconnect when a connection goes silent.
Bars of several symbols with the same start time are handed out together, once every
symbol has reported or a later bar shows the time step is over. :meth:`is_stale` says
when no bar has arrived within the expected interval plus a tolerance: the runner
then blocks new entries and logs a staleness event.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pandas as pd

from workbench.broker import Bar
from workbench.brokers.streams import run_stream, stop_stream
from workbench.errors import ConfigError

log = logging.getLogger(__name__)

ONE_MINUTE = pd.Timedelta(minutes=1)
STALE_TOLERANCE = pd.Timedelta(seconds=30)


class AlpacaBarFeed:
    """Closed bars for ``symbols``; iteration ends after ``idle_timeout`` seconds without bars."""

    def __init__(
        self,
        symbols: Sequence[str],
        key: str,
        secret: str,
        *,
        url: str | None = None,
        feed: str = "iex",
        interval: pd.Timedelta = ONE_MINUTE,
        tolerance: pd.Timedelta = STALE_TOLERANCE,
        idle_timeout: float | None = None,
        data_timeout: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not key or not secret:
            raise ConfigError(
                "Alpaca keys are missing",
                hint="set APCA_API_KEY_ID and APCA_API_SECRET_KEY in the environment",
            )
        if not symbols:
            raise ConfigError("the Alpaca feed needs at least one symbol")
        self.symbols = [s.upper() for s in symbols]
        self._key, self._secret = key, secret
        self.url, self.feed = url, feed
        self.interval, self.tolerance = interval, tolerance
        self.idle_timeout = idle_timeout
        self.data_timeout = data_timeout
        self._clock = clock
        self._queue: queue.Queue[Bar] = queue.Queue()
        self._stream: Any = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self.last_bar_at: float | None = None  # wall clock of the last bar received
        self._stale_logged = False

    def __repr__(self) -> str:  # never show the keys
        return f"AlpacaBarFeed({self.symbols}, feed={self.feed!r}, url={self.url!r})"

    def start(self) -> None:
        if self._thread is not None:
            return
        from alpaca.data.enums import DataFeed
        from alpaca.data.live import StockDataStream

        self._stream = StockDataStream(
            self._key,
            self._secret,
            feed=DataFeed(self.feed),
            url_override=self.url,
            data_timeout=self.data_timeout,
        )

        async def on_bar(bar: Any) -> None:
            ts = pd.Timestamp(bar.timestamp)
            ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
            self._queue.put(
                Bar(
                    bar.symbol,
                    ts,
                    float(bar.open),
                    float(bar.high),
                    float(bar.low),
                    float(bar.close),
                    float(bar.volume),
                )
            )

        self._stream.subscribe_bars(on_bar, *self.symbols)
        self._thread = threading.Thread(target=self._run, name="alpaca-bars", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        run_stream(self._stream, log, "market-data stream")

    def wait_subscribed(self, timeout: float = 10.0) -> bool:
        """Wait until the stream has connected and sent its subscription (bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if getattr(self._stream, "_running", False):
                return True
            time.sleep(0.02)
        return False

    def stop(self, timeout: float = 5.0) -> None:
        self._stopped.set()
        if self._stream is not None and self._thread is not None:
            stop_stream(self._stream, self._thread, timeout)
        self._thread = None

    def __iter__(self) -> Iterator[list[Bar]]:
        self.start()
        pending: dict[pd.Timestamp, dict[str, Bar]] = {}
        idle_since = self._clock()
        while not self._stopped.is_set():
            try:
                bar = self._queue.get(timeout=0.2)
            except queue.Empty:
                if pending and self.is_stale(pd.Timestamp(self._clock(), unit="s", tz="UTC")):
                    yield from self._flush(pending, None)  # a symbol never reported: go on
                if self.idle_timeout is not None and self._clock() - idle_since > self.idle_timeout:
                    return
                continue
            idle_since = self.last_bar_at = self._clock()
            self._stale_logged = False
            pending.setdefault(bar.time, {})[bar.symbol] = bar
            yield from self._flush(pending, bar.time)

    def _flush(self, pending: dict[pd.Timestamp, dict[str, Bar]], newest: pd.Timestamp | None):
        for t in sorted(pending):
            group = pending[t]
            complete = len(group) == len(self.symbols)
            if newest is None or complete or t < newest:
                del pending[t]
                yield [group[s] for s in self.symbols if s in group]
            else:
                break

    def is_stale(self, now: pd.Timestamp) -> bool:
        """No bar within ``interval + tolerance`` of the last one (or of the start)."""
        last = self.last_bar_at
        if last is None:
            return False
        late = now.timestamp() - last > (self.interval + self.tolerance).total_seconds()
        if late and not self._stale_logged:
            self._stale_logged = True
            log.warning(
                "feed is stale: no bar for %.0f s",
                now.timestamp() - last,
                extra={"event": "feed_stale", "reason": "no bar within interval + tolerance"},
            )
        return late
