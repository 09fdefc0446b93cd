"""The Alpaca broker's open-order book: ``get_open_orders`` without a request per call.

The execution engine asks for the open orders on every submission (a working order of the
other side?), on every order end (is the symbol free, may a held order go?) and for a
symbol-wide cancel. At Alpaca each ask was a ``GET /v2/orders`` listing, so a rebalance of
100 symbols spent some 200 of Alpaca's 200 requests a minute on listings beside its 100
submissions, and met 429s exactly when it traded. Like nautilus_trader's order cache and
LEAN's transaction handler, the broker keeps the open orders itself, fed by what it sees
anyway, and lists them at Alpaca only to start, after a gap, and at a bounded age.

Which view it gives: **the orders open as of the updates the broker has handed out**
(:meth:`~workbench.brokers.alpaca.AlpacaBroker.drain_updates`). An order leaves the book
only when its end (fill, cancel, expiry, rejection, replacement) is handed out; an order
the venue has ended meanwhile, its end still queued, is still open here. That is what
the engine's bookkeeping is built on: ``_follow`` releases a held order when the last
working order of its symbol has ended *in the updates it follows*, and ``_opposite``
holds an order (``conflict = wait``) on a working order whose end is then sure to reach
it, so the order held is released by that end, once, never left waiting for an end
handed out already. It is also what the simulated broker shows the engine (its orders
move at a bar, and the bar's updates are drained before the engine asks again) and what
the state file records: an order whose fill was not handed out is still working. Alpaca's
listing is ahead of those updates; what it lists is taken (an order working there is
never hidden from ``_opposite``), what it no longer lists is kept until its end is
handed out. Set against Alpaca's positions (read at the venue), an execution not handed
out yet counts in the position and in the order's remaining for that moment: the risk
book then counts more pending exposure than there is, the safe side.

What feeds it: the broker's own answers (a submission's order and its legs, a
replacement's new order, an order looked up and found working), the updates it hands out
(a trade stream's, a catch-up's after a reconnection), and listings (:meth:`refill`).
A cancel's answer says only that the cancel was asked: the order works until Alpaca ends
it (``pending_cancel`` until the next open after the close), and stays.
Bracket legs are orders of their own here, with ``parent_id``, as a nested listing gives
them. A replaced order's new id comes in with the replacement's answer; the old one
leaves with its ``replaced`` update.

When it is complete: from a listing made while the trade stream listens and is caught
up (:mod:`.alpaca_catch_up`), until the stream closes or the listing is :data:`MAX_AGE`
old; otherwise the broker lists at Alpaca, as before. The stream tells of orders others
place on the account (another client, Alpaca's web dashboard) as they come; the periodic listing
catches what a stream lost unnoticed. An order open here that two listings in a row do
not show (its end never came) is looked up (:attr:`OpenBook.due`) and its end handed out
as a catch-up hands one out. An order whose end was handed out is kept out of the book
while a lagging listing may still show it, until :data:`FORGET_AFTER` listings have not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from workbench.orders import Order

__all__ = ["FORGET_AFTER", "MAX_AGE", "OpenBook"]

log = logging.getLogger(__name__)

#: Seconds a listing stands for: past it, the next ask lists again. A listing costs one
#: request per 500 open orders, so it spends at most 2 of Alpaca's 200 requests a minute
#: (1%) per 500 orders, whatever the engine asks; a rebalance of 100 symbols, itself some
#: 30 s of Alpaca's budget, lists once or twice. The stream tells the book everything
#: else at once, so this only bounds how long what it lost unnoticed can go unseen:
#: under a minute bar, and well under the staleness a runner alarms on.
MAX_AGE = 30.0
#: Listings after an order's end that must not list it before its id is let go. Alpaca's
#: listing may lag its stream: one made just after an end can still show the order
#: working, and the book must not take it back. Two that do not show it say the venue
#: has it ended (as two that do not show an open one say it is due for a lookup); the
#: broker's own copy of the order judges any later update of it
#: (:func:`~workbench.brokers.alpaca_updates.stale`). A bot running for months keeps the
#: ends of a minute or two, not of every order it ever sent.
FORGET_AFTER = 2


class OpenBook:
    """The open orders by id (see the module docstring for the view it gives). Read and fed
    on one thread, the runner's, as the broker's updates are drained: it takes no lock."""

    def __init__(self, max_age: float = MAX_AGE, clock: Callable[[], float] = time.monotonic):
        self.max_age = max_age
        self._clock = clock
        self._open: dict[str, Order] = {}
        #: Ends handed out (never open again) -> listings since that did not list them.
        self._ended: dict[str, int] = {}
        self._listed_at: float | None = None  # None: incomplete
        self._listed_once = False  # a listing was taken since the stream first listened
        self._unlisted: set[str] = set()  # open here, not in the last listing
        #: Open here, in neither of the last two listings: their ends to be looked up.
        self.due: set[str] = set()

    def fresh(self) -> bool:
        """Whether the book is complete and its listing younger than ``max_age``."""
        at = self._listed_at
        return at is not None and self._clock() - at < self.max_age

    def orders(self) -> list[Order]:
        return list(self._open.values())

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._open

    def seen(self, orders: Iterable[Order]) -> None:
        """Orders as an answer or an update shows them: the working ones are open (a copy
        newer than ours replaces it), the others change nothing until :meth:`ended`."""
        for order in orders:
            if order.status.is_open and order.id not in self._ended:
                self._open[order.id] = order

    def ended(self, order_id: str) -> None:
        """The order's end was handed out (or nothing will hand it out): it is gone."""
        self._open.pop(order_id, None)
        self._ended[order_id] = 0
        self.due.discard(order_id)
        self._unlisted.discard(order_id)

    def looked_up(self, order_id: str, known: Order | None) -> None:
        """An order of :attr:`due` looked up, ``known`` our copy since (None: Alpaca does
        not know it): one ended with no update to tell it (a lookup had learned its end
        first) leaves the book, with a warning; one still open stays, for the listings."""
        self.due.discard(order_id)
        if order_id in self._open and (known is None or known.status.is_terminal):
            log.warning(
                "order %s ended at Alpaca and no update told it; no longer open", order_id,
                extra={"event": "order_unheard", "order_id": order_id,
                       "status": "unknown to Alpaca" if known is None else str(known.status)},
            )  # fmt: skip
            self.ended(order_id)

    def refill(self, listed: list[Order]) -> list[Order]:
        """Take a listing of the open orders (made while the stream listens, caught up):
        the book is complete from now. The orders open here that it does not list are
        kept, their ends on their way (a catch-up has looked up every order open before a
        reconnection), except at the first listing: what ended before the stream first
        listened will not be told, the listing is the book."""
        ids = {o.id for o in listed}
        keep = self._listed_once
        kept = {i: o for i, o in self._open.items() if i not in ids} if keep else {}
        self._open = {o.id: o for o in listed if o.status.is_open and o.id not in self._ended}
        self._open.update(kept)
        self.due |= set(kept) & self._unlisted
        self._unlisted = set(kept) - self.due
        self._listed_at = self._clock()
        self._listed_once = True
        self._forget(ids)
        return self.orders()

    def _forget(self, listed: set[str]) -> None:
        """Let go of the ended orders :data:`FORGET_AFTER` listings in a row have not
        shown; one a listing still shows (lagging) is remembered anew."""
        for order_id, missed in list(self._ended.items()):
            if order_id in listed:
                self._ended[order_id] = 0
            elif missed + 1 >= FORGET_AFTER:
                del self._ended[order_id]
            else:
                self._ended[order_id] = missed + 1

    def gap(self) -> None:
        """The trade stream closed: updates may be lost until it is back and caught up,
        so the book is incomplete until the next :meth:`refill`."""
        self._listed_at = None

    @property
    def complete(self) -> bool:
        return self._listed_at is not None
