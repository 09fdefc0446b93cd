"""The composition root: every run is built here, from one :class:`~workbench.runspec.RunSpec`.

=================  ==================================================================
run                parts
=================  ==================================================================
backtest           the event engine, the simulated broker (the spec's costs, volume
                   limit, lot size, margin) and an in-memory journal: :func:`run_backtest`
                   (``workbench backtest``, ``workbench.backtest``)
live replay        the live runner, the simulated broker (the same venue), SQLite state and
                   a replay feed: ``workbench live --broker sim --feed replay:SPEC``
emulator session   the live runner, the Alpaca broker and the Alpaca feed against the
                   project's emulator: ``--broker alpaca --feed alpaca --alpaca-url URL``;
                   the emulator's venue from the same spec with ``workbench emulator
                   --bundle B`` (:func:`emulator_venue`)
live               the same against Alpaca (paper unless ``--live-trading``)
=================  ==================================================================

Which broker, which feed and which clock a run has is decided here and nowhere else:
strategy, risk, execution and the runner never ask. A live run takes everything it
trades with from the bundle's run spec (:attr:`~workbench.bundle.Bundle.run_spec`) and
nothing else: symbols, timeframe, session rule, calendar, capital, costs, the simulated
venue's volume limit, lot size and margin, the risk rules and the execution policy; a
bundle without one (or missing a field) is refused before anything is opened. Either
feed hands the strategy bars of the spec's timeframe, made on the exchange's sessions;
data coarser than that is refused. With live bars the runner sends orders only in the
hours the run spec allows (:class:`~workbench.live.hours.MarketHours`), by the venue's
clock (Alpaca's ``/v2/clock``) with ``--broker alpaca``, else by the exchange calendar.
``--pennies DOLLARS`` wraps the broker in a :class:`~workbench.live.pennies.ScaledBroker`:
real orders that small, a virtual account of the bundle's capital above it.

Heavy parts (alpaca-py, the live runner) are imported by the functions that build them,
so a backtest does not load them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from workbench.errors import ConfigError
from workbench.runspec import RunSpec

if TYPE_CHECKING:
    from workbench.backtesting.engine import BacktestConfig
    from workbench.backtesting.result import BacktestResult
    from workbench.bundle import Bundle
    from workbench.data.days import TradingDays
    from workbench.live.outage import OutagePolicy
    from workbench.live.replay import ReplayFeed
    from workbench.live.runner import LiveRunner
    from workbench.live.state import StateStore
    from workbench.risk import RiskEngine
    from workbench.sim.broker import SimulatedBroker
    from workbench.strategy import Strategy

log = logging.getLogger(__name__)


# -- backtest ----------------------------------------------------------------------------
def backtest_config(spec: RunSpec, periods_per_year: float | None = None) -> BacktestConfig:
    """The engine's money and venue settings for a run of ``spec`` (its DAY orders good
    for a session of the spec's calendar)."""
    from workbench.backtesting.engine import BacktestConfig

    return BacktestConfig(
        cash=spec.cash, commission=spec.commission, slippage=spec.slippage,
        volume_limit=spec.volume_limit, lot_size=spec.lot_size, margin=spec.margin,
        periods_per_year=periods_per_year, calendar=spec.calendar,
    )  # fmt: skip


