"""The execution engine's sending half: one order to the broker, and the per-symbol state.

:class:`OrderSending` is this part of :class:`~workbench.execution.engine.ExecutionEngine`
(its base), kept here by concept as the simulated broker keeps its legs
(:mod:`workbench.sim.legs`) and the Alpaca broker its trade updates
(:mod:`workbench.brokers.alpaca_stream`). The engine (:mod:`workbench.execution.engine`)
plans intents into steps, carries out a plan and follows the broker's order updates; this
half sends one order: its client order id, the contradiction check (cancel the working
order of the other side, or hold the new one), the submission retried with backoff, the
lookup by client order id after an ambiguous failure or a duplicate refusal, a cancel
retried, and the failures counted until the symbol is in ``ERROR``.

The split is where the two meet least: the engine calls :meth:`~OrderSending.submit`,
``_send`` (an order released from waiting; the partial-fill guard's exit), ``_lookup``
(the guard's) and ``_cancel_if_open`` (a plan's cancel), and nothing here calls the
engine. The per-symbol state (:class:`SymbolState`, ``_set_state``, :meth:`~OrderSending.reset`)
is kept here, below both halves: sends move it (pending, ``ERROR``) and so do the updates
the engine follows. The engine's ``__init__`` sets up what both halves share (the broker,
the settings, the retry clock, the tables); it is declared here for what reads it. Its
records are the engine's (logger ``workbench.execution.engine``), as before the split.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING

from workbench.errors import OrderRejected, TransientBrokerError
from workbench.execution.config import ConflictPolicy, ExecutionConfig
from workbench.execution.ids import client_order_id
from workbench.orders import TERMINAL, Order, OrderRequest

if TYPE_CHECKING:
    import random

    import pandas as pd

    from workbench.broker import Broker
    from workbench.execution.waiting import WaitQueue

__all__ = ["CODE_DUPLICATE_CLIENT_ID", "OrderSending", "SymbolState"]

log = logging.getLogger("workbench.execution.engine")  # the engine's records, as before the split


#: Alpaca's code for "client_order_id must be unique" (the simulated broker uses it too).
CODE_DUPLICATE_CLIENT_ID = 40010001


class SymbolState(StrEnum):
    IDLE = "IDLE"
    PENDING_ORDER = "PENDING_ORDER"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    ORDER_FILLED = "ORDER_FILLED"
    ERROR = "ERROR"


#: Enum members read on every order, as module globals (why: :mod:`workbench.orders`).
_IDLE, _PENDING, _FILLED, _ERROR = (
    SymbolState.IDLE,
    SymbolState.PENDING_ORDER,
    SymbolState.ORDER_FILLED,
    SymbolState.ERROR,
)


class OrderSending:
    """The sending of :class:`~workbench.execution.engine.ExecutionEngine` (its base)."""

    # the engine's, declared here for what reads them
    broker: Broker
    strategy: str
    config: ExecutionConfig
    _sleep: Callable[[float], None]
    _rng: random.Random
    states: dict[str, SymbolState]
    _failures: dict[str, int]
    _waiting: WaitQueue
    _seq: dict[tuple[str, int], int]

    # -- state ------------------------------------------------------------------------
    def state(self, symbol: str) -> SymbolState:
        return self.states.get(symbol, SymbolState.IDLE)

    def _set_state(self, symbol: str, state: SymbolState, reason: str = "") -> None:
        old = self.states.get(symbol, _IDLE)
        if old is state:
            return
        self.states[symbol] = state
        if not log.isEnabledFor(logging.INFO):  # the record's fields cost more than the move
            return
        log.info(
            "execution state %s: %s -> %s",
            symbol,
            old,
            state,
            extra={
                "event": "execution_state",
                "strategy": self.strategy,
                "symbol": symbol,
                "state": str(state),
                "reason": reason or None,
            },
        )

    def reset(self, symbol: str) -> None:
        """Lift ``ERROR`` for ``symbol`` (a person decided it is safe)."""
        self._failures.pop(symbol, None)
        self._set_state(symbol, SymbolState.IDLE, "reset")

    # -- sending ------------------------------------------------------------------------
    def submit(self, request: OrderRequest, *, decision: pd.Timestamp) -> Order | None:
        """Send one order (id assigned here); None if refused, rejected, waiting or failed."""
        symbol = request.symbol
        if self.states.get(symbol) is _ERROR:
            log.warning(
                "refused %s %s: symbol is in ERROR after repeated broker failures",
                request.side,
                symbol,
                extra={
                    "event": "order_refused",
                    "strategy": self.strategy,
                    "symbol": symbol,
                    "reason": "execution_error_state",
                    "signal": request.reason or None,
                },
            )
            return None
        if request.client_order_id is None:  # a plan's requests have theirs already
            request = self._with_id(request, decision)
        opposite = [] if request.protective else self._opposite(request)
        if opposite:
            if self.config.conflict is ConflictPolicy.WAIT:
                self._waiting.hold(request, working=opposite[0])
                return None
            for order in opposite:
                self._call(lambda oid=order.id: self.broker.cancel_order(oid), symbol)
            working = self._still_working(opposite)
            if working is not None:  # sent now, the venue would refuse it as a wash trade
                self._waiting.hold(request, working=working)
                return None
        return self._send(request)

    def _with_id(self, request: OrderRequest, decision: pd.Timestamp) -> OrderRequest:
        """``request`` with its client order id: the decision's, numbered in the order of
        the requests made at that decision for that symbol (kept if it has one)."""
        if request.client_order_id is not None:
            return request
        key = (request.symbol, decision.value)
        seq = self._seq.get(key, 0)
        self._seq[key] = seq + 1
        return request.with_client_id(client_order_id(self.strategy, request.symbol, decision, seq))

    def _still_working(self, canceled: list[Order]) -> Order | None:
        """The first of ``canceled`` still working once its cancel was asked, or None.

        A cancel is a request: Alpaca answers it at once, but an order routed to the venue
        stays ``pending_cancel`` until the venue acts, after the close until the next open
        (Alpaca forum 813), and while it works Alpaca refuses an opposite order of the
        symbol as a potential wash trade (422 42210000, forum 13817). Such an order is held
        as ``conflict = wait`` holds one, and goes out when that end arrives; on the
        simulated broker a cancel acts at once, so nothing is held there. A lookup that
        fails counts the order as working: its end releases the held order all the same.
        """
        for order in canceled:
            try:
                now = self.broker.get_order(order.id)
            except TransientBrokerError:
                return order
            if now.status.is_open:
                return now
        return None

    def _opposite(self, request: OrderRequest) -> list[Order]:
        """Working orders of ``request``'s symbol on the other side that it contradicts.

        Protective exits (attached legs, oco orders and ``oco_group`` members) contradict
        nothing: they only ever reduce the position, so an exit submitted with (or after)
        its entry must not cancel the entry, and a new entry must not cancel the exits
        that protect what is already held.
        """
        symbol, side = request.symbol, request.side
        opposite: list[Order] = []
        for o in self.broker.get_open_orders():  # a loop: no comprehension frame per order
            if o.symbol == symbol and o.side is not side and not o.request.protective:
                opposite.append(o)
        return opposite

    def _send(self, request: OrderRequest) -> Order | None:
        symbol = request.symbol
        cid = request.client_order_id
        assert cid is not None
        retry = self.config.retry
        for attempt in range(1, retry.max_attempts + 1):
            try:
                order = self.broker.submit_order(request)
            except OrderRejected as exc:
                if exc.code == CODE_DUPLICATE_CLIENT_ID:
                    existing = self._lookup(cid, symbol)
                    if existing is not None:
                        return self._accepted(existing, "already submitted")
                code = f"(code {exc.code})"
                log.error(
                    "order rejected by the broker: %s%s",
                    exc.message,
                    "" if code in exc.message else f" {code}",
                    extra={
                        "event": "order_rejected",
                        "strategy": self.strategy,
                        "symbol": symbol,
                        "client_order_id": cid,
                        "side": str(request.side),
                        "quantity": request.quantity,
                        "price": request.shown_price,
                        "reason": f"code={exc.code} {exc.message}",
                        "signal": request.reason or None,
                    },
                )
                return None
            except TransientBrokerError as exc:
                log.warning(
                    "submit %s failed (attempt %d/%d): %s",
                    cid,
                    attempt,
                    retry.max_attempts,
                    exc,
                    extra={
                        "event": "submit_retry",
                        "strategy": self.strategy,
                        "symbol": symbol,
                        "client_order_id": cid,
                        "reason": str(exc),
                    },
                )
                if exc.ambiguous:
                    existing = self._lookup(cid, symbol)
                    if existing is not None:
                        return self._accepted(existing, "found after an ambiguous failure")
                if attempt < retry.max_attempts:
                    self._sleep(retry.delay(attempt, self._rng, exc.retry_after))
                continue
            return self._accepted(order, "submitted")
        self._failed(symbol, f"submission of {cid} failed {retry.max_attempts} times")
        return None

    def _lookup(self, cid: str, symbol: str) -> Order | None:
        retry = self.config.retry
        for attempt in range(1, retry.max_attempts + 1):
            try:
                return self.broker.get_order_by_client_id(cid)
            except TransientBrokerError as exc:
                if attempt < retry.max_attempts:
                    self._sleep(retry.delay(attempt, self._rng, exc.retry_after))
        self._failed(symbol, f"lookup of {cid} failed {retry.max_attempts} times")
        return None

    def _accepted(self, order: Order, how: str) -> Order:
        request = order.request
        self._failures.pop(request.symbol, None)
        if log.isEnabledFor(logging.INFO):
            self._log_accepted(order, how)
        if order.status not in TERMINAL:
            self._set_state(request.symbol, _PENDING, request.reason)
        return order

    def _log_accepted(self, order: Order, how: str) -> None:
        request = order.request
        # a notional order (fraction of equity, Alpaca's ``notional``) names dollars, not shares
        amount = (
            f"{request.quantity:,.6f}".rstrip("0").rstrip(".")  # shares to a millionth
            if request.quantity is not None
            else f"${request.notional:,.2f} of"
        )
        log.info(
            "order %s: %s %s %s",
            how,
            order.side,
            amount,
            order.symbol,
            extra={
                "event": "order_submitted",
                "strategy": self.strategy,
                "order_id": order.id,
                "client_order_id": order.client_order_id,
                "symbol": order.symbol,
                "side": str(order.side),
                "quantity": request.quantity,
                "notional": request.notional,
                "price": request.shown_price,
                "reason": f"signal={order.request.reason}",
                "signal": order.request.reason or None,
            },
        )

    def _failed(self, symbol: str, why: str) -> None:
        count = self._failures.get(symbol, 0) + 1
        self._failures[symbol] = count
        log.error(
            why,
            extra={
                "event": "submit_failed",
                "strategy": self.strategy,
                "symbol": symbol,
                "reason": why,
            },
        )
        if count >= self.config.max_failures:
            self._set_state(symbol, SymbolState.ERROR, why)

    def _call(self, fn: Callable[[], object], symbol: str) -> None:
        """A cancel, retried like a submission; a refusal (already done) is fine."""
        retry = self.config.retry
        for attempt in range(1, retry.max_attempts + 1):
            try:
                fn()
                return
            except OrderRejected:
                return
            except TransientBrokerError as exc:
                if attempt < retry.max_attempts:
                    self._sleep(retry.delay(attempt, self._rng, exc.retry_after))
        self._failed(symbol, f"cancel failed {retry.max_attempts} times")

    def _cancel_if_open(self, order_id: str) -> None:
        order = self.broker.get_order(order_id)
        if order.status.is_open:
            self._call(lambda: self.broker.cancel_order(order_id), order.symbol)
