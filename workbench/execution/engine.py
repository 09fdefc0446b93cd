"""The execution engine: intents (after risk) into broker orders, the same in simulation and live.

What it guarantees, whichever :class:`~workbench.broker.Broker` is behind it:

- **Idempotency.** Every order gets a deterministic client order id built from the
  strategy, the symbol, the decision bar and the order's place in that decision
  (:func:`client_order_id`). After an ambiguous failure (timeout, 5xx, dropped
  connection) the engine looks the order up by that id before resubmitting, and a
  "duplicate client order id" refusal resolves to the existing order: a retried or
  restarted submission never creates a second order.
- **Retries** only for what is safe to retry (:class:`~workbench.errors.TransientBrokerError`:
  429, 5xx, timeouts, disconnects), with exponential backoff and jitter, honouring the
  broker's ``retry_after``. Rejections (:class:`~workbench.errors.OrderRejected`) are
  logged with the broker's code and message and not retried.
- **No contradictory commands.** A new order against a working order of the other side
  for the same symbol either cancels the working one first (``cancel_replace``; one the
  venue still works after the cancel, ``pending_cancel`` until the next open, is waited
  for, as the venue would refuse the new order as a wash trade) or waits until it is done
  (``wait``: :mod:`workbench.execution.waiting`; ``on_release`` hears of each order sent
  then, so a live runner records it before that order's end).
  Protective exits (stop-loss, take-profit, oco groups) are not contradictions: they can
  only reduce a position (the broker ensures it), so they never cancel an entry nor are
  canceled by one.
- **No position left without its exits.** A bracket or oto entry that ends partly filled
  (canceled, a day order expired) cancels its held exits at the venue; a protective exit
  is sent for what it filled (:mod:`workbench.execution.protect`, ``protect_partial_fills``).
- **A clear state per symbol** (:class:`SymbolState`), logged on every change; repeated
  failures put a symbol in ``ERROR``, which refuses new orders until :meth:`reset`.

This module plans intents into steps (:meth:`ExecutionEngine.plan`), carries out a plan
(:meth:`ExecutionEngine.send`) and follows the broker's order updates
(:meth:`ExecutionEngine.on_update`). Sending one order (its id, the contradiction check,
the retries, the lookups, the cancels, the failures, the per-symbol state) is its base
:class:`~workbench.execution.sending.OrderSending`, a module of its own
(:mod:`workbench.execution.sending` says where the seam runs).

Its settings (the conflict and retry policies, the limits) are in :mod:`.config`.
"""

from __future__ import annotations

import random
import time as _time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from workbench.broker import Broker, OrderUpdate, UpdateEvent
from workbench.execution.config import ExecutionConfig
from workbench.execution.ids import client_order_id
from workbench.execution.protect import PartialFillGuard
from workbench.execution.sending import (
    _ERROR,
    _FILLED,
    CODE_DUPLICATE_CLIENT_ID,
    OrderSending,
    SymbolState,
)
from workbench.execution.targets import orders_for_target
from workbench.execution.waiting import WaitQueue
from workbench.fastinit import fast_init
from workbench.intents import CancelIntent, Intent, OrderIntent, TargetIntent
from workbench.orders import TERMINAL, Order, OrderRequest

__all__ = [
    "CODE_DUPLICATE_CLIENT_ID",
    "Cancel",
    "ExecutionEngine",
    "Step",
    "Submit",
    "SymbolState",
    "client_order_id",
]


#: Enum members read on every order, as module globals (why: :mod:`workbench.orders`).
_EV_NEW, _EV_FILL, _EV_PARTIAL = UpdateEvent.NEW, UpdateEvent.FILL, UpdateEvent.PARTIAL_FILL


@fast_init
@dataclass(frozen=True, slots=True)
class Submit:
    """Send this order (its client order id is set)."""

    request: OrderRequest
    from_target: bool = False


