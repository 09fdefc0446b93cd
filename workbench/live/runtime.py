"""The composition root of a live run: the only place that picks the broker and the feed.

``--broker sim`` is the simulated broker (the backtest's venue and costs, in process);
``--broker alpaca`` is Alpaca (paper unless told otherwise), or the project's emulator
with ``--alpaca-url``. ``--feed replay:SPEC`` replays stored bars; ``--feed alpaca``
streams live bars, catching up over REST on the bars published while the runner was
down. Everything the run trades with comes from the bundle's run spec
(:attr:`~workbench.bundle.Bundle.run_spec`) and nothing else: symbols, timeframe,
session rule, calendar, capital, costs, the simulated venue's volume limit, lot size and
margin, the risk rules and the execution policy; a bundle without one (or missing a
field) is refused before anything is opened. Either feed hands the strategy bars of
the spec's timeframe, made on the exchange's sessions; data coarser than that is
refused. With live bars the runner sends orders only in the hours the run spec allows
(:class:`~workbench.live.hours.MarketHours`), by the venue's clock (Alpaca's
``/v2/clock``) with ``--broker alpaca``, else by the exchange calendar.
``--pennies DOLLARS`` wraps the broker in a :class:`~workbench.live.pennies.ScaledBroker`:
real orders that small, a virtual account of the bundle's capital above it. Everything
after this module is the same whichever they are.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from workbench.brokers.alpaca import AlpacaBroker
from workbench.brokers.alpaca_clock import AlpacaClock
from workbench.brokers.alpaca_feed import AlpacaBarFeed
from workbench.bundle import Bundle, load_bundle
from workbench.data.sources import load_symbols
from workbench.errors import ConfigError
from workbench.execution.engine import RetryPolicy
from workbench.live.hours import CalendarClock, MarketHours
from workbench.live.outage import OutagePolicy
from workbench.live.pennies import apply_pennies, check_pennies
from workbench.live.replay import ReplayFeed, SimulatedVenueFeed
from workbench.live.resilience import CatchUpFeed, alpaca_history
from workbench.live.runner import LiveRunner
from workbench.live.state import StateStore
from workbench.risk import RiskEngine, SQLiteRiskStore
from workbench.runspec import RunSpec
from workbench.sim.broker import SimulatedBroker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveOptions:
    bundle: str
    broker: str = "sim"
    feed: str = "replay:sample:SPX"
    state: str = "live.sqlite"
    alpaca_url: str | None = None
    speed: float = 0.0
    cash: float | None = None
    live: bool = False
    log_file: str | None = None
    #: Seconds the venue's clock answer is kept (Alpaca allows 200 requests a minute).
    clock_ttl: float = 5.0
    #: Seconds past the stream's bar interval before the feed counts as stale (in session).
    stale_tolerance: float = 30.0
    #: Seconds before a request to Alpaca counts as failed (ambiguous: looked up).
    alpaca_timeout: float = 10.0
    #: First wait before retrying a failed broker request (doubled at each attempt).
    retry_delay: float = 0.5
    #: Real pennies: the bundle's capital is traded as this many real dollars, every order
    #: scaled down by ``pennies / capital`` (:mod:`workbench.live.pennies`); None: full size.
    pennies: float | None = None
    #: Reconcile each finished UTC day against the backtest of its bars and log the verdict
    #: (the report goes to ``reconcile/<day>/`` beside the state file).
    reconcile_daily: bool = False
    #: Take over, at start, the broker's positions and open orders the state does not
    #: explain (logged, recorded in the state) instead of stopping (exit code 6).
    adopt_positions: bool = False
    #: Venue outages (:mod:`workbench.live.outage`): the longest the runner waits for a
    #: venue that does not answer before it stops (exit code 5), the cap of the wait
    #: between probes, and how long the market-data stream may be down before the runner
    #: asks the venue whether it is there.
    max_outage: float = 3600.0
    outage_backoff_cap: float = 60.0
    stream_grace: float = 10.0
    #: The replayed range of a ``replay:`` feed (inclusive; strings or Timestamps, UTC).
    start: Any = None
    end: Any = None


def stream_urls(base: str) -> tuple[str, str]:
    """Trading and market-data WebSocket URLs for a REST base URL (emulator or Alpaca)."""
    ws = base.replace("https://", "wss://").replace("http://", "ws://").rstrip("/")
    return f"{ws}/stream", f"{ws}/v2/iex"


def build_runner(options: LiveOptions) -> tuple[LiveRunner, Bundle]:
    """Verify the bundle and wire strategy, broker, feed and state for one run."""
    bundle = load_bundle(options.bundle)
    spec = bundle.run_spec  # refused here, before the state file is opened
    strategy = bundle.make_strategy()
    symbols: list[str] = list(spec.symbols)
    capital = spec.cash
    if options.pennies is not None:
        check_pennies(options.pennies, capital)
    state = StateStore(options.state)
    if options.broker == "sim":
        broker: Any = simulated_broker(spec, options.cash, options.pennies)
    elif options.broker == "alpaca":
        trading_ws = None
        if options.alpaca_url:
            trading_ws, _ = stream_urls(options.alpaca_url)
        broker = AlpacaBroker.from_env(
            live=options.live,
            url=options.alpaca_url,
            stream_url=trading_ws,
            timeout=options.alpaca_timeout,
        )
        broker.start_stream()
    else:
        raise ConfigError(f"--broker {options.broker!r} is not known", hint="use sim or alpaca")

    timeframe, session, calendar = spec.timeframe, spec.session, spec.calendar
    market: Any = CalendarClock(calendar)
    if isinstance(broker, AlpacaBroker):
        market = AlpacaClock(broker.client, ttl=options.clock_ttl, calendar=calendar)
    if options.feed.startswith("replay:"):
        bars = load_symbols(options.feed.removeprefix("replay:"), options.start, options.end)
        symbols = list(bars)  # the replayed data names its own symbols
        feed: Any = ReplayFeed(
            bars, speed=options.speed, timeframe=timeframe, session=session, calendar=calendar
        )
    elif options.feed == "alpaca":
        data_ws = stream_urls(options.alpaca_url)[1] if options.alpaca_url else None
        key = os.environ.get("APCA_API_KEY_ID", "")
        secret = os.environ.get("APCA_API_SECRET_KEY", "")
        live = AlpacaBarFeed(
            symbols, key, secret, url=data_ws, timeframe=timeframe, session=session,
            calendar=calendar, market=market,
            tolerance=pd.Timedelta(seconds=options.stale_tolerance), idle_ticks=True,
        )  # fmt: skip
        history = alpaca_history(
            key, secret, url=options.alpaca_url, timeframe=timeframe, session=session,
            calendar=calendar, now=getattr(market, "fresh_now", market.now),
            timeout=options.alpaca_timeout,
        )  # fmt: skip
        feed = CatchUpFeed(
            live, state, symbols, history, retry=RetryPolicy(base_delay=options.retry_delay)
        )
    else:
        raise ConfigError(
            f"--feed {options.feed!r} is not known",
            hint="use replay:SPEC (e.g. replay:sample:SPX) or alpaca",
        )
    hours = None  # a replay's clock is its bars: each decision is at its bar's end
    if options.feed == "alpaca":
        hours = MarketHours(market, timeframe, session=session, calendar=calendar)
    if isinstance(broker, SimulatedBroker):
        feed = SimulatedVenueFeed(feed, broker)  # the venue itself, at its real size
    venue = apply_pennies(broker, state, options.pennies, capital)
    execution = spec.execution.config(
        lot_size=spec.lot_size, retry=RetryPolicy(base_delay=options.retry_delay)
    )
    runner = LiveRunner(
        strategy, symbols, venue, feed, state, execution=execution,
        risk=risk_engine(spec, state), strategy_id=bundle.manifest["name"],
        on_day_end=_daily_reconciliation(state) if options.reconcile_daily else None,
        hours=hours, adopt_positions=options.adopt_positions, outage=outage_policy(options),
    )  # fmt: skip
    state.set_meta(
        bundle=str(bundle.path), broker=options.broker, feed=options.feed,
        timeframe=timeframe.name, session=session,
    )  # fmt: skip
    if options.log_file:
        state.set_meta(log_file=str(options.log_file))
    return runner, bundle


def outage_policy(options: LiveOptions) -> OutagePolicy:
    """How the run waits through a venue outage: probes from ``retry_delay`` doubling up
    to ``outage_backoff_cap``, for at most ``max_outage`` seconds."""
    cap = options.outage_backoff_cap
    return OutagePolicy(
        base_delay=min(max(options.retry_delay, 0.01), cap),
        max_delay=cap,
        max_outage=options.max_outage,
        stream_grace=options.stream_grace,
    )


def simulated_broker(
    spec: RunSpec, cash: float | None = None, pennies: float | None = None
) -> SimulatedBroker:
    """The backtest's venue for a run of ``spec``: its costs, volume limit, lot size and
    margin, with the spec's capital (or ``cash``).

    With real ``pennies`` it stands for a real account of that much, which the bundle's
    orders reach scaled down (:mod:`workbench.live.pennies`): the venue's volume limit and
    lot size, made for full-size orders, are the real venue's business there, not the
    backtest's.
    """
    if pennies is not None:
        return SimulatedBroker(cash or pennies, commission=spec.commission, slippage=spec.slippage)
    return SimulatedBroker(
        cash or spec.cash, commission=spec.commission, slippage=spec.slippage,
        volume_limit=spec.volume_limit, lot_size=spec.lot_size, margin=spec.margin,
    )  # fmt: skip


def risk_engine(spec: RunSpec, state: StateStore) -> RiskEngine:
    """The spec's risk rules, with their state (peak, halt, day) in the run's state file.

    Always an engine, even for a bundle without risk rules: the kill switch (``workbench
    risk kill``, the dashboard's button) halts the run through it.
    """
    return RiskEngine(spec.risk, SQLiteRiskStore(state.path))


def _daily_reconciliation(state: StateStore) -> Callable[[pd.Timestamp], object]:
    from workbench.live.reconcile import reconcile_daily

    return lambda day: reconcile_daily(state.path, day=day)
