"""The trade stream's catch-up: what a reconnection missed, told as the updates that would
have told it.

Alpaca does not replay trade updates: what arrived while the trading WebSocket was away is
lost. So after a reconnection :class:`~workbench.brokers.alpaca.AlpacaBroker` looks up
each order still open to it (:func:`catch_up`), and each order's difference from its own
copy becomes the updates the stream would have brought (:func:`missed_updates`): a fill of
what was not handed out yet, then the new status. They go through the same lifecycle table
and fill accounting as the stream's own, so each execution is handed out once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

from workbench.broker import OrderUpdate
from workbench.brokers.alpaca_orders import _value
from workbench.errors import BrokerError
from workbench.orders import Order, OrderStatus
from workbench.portfolio import QUANTITY_EPSILON

__all__ = ["catch_up", "missed_updates", "unheard"]

log = logging.getLogger("workbench.brokers.alpaca")  # the broker's records, as before the split


def catch_up(
    open_ids: Sequence[str],
    look_up: Callable[[str], Any],
    missed: Callable[[Any], list[Any]],
    apply: Callable[[Any], OrderUpdate | None],
) -> tuple[list[OrderUpdate], bool]:
    """Each order of ``open_ids`` looked up (``look_up``: alpaca-py's order), what it
    ``missed`` put through ``apply``: the updates handed out, and whether the catch-up is
    complete (False: a lookup failed, the broker tries again at a later drain, once the
    wait a 429 asked for is over)."""
    out: list[OrderUpdate] = []
    for order_id in open_ids:
        try:
            o = look_up(order_id)
        except BrokerError as exc:
            if exc.code == 40410000:  # not Alpaca's (any more): nothing to learn
                continue
            wait = getattr(exc, "retry_after", None)
            log.warning(
                "trade stream reconnected; cannot look its open orders up yet: %s%s", exc,
                f" (again in {wait:g} s, as asked)" if wait else "",
                extra={"event": "catch_up_failed", "reason": str(exc)},
            )  # fmt: skip
            return out, False
        for data in missed(o):
            update = apply(data)
            if update is not None:
                out.append(update)
    log.info(
        "trade stream reconnected: %d open order(s) looked up, %d missed update(s)",
        len(open_ids), len(out), extra={"event": "catch_up"},
    )  # fmt: skip
    return out, True


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