@fast_init
@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel this order if it is still working."""

    order_id: str
    reason: str = ""


Step = Submit | Cancel


class ExecutionEngine(OrderSending):
    """Sends intents to a broker; see the module docstring for what it guarantees."""

    def __init__(
        self,
        broker: Broker,
        strategy: str,
        config: ExecutionConfig | None = None,
        *,
        sleep: Callable[[float], None] = _time.sleep,
        seed: int | None = None,
        on_release: Callable[[OrderRequest, Order | None], object] | None = None,
    ) -> None:
        """``on_release(request, order)`` is called for each waiting order sent from
        :meth:`on_update`, with the order the broker took (None: refused, or failed)."""
        self.broker = broker
        self.strategy = strategy
        self.config = config or ExecutionConfig()
        self._sleep = sleep
        self._rng = random.Random(seed)
        self.states: dict[str, SymbolState] = {}
        self._failures: dict[str, int] = {}
        self._target_orders: dict[str, list[str]] = {}
        self._waiting = WaitQueue(strategy)
        self._on_release = on_release
        self._seq: dict[tuple[str, int], int] = {}
        self._guard = (
            PartialFillGuard(broker, strategy, lookup=self._lookup, send=self._send)
            if self.config.protect_partial_fills
            else None
        )

    # -- intents ------------------------------------------------------------------------
    def plan(
        self,
        intents: list[Intent],
        *,
        decision: pd.Timestamp,
        price: Callable[[str], float],
        position: Callable[[str], float],
        equity: float,
    ) -> list[Step]:
        """The concrete steps for ``intents`` decided on bar ``decision``, ids assigned.

        Planning is separate from sending so that a live runner can write the plan down
        before anything reaches the broker, and re-send exactly that plan after a crash.
        """
        steps: list[Step] = []
        for intent in intents:
            if isinstance(intent, CancelIntent):
                if intent.order_id is not None:
                    steps.append(Cancel(intent.order_id, reason=intent.reason))
                else:
                    steps.extend(
                        Cancel(o.id, reason=intent.reason)
                        for o in self.broker.get_open_orders()
                        if intent.symbol is None or o.symbol == intent.symbol
                    )
                continue
            if isinstance(intent, OrderIntent):
                requests = [intent.request]
                target = False
            else:
                assert isinstance(intent, TargetIntent)
                working = self._target_orders.get(intent.symbol)
                if working:
                    steps.extend(Cancel(oid, reason="replaced by a new target") for oid in working)
                requests = orders_for_target(
                    intent,
                    position=position(intent.symbol),
                    price=price(intent.symbol),
                    equity=equity,
                    lot_size=self.config.lot_size,
                )
                target = True
            for request in requests:
                steps.append(Submit(self._with_id(request, decision), target))
        return steps

    def send(self, steps: list[Step], *, decision: pd.Timestamp) -> list[Order]:
        """Carry out a plan; return the orders the broker accepted."""
        sent: list[Order] = []
        new_targets: dict[str, list[str]] = {}
        if self._waiting.holds_targets():  # a newer target replaces one still held
            targeted = {s.request.symbol for s in steps if isinstance(s, Submit) and s.from_target}
            for symbol in sorted(targeted):
                self._waiting.drop_targets(symbol)
        for step in steps:
            if isinstance(step, Cancel):
                self._cancel_if_open(step.order_id)
                for ids in self._target_orders.values():
                    if step.order_id in ids:
                        ids.remove(step.order_id)
                continue
            order = self.submit(step.request, decision=decision)
            if order is not None:
                sent.append(order)
                if step.from_target:
                    new_targets.setdefault(order.request.symbol, []).append(order.id)
            elif step.from_target:  # held: the target's, replaced by a newer target
                self._waiting.mark_target(step.request.client_order_id or "")
        self._target_orders.update(new_targets)
        return sent

    def take_dropped(self) -> list[str]:
        """The client order ids of held target orders that a newer target of their symbol
        replaced since the last call: never sent (:meth:`WaitQueue.drop_targets`)."""
        return self._waiting.take_dropped()

    def execute(
        self,
        intents: list[Intent],
        *,
        decision: pd.Timestamp,
        price: Callable[[str], float],
        position: Callable[[str], float],
        equity: float,
    ) -> list[Order]:
        """Plan and send in one go (what a backtest does); see :meth:`plan`."""
        steps = self.plan(intents, decision=decision, price=price, position=position, equity=equity)
        return self.send(steps, decision=decision)

    def holds(self, client_order_id: str) -> bool:
        """Whether the order ``client_order_id`` is waiting for a working order on the
        other side to be done (``wait``): planned, not sent yet."""
        return self._waiting.holds(client_order_id)

    # -- updates ------------------------------------------------------------------------
    def protect(self, entry: Order) -> Order | None:
        """The protective exit of ``entry`` if it ended partly filled (sent now or found
        sent before); what a restarted runner calls for the entries it reconciles."""
        return None if self._guard is None else self._guard.protect(entry)

    def on_update(self, update: OrderUpdate) -> Order | None:
        """Follow the broker's order updates: per-symbol state, and release waiting orders;
        return the protective exit sent (or found) for an entry that ended partly filled.

        A target's order that is done is no longer working: the next target of its
        symbol plans no cancel for it (the cancel would find it done and do nothing).
        """
        order = update.order
        terminal = order.status in TERMINAL
        if not terminal and update.event is _EV_NEW:
            return None  # an accepted order: nothing to follow (every order has one)
        protective = None
        if terminal and self._guard is not None and (order.legs or order.parent_id is not None):
            protective = self._guard.on_end(order)
        self._follow(update, order, terminal)
        return protective

    def _follow(self, update: OrderUpdate, order: Order, terminal: bool) -> None:
        symbol = order.request.symbol
        if terminal:
            working = self._target_orders.get(symbol)
            if working and order.id in working:
                working.remove(order.id)
        if self.states.get(symbol) is _ERROR:
            return
        event = update.event
        if event is _EV_PARTIAL:
            self._set_state(symbol, SymbolState.PARTIALLY_FILLED)
        elif event is _EV_FILL:
            self._set_state(symbol, _FILLED)
        if terminal:
            still_open = False
            for o in self.broker.get_open_orders():  # a loop: no generator per update
                if o.symbol == symbol and not o.request.protective:
                    still_open = True
                    break
            if not still_open:
                if event is not _EV_FILL:
                    self._set_state(symbol, SymbolState.IDLE)
                self._release(symbol)

    def _release(self, symbol: str) -> None:
        for request in self._waiting.release(symbol):
            order = self._send(request)
            if self._waiting.was_target(request.client_order_id) and order is not None:
                self._target_orders.setdefault(symbol, []).append(order.id)  # its working one
            if self._on_release is not None:
                self._on_release(request, order)
