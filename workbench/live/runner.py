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
- a bar recorded but never decided (a crash between steps 1 and 3) is decided now.

Before anything is sent (and again before the first bar of each new UTC day is
decided) the broker's positions and open orders are compared with what the state
explains (:mod:`workbench.live.holdings`): a difference stops the runner with
:class:`~workbench.errors.ReconciliationError` (exit code 6), unless it was started
with ``adopt_positions`` (``--adopt-positions``), which takes them over at start,
logged and recorded so that a restart does not ask again.

A crash at any point therefore neither loses a decision nor sends an order twice;
``benchmarks/chaos.py`` and ``tests/integration/live/test_crash_safety.py`` kill the
runner at random moments to show it. Reads from the broker (account, positions,
order lookups) are retried on temporary errors; the broker's and the feed's streams
are closed when the runner stops, however it stops.

A venue outage (requests still failing after their retries, or the market-data stream
down while the venue does not answer) does not stop the runner: it waits in the
request that failed, ``degraded``, probing with capped, jittered backoff, and
reconciles its orders and positions with the venue before that request is made again
(:mod:`workbench.live.outage`; ``tests/integration/live/test_outage.py``).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd

from workbench.broker import Bar, Broker, Feed, OrderUpdate, UpdateEvent
from workbench.context import Context, SymbolData
from workbench.errors import StateStoreError, WorkbenchError
from workbench.execution.engine import (
    ExecutionConfig,
    ExecutionEngine,
    Step,
    Submit,
)
from workbench.kernel import BarKernel, KernelEvent
from workbench.live.health import Heartbeat
from workbench.live.holdings import (
    HoldingsCheck,
    compare_holdings,
    explains,
    log_check,
    refuse,
    take_over,
    with_legs,
)
from workbench.live.hours import MarketHours
from workbench.live.outage import OutagePolicy, StopDuringOutage, VenueGuard
from workbench.live.plans import step_json, steps_from_json
from workbench.live.resilience import RetryingReads
from workbench.live.state import StateStore
from workbench.live.systemd import Watchdog, sd_notify, watchdog_interval
from workbench.orders import Fill, Order
from workbench.portfolio import PositionView
from workbench.risk import RiskEngine
from workbench.sim.broker import NS_PER_DAY
from workbench.strategy import Strategy

log = logging.getLogger(__name__)
#: Seconds between the runner's heartbeats while it is healthy.
HEARTBEAT_EVERY = 15.0
#: Quantities closer than this (relative) are equal when comparing fills with orders.
QTY_EPSILON = 1e-9


@dataclass
class RunSummary:
    bars: int
    decisions: int
    orders_sent: int
    stopped_by: str


