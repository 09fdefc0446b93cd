"""The emulator as a Python object: a server on its own thread and event loop.

::

    with Emulator("sample:SPX", cash=100_000, replay_from="2010-01-04") as emu:
        client = TradingClient(emu.key, emu.secret, url_override=emu.base_url)
        client.submit_order(MarketOrderRequest(symbol="SPX", qty=1, side="buy",
                                               time_in_force="day"))
        emu.step()                       # the next bar: the order fills at its open
        emu.state()["positions"]         # what the account holds now

Every call is executed on the server's loop (thread-safe) and waits a bounded time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import pandas as pd
from aiohttp import web

from workbench.data.bars import as_bars
from workbench.emulator.app import DATA_FEEDS, EmulatorApp, EmulatorConfig
from workbench.emulator.control import control_routes
from workbench.emulator.faults import Fault
from workbench.emulator.ledger import ledger_routes
from workbench.emulator.outage import Outage
from workbench.emulator.publication import check_delay, publication_routes
from workbench.emulator.quotes import quote_routes
from workbench.emulator.rest import market_data_routes, trading_routes
from workbench.errors import ConfigError

log = logging.getLogger(__name__)
T = TypeVar("T")
FaultLike = Fault | str | Mapping[str, Any]
CALL_TIMEOUT = 30.0


def as_fault(item: FaultLike) -> Fault:
    """A :class:`Fault` from itself, a spec string (``"429,times=2"``) or a mapping."""
    if isinstance(item, Fault):
        return item
    if isinstance(item, str):
        return Fault.parse(item)
    if isinstance(item, Mapping):
        return Fault.from_dict(dict(item))
    raise ConfigError(f"cannot read a fault from {item!r}", hint="use Fault(...) or '429,times=2'")


class Emulator:
    """An Alpaca-compatible server over replayed bars (see :mod:`workbench.emulator`).

    ``data`` is a spec (``sample:SPX``, ``synthetic:SYN?bars=500&freq=1min``) read with
    ``start``/``end``, or ``{symbol: bars}``. ``replay_from`` starts the replay at that
    time: earlier bars are history (served by the bars endpoint, never traded).
    ``interval`` steps one bar every that many seconds; without it, step by hand.
    ``commission``, ``slippage``, ``volume_limit``, ``lot_size``, ``margin`` and
    ``allow_short`` configure the simulated broker as in a backtest. ``outage``
    (an :class:`~workbench.emulator.outage.Outage` or ``"AT,DURATION"``) schedules a venue
    outage on the replay clock; :meth:`outage` starts one at any time.
    ``publication_delay`` withholds each step's bars that many seconds after its clock
    moved (:mod:`workbench.emulator.publication`); :meth:`set_publication_delay` changes it.
    """

    def __init__(
        self,
        data: str | Mapping[str, pd.DataFrame] = "sample:SPX",
        *,
        cash: float = 100_000.0,
        key: str = "emulator-key",
        secret: str = "emulator-secret",
        host: str = "127.0.0.1",
        port: int = 0,
        start: Any = None,
        end: Any = None,
        replay_from: Any = None,
        interval: float | None = None,
        faults: Iterable[FaultLike] = (),
        outage: Outage | str | None = None,
        publication_delay: float = 0.0,
        commission: Any = None,
        slippage: Any = None,
        volume_limit: float | None = None,
        lot_size: float | None = None,
        margin: float = 1.0,
        allow_short: bool = True,
        connection_limit: int | None = 1,
        rate_limit: int | None = None,
        wash_trade_check: bool = True,
        calendar: str = "XNYS",
        quote_spread_bps: float = 2.0,
    ) -> None:
        if not key or not secret:
            raise ConfigError("the emulator needs a key and a secret", hint="pass key= and secret=")
        if interval is not None and not interval > 0:
            raise ConfigError(f"interval must be a positive number of seconds, got {interval}")
        if not 0 <= port <= 65535:
            raise ConfigError(f"port must be 0-65535, got {port}", hint="0 picks a free port")
        if rate_limit is not None and rate_limit < 0:  # every request refused, silently
            raise ConfigError(
                f"rate_limit must be 0 or more requests a minute, got {rate_limit}",
                hint="e.g. --rate-limit 200 (Alpaca's), or none for no limit",
            )
        if isinstance(data, str):
            from workbench.data.sources import load_symbols

            frames = load_symbols(data, start, end)
            self.data_spec = data
        else:
            lo, hi = _timestamp(start, "start"), _timestamp(end, "end")
            frames = {
                str(s).upper(): as_bars(f, name=str(s)).loc[lo:hi]  # type: ignore[misc]
                for s, f in data.items()
            }
            self.data_spec = "frames:" + ",".join(frames)
        frames = {s.upper(): f for s, f in frames.items()}
        self.config = EmulatorConfig(
            cash=cash,
            key=key,
            secret=secret,
            commission=commission,
            slippage=slippage,
            volume_limit=volume_limit,
            lot_size=lot_size,
            margin=margin,
            allow_short=allow_short,
            replay_from=_timestamp(replay_from, "replay_from"),
            connection_limit=connection_limit,
            rate_limit=rate_limit,
            wash_trade_check=wash_trade_check,
            calendar=calendar,
            quote_spread_bps=quote_spread_bps,
            faults=tuple(as_fault(f) for f in faults),
            outage=Outage.parse(outage) if isinstance(outage, str) else outage,
            publication_delay=check_delay(publication_delay),
        )
        self.host = host
        self.interval = interval
        self._requested_port = port
        self.port: int | None = None
        self.core = EmulatorApp(frames, self.config)  # built here: config errors raise now
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None

    def __repr__(self) -> str:  # never show the secret
        return f"Emulator({self.data_spec!r}, url={self.base_url if self.port else None!r})"

    # -- URLs ----------------------------------------------------------------------------
    @property
    def key(self) -> str:
        return self.config.key

    @property
    def secret(self) -> str:
        return self.config.secret

    @property
    def base_url(self) -> str:
        """The REST base for ``url_override`` (alpaca-py adds ``/v2`` itself)."""
        return f"http://{self.host}:{self._port()}"

    @property
    def trading_stream_url(self) -> str:
        return f"ws://{self.host}:{self._port()}/stream"

    @property
    def data_stream_url(self) -> str:
        return f"ws://{self.host}:{self._port()}/v2/iex"

    def _port(self) -> int:
        if self.port is None:
            raise ConfigError("the emulator is not running", hint="call start() or use `with`")
        return self.port

    # -- life cycle ----------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> Emulator:
        """Serve on a background thread; returns once the port is open."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._serve, args=(ready, failure), name="workbench-emulator", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout):
            raise ConfigError(f"the emulator did not start within {timeout:g} s")
        if failure:
            self._thread.join(timeout)
            self._thread = None
            raise failure[0]
        log.info("emulator listening on %s", self.base_url)
        return self

    def _serve(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._startup())
        except BaseException as exc:  # reported to start()
            failure.append(exc)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    async def _startup(self) -> None:
        self.core.lock = asyncio.Lock()
        app = web.Application(middlewares=[self.core.middleware])
        app.add_routes(control_routes(self.core))
        app.add_routes(publication_routes(self.core))
        app.add_routes(market_data_routes(self.core))
        app.add_routes(quote_routes(self.core))
        app.add_routes(trading_routes(self.core))
        app.add_routes(ledger_routes(self.core))
        app.add_routes(
            [
                web.get("/stream", self.core.hub.trading),
                *(web.get(f"/v2/{feed}", self.core.hub.data) for feed in DATA_FEEDS),
            ]
        )
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._requested_port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(
                f"cannot listen on {self.host}:{self._requested_port}: {exc.strerror or exc}",
                hint="choose another --port (0 picks a free one) or stop the other server",
            ) from None
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        if self.interval is not None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick(self.interval))

    async def _tick(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if not await self.core.step(1):
                log.info("the replay is over: %d bar times", len(self.core.venue.replay.times))
                return

    def stop(self, timeout: float = 5.0) -> None:
        """Close the streams and the server, then the thread (bounded by ``timeout``)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            with contextlib.suppress(Exception):
                future.result(timeout)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = self._loop = None
        self.port = None

    async def _shutdown(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        await self.core.hub.close_all()
        if self._runner is not None:
            await self._runner.cleanup()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the Python API ------------------------------------------------------------------
    def call(self, coro: Callable[[], Awaitable[T]], timeout: float = CALL_TIMEOUT) -> T:
        """Run ``coro()`` on the server's loop and wait for its result."""
        loop = self._loop
        if loop is None or not loop.is_running():
            raise ConfigError("the emulator is not running", hint="call start() or use `with`")
        return asyncio.run_coroutine_threadsafe(coro(), loop).result(timeout)

    def step(self, n: int = 1) -> int:
        """Process and publish the next ``n`` bar times; returns how many there were."""
        if n < 1:
            raise ConfigError(f"step n must be at least 1, got {n}")
        return self.call(lambda: self.core.step(n))

    def set_faults(self, *faults: FaultLike) -> None:
        """Replace the installed faults (stream drops and mutes act at once)."""
        parsed = [as_fault(f) for f in faults]

        async def install() -> None:
            self.core.faults.clear()
            for fault in parsed:
                await self.core.add_fault(fault)

        self.call(install)

    def add_fault(self, fault: FaultLike) -> None:
        parsed = as_fault(fault)
        self.call(lambda: self.core.add_fault(parsed))

    def clear_faults(self) -> None:
        self.set_faults()

    def outage(self, duration: Any = None, *, at: Any = None) -> None:
        """A venue outage (every REST call 503, streams dropped and refused) from ``at``
        (replay time; None: now) for ``duration`` of replay time (None: until
        :meth:`end_outage`)."""
        outage = Outage.make(at, duration)
        self.call(lambda: self.core.set_outage(outage))

    def end_outage(self) -> None:
        self.call(lambda: self.core.set_outage(None))

    def set_publication_delay(self, seconds: float) -> None:
        """Publish each step's bars ``seconds`` after its clock moved (0: with the step)."""
        self.call(lambda: self.core.set_publication_delay(seconds))

    def state(self) -> dict[str, Any]:
        """Account, positions, orders (Alpaca JSON), clock and faults."""

        async def dump() -> dict[str, Any]:
            return self.core.state()

        return self.call(dump)

    def reset(self) -> None:
        """A fresh account and replay (the configured faults are installed again)."""
        self.call(self.core.reset)


def _timestamp(value: Any, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        ts = pd.NaT
    if ts is pd.NaT:
        raise ConfigError(
            f"{name} {value!r} is not a time", hint="e.g. 2010-01-04 or 2024-01-02T14:30Z"
        )
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