def run_backtest(
    strategy: Strategy,
    universe: Mapping[str, pd.DataFrame],
    spec: RunSpec,
    *,
    risk: RiskEngine | None = None,
    periods_per_year: float | None = None,
    progress: bool | None = None,
    days: TradingDays | None = None,
) -> BacktestResult:
    """Backtest ``strategy`` over ``universe`` as ``spec`` says: its bars made into the
    spec's timeframe on the exchange's sessions (the bars as given when it names none),
    the simulated broker with its costs and venue settings, its risk rules (or ``risk``,
    an engine whose state carries over, on the days it was built with) and its execution
    policy. The risk rules count ``days`` (default: the spec's calendar's, :func:`trading_days`)."""
    from workbench.backtesting.api import on_timeframe
    from workbench.backtesting.engine import Engine
    from workbench.risk import RiskEngine
    from workbench.risk.config import RiskConfig

    missing = sorted(set(spec.symbols) - set(universe))
    if missing:
        raise ConfigError(f"no bars for {', '.join(missing)}, which the run spec trades")
    bars = {s: universe[s] for s in spec.symbols}
    if spec.timeframe is not None:
        bars, periods_per_year = on_timeframe(
            bars, spec.timeframe, session=spec.session, calendar=spec.calendar,
            periods=periods_per_year,
        )  # fmt: skip
    if risk is None and spec.risk != RiskConfig():  # a fresh engine (in-memory state)
        days = days if days is not None else trading_days(spec, bars)
        risk = RiskEngine(spec.risk, strategy=strategy.label(), days=days)
    engine = Engine(
        strategy, bars, backtest_config(spec, periods_per_year), risk=risk, progress=progress,
        execution=spec.execution.config(lot_size=spec.lot_size),
    )  # fmt: skip
    return engine.run()


def trading_days(spec: RunSpec, bars: Mapping[str, pd.DataFrame] | None = None) -> TradingDays:
    """The days of a run of ``spec`` (:mod:`workbench.data.days`): its calendar's local days,
    on which the risk engine's day, the live runner's daily checks and ``--reconcile-daily``
    turn. Daily bars count on their label's date: the spec's timeframe says whether the bars
    are daily, else (bars as given) the ``bars`` do."""
    from workbench.data.bars import epoch_ns
    from workbench.data.days import TradingDays, are_daily

    if spec.timeframe is not None:
        daily = not spec.timeframe.intraday
    else:
        frames = (bars or {}).values()  # a frame of another index is refused by the engine
        daily = are_daily(
            epoch_ns(f.index) for f in frames if isinstance(f.index, pd.DatetimeIndex)
        )
    return TradingDays.of(spec.calendar, daily=daily)


# -- emulator session ---------------------------------------------------------------------
def emulator_venue(spec: RunSpec) -> dict[str, Any]:
    """The emulator's venue settings for a session of ``spec`` (``Emulator(data, **these)``):
    the simulated broker behind its Alpaca API is then the backtest's venue, with the
    spec's capital, costs, volume limit, lot size, margin and calendar."""
    return {
        "cash": spec.cash, "commission": spec.commission, "slippage": spec.slippage,
        "volume_limit": spec.volume_limit, "lot_size": spec.lot_size, "margin": spec.margin,
        "calendar": spec.calendar,
    }  # fmt: skip


# -- live --------------------------------------------------------------------------------
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
    #: Reconcile each finished trading day (the calendar's local day) against the backtest
    #: of its bars and log the verdict (the report goes to ``reconcile/<day>/`` beside the
    #: state file).
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
    #: Seconds a bar made of minute bars waits past its period's end for its last minute
    #: (Alpaca publishes a minute's bar a moment after it is over; absent: no trade).
    bar_settle: float = 5.0
    #: The replayed range of a ``replay:`` feed (inclusive; strings or Timestamps, UTC).
    start: Any = None
    end: Any = None


def stream_urls(base: str) -> tuple[str, str]:
    """Trading and market-data WebSocket URLs for a REST base URL (emulator or Alpaca)."""
    ws = base.replace("https://", "wss://").replace("http://", "ws://").rstrip("/")
    return f"{ws}/stream", f"{ws}/v2/iex"


def build_runner(options: LiveOptions) -> tuple[LiveRunner, Bundle]:
    """Verify the bundle and wire strategy, broker, feed and state for one run of its spec."""
    from workbench.bundle import load_bundle
    from workbench.live.pennies import check_pennies
    from workbench.live.state import StateStore

    bundle = load_bundle(options.bundle)
    spec = bundle.run_spec  # refused here, before the state file is opened; names a timeframe
    strategy = bundle.make_strategy()
    if options.pennies is not None:
        check_pennies(options.pennies, spec.cash)
    replay = replay_feed(options, spec)  # its data read and checked: bad data makes no file
    state = StateStore(options.state, exclusive=True)  # a second runner on it is refused
    try:
        check_same_run(state, bundle, options.broker)  # before anything is written to it
        return _wire(options, bundle, strategy, state, replay), bundle
    except BaseException:
        state.close()  # and its claim: a corrected command may run at once
        raise