class LiveRunner:
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
    ) -> None:
        """``on_day_end(day)`` runs once a bar of a later UTC day has been handled (the
        daily reconciliation, say); it must not raise, and an error in it is only logged.
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
        self.symbols = list(symbols)
        config = execution or ExecutionConfig()
        self.broker = RetryingReads(broker, config.retry)
        self.feed = feed
        self.state = state
        self.risk = risk
        self.name = strategy_id or strategy.label()
        self.execution = ExecutionEngine(self.broker, self.name, config)
        self._stop = threading.Event()
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

    def stop(self) -> None:
        """Finish the current bar, then stop (what SIGTERM does).

        A streaming feed is told to stop too (on its own thread: it may wait for its
        stream), so a runner waiting for the next bar does not wait for ever.
        """
        self._stop.set()
        stop_feed = getattr(self.feed, "stop", None)
        if callable(stop_feed):
            threading.Thread(target=stop_feed, name="stop-feed", daemon=True).start()

    # -- start-up ------------------------------------------------------------------------
    def _restore(self) -> int:
        """Replay what was decided, reconcile with the broker, finish what was not."""
        seen = self.state.bars()
        decided = self.state.decided_through()
        if decided is None:  # a new state file, or one of a runner without the mark
            last = self.state.last_bar_ns()
            decided = -1 if last is None else last
            self.state.set_meta(decided_through=str(decided))
        times = sorted({t for f in seen.values() for t in f.index})
        replayed = [t for t in times if t.value <= decided]
        for t in replayed:
            for sym, frame in seen.items():
                if sym in self.data and t in frame.index:
                    row = frame.loc[t]
                    self.data[sym].push(t.value, *map(float, row[list(_FIELDS)]))
            self.kernel.advance(t.value)
            self.kernel.warm()
        if replayed:
            log.info(
                "replayed %d bars from %s",
                len(replayed),
                self.state.path,
                extra={"event": "restore", "strategy": self.name},
            )
        pending = {
            t: steps_from_json(self.state.decision(t)[0]) for t in self.state.pending_decisions()
        }
        at_broker = self._reconcile(pending)
        self.check_holdings("start", adopt=self.adopt_positions)
        for time_ns, steps in pending.items():
            decision = pd.Timestamp(time_ns, tz="UTC")
            todo = [
                s
                for s in steps
                if not (isinstance(s, Submit) and s.request.client_order_id in at_broker)
            ]
            log.warning(
                "finishing the unfinished plan of %s (%d of %d steps left)",
                decision,
                len(todo),
                len(steps),
                extra={"event": "resend_plan", "strategy": self.name},
            )
            self._send(todo, decision)
            self.state.finish_decision(time_ns)
        undecided = [t for t in times if t.value > decided]
        for t in undecided:
            group = [
                Bar(sym, t, *map(float, frame.loc[t, list(_FIELDS)]))
                for sym, frame in seen.items()
                if t in frame.index
            ]
            log.warning(
                "deciding bar %s, recorded before a restart but never decided",
                t,
                extra={"event": "late_decision", "strategy": self.name},
            )
            self._handle(group)
        if times:
            self.state.heartbeat(last_bar=times[-1].isoformat())
        return len(replayed)

    def _reconcile(self, pending: dict[int, list[Step]]) -> set[str]:
        """Look up at the broker every order the state thinks open and every order of an
        unfinished plan; record what it shows (fills included). Returns the ids it has."""
        rows = {row["client_order_id"]: row for row in self.state.open_orders()}
        for steps in pending.values():
            for step in steps:
                if isinstance(step, Submit) and step.request.client_order_id:
                    rows.setdefault(step.request.client_order_id, {})
        found: set[str] = set()
        for cid in rows:
            order = self.broker.get_order_by_client_id(cid)
            if order is None:
                continue  # never reached the broker: its plan (if unfinished) sends it
            found.add(cid)
            for known in with_legs(self.broker, order):  # a bracket's exits: recorded too
                self._learn_order(known)
        if rows:
            log.info(
                "reconciled %d order(s) with the broker, %d found",
                len(rows),
                len(found),
                extra={"event": "reconcile_orders", "strategy": self.name},
            )
        return found

    def _learn_order(self, order: Order, fill: Fill | None = None) -> None:
        """Record ``order`` and whatever it filled that the fills table does not hold yet.

        ``fill`` is the fill event that brought the news, if any; without one (or when
        more is missing than it covers) the missing quantity is recorded as one fill at
        the price that makes the order's average come out right.
        """
        known_qty, known_notional = self.state.filled(order.id)
        missing = order.filled_quantity - known_qty
        if missing > QTY_EPSILON * max(1.0, order.filled_quantity):
            exact = fill is not None and abs(fill.quantity - missing) <= QTY_EPSILON * max(
                1.0, missing
            )
            if not exact:
                price = (order.average_price * order.filled_quantity - known_notional) / missing
                fill = Fill(
                    order.id, order.symbol, order.side, missing, price, 0.0,
                    order.updated_at or order.created_at, order.request.reason,
                )  # fmt: skip
            assert fill is not None
            key = f"{order.id}:{order.filled_quantity:.10g}"
            if self.state.record_fill(fill, order.client_order_id, key):
                self._log_fill(order, fill)
                if not exact:
                    self.state.record_event(
                        "missed_fill",
                        {"order_id": order.id, "qty": fill.quantity, "price": fill.price},
                        order.symbol,
                    )
        self.state.record_order(order)

    def check_holdings(self, when: str, *, adopt: bool = False) -> HoldingsCheck:
        """Compare the broker's positions and open orders with the state; stop on a
        difference it does not explain (or, with ``adopt``, take them over).

        ``when`` names the occasion in the log (``start``, ``daily``, ``after outage``).
        A difference is looked at again after each wait of :attr:`holdings_settle`, the
        broker's order updates and the orders the state thinks open learned in between:
        a fill whose update trails the broker's positions (a bracket's exit filling
        during the bar, say) is not taken for a difference; a real one stays.
        """
        check = compare_holdings(self.state, self.broker)
        for delay in () if check.clean else self.holdings_settle:
            threading.Event().wait(delay)  # the stream's news may trail the REST answers
            self._sync()
            self._reconcile({})
            check = compare_holdings(self.state, self.broker)
            if check.clean:
                break
        log_check(check, when, self.name)
        self.state.set_meta(holdings=check.summary(when, adopted=adopt))
        if check.clean:
            return check
        if not adopt:
            refuse(check, self.state, when, self.name)
        take_over(check, self.state, self.broker, self._learn_order, self.name)
        return check

    # -- the loop ----------------------------------------------------------------------------
    def run(self, *, max_bars: int | None = None, handle_signals: bool = False) -> RunSummary:
        if handle_signals:
            signal.signal(signal.SIGTERM, lambda *_: self.stop())
        beat = Heartbeat(self.state, self.heartbeat_every, on_fault=self.stop)
        try:
            summary = self._run(max_bars, beat)
        except StopDuringOutage:
            stopped_by = "stop requested during a venue outage"
            self.state.set_meta(status="stopped", stopped_by=stopped_by)
            log.info("stopped: %s", stopped_by, extra={"event": "stopped", "strategy": self.name})
            bars, decisions, sent = self._tally
            summary = RunSummary(bars, decisions, sent, stopped_by)
        except BaseException as exc:
            self._write_failure(exc)
            raise
        finally:
            beat.stop()
            self._close_streams()
        return summary

    def _write_failure(self, exc: BaseException) -> None:
        """Say ``failed`` in the state, and why; when the file itself is the trouble, the
        heartbeat's age will tell (``workbench live status``, the dashboard)."""
        why = str(exc).splitlines()[0] if isinstance(exc, WorkbenchError) else type(exc).__name__
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
            if previous is not None and previous // NS_PER_DAY < last // NS_PER_DAY:
                self._sync()
                self.check_holdings("daily")
            n = self._handle(group)
            if n is not None:
                decisions += 1
                sent += n
            if previous is not None and previous // NS_PER_DAY < last // NS_PER_DAY:
                self._day_ended(pd.Timestamp(previous, tz="UTC").normalize())
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
            stopped_by = "stop requested"
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

    def _after_outage(self) -> None:
        """What the runner does before trading again once the venue answers: every order
        the state thinks open and every order of an unfinished plan is looked up by client
        order id (fills made meanwhile are recorded; an order the venue has is never sent
        again), then the venue's positions and open orders are held against the state as
        at start (:meth:`check_holdings`): a difference the state does not explain stops
        the runner (exit code 6)."""
        pending = {
            t: steps_from_json(self.state.decision(t)[0]) for t in self.state.pending_decisions()
        }
        self._reconcile(pending)
        self.check_holdings("after outage")

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

    def _send(self, steps: list[Step], decision: pd.Timestamp) -> int:
        """Send a plan and record what the broker accepted; an order it refused (or that
        failed for good) is looked up once, and marked rejected when it is not there."""
        orders = self.execution.send(steps, decision=decision)
        for order in orders:
            self._learn_order(order)
        accepted = {o.client_order_id for o in orders}
        for step in steps:
            cid = step.request.client_order_id if isinstance(step, Submit) else None
            if cid is None or cid in accepted:
                continue
            order = self.broker.get_order_by_client_id(cid)
            if order is None:
                self.state.set_order_status(cid, "rejected")
            else:
                self._learn_order(order)
        return len(orders)

    def _close_streams(self) -> None:
        """Stop the feed's stream (a feed with one) and close the broker (every broker)."""
        stop_feed = getattr(self.feed, "stop", None)  # a replay has nothing to stop
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

    def _sync(self) -> None:
        """Learn order updates and fills from the broker; store each once."""
        updates: list[OrderUpdate] = self.broker.drain_updates()
        known = self.state.known_order_ids() if updates else set()
        for update in updates:
            self.execution.on_update(update)
            if not explains(update.order, known):
                # not ours (a manual trade, another bot): the holdings check reports it
                log.warning(
                    "order update for an order this runner did not send: %s %s %s",
                    update.event, update.order.symbol, update.order.id,
                    extra={"event": "unknown_order", "strategy": self.name,
                           "symbol": update.order.symbol, "order_id": update.order.id,
                           "client_order_id": update.order.client_order_id},
                )  # fmt: skip
                continue
            fill = update.fill
            if fill is not None and update.event in (UpdateEvent.FILL, UpdateEvent.PARTIAL_FILL):
                self._learn_order(update.order, fill)
            else:
                self.state.record_order(update.order)

    def _log_fill(self, order: Order, fill: Fill) -> None:
        log.info(
            "fill %s %s %.6g @ %.6g",
            fill.side,
            order.symbol,
            fill.quantity,
            fill.price,
            extra={
                "event": "fill",
                "strategy": self.name,
                "order_id": order.id,
                "client_order_id": order.client_order_id,
                "symbol": order.symbol,
                "side": str(fill.side),
                "quantity": fill.quantity,
                "price": fill.price,
                "reason": f"signal={order.request.reason}",
            },
        )


_FIELDS = ("open", "high", "low", "close", "volume")
