"""A trade update judged against the Alpaca broker's copy of its order.

Alpaca's trade stream carries no sequence numbers and may deliver updates out of order (a
``pending_new`` after the ``new`` that followed it); a lookup after an outage may tell an
order's end before the stream's late updates arrive. :func:`stale` tells such an update
(it is dropped with an INFO ``stale_update`` line) from a move the lifecycle table does not
allow, which the broker flags (:mod:`workbench.brokers.alpaca_stream`). :func:`execution` is what
a fill event adds to the fills handed out; :func:`followed` logs the events outside the
Broker protocol's.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from workbench.brokers.alpaca_orders import _float
from workbench.lifecycle import overtaken
from workbench.orders import Fill, Order
from workbench.portfolio import QUANTITY_EPSILON

__all__ = ["execution", "followed", "stale"]

log = logging.getLogger("workbench.brokers.alpaca")  # the broker's records


def stale(known: Order, fresh: Order) -> bool:
    """Whether ``fresh`` (an update's order) is older than our copy ``known``: a status
    the order has left behind (:func:`~workbench.lifecycle.overtaken`), or the same status
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


def execution(
    data: Any, fresh: Order, when: pd.Timestamp | None, handed: dict[str, tuple[float, float]]
) -> Fill | None:
    """The execution a fill event ``data`` brings that was not handed out yet, or None;
    ``handed`` (order id -> the quantity and notional handed out for it) is brought up
    to date.

    Alpaca's ``qty`` and ``price`` are the event's own execution and the order in it
    has the cumulative ``filled_qty``: an event repeated, or older than one handed out
    already (the stream gives no sequence numbers), adds nothing. Fills handed out
    for an order add up to Alpaca's cumulative quantity, never more.
    """
    qty = _float(data.qty)
    done = handed.get(fresh.id)
    if done is None:  # first event seen for it: what came before is not ours to hand
        before = fresh.filled_quantity - (qty if qty is not None else fresh.filled_quantity)
        done = (max(before, 0.0), max(before, 0.0) * fresh.average_price)
    new = fresh.filled_quantity - done[0]
    if new <= QUANTITY_EPSILON * max(1.0, fresh.filled_quantity):
        return None
    if qty is not None and data.price is not None and abs(qty - new) <= QUANTITY_EPSILON * new:
        price = float(data.price)
    else:  # events were missed: the rest of the order's average
        price = (fresh.average_price * fresh.filled_quantity - done[1]) / new
    handed[fresh.id] = (fresh.filled_quantity, done[1] + new * price)
    return Fill(fresh.id, fresh.symbol, fresh.side, new, price, 0.0, when, fresh.request.reason)
