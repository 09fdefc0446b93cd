"""The trade stream's catch-up: what a reconnection missed, told as the updates that would
have told it.

Alpaca does not replay trade updates: what arrived while the trading WebSocket was away is
lost. So after a reconnection :class:`~workbench.brokers.alpaca.AlpacaBroker` lists the
orders sent since the oldest one still open to it, a page of 500 a request, and looks up
one by one only those the listing did not show (:func:`catch_up`): a bot with 100 working
orders spent 100 of Alpaca's 200 requests a minute on a reconnection when each was looked
up. Each order's difference from its own copy becomes the updates the stream would have
brought (:func:`missed_updates`): a fill of what was not handed out yet, then the new
status. They go through the same lifecycle table
and fill accounting as the stream's own, so each execution is handed out once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from workbench.broker import OrderUpdate
from workbench.brokers.alpaca_orders import _value
from workbench.errors import BrokerError
from workbench.orders import Order, OrderStatus
from workbench.portfolio import QUANTITY_EPSILON

__all__ = ["LISTING_MARGIN", "catch_up", "listed_since", "missed_updates", "unheard"]

log = logging.getLogger("workbench.brokers.alpaca")  # the broker's records, as before the split

#: How long before the oldest open order's creation the catch-up's listing starts: Alpaca's
#: ``after`` is exclusive and filters on the submission time, ours are the creation's.
LISTING_MARGIN = timedelta(seconds=1)


def listed_since(orders: Iterable[Order]) -> datetime | None:
    """Where the catch-up's listing starts: :data:`LISTING_MARGIN` before the oldest of
    ``orders`` was made (None: no order to find, or none with a time, all looked up)."""
    times = [o.created_at for o in orders if o.created_at is not None]
    return (min(times) - LISTING_MARGIN).to_pydatetime() if times else None


def catch_up(
    open_ids: Sequence[str],
    listing: Iterable[list[Any]] | None,
    look_up: Callable[[str], Any],
    missed: Callable[[Any], list[Any]],
    apply: Callable[[Any], OrderUpdate | None],
    shown: Callable[[str], None],
) -> tuple[list[OrderUpdate], bool]:
    """What the orders of ``open_ids`` ``missed`` put through ``apply``: each as the
    ``listing``'s pages show it (alpaca-py's orders sent since the oldest of them, one page
    a request; ``shown`` is told each one found there), and those it did not show looked up
    one by one (``look_up``). Returns the updates handed out, and whether the catch-up is
    complete (False: a request failed, the broker tries again at a later drain, once the
    wait a 429 asked for is over).

    A page costs one request, as a lookup does: the listing stops once no order is left
    to find, or once the pages asked for are as many as the orders still sought, so a
    listing of an old order's busy weeks never costs far more than the lookups would."""
    out: list[OrderUpdate] = []
    sought = dict.fromkeys(open_ids)
    asked = pages = 0
    try:
        for page in listing or ():
            asked += 1
            pages += 1
            for o in page:
                if str(o.id) in sought:
                    del sought[str(o.id)]
                    shown(str(o.id))
                    out += _put(o, missed, apply)
            if len(sought) <= pages:
                break
        for order_id in sought:
            asked += 1
            try:
                o = look_up(order_id)
            except BrokerError as exc:
                if exc.code == 40410000:  # not Alpaca's (any more): nothing to learn
                    continue
                raise
            out += _put(o, missed, apply)
    except BrokerError as exc:
        wait = getattr(exc, "retry_after", None)
        log.warning(
            "trade stream reconnected; cannot look its open orders up yet (%d request(s) "
            "made): %s%s", asked, exc, f" (again in {wait:g} s, as asked)" if wait else "",
            extra={"event": "catch_up_failed", "reason": str(exc), "requests": asked},
        )  # fmt: skip
        return out, False
    log.info(
        "trade stream reconnected: %d open order(s) caught up in %d request(s) (%d listing "
        "page(s), %d lookup(s)), %d missed update(s)",
        len(open_ids), asked, pages, asked - pages, len(out),
        extra={"event": "catch_up", "requests": asked},
    )  # fmt: skip
    return out, True


def _put(o: Any, missed: Callable[[Any], list[Any]], apply: Callable[[Any], Any]) -> list[Any]:
    """The updates alpaca-py's order ``o`` ``missed``, each put through ``apply``: those
    handed out."""
    return [u for u in map(apply, missed(o)) if u is not None]


def unheard(
    ids: Sequence[str],
    look_up: Callable[[str], Any],
    missed: Callable[[Any], list[Any]],
    apply: Callable[[Any], OrderUpdate | None],
) -> tuple[list[OrderUpdate], list[str], set[str]]:
    """The ends of orders the open-order book holds that Alpaca has stopped listing open
    and no update told (:mod:`.alpaca_book`): each looked up, what it ``missed`` put
    through ``apply``, as :func:`catch_up` does. Returns the updates handed out, the ids
    looked up, and those of them Alpaca does not know (404). A lookup that fails
    otherwise ends the round: the rest are looked up at the next drain."""
    out: list[OrderUpdate] = []
    looked: list[str] = []
    unknown: set[str] = set()
    for order_id in ids:
        try:
            o = look_up(order_id)
        except BrokerError as exc:
            if exc.code != 40410000:
                log.warning(
                    "cannot look up an order Alpaca no longer lists yet: %s", exc,
                    extra={"event": "catch_up_failed", "order_id": order_id, "reason": str(exc)},
                )  # fmt: skip
                break
            unknown.add(order_id)
        else:
            for data in missed(o):
                update = apply(data)
                if update is not None:
                    out.append(update)
        looked.append(order_id)
    return out, looked, unknown


def missed_updates(o: Any, fresh: Order, known: Order | None, handed: float) -> list[Any]:
    """The trade updates that would have brought alpaca-py's order ``o`` (``fresh``: ours
    of it) to our copy ``known``, of which ``handed`` was handed out as fills: a fill (of
    what was not handed out yet), then its status if it moved on."""
    out = []

    def update(event: str) -> Any:
        return SimpleNamespace(event=event, order=o, timestamp=o.updated_at, qty=None, price=None)

    if fresh.filled_quantity > handed + QUANTITY_EPSILON * max(1.0, fresh.filled_quantity):
        done = fresh.status is OrderStatus.FILLED
        out.append(update("fill" if done else "partial_fill"))
        if done or fresh.status is OrderStatus.PARTIALLY_FILLED:
            return out
    if known is None or known.status is not fresh.status or out:
        out.append(update(str(_value(o.status))))
    return out
