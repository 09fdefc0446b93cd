"""The headless live runner: the backtester's objects, bar by bar, against a real broker.

For each closed bar from the feed, in this order (each step written to the state
file before the next one acts on it):

1. record the bars; learn the broker's order updates and fills since the last bar;
2. reveal the bars to the strategy's context (indicators update incrementally) and
   snapshot cash, equity and positions from the broker;
3. the strategy decides (``on_bar``); its intents go through the risk filter when one is
   configured, then the execution engine *plans* the orders (deterministic client
   order ids), the plan is written down, and only then sent;
4. the decision is marked done; heartbeat.

On start it reads the state back: bars already seen are replayed to rebuild the
strategy's indicators (their decisions are not re-sent), orders left open are looked
up at the broker by client order id, and a decision whose plan was written but not
finished is sent again, which the client order ids make harmless.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from workbench.broker import Bar, Broker, Feed, OrderUpdate, UpdateEvent
from workbench.context import Context, SymbolData
from workbench.errors import StrategyError, WorkbenchError
from workbench.execution.engine import Cancel, ExecutionConfig, ExecutionEngine, Step, Submit
from workbench.intents import CancelIntent, Intent, OrderIntent, TargetIntent
from workbench.live.state import StateStore
from workbench.live.systemd import Watchdog, sd_notify, watchdog_interval
from workbench.orders import Fill, Order, OrderRequest, OrderType, Side, TimeInForce
from workbench.portfolio import PositionView
from workbench.risk import ContextMarket, RiskEngine
from workbench.sim.broker import SimulatedBroker
from workbench.strategy import Strategy

log = logging.getLogger(__name__)


class SimulatedVenueFeed:
    """Drives a simulated broker from a feed: each bar is traded on before it is handed on.

    This is how a dry run looks like a real venue to the runner: a real broker fills
    orders during the bar on its own; the simulated one does it when the bar arrives.
    """

    def __init__(self, feed: Feed, broker: SimulatedBroker) -> None:
        self.feed = feed
        self.broker = broker

    def __iter__(self) -> Iterator[list[Bar]]:
        for group in self.feed:
            for b in group:
                self.broker.process_bar(b.symbol, b.time, b.open, b.high, b.low, b.close, b.volume)
            yield group

    def is_stale(self, now: pd.Timestamp) -> bool:
        return self.feed.is_stale(now)


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
    ) -> None:
        self.strategy = strategy
        self.symbols = list(symbols)
        self.broker = broker
        self.feed = feed
        self.state = state
        self.risk = risk
        self.name = strategy_id or strategy.label()
        self.execution = ExecutionEngine(broker, self.name, execution)
        self._stop = threading.Event()
        self._account: tuple[float, float] = (0.0, 0.0)
        self._positions: dict[str, PositionView] = {}
        self.data = {s: SymbolData(s) for s in self.symbols}
        self.ctx = Context(self.data, lambda: self._account, self._position, self._open_orders)
        self._market = ContextMarket(self.ctx)

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
        """Finish the current bar, then stop (what SIGTERM does)."""
        self._stop.set()

    # -- start-up ------------------------------------------------------------------------
    def _restore(self) -> int:
        """Replay the bars already seen, reconcile open orders, resend unfinished plans."""
        seen = self.state.bars()
        replayed = 0
        if seen:
            times = sorted({t for f in seen.values() for t in f.index})
            for t in times:
                for sym in self.symbols:
                    frame = seen.get(sym)
                    if frame is not None and t in frame.index:
                        row = frame.loc[t]
                        self.data[sym].push(t.value, *map(float, row[list(_FIELDS)]))
                self.ctx._advance(t.value)
                self._decide(replay=True)
                replayed += 1
            log.info(
                "replayed %d bars from %s",
                replayed,
                self.state.path,
                extra={"event": "restore", "strategy": self.name},
            )
        for row in self.state.open_orders():
            order = self.broker.get_order_by_client_id(row["client_order_id"])
            if order is None:
                continue  # never reached the broker: a pending plan below resends it
            self._learn_order(order, row)
        for time_ns in self.state.pending_decisions():
            steps = _steps_from_json(self.state.decision(time_ns)[0])
            decision = pd.Timestamp(time_ns, tz="UTC")
            log.warning(
                "resending the unfinished plan of %s",
                decision,
                extra={"event": "resend_plan", "strategy": self.name},
            )
            for order in self.execution.send(steps, decision=decision):
                self.state.record_order(order)
            self.state.finish_decision(time_ns)
        return replayed

    def _learn_order(self, order: Order, row: dict[str, Any]) -> None:
        """Record ``order`` and any fill we missed (from its cumulative filled quantity)."""
        known_qty = float(row.get("filled_quantity") or 0.0)
        known_avg = float(row.get("average_price") or 0.0)
        if order.filled_quantity > known_qty + 1e-12:
            qty = order.filled_quantity - known_qty
            price = (order.average_price * order.filled_quantity - known_avg * known_qty) / qty
            fill = Fill(
                order.id,
                order.symbol,
                order.side,
                qty,
                price,
                0.0,
                order.updated_at or order.created_at,
                order.request.reason,
            )
            if self.state.record_fill(
                fill, order.client_order_id, f"{order.id}:{order.filled_quantity:.10g}"
            ):
                self.state.record_event(
                    "missed_fill", {"order_id": order.id, "qty": qty, "price": price}, order.symbol
                )
        self.state.record_order(order)

    # -- the loop ----------------------------------------------------------------------------
    def run(self, *, max_bars: int | None = None, handle_signals: bool = False) -> RunSummary:
        if handle_signals:
            signal.signal(signal.SIGTERM, lambda *_: self.stop())
        try:
            self.strategy.init(self.ctx)
        except WorkbenchError:
            raise
        except Exception as exc:
            raise StrategyError(f"{self.strategy.label()}.init failed: {exc!r}") from exc
        self.ctx.initialized = True
        self.state.set_meta(
            strategy=self.name, status="running", started_at=pd.Timestamp.now(tz="UTC").isoformat()
        )
        self._restore()
        interval = watchdog_interval()
        watchdog = Watchdog(interval) if interval else None
        if watchdog is not None:
            watchdog.start()
        sd_notify("READY=1")
        last = self.state.last_bar_ns()
        bars = decisions = sent = 0
        stopped_by = "feed ended"
        for group in self.feed:
            if last is not None and group and group[0].time.value <= last:
                continue  # already handled before a restart
            if watchdog is not None:
                watchdog.busy()
            self.state.record_bars(group)
            self._sync()
            for b in group:
                self.data[b.symbol].push(b.time.value, b.open, b.high, b.low, b.close, b.volume)
            now = group[0].time
            self._snapshot(now)
            self.ctx._advance(now.value)
            steps = self._decide(replay=False)
            if steps is not None:
                decisions += 1
                self.state.record_decision(now.value, [_step_json(s) for s in steps])
                for order in self.execution.send(steps, decision=now):
                    self.state.record_order(order)
                    sent += 1
                self.state.finish_decision(now.value)
            self.state.heartbeat(last_bar=now.isoformat())
            if watchdog is not None:
                watchdog.idle()
            sd_notify(f"STATUS=last bar {now.isoformat()}")
            bars += 1
            if self._stop.is_set():
                stopped_by = "stop requested"
                break
            if max_bars is not None and bars >= max_bars:
                stopped_by = "max bars"
                break
        sd_notify("STOPPING=1")
        if watchdog is not None:
            watchdog.stop()
        self._sync()
        self.state.set_meta(status="stopped", stopped_by=stopped_by)
        log.info("stopped: %s", stopped_by, extra={"event": "stopped", "strategy": self.name})
        return RunSummary(bars, decisions, sent, stopped_by)

    def _decide(self, *, replay: bool) -> list[Step] | None:
        own: list[Intent] = []
        if self.risk is not None and not replay:
            own = self.risk.on_bar(self.ctx.time, self.broker, self._market)
        try:
            self.strategy.on_bar(self.ctx)
        except WorkbenchError:
            raise
        except Exception as exc:
            raise StrategyError(
                f"{self.strategy.label()}.on_bar failed at {self.ctx.time}: {exc!r}"
            ) from exc
        intents, self.ctx.intents = self.ctx.intents, []
        if replay:
            return None
        if self.risk is not None and intents:
            intents = self.risk.check(intents, self.ctx.time, self.broker, self._market)
        intents = own + intents
        if not intents:
            return None
        is_stale = getattr(self.feed, "is_stale", None)
        if is_stale is not None and is_stale(pd.Timestamp.now(tz="UTC")):
            intents = self._exits_only(intents)
        equity = self._account[1]
        return self.execution.plan(
            intents,
            decision=self.ctx.time,
            price=lambda s: self.data[s].last("close"),
            position=lambda s: self._position(s).quantity,
            equity=equity,
        )

    def _exits_only(self, intents: list[Intent]) -> list[Intent]:
        """While the feed is stale, only cancels and orders that reduce a position pass."""
        kept: list[Intent] = []
        for intent in intents:
            held = self._position(intent.symbol).quantity if intent.symbol else 0.0
            if isinstance(intent, CancelIntent):
                ok = True
            elif isinstance(intent, TargetIntent):
                ok = intent.percent == 0 or intent.quantity == 0 or intent.notional == 0
            elif isinstance(intent, OrderIntent):
                signed = intent.request.side.sign * (intent.request.quantity or float("inf"))
                ok = held != 0 and (held > 0) != (signed > 0) and abs(signed) <= abs(held)
            else:
                ok = False
            if ok:
                kept.append(intent)
            else:
                log.warning(
                    "blocked %s: the feed is stale", type(intent).__name__,
                    extra={"event": "blocked_stale_feed", "strategy": self.name,
                           "symbol": intent.symbol, "reason": "stale_feed"},
                )  # fmt: skip
                self.state.record_event(
                    "blocked_stale_feed", {"intent": repr(intent)}, intent.symbol
                )
        return kept

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
        for update in updates:
            order = update.order
            self.execution.on_update(update)
            if update.fill is not None and update.event in (
                UpdateEvent.FILL,
                UpdateEvent.PARTIAL_FILL,
            ):
                key = f"{order.id}:{order.filled_quantity:.10g}"
                self.state.record_fill(update.fill, order.client_order_id, key)
                log.info(
                    "fill %s %s %.6g @ %.6g",
                    update.fill.side,
                    order.symbol,
                    update.fill.quantity,
                    update.fill.price,
                    extra={
                        "event": "fill",
                        "strategy": self.name,
                        "order_id": order.id,
                        "client_order_id": order.client_order_id,
                        "symbol": order.symbol,
                        "side": str(update.fill.side),
                        "quantity": update.fill.quantity,
                        "price": update.fill.price,
                        "reason": f"signal={order.request.reason}",
                    },
                )
            self.state.record_order(order)


_FIELDS = ("open", "high", "low", "close", "volume")


def _step_json(step: Step) -> dict[str, Any]:
    if isinstance(step, Cancel):
        return {"kind": "cancel", "order_id": step.order_id, "reason": step.reason}
    r = step.request
    return {
        "kind": "submit", "from_target": step.from_target, "symbol": r.symbol, "side": str(r.side),
        "quantity": r.quantity, "notional": r.notional, "type": str(r.type),
        "limit_price": r.limit_price, "stop_price": r.stop_price, "tif": str(r.tif),
        "reason": r.reason, "client_order_id": r.client_order_id, "oco_group": r.oco_group,
    }  # fmt: skip


def _steps_from_json(items: list[dict[str, Any]]) -> list[Step]:
    steps: list[Step] = []
    for item in items:
        if item["kind"] == "cancel":
            steps.append(Cancel(item["order_id"], item.get("reason", "")))
            continue
        request = OrderRequest(
            symbol=item["symbol"], side=Side(item["side"]), quantity=item["quantity"],
            notional=item["notional"], type=OrderType(item["type"]),
            limit_price=item["limit_price"], stop_price=item["stop_price"],
            tif=TimeInForce(item["tif"]), reason=item["reason"],
            client_order_id=item["client_order_id"], oco_group=item.get("oco_group"),
        )  # fmt: skip
        steps.append(Submit(request, from_target=item["from_target"]))
    return steps