def check_same_run(state: StateStore, bundle: Bundle, broker: str | None = None) -> None:
    """Refuse a state file a run of another strategy or timeframe wrote, as ``workbench
    reconcile`` refuses that bundle for it: the runner would take its bars, positions,
    orders and risk state for this bundle's, and rewrite its meta so that the file no
    longer says what traded (the bars of both timeframes in one table). Refuse too a file
    that traded on another ``broker``: its account is at Alpaca, or in the file's simulated
    venue, not at the broker asked for now. Another bundle of the same strategy and timeframe
    (a newer version rolled out on the account) takes the run over, with a WARNING that names
    both: refusing it would throw away the risk state (the peak a drawdown halt is measured
    from) that the account's history gave."""
    _check_same_broker(state, broker)
    name, timeframe = bundle.manifest.get("name"), str(bundle.run_spec.timeframe)
    ran, ran_on = state.get_meta("strategy"), state.get_meta("timeframe")
    wrote = state.get_meta("bundle")
    if (ran is None or ran == name) and (ran_on is None or ran_on == timeframe):
        if wrote is not None and Path(wrote).resolve() != Path(bundle.path).resolve():
            log.warning(  # a new version rolled out on the account: allowed, and said
                "%s traded bundle %s; bundle %s (strategy %r, %s bars) takes over its "
                "positions, orders and risk state: reconcile each bundle against the bars "
                "it traded",
                state.path, wrote, bundle.path, name, timeframe,
                extra={"event": "bundle_changed", "reason": f"bundle={bundle.path}"},
            )  # fmt: skip
        return
    was = f"strategy {ran!r}" if ran else "strategy not recorded"
    raise ConfigError(
        f"{state.path} is a run of {f'bundle {wrote}' if wrote else 'another bundle'} ({was}, "
        f"{ran_on or 'timeframe not recorded'} bars); --bundle {bundle.path} is strategy "
        f"{name!r} on {timeframe} bars",
        hint="give this bundle a new --state file, or resume that run with "
        + (f"--bundle {wrote}" if wrote else "the bundle it traded"),
    )


def _check_same_broker(state: StateStore, broker: str | None) -> None:
    ran = state.get_meta("broker")
    if broker is None or ran is None or ran == broker:
        return
    orders, fills = state.traded()
    if not orders and not fills:
        return  # it never traded: no account to carry over
    where = "at Alpaca" if ran == "alpaca" else "in the file's simulated venue"
    raise ConfigError(
        f"{state.path} is a --broker {ran} run ({orders} order(s) and {fills} fill(s)): its "
        f"account is {where}, not at --broker {broker}",
        hint=f"resume it with --broker {ran}, or start the --broker {broker} run on a new --state",
    )


def _wire(
    options: LiveOptions, bundle: Bundle, strategy: Any, state: Any, replay: ReplayFeed | None
) -> LiveRunner:
    from workbench.live.pennies import apply_pennies
    from workbench.live.runner import LiveRunner
    from workbench.live.sim_venue import keep_venue

    spec = bundle.run_spec
    broker, market = _broker(options, spec)
    if options.broker == "sim":
        keep_venue(broker, state, cash=options.cash)
    symbols, feed, hours = _feed(options, spec, broker, market, state, replay)
    venue = apply_pennies(broker, state, options.pennies, spec.cash)
    name = bundle.manifest["name"]  # on every line: execution's, risk's, the runner's
    days = trading_days(spec)
    runner = LiveRunner(
        strategy, symbols, venue, feed, state, execution=_execution(options, spec),
        risk=risk_engine(spec, state, name, days), strategy_id=name,
        on_day_end=_daily_reconciliation(state) if options.reconcile_daily else None,
        hours=hours, adopt_positions=options.adopt_positions, outage=outage_policy(options),
        days=days,
    )  # fmt: skip
    state.set_meta(
        bundle=str(bundle.path), broker=options.broker, feed=options.feed,
        timeframe=str(spec.timeframe), session=spec.session, **days.meta(),
    )  # fmt: skip
    if options.log_file:
        state.set_meta(log_file=str(options.log_file))
    return runner


