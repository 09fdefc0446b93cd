"""Sending a decision's plan, and learning what the broker says about the runner's orders.

Every order the broker shows (an answer to a submission, an order update from its stream,
a lookup by client order id, the protective exit the execution engine sends for a partly
filled entry that ended, a waiting order it sends once the working order on the other side
is done) goes through :meth:`OrderSync._learn_order`, which records it and each fill once,
so a fill the stream missed is still recorded with the right average price.

An order the engine holds back (``conflict = wait``) is marked ``waiting`` in the state when
its plan is sent: it stays open there, its request written with the plan, until the broker
has it. The engine sends it while following the working order's end, and it is recorded
(:meth:`OrderSync._released`) before that end is: a crash in between leaves both open in the
state, and a restart finds it at the broker by its client order id, or hands it back to
the engine (:meth:`~workbench.live.recovery.Recovery._resume_waiting`).

An order's end can also be learned by a lookup rather than from the stream (after a venue
outage, whose dropped stream never tells, at a restart, for an order not accepted when
sent): :meth:`OrderSync._looked_up` records it and keeps the end, which the next
:meth:`OrderSync._sync` hands to the engine as the update that never came. So the engine
releases the orders it held for that order (recorded as above) where it follows every
update, between bars, never in the middle of a plan being sent; a late update of the same
end sends nothing more (the engine releases a symbol's waiting orders once).

Part of :class:`~workbench.live.runner.LiveRunner`, apart so the runner's loop reads on its
own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd

from workbench.broker import ENDED_BY, OrderUpdate, UpdateEvent
from workbench.execution.engine import (
    ExecutionEngine,
    Step,
    Submit,
)
from workbench.live.holdings import (
    explains,
)
from workbench.live.resilience import RetryingReads
from workbench.live.state import StateStore
from workbench.live.state.schema import FINAL_STATUSES
from workbench.orders import TERMINAL, Fill, Order, OrderRequest
from workbench.portfolio import QUANTITY_EPSILON

log = logging.getLogger("workbench.live.runner")  # the runner's records, as before the split
#: Updates that end an order without (more) fill: one line each; a rejection is a warning.
_ENDED = {
    UpdateEvent.CANCELED: logging.INFO,
    UpdateEvent.EXPIRED: logging.INFO,
    UpdateEvent.REJECTED: logging.WARNING,
}


class OrderSync:
    """The runner's orders: sent from a plan, learned from the broker, recorded once."""

    state: StateStore
    broker: RetryingReads
    execution: ExecutionEngine
    name: str
    #: Ends learned by a lookup since the last :meth:`_sync`, as the updates that never came.
    _unheard: tuple[OrderUpdate, ...] = ()
    #: Fills recorded in the open batch whose lines wait for its account read (None: none
    #: open, each line reads the account itself): :meth:`_fill_lines`.
    _unlogged: list[tuple[Order, Fill]] | None = None

    def _send(self, steps: list[Step], decision: pd.Timestamp) -> int:
        """Send a plan and record what the broker accepted; an order the engine holds back
        is marked waiting (one an earlier target's, that this plan's target replaces before
        it was sent, canceled); one the broker refused (or that failed for good) is looked
        up once, and marked rejected when it is not there."""
        orders = self.execution.send(steps, decision=decision)
        for cid in self.execution.take_dropped():  # held, replaced by this plan's target
            self.state.set_order_status(cid, "canceled")
        for order in orders:
            self._learn_order(order)
        accepted = {o.client_order_id for o in orders}
        for step in steps:
            cid = step.request.client_order_id if isinstance(step, Submit) else None
            if cid is None or cid in accepted:
                continue
            if self.execution.holds(cid):
                self.state.mark_waiting(cid)
            else:
                self._settle(cid)
        return len(orders)

    def _released(self, request: OrderRequest, order: Order | None) -> None:
        """The engine sent a waiting order (its ``on_release``), following the end of the
        working order it waited for: recorded now, before that end is; refused, it is
        looked up once and marked rejected when the broker does not have it."""
        if order is None:
            cid = request.client_order_id
            assert cid is not None  # a held request carries its planned id
            self._settle(cid)
        else:
            self._learn_order(order)

    def _settle(self, cid: str) -> None:
        """An order not accepted when sent: recorded as the broker shows it, else rejected."""
        order = self.broker.get_order_by_client_id(cid)
        if order is None:
            self.state.set_order_status(cid, "rejected")
        else:
            self._looked_up(order)

    def _looked_up(self, order: Order) -> None:
        """Record ``order`` as a lookup shows it; an end the state did not know yet is kept
        for the next :meth:`_sync` to follow as its update (the stream may never send it)."""
        cid = order.client_order_id
        if (
            cid is not None
            and order.status in TERMINAL
            and self.state.order_status(cid) not in FINAL_STATUSES
        ):
            when = order.updated_at or order.created_at
            self._unheard = (*self._unheard, OrderUpdate(ENDED_BY[order.status], order, when))
        self._learn_order(order)

    def _learn_order(self, order: Order, fill: Fill | None = None) -> None:
        """Record ``order`` and whatever it filled that the fills table does not hold yet.

        ``fill`` is the fill event that brought the news, if any; without one (or when
        more is missing than it covers) the missing quantity is recorded as one fill at
        the price that makes the order's average come out right.
        """
        known_qty, known_notional = self.state.filled(order.id)
        missing = order.filled_quantity - known_qty
        if missing > QUANTITY_EPSILON * max(1.0, order.filled_quantity):
            exact = fill is not None and abs(fill.quantity - missing) <= QUANTITY_EPSILON * max(
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

    def _sync(self) -> None:
        """Learn order updates and fills from the broker; store each once. The ends learned
        by a lookup since the last call (:meth:`_looked_up`) come first, as their updates."""
        with self._fill_lines():
            self._learn_updates()

    def _learn_updates(self) -> None:
        unheard, self._unheard = self._unheard, ()
        updates: list[OrderUpdate] = [*unheard, *self.broker.drain_updates()]
        known = self.state.known_order_ids() if updates else set()
        for update in updates:
            protective = self.execution.on_update(update)
            if protective is not None:  # recorded before the entry's end: see _reconcile
                self._learn_order(protective)
                known.add(protective.client_order_id or protective.id)
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
                if update.event in _ENDED:
                    self._log_ended(update)

    def _log_ended(self, update: OrderUpdate) -> None:
        order, request = update.order, update.order.request
        log.log(
            _ENDED[update.event],
            "order %s %s %s %s: %s",
            update.event,
            order.side,
            order.symbol,
            order.id,
            order.status_reason or "no reason given",
            extra={
                "event": f"order_{update.event}",
                "strategy": self.name,
                "order_id": order.id,
                "client_order_id": order.client_order_id,
                "symbol": order.symbol,
                "side": str(order.side),
                "quantity": request.quantity,
                "price": request.shown_price,
                "reason": order.status_reason or f"signal={request.reason}",
                "signal": request.reason or None,
            },
        )  # fmt: skip

    @contextmanager
    def _fill_lines(self) -> Iterator[None]:
        """The fill lines of what is recorded inside go out at its end, all on one account
        read: a rebalance's hundred fills cost one request, not a hundred of the venue's
        rate limit (Alpaca's 200 a minute). Read after them all, the account holds every
        fill of the batch; each line's balance is it less the fills after that one (a
        fill trades cash for shares at its price: equity moves only by its commission).
        Nested, the outer batch logs them."""
        if self._unlogged is not None:
            yield
            return
        self._unlogged = []
        try:
            yield
        finally:  # the fills are recorded already: their lines must go out
            batch, self._unlogged = self._unlogged, None
            self._log_fills(batch)

    def _log_fill(self, order: Order, fill: Fill) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        if self._unlogged is not None:
            self._unlogged.append((order, fill))
        else:
            self._log_fills([(order, fill)])

    def _log_fills(self, fills: list[tuple[Order, Fill]]) -> None:
        """One line per fill, with the balance after it (one account read for them all)."""
        if not fills:
            return
        try:  # a broker that does not answer now costs only the balances
            account = self.broker.inner.get_account()
            cash, equity = account.cash, account.equity
        except Exception:  # the fills are recorded already: their lines must go out
            cash = equity = None
        after: list[tuple[float | None, float | None]] = []
        for _, fill in reversed(fills):  # the balance after each: the later ones undone
            after.append((cash, equity))
            if cash is not None and equity is not None:
                cash += fill.side.sign * fill.quantity * fill.price + fill.commission
                equity += fill.commission
        for (order, fill), (cash, equity) in zip(fills, reversed(after), strict=True):
            self._fill_line(order, fill, cash, equity)

    def _fill_line(
        self, order: Order, fill: Fill, cash: float | None, equity: float | None
    ) -> None:
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
                "cash": cash,
                "equity": equity,
                "balance": cash,
                "reason": f"signal={order.request.reason}",
                "signal": order.request.reason or None,
            },
        )
