"""The headless live runner: the backtester's objects, bar by bar, against a real broker.

For each closed bar from the feed, in this order (each step written to the state
file before the next one acts on it):

1. record the bars; learn the broker's order updates and fills since the last bar;
2. reveal the bars to the strategy's context (indicators update incrementally) and
   snapshot cash, equity and positions from the broker;
3. the bar kernel (:mod:`workbench.kernel`, the backtest's per-bar step) runs the risk
   engine's bar update, ``on_bar``, the risk check and plans the orders (deterministic
   client order ids). The plan, one order request per order (client order id, decision
   bar), the risk events and the mark "decided through this bar" are written in one
   transaction, and only then is anything sent;
4. each order the broker accepted is recorded; the decision is marked done; heartbeat.

On start it reads the state back and reconciles with the broker:

- bars up to the "decided through" mark are replayed to rebuild the strategy's
  indicators (their decisions are not re-sent);
- every order the state thinks open, and every order request written but perhaps
  never sent, is looked up at the broker by client order id: what it shows is
  recorded, with the fills that happened while the runner was down;
- a decision whose plan was written but not finished is sent again, without the
  orders the broker already has (the client order ids make any resend harmless);
- an order held back until a working order on the other side is done (``conflict =
  wait``), still ``waiting`` in the state and not at the broker, is handed back to the
  execution engine: held again while that order works, else sent;
- a bar recorded but never decided (a crash between steps 1 and 3) is decided now.

Before anything is sent (and again before the first bar of each new trading day is
decided: the calendar's local day, :mod:`workbench.data.days`) the broker's positions
and open orders are compared with what the state explains
(:mod:`workbench.live.holdings`): a difference stops the runner with
:class:`~workbench.errors.ReconciliationError` (exit code 6), unless it was started with
``adopt_positions`` (``--adopt-positions``), which takes them over at start, logged and
recorded so that a restart does not ask again.

A crash at any point therefore neither loses a decision nor sends an order twice;
``benchmarks/chaos.py`` and ``tests/integration/live/test_crash_safety.py`` kill the
runner at random moments to show it. Reads from the broker (account, positions,
order lookups) are retried on temporary errors; the broker's and the feed's streams
are closed when the runner stops, however it stops. SIGTERM and a first Ctrl-C finish
the bar in progress and stop, a second Ctrl-C interrupts at once, written as
``interrupted``, never ``failed`` (:mod:`workbench.live.signals`).

A venue outage (requests still failing after their retries, or the market-data stream
down while the venue does not answer) does not stop the runner: it waits in the
request that failed, ``degraded``, probing with capped, jittered backoff, and
reconciles its orders and positions with the venue before that request is made again
(:mod:`workbench.live.outage`; ``tests/integration/live/test_outage.py``).

This module is the bar loop; the start-up, the reconciliation after an outage and the
holdings checks are :mod:`workbench.live.recovery`'s, and sending a plan and recording
what the broker says of its orders is :mod:`workbench.live.order_sync`'s.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import pandas as pd

from workbench.broker import Bar, Broker, Feed
from workbench.context import Context
from workbench.data.days import TradingDays
from workbench.errors import StateStoreError, WorkbenchError
from workbench.execution.config import ExecutionConfig
from workbench.execution.engine import (
    ExecutionEngine,
    Step,
    Submit,
)
from workbench.kernel import BarKernel, KernelEvent
from workbench.live.health import Heartbeat
from workbench.live.hours import MarketHours
from workbench.live.outage import OutagePolicy, StopDuringOutage, VenueGuard
from workbench.live.plans import step_json
from workbench.live.recovery import Recovery
from workbench.live.resilience import RetryingReads
from workbench.live.signals import INTERRUPTED, STOP_REQUESTED, StopSignals
from workbench.live.state import StateStore
from workbench.live.systemd import Watchdog, sd_notify, watchdog_interval
from workbench.logs import redact
from workbench.orders import Order
from workbench.portfolio import PositionView
from workbench.risk import RiskEngine
from workbench.series import SymbolData
from workbench.strategy import Strategy

log = logging.getLogger(__name__)
#: Seconds between the runner's heartbeats while it is healthy.
HEARTBEAT_EVERY = 15.0


@dataclass
class RunSummary:
    bars: int
    decisions: int
    orders_sent: int
    stopped_by: str
    #: The signal that asked the stop (SIGTERM, SIGINT), with ``handle_signals``.
    signal: int | None = None


class LiveRunner(Recovery):
    """Runs one strategy against ``broker`` on bars from ``feed``, keeping state in ``state``."""

    def __init__(
        self,
        strategy: Strategy,
        symbols: list[str],
        broker: Broker,
        feed: Feed | Iterable[list[Bar]],
        state: StateStore,
        *,
        execution: ExecutionConfig | None = None,
        risk: RiskEngine | None = None,
        strategy_id: str | None = None,
        on_day_end: Callable[[pd.Timestamp], object] | None = None,
        hours: MarketHours | None = None,
        adopt_positions: bool = False,
        outage: OutagePolicy | None = None,
        heartbeat_every: float = HEARTBEAT_EVERY,
        days: TradingDays | None = None,
    ) -> None:
        """``days``: the run's trading days (default: the risk engine's, else
        :meth:`TradingDays.default`).
        ``on_day_end(day)`` runs once a bar of a later trading day has been handled (the
        daily reconciliation, say), with the first instant of the day that ended on that
        day's clock (:meth:`TradingDays.start`); it must not raise, and an error in it is
        only logged.
        ``hours`` says whether orders may go out now (none are sent when it says no).
        ``adopt_positions`` takes over, at start, the positions and open orders at the
        broker that the state does not explain (instead of stopping). ``outage`` says how
        the runner waits through a venue outage. ``heartbeat_every``: seconds between
        heartbeats while healthy (waiting for a bar, or not stuck in one), so a status
        reader can tell a silent runner from a live one."""
        self.hours = hours
        self.adopt_positions = adopt_positions
        #: Seconds to wait before looking at a difference again (total: under 2 s).
        self.holdings_settle: tuple[float, ...] = (0.1, 0.3, 0.5, 1.0)
        self.heartbeat_every = heartbeat_every
        self.strategy = strategy
        self.on_day_end = on_day_end
        self.days = days or (risk.days if risk is not None else TradingDays.default())
        self.symbols = list(symbols)
        config = execution or ExecutionConfig()
        self.broker = RetryingReads(broker, config.retry)
        self.feed = feed
        self.state = state
        self.risk = risk
        self.name = strategy_id or strategy.label()
        self.execution = ExecutionEngine(self.broker, self.name, config, on_release=self._released)
        self._stop = threading.Event()
        self._stop_reason = STOP_REQUESTED
        self.guard = VenueGuard(
            self.broker.inner.get_account, self._after_outage, state, outage,
            strategy=self.name, stop=self._stop, alive=self._alive,
        )  # fmt: skip
        self._watchdog: Watchdog | None = None
        self.broker.on_outage = self.guard.wait
        if hasattr(feed, "on_outage"):  # the feed's catch-up waits through an outage too
            feed.on_outage = self.guard.wait  # type: ignore[union-attr]
        self._tally = (0, 0, 0)  # bars, decisions, orders sent so far (a stop in an outage)
        self._account: tuple[float, float] = (0.0, 0.0)
        self._positions: dict[str, PositionView] = {}
        self.data = {s: SymbolData(s) for s in self.symbols}
        self.ctx = Context(self.data, lambda: self._account, self._position, self._open_orders)
        is_stale = getattr(feed, "is_stale", None)
        self.kernel = BarKernel(
            strategy, self.ctx, self.data, self.broker, self.execution, risk=risk,
            position=lambda s: self._position(s).quantity, equity=lambda: self._account[1],
            is_stale=None if is_stale is None else lambda: is_stale(pd.Timestamp.now(tz="UTC")),
        )  # fmt: skip

    # -- views for the strategy -------------------------------------------------------
    def _position(self, symbol: str) -> PositionView:
        view = self._positions.get(symbol)
        if view is None:
            return PositionView(symbol, 0.0, 0.0, float("nan"), 0.0, 0.0, 0.0)
        return view

    def _open_orders(self, symbol: str | None) -> list[Order]:
        orders = self.broker.get_open_orders()
        return orders if symbol is None else [o for o in orders if o.symbol == symbol]

    def stop(self, reason: str = STOP_REQUESTED, note: str = "") -> None:
        """Finish the current bar, then stop (what SIGTERM and a first Ctrl-C do); the
        first ``reason`` given becomes the state's ``stopped_by``, logged with ``note``.
        Call it from any thread, not from a signal handler (:mod:`workbench.live.signals`).

        A feed that can stop (a stream, a paced replay) is told to stop too (on its own
        thread: it may wait for its stream), so a runner waiting for the next bar does not
        wait for ever, nor handle one more.
        """
        first = not self._stop.is_set()
        if first:
            self._stop_reason = reason
        self._stop.set()
        if first:  # once the stop is set: a reader of this line may count on it
            log.info(
                "%s: finishing the current bar, then stopping%s", reason,
                f" ({note})" if note else "",
                extra={"event": "stop_requested", "strategy": self.name, "reason": reason},
            )  # fmt: skip
        stop_feed = getattr(self.feed, "stop", None)
        if callable(stop_feed):
            threading.Thread(target=stop_feed, name="stop-feed", daemon=True).start()

    # -- the loop ----------------------------------------------------------------------------
    def run(self, *, max_bars: int | None = None, handle_signals: bool = False) -> RunSummary:
        """Trade until the feed ends, ``max_bars`` new bars, or a stop; the summary.

        ``handle_signals`` (the CLI, main thread): SIGTERM and a first Ctrl-C finish the
        bar and stop, a second Ctrl-C interrupts at once (:mod:`workbench.live.signals`);
        without it Python's defaults stay. A ``KeyboardInterrupt`` is written as
        ``stopped`` / ``interrupted`` and raised again; any other error as ``failed``.
        """
        if not handle_signals:
            return self._run_recorded(max_bars)
        with StopSignals(self.stop, self._stop.is_set) as signals:
            summary = self._run_recorded(max_bars)
        return replace(summary, signal=signals.received)

    def _run_recorded(self, max_bars: int | None) -> RunSummary:
        """:meth:`_run`, with how it ended written to the state, and the streams closed."""
        beat = Heartbeat(self.state, self.heartbeat_every, on_fault=self._state_fault)
        try:
            try:
                summary = self._run(max_bars, beat)
            except StopDuringOutage:
                summary = self._stopped_in_outage()
        except KeyboardInterrupt:
            self._write_interrupted()
            raise
        except BaseException as exc:
            self._write_failure(exc)
            raise
        finally:
            beat.stop()
            self._close_streams()
        return summary

    def _state_fault(self) -> None:
        self.stop("the state file cannot be written")  # the run then raises the fault

    def _stopped_in_outage(self) -> RunSummary:
        stopped_by = f"{self._stop_reason} during a venue outage"
        self.state.set_meta(status="stopped", stopped_by=stopped_by)
        log.info("stopped: %s", stopped_by, extra={"event": "stopped", "strategy": self.name})
        bars, decisions, sent = self._tally
        return RunSummary(bars, decisions, sent, stopped_by)

    def _write_interrupted(self) -> None:
        """A person's interrupt (a second Ctrl-C, or a library caller's) is no failure: say
        ``stopped``, ``interrupted``. A bar left half done is finished by the next start."""
        try:
            self.state.set_meta(status="stopped", stopped_by=INTERRUPTED)
        except StateStoreError as fault:
            log.warning(
                "cannot write the stopped status: %s", fault, extra={"event": "state_store_fault"}
            )
        log.warning(
            "stopped: %s (a bar in progress is finished when the runner starts again)",
            INTERRUPTED, extra={"event": "stopped", "strategy": self.name},
        )  # fmt: skip

    def _write_failure(self, exc: BaseException) -> None:
        """Say ``failed`` in the state, and why; when the file itself is the trouble, the
        heartbeat's age will tell (``workbench live status``, the dashboard)."""
        why = str(exc).splitlines()[0] if isinstance(exc, WorkbenchError) else type(exc).__name__
        why = redact(why)  # a broker's message may quote what it was sent: never a secret
        try:
            self.state.set_meta(
                status="failed", stopped_by=f"error: {type(exc).__name__}", error=why
            )
        except StateStoreError as fault:
            log.warning(
                "cannot write the failed status: %s", fault, extra={"event": "state_store_fault"}
            )

    def _run(self, max_bars: int | None, beat: Heartbeat) -> RunSummary:
        self.kernel.init()
        self.state.set_meta(
            strategy=self.name, status="running", started_at=pd.Timestamp.now(tz="UTC").isoformat(),
            pid=str(os.getpid()), host=socket.gethostname(),
            heartbeat_every=str(self.heartbeat_every), error="",
        )  # fmt: skip
        self.state.heartbeat()
        beat.start()
        self._restore()
        interval = watchdog_interval()
        watchdog = self._watchdog = Watchdog(interval) if interval else None
        if watchdog is not None:
            watchdog.start()
        sd_notify("READY=1")
        last = self.state.last_bar_ns()
        bars = decisions = sent = 0
        self._tally = (0, 0, 0)
        stopped_by = "feed ended"
        for group in self.feed:
            if not group:  # the feed is waiting for a bar: is the venue still there?
                self.guard.idle(getattr(self.feed, "connected", None))
                if self._stop.is_set():
                    break
                continue
            if last is not None and group[0].time.value <= last:
                continue  # already handled before a restart
            if watchdog is not None:
                watchdog.busy()
            beat.busy()
            self.state.record_bars(group)
            previous, last = last, group[0].time.value
            ended = None  # the trading day this bar is the first bar after
            if previous is not None:
                ended = self.days.day(previous)
                if ended.number >= self.days.day(last).number:
                    ended = None
            if ended is not None:
                self._sync()
                self.check_holdings("daily")
            n = self._handle(group)
            if n is not None:
                decisions += 1
                sent += n
            if ended is not None:
                self._day_ended(self.days.start(ended))
            if watchdog is not None:
                watchdog.idle()
            beat.idle()
            sd_notify(f"STATUS=last bar {group[0].time.isoformat()}")
            bars += 1
            self._tally = (bars, decisions, sent)
            if self._stop.is_set():
                break
            if max_bars is not None and bars >= max_bars:
                stopped_by = "max bars"
                break
        if beat.fault is not None:  # the state file failed under the heartbeat
            raise beat.fault
        if self._stop.is_set():
            stopped_by = self._stop_reason
        sd_notify("STOPPING=1")
        if watchdog is not None:
            watchdog.stop()
        self._sync()
        self.state.set_meta(status="stopped", stopped_by=stopped_by)
        log.info("stopped: %s", stopped_by, extra={"event": "stopped", "strategy": self.name})
        return RunSummary(bars, decisions, sent, stopped_by)

    # -- venue outages -------------------------------------------------------------------
    def _alive(self) -> None:
        """Waiting for the venue is not a hang: heartbeat, and keep systemd's watchdog fed."""
        self.state.heartbeat()
        if self._watchdog is not None:
            self._watchdog.alive()

    def _day_ended(self, day: pd.Timestamp) -> None:
        if self.on_day_end is None:
            return
        try:
            self.on_day_end(day)
        except Exception:  # a report must never stop the trading
            log.exception(
                "end-of-day task for %s failed", day.date(),
                extra={"event": "day_end", "strategy": self.name},
            )  # fmt: skip

    def _handle(self, group: list[Bar]) -> int | None:
        """Steps 1-4 of the module docstring for a recorded bar; orders sent (None: no plan)."""
        self._sync()
        for b in group:
            self.kernel.reveal_bar(b)
        now = group[0].time
        self._snapshot(now)
        self.kernel.advance(now.value)
        steps = self.kernel.decide()
        steps, blocked = self._in_hours(steps, now)
        events = self.kernel.events() + blocked
        requests = [(s.request.client_order_id, s.request) for s in steps if isinstance(s, Submit)]
        self.state.record_decision(now.value, [step_json(s) for s in steps], requests, events)
        sent = None
        if steps:
            sent = self._send(steps, now)
            self.state.finish_decision(now.value)
        self.state.heartbeat(last_bar=now.isoformat())
        return sent

    def _in_hours(
        self, steps: list[Step], bar_time: pd.Timestamp
    ) -> tuple[list[Step], list[KernelEvent]]:
        """The plan without its submissions when the market hours do not allow them, and
        one journal event per submission blocked."""
        if not steps or self.hours is None:
            return steps, []
        ok, reason = self.hours.allows(bar_time)
        if ok:
            return steps, []
        blocked = []
        for step in steps:
            if isinstance(step, Submit):
                req = step.request
                log.warning(
                    "blocked %s %s: %s", req.side, req.symbol, reason,
                    extra={"event": "blocked_market_closed", "strategy": self.name,
                           "symbol": req.symbol, "reason": reason},
                )  # fmt: skip
                detail = {"reason": reason, "bar_time": bar_time.isoformat()}
                blocked.append(("blocked_market_closed", detail, req.symbol))
        return [s for s in steps if not isinstance(s, Submit)], blocked

    def _close_streams(self) -> None:
        """Stop the feed's stream (a feed with one) and close the broker (every broker)."""
        stop_feed = getattr(self.feed, "stop", None)  # a feed may have none
        for name, fn in (("feed", stop_feed), ("broker", self.broker.close)):
            if not callable(fn):
                continue
            try:
                fn()
            except Exception:  # closing must not hide why the runner stopped
                log.exception("closing the %s failed", name)

    def _snapshot(self, now: pd.Timestamp) -> None:
        account = self.broker.get_account()
        self._account = (account.cash, account.equity)
        self._positions = self.broker.get_positions()
        self.state.record_equity(
            now.value,
            account.cash,
            account.equity,
            {s: p.quantity for s, p in self._positions.items()},
        )