def _broker(options: LiveOptions, spec: RunSpec) -> tuple[Any, Any]:
    """The run's broker, and the clock that says whether the market is open."""
    from workbench.live.hours import CalendarClock

    if options.cash is not None and options.cash != spec.cash and options.pennies is None:
        log.warning(
            "--cash %g replaces the bundle's capital %g%s", options.cash, spec.cash,
            ": order sizes and fills will differ from the backtest it was promoted on"
            if options.broker == "sim" else " on the simulated broker only: ignored here",
        )  # fmt: skip
    if options.broker == "sim":
        broker = simulated_broker(spec, options.cash, options.pennies)
        return broker, CalendarClock(spec.calendar)
    if options.broker == "alpaca":
        from workbench.brokers.alpaca import AlpacaBroker
        from workbench.brokers.alpaca_clock import AlpacaClock

        trading_ws = stream_urls(options.alpaca_url)[0] if options.alpaca_url else None
        alpaca = AlpacaBroker.from_env(
            live=options.live, url=options.alpaca_url, stream_url=trading_ws,
            timeout=options.alpaca_timeout,
        )  # fmt: skip
        alpaca.start_stream()
        clock = AlpacaClock(alpaca.client, ttl=options.clock_ttl, calendar=spec.calendar)
        return alpaca, clock
    raise ConfigError(f"--broker {options.broker!r} is not known", hint="use sim or alpaca")


def replay_feed(options: LiveOptions, spec: RunSpec) -> ReplayFeed | None:
    """The feed of a ``--feed replay:SPEC``, its data read and checked (None for ``alpaca``;
    another --feed refused): made before the state file is, so that bad replay data (a
    missing file, a price at or below zero, data coarser than the timeframe) leaves no
    empty state file behind, as the bundle's and the numbers' refusals do not."""
    from workbench.live.replay import ReplayFeed

    if options.feed == "alpaca":
        return None
    if not options.feed.startswith("replay:"):
        raise ConfigError(
            f"--feed {options.feed!r} is not known",
            hint="use replay:SPEC (e.g. replay:sample:SPX) or alpaca",
        )
    from workbench.data.sources import load_symbols

    bars = load_symbols(options.feed.removeprefix("replay:"), options.start, options.end)
    if set(bars) != set(spec.symbols):  # the replayed data names its own symbols
        log.warning(
            "the replay trades %s; the bundle was promoted on %s: a rehearsal on other "
            "data, not a replay of the backtest it was promoted on",
            ", ".join(bars), ", ".join(spec.symbols),
        )  # fmt: skip
    return ReplayFeed(
        bars, speed=options.speed, timeframe=spec.timeframe, session=spec.session,
        calendar=spec.calendar,
    )  # fmt: skip


