"""Helpers for tests that talk to the emulator through alpaca-py (no pytest needed).

- :func:`trading_client` / :func:`data_client`: SDK clients pointed at an emulator,
  with alpaca-py's fixed 3-second sleep between retries of 429/504 turned off.
- :class:`StreamThread` (:func:`trading_stream`, :func:`data_stream`): an SDK stream
  running in its own thread (``run()`` owns an event loop), collecting what it gets,
  reconnecting fast, and stopping in bounded time.
- :func:`wait_until`: bounded polling; :func:`run_async`: a coroutine on its own thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from workbench.emulator.faults import Fault
from workbench.emulator.server import Emulator

T = TypeVar("T")


def headers(emu: Emulator) -> dict[str, str]:
    """The auth headers of ``emu``'s account, for plain HTTP clients."""
    return {"APCA-API-KEY-ID": emu.key, "APCA-API-SECRET-KEY": emu.secret}


def trading_client(emu: Emulator, *, retries: bool = True) -> Any:
    """A ``TradingClient`` for ``emu``; ``retries=False`` also turns the SDK's retries off."""
    from alpaca.trading.client import TradingClient

    client = TradingClient(emu.key, emu.secret, url_override=emu.base_url)
    client._retry_wait = 0  # the SDK sleeps a fixed 3 s between retries of 429/504
    if not retries:
        client._retry = 0
    return client


def data_client(emu: Emulator) -> Any:
    from alpaca.data.historical import StockHistoricalDataClient

    client = StockHistoricalDataClient(emu.key, emu.secret, url_override=emu.base_url)
    client._retry_wait = 0
    return client


def run_async(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run ``coro`` on a fresh event loop in its own thread and return its result.

    Safe where the calling thread already runs a loop (``asyncio.run`` would refuse).
    """
    result: list[Any] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(asyncio.wait_for(coro, timeout)))
        except BaseException as exc:  # handed to the caller
            failure.append(exc)

    thread = threading.Thread(target=target, name="run-async", daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    if failure:
        raise failure[0]
    if not result:
        raise AssertionError(f"the coroutine did not finish within {timeout:g} s")
    return result[0]


def wait_until(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; AssertionError after ``timeout``.

    The default bounds are generous: they only cost time when something is broken, and a
    loaded 2-core CI box running the suite on two workers can take seconds to schedule a
    stream's thread."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def trade_stream_listening(emu: Emulator, connections: int = 1, timeout: float = 30.0) -> None:
    """Wait until the ``connections``-th trade stream connection to ``emu`` listens (a
    client's reconnection: the second)."""

    def ready() -> bool:
        state = emu.state()["connections"]
        return state["accepted"].get("trading", 0) >= connections and state["trading_ready"] >= 1

    wait_until(ready, timeout, what=f"trade stream connection {connections} listening")


class StreamThread:
    """An alpaca-py stream running in a thread; ``items`` holds what its handler received."""

    def __init__(self, emu: Emulator, stream: Any, kind: str) -> None:
        self.emu, self.stream, self.kind = emu, stream, kind
        self.items: queue.Queue[Any] = queue.Queue()
        stream._reconnect_min_backoff = 0.05  # the SDK waits 1 s and more before reconnecting
        stream._reconnect_max_backoff = 0.2
        self.thread = threading.Thread(target=self._run, name=f"sdk-{kind}-stream", daemon=True)

    async def handler(self, item: Any) -> None:
        self.items.put(item)

    def _run(self) -> None:
        with contextlib.suppress(Exception):
            self.stream.run()

    def start(self, ready: bool = True) -> StreamThread:
        self.thread.start()
        if ready:
            self.wait_ready()
        return self

    def wait_ready(self, count: int = 1, timeout: float = 30.0) -> None:
        """Wait until the emulator has ``count`` connections listening / subscribed."""
        key = f"{self.kind}_ready"
        wait_until(
            lambda: self.emu.state()["connections"][key] >= count, timeout, f"{key} >= {count}"
        )

    def take(self, n: int, timeout: float = 30.0) -> list[Any]:
        """The next ``n`` items; AssertionError (with what came) after ``timeout``."""
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.kind} stream: got {len(out)} of {n} items: {out}")
            with contextlib.suppress(queue.Empty):
                out.append(self.items.get(timeout=min(left, 0.1)))
        return out

    def nothing_for(self, seconds: float) -> bool:
        """True when nothing arrives within ``seconds``; AssertionError otherwise."""
        try:
            item = self.items.get(timeout=seconds)
        except queue.Empty:
            return True
        raise AssertionError(f"{self.kind} stream: unexpected {item}")

    def stop(self, timeout: float = 15.0) -> None:
        wait_until(lambda: self.stream._loop is not None, timeout, "the stream's event loop")
        with contextlib.suppress(Exception):
            future = asyncio.run_coroutine_threadsafe(self.stream.stop_ws(), self.stream._loop)
            future.result(timeout)
        # the SDK looks for a stop request only between messages (up to 5 s): wake it up
        with contextlib.suppress(Exception):
            self.emu.add_fault(Fault.drop(self.kind, abrupt=False))
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise AssertionError(f"the {self.kind} stream did not stop within {timeout:g} s")


def trading_stream(emu: Emulator, *, ready: bool = True, **kwargs: Any) -> StreamThread:
    """A started ``TradingStream`` listening to trade updates (``kwargs`` go to the SDK)."""
    from alpaca.trading.stream import TradingStream

    stream = TradingStream(emu.key, emu.secret, url_override=emu.trading_stream_url, **kwargs)
    runner = StreamThread(emu, stream, "trading")
    stream.subscribe_trade_updates(runner.handler)
    return runner.start(ready)


def data_stream(
    emu: Emulator,
    *symbols: str,
    ready: bool = True,
    channels: tuple[str, ...] = ("bars", "dailyBars"),
    **kwargs: Any,
) -> StreamThread:
    """A started ``StockDataStream`` subscribed to ``channels`` (``bars``, ``dailyBars``,
    ``updatedBars``) of ``symbols`` (default: all). The emulator sends minute data on
    ``bars`` and daily data on ``dailyBars``, as Alpaca does."""
    from alpaca.data.live import StockDataStream

    stream = StockDataStream(emu.key, emu.secret, url_override=emu.data_stream_url, **kwargs)
    runner = StreamThread(emu, stream, "data")
    subscribe = {
        "bars": stream.subscribe_bars,
        "dailyBars": stream.subscribe_daily_bars,
        "updatedBars": stream.subscribe_updated_bars,
    }
    for channel in channels:
        subscribe[channel](runner.handler, *(symbols or ("*",)))
    return runner.start(ready)
