"""A trade update judged against the Alpaca broker's copy of its order.

Alpaca's trade stream carries no sequence numbers and may deliver updates out of order (a
``pending_new`` after the ``new`` that followed it); a lookup after an outage may tell an
order's end before the stream's late updates arrive. :func:`stale` tells such an update
(it is dropped with an INFO ``stale_update`` line) from a move the lifecycle table does not
allow, which the broker flags (:mod:`workbench.brokers.alpaca`). :func:`followed` logs the
events outside the Broker protocol's.
"""

from __future__ import annotations

import logging

from workbench.orders import Order, overtaken
from workbench.portfolio import QUANTITY_EPSILON

__all__ = ["followed", "stale"]

log = logging.getLogger("workbench.brokers.alpaca")  # the broker's records


def stale(known: Order, fresh: Order) -> bool:
    """Whether ``fresh`` (an update's order) is older than our copy ``known``: a status
    the order has left behind (:func:`~workbench.orders.overtaken`), or the same status
    with less filled (Alpaca's ``filled_qty`` never goes down)."""
    if overtaken(known.status, fresh.status):
        return True
    less = known.filled_quantity - fresh.filled_quantity
    return fresh.status is known.status and less > QUANTITY_EPSILON * max(
        1.0, known.filled_quantity
    )


def followed(order: Order, name: str) -> None:
    """An event outside the Broker protocol's (``pending_cancel``, ``pending_replace``,
    ``order_cancel_rejected``, ...): our copy follows its status; nothing is handed
    out, so the execution engine sees the same updates as from the simulated broker.
    A rejected cancel or replace leaves the order working, as it was: a warning."""
    level = logging.WARNING if name.endswith("_rejected") else logging.INFO
    log.log(
        level, "order %s: %s, now %s", order.id, name, order.status,
        extra={"event": "order_status", "order_id": order.id, "symbol": order.symbol,
               "client_order_id": order.client_order_id, "alpaca_event": name,
               "status": str(order.status)},
    )  # fmt: skip