def _feed(
    options: LiveOptions,
    spec: RunSpec,
    broker: Any,
    market: Any,
    state: StateStore,
    replay: ReplayFeed | None,
) -> tuple[list[str], Any, Any]:
    """The run's symbols, its feed of bars in the spec's timeframe (``replay``, made by
    :func:`replay_feed`, or Alpaca's), and its market hours (None for a replay, whose clock
    is its bars: each decision is at its bar's end)."""
    from workbench.execution.config import RetryPolicy
    from workbench.live.replay import SimulatedVenueFeed
    from workbench.sim.broker import SimulatedBroker

    tf, session, calendar = spec.timeframe, spec.session, spec.calendar
    symbols, hours = list(spec.symbols), None
    if replay is not None:
        symbols = list(replay.bars)  # the replayed data names its own symbols
        feed: Any = replay
    else:  # alpaca: replay_feed refused any other
        from workbench.brokers.alpaca_feed import AlpacaBarFeed
        from workbench.brokers.alpaca_history import alpaca_history
        from workbench.live.hours import MarketHours
        from workbench.live.resilience import CatchUpFeed

        data_ws = stream_urls(options.alpaca_url)[1] if options.alpaca_url else None
        key = os.environ.get("APCA_API_KEY_ID", "")
        secret = os.environ.get("APCA_API_SECRET_KEY", "")
        live = AlpacaBarFeed(
            symbols, key, secret, url=data_ws, timeframe=tf, session=session,
            calendar=calendar, market=market,
            tolerance=pd.Timedelta(seconds=options.stale_tolerance), idle_ticks=True,
            settle=options.bar_settle,
        )  # fmt: skip
        history = alpaca_history(
            key, secret, url=options.alpaca_url, timeframe=tf, session=session,
            calendar=calendar, now=getattr(market, "fresh_now", market.now),
            timeout=options.alpaca_timeout, settle=options.bar_settle,
        )  # fmt: skip
        feed = CatchUpFeed(
            live, state, symbols, history, retry=RetryPolicy(base_delay=options.retry_delay)
        )
        hours = MarketHours(market, tf, session=session, calendar=calendar)
    if isinstance(broker, SimulatedBroker):
        feed = SimulatedVenueFeed(feed, broker)  # the venue itself, at its real size
    return symbols, feed, hours


def outage_policy(options: LiveOptions) -> OutagePolicy:
    """How the run waits through a venue outage: probes from ``retry_delay`` doubling up
    to ``outage_backoff_cap``, for at most ``max_outage`` seconds."""
    from workbench.live.outage import OutagePolicy

    cap = options.outage_backoff_cap
    return OutagePolicy(
        base_delay=min(max(options.retry_delay, 0.01), cap),
        max_delay=cap,
        max_outage=options.max_outage,
        stream_grace=options.stream_grace,
    )


def _execution(options: LiveOptions, spec: RunSpec) -> Any:
    from workbench.execution.config import RetryPolicy

    retry = RetryPolicy(base_delay=options.retry_delay)  # the connection's, not the spec's
    return spec.execution.config(lot_size=spec.lot_size, retry=retry)


def simulated_broker(
    spec: RunSpec, cash: float | None = None, pennies: float | None = None
) -> SimulatedBroker:
    """The backtest's venue for a run of ``spec``: its costs, volume limit, lot size,
    margin and calendar (the sessions its DAY orders are good for), with the spec's
    capital (or ``cash``).

    With real ``pennies`` it stands for a real account of that much, which the bundle's
    orders reach scaled down (:mod:`workbench.live.pennies`): the venue's volume limit and
    lot size, made for full-size orders, are the real venue's business there, not the
    backtest's.
    """
    from workbench.sim.broker import SimulatedBroker

    if pennies is not None:
        return SimulatedBroker(
            cash or pennies, commission=spec.commission, slippage=spec.slippage,
            calendar=spec.calendar,
        )  # fmt: skip
    return SimulatedBroker(
        cash or spec.cash, commission=spec.commission, slippage=spec.slippage,
        volume_limit=spec.volume_limit, lot_size=spec.lot_size, margin=spec.margin,
        calendar=spec.calendar,
    )  # fmt: skip


def risk_engine(
    spec: RunSpec, state: StateStore, strategy: str, days: TradingDays | None = None
) -> RiskEngine:
    """The spec's risk rules, with their state (peak, halt, day) in the run's state file,
    logging as ``strategy`` (the name the run's order lines carry), on the run's ``days``
    (default: :func:`trading_days` of ``spec``).

    Always an engine, even for a bundle without risk rules: the kill switch (``workbench
    risk kill``, the dashboard's button) halts the run through it.
    """
    from workbench.risk import RiskEngine, SQLiteRiskStore

    days = days if days is not None else trading_days(spec)
    return RiskEngine(spec.risk, SQLiteRiskStore(state.path), strategy=strategy, days=days)


def _daily_reconciliation(state: StateStore) -> Callable[[pd.Timestamp], object]:
    from workbench.live.reconcile import reconcile_daily

    return lambda day: reconcile_daily(state.path, day=day)
