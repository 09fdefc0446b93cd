"""Alpaca's orders, read page by page: the open ones, or all those sent since a time.

``GET /v2/orders`` lists at most :data:`ORDERS_PAGE` orders a request; a bot with more open
orders than that (a universe of 500 symbols with a stop each) must ask again, from where the
last page ended, or it works on a part of its orders as if they were all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

__all__ = ["ORDERS_PAGE", "PAGE_OVERLAP", "open_orders", "pages"]

log = logging.getLogger(__name__)

#: The most orders Alpaca lists in one request (``GET /v2/orders``' ``limit``).
ORDERS_PAGE = 500
#: How far before the last order of a full page the next page starts: orders sent at that
#: same instant are listed again, and kept once.
PAGE_OVERLAP = timedelta(microseconds=1)


def open_orders(list_orders: Callable[[Any], list[Any]]) -> list[Any]:
    """The open orders (alpaca-py's, legs nested), oldest first, read a page at a time
    (:func:`pages`)."""
    from alpaca.trading.enums import QueryOrderStatus

    return [o for page in pages(list_orders, QueryOrderStatus.OPEN) for o in page]


def pages(
    list_orders: Callable[[Any], list[Any]],
    status: Any,
    *,
    after: datetime | None = None,
    nested: bool = True,
) -> Iterator[list[Any]]:
    """Each page of the orders of ``status`` (alpaca-py's ``QueryOrderStatus``) submitted
    after ``after``, oldest first: one page a request, each holding the orders no earlier
    page held.

    Alpaca lists at most :data:`ORDERS_PAGE` orders a request, oldest first here; a full
    page may not be all of them (a universe of 500 symbols with a stop each has more), so
    the next page is asked for from the last one's submission time (``after`` is
    exclusive: from a microsecond before it, the orders sent at that instant listed again
    and kept once), until a page is not full. A full page that brings no order not seen
    (more orders sent at one instant than a page holds) ends the listing with a warning:
    the rest cannot be told apart by time."""
    from alpaca.trading.requests import GetOrdersRequest

    seen: set[str] = set()
    when = None
    while True:
        req = GetOrdersRequest(
            status=status, limit=ORDERS_PAGE, direction="asc", nested=nested, after=after
        )
        page = list_orders(req)
        new = [o for o in page if str(o.id) not in seen]
        seen.update(str(o.id) for o in new)
        yield new
        if len(page) < ORDERS_PAGE:
            return
        if not new:
            log.warning(
                "more than %d orders were sent at %s: listed %d of them",
                ORDERS_PAGE,
                when,
                len(seen),
                extra={"event": "open_orders_truncated"},
            )
            return
        last = page[-1]
        when = last.submitted_at or last.created_at
        after = when - PAGE_OVERLAP  # alpaca-py's datetimes, to the microsecond as Alpaca's
