"""Protecting what a partly filled entry leaves behind.

A bracket's (or oto's) exits stay held until the entry is completely filled, and an entry
that ends before (canceled, a day order expired at the close) cancels them along: what it
did fill is left without its stop (Alpaca's rule, and the simulated venue's, see
:mod:`workbench.sim.legs`). :class:`PartialFillGuard` puts the protection back: for the
quantity the entry filled (no more than is still held in its direction) it sends the exits
a complete fill would have armed, at the legs' prices and time in force: an oco (the
take-profit limit with the stop) when both were attached, else the single stop (or
trailing stop) or limit. The order is protective (an oco, or an exit of a group of its
own), so the venue never lets it open a position and risk rules count it as an exit.

It sits above the Broker seam, called from :meth:`ExecutionEngine.on_update
<workbench.execution.engine.ExecutionEngine.on_update>`, so a backtest on the simulated
broker and a live run on Alpaca do the same. Its client order id is the entry's plus
``-px`` (:func:`~workbench.exits.protect_client_id`) and it is looked up before it is sent:
a runner that learns of the entry's end again after a restart finds the order it sent and
never sends a second. Nothing is sent when the position was closed meanwhile, nor when a
leg worked (it filled, or is still open: then its end is waited for). The quantity is what
the entry filled, no more than the position less what working exits still sell, both as
the venue has them now (:meth:`PartialFillGuard._unprotected` says why not the broker's
list of open orders).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from workbench.broker import Broker
from workbench.exits import protect_client_id
from workbench.orders import Order, OrderClass, OrderRequest, OrderStatus, OrderType, Side
from workbench.portfolio import QUANTITY_EPSILON

__all__ = ["REASON", "PartialFillGuard", "protective_exit"]

log = logging.getLogger(__name__)

#: The reason the protective exit is sent for (its request's ``reason``, the log line's).
REASON = "protect_partial_fill"
_ENDED = frozenset({OrderStatus.CANCELED, OrderStatus.EXPIRED})
#: Reads of the venue's position around the exits' lookups before the last one stands.
_READS = 3


def ended_partly_filled(entry: Order) -> bool:
    """Whether ``entry`` carried exits and ended (canceled, expired) with something filled."""
    return (
        bool(entry.legs)
        and entry.status in _ENDED
        and entry.filled_quantity > QUANTITY_EPSILON
        and entry.request.order_class is not OrderClass.OCO  # an exit pair, not an entry
    )


def protective_exit(entry: Order, legs: Sequence[Order], quantity: float) -> OrderRequest | None:
    """The exit protecting ``quantity`` of what ``entry`` filled, at its ``legs``' prices.

    None unless every leg ended unfilled with the entry (a leg that filled was armed: the
    entry's exits did their work). A leg's role is read from its type, as Alpaca's are:
    the limit is the take-profit.
    """
    if not legs or any(leg.status not in _ENDED or leg.filled_quantity > 0 for leg in legs):
        return None
    take_profit = next((leg.request for leg in legs if leg.request.type is OrderType.LIMIT), None)
    stop = next((leg.request for leg in legs if leg.request.type is not OrderType.LIMIT), None)
    cid = protect_client_id(entry.client_order_id or entry.id)
    one = stop if stop is not None else take_profit
    assert one is not None  # legs is not empty
    prices: dict[str, Any]
    if take_profit is not None and stop is not None:  # both: the oco they would have been
        stop_limit = stop.limit_price if stop.type is OrderType.STOP_LIMIT else None
        prices = {"type": OrderType.LIMIT, "limit_price": take_profit.limit_price,
                  "order_class": OrderClass.OCO, "stop_loss": stop.stop_price,
                  "stop_loss_limit": stop_limit}  # fmt: skip
    else:  # an exit of a group of its own: protective, as a leg is
        prices = {"type": one.type, "limit_price": one.limit_price,
                  "stop_price": one.stop_price, "oco_group": cid}  # fmt: skip
    return OrderRequest(
        entry.symbol,
        Side.SELL if entry.side is Side.BUY else Side.BUY,
        quantity=quantity,
        tif=one.tif,
        trail_price=one.trail_price,
        trail_percent=one.trail_percent,
        reason=REASON,
        client_order_id=cid,
        **prices,
    )


class PartialFillGuard:
    """Sends the protective exit of each partly filled entry that ends; see the module.

    ``lookup`` finds an order by client order id, ``send`` submits one (the execution
    engine's, with its retries and its handling of a duplicate id).
    """

    def __init__(
        self,
        broker: Broker,
        strategy: str,
        *,
        lookup: Callable[[str, str], Order | None],
        send: Callable[[OrderRequest], Order | None],
    ) -> None:
        self.broker = broker
        self.strategy = strategy
        self._lookup = lookup
        self._send = send
        #: Entries that ended while a leg was still open, by order id: its end decides.
        self._waiting: dict[str, Order] = {}

    def on_end(self, order: Order) -> Order | None:
        """``order`` ended: protect it if it is a partly filled entry, or the last leg of
        one that was waiting for its legs."""
        if order.legs:
            return self.protect(order) if ended_partly_filled(order) else None
        entry = self._waiting.get(order.parent_id) if order.parent_id is not None else None
        return None if entry is None else self.protect(entry)

    def protect(self, entry: Order) -> Order | None:
        """The protective exit of ``entry`` (sent now, or found sent before), or None."""
        if not ended_partly_filled(entry):
            return None
        legs = [self.broker.get_order(leg_id) for leg_id in entry.legs]
        if any(leg.status.is_open for leg in legs):
            self._waiting[entry.id] = entry  # the legs' end is still on its way
            return None
        self._waiting.pop(entry.id, None)
        held = self._unprotected(entry)
        if held <= QUANTITY_EPSILON:
            log.info(
                "no protective exit for %s: its position %s is closed or being closed",
                entry.client_order_id,
                entry.symbol,
                extra={
                    "event": "protect_partial_fill_skipped",
                    "strategy": self.strategy,
                    "client_order_id": entry.client_order_id,
                    "symbol": entry.symbol,
                    "reason": f"{REASON}: position closed",
                },
            )
            return None
        request = protective_exit(entry, legs, min(entry.filled_quantity, held))
        if request is None:
            return None
        cid = request.client_order_id
        assert cid is not None
        existing = self._lookup(cid, entry.symbol)
        if existing is not None:
            self._log(request, entry, "found, sent before")
            return existing
        self._log(request, entry, "sent")
        return self._send(request)

    def _unprotected(self, entry: Order) -> float:
        """What is held in ``entry``'s direction, less what the working orders on the other
        side are selling already (a strategy's exit that canceled the entry): both as the
        venue has them now.

        The position is read at the venue, ahead of the updates handed out, and the open
        orders the broker lists may be behind them (Alpaca's open-order book,
        :mod:`workbench.brokers.alpaca_book`, keeps an order until its end is handed out):
        an exit filled at the venue, its update still queued, would count in the position
        and again as a remaining quantity, and the exit sent would fall short by that
        much. So each such order is looked up at the venue for what it still has to fill,
        between two reads of the position; a fill between them moves the position, and
        the reads are taken again (:data:`_READS` times at most, then the last stands:
        the smaller exit, never one the venue refuses for selling more than is held)."""
        exits = [
            o.id
            for o in self.broker.get_open_orders()
            if o.symbol == entry.symbol and o.side is not entry.side and not o.request.protective
        ]
        held = self._held(entry)
        if not exits or held <= QUANTITY_EPSILON:
            return held
        for _ in range(_READS):
            selling = 0.0
            for order_id in exits:
                order = self.broker.get_order(order_id)  # the venue's copy
                if order.status.is_open and order.remaining is not None:
                    selling += order.remaining
            before, held = held, self._held(entry)
            if abs(held - before) <= QUANTITY_EPSILON:
                break
        return held - selling

    def _held(self, entry: Order) -> float:
        """The venue's position in ``entry``'s symbol, signed in its direction."""
        position = self.broker.get_positions().get(entry.symbol)
        return 0.0 if position is None else position.quantity * entry.side.sign

    def _log(self, request: OrderRequest, entry: Order, how: str) -> None:
        stop = request.stop_loss if request.stop_loss is not None else request.stop_price
        log.warning(
            "protective exit %s %s: %s %g %s (entry %s %s with %g filled, its exits with it)",
            request.client_order_id,
            how,
            request.side,
            request.quantity,
            request.symbol,
            entry.client_order_id,
            entry.status,
            entry.filled_quantity,
            extra={
                "event": "protect_partial_fill",
                "strategy": self.strategy,
                "client_order_id": request.client_order_id,
                "entry_client_order_id": entry.client_order_id,
                "symbol": request.symbol,
                "side": str(request.side),
                "quantity": request.quantity,
                "price": request.shown_price,
                "stop_price": stop,
                "reason": f"{REASON}: {how}",
            },
        )
