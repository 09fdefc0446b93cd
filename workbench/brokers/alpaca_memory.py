"""How long the Alpaca broker remembers an order after its end: a bound for a months-long run.

The broker keeps a copy of each order it sees (:class:`~workbench.brokers.alpaca.AlpacaBroker`
``_orders``), the fills handed out for it (``_handed``) and the reason it was sent for
(``_reasons``). A bot on minute bars trading a universe sends thousands of orders a day, so
kept for the life of the process these grow without bound. What each entry serves, and so
how long it must live:

- an open order's copy: the lifecycle moves, a catch-up's lookups, a leg's replacement
  (its entry's copy), the open-order book. Open orders are never forgotten, nor an entry
  while one of its legs is open.
- an ended order's copy and its fills handed out: judging a late update of it (``stale``:
  the stream keeps no order; ``execution``: a repeated fill event adds nothing). Such an
  update comes within moments of the end, and a lagging listing may show the order
  working for a listing or two (:data:`~workbench.brokers.alpaca_book.FORGET_AFTER`).

So an ended order is let go when its end was handed out, :data:`FORGET_AFTER` listings
since (made while the stream listens, caught up) have not shown it, :data:`FORGET_AGE`
seconds have passed on the broker's clock, every execution Alpaca counted at its end has
been handed out (an end told before its fill keeps the order until the fill comes) and
none of its legs is open. An update of an order the broker no longer knows, stamped by
Alpaca at or before the end of an order let go (:attr:`Ends.through`), is such a late
update: it is dropped with an INFO ``stale_update`` line, as a late update of a
remembered ended order is, so no fill is handed out twice. An update of an order never
seen, stamped after it (another client's order), is taken as before. Alpaca stamps its
updates on the wall clock, so a genuine one stamped that early would be minutes late; the
emulator stamps them on its replay's clock, which stands still between bars: there an
order never seen (another client's, or one whose submission's answer was lost) whose
updates carry the very instant an order let go ended is taken for a late one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd

from workbench.brokers.alpaca_book import FORGET_AFTER
from workbench.orders import Order
from workbench.portfolio import QUANTITY_EPSILON

__all__ = ["FORGET_AGE", "Ends", "Kept"]

#: Seconds on the broker's clock an ended order is remembered at least. Alpaca's stream
#: tells an order's updates within moments of one another (it does not replay what a
#: dropped connection missed: a catch-up looks open orders up instead); five minutes is
#: far past any late update, and keeps the ends of a few hundred orders at most.
FORGET_AGE = 300.0


@dataclass
class _End:
    at: float  # the broker's clock when the end was handed out
    stamp: pd.Timestamp | None  # Alpaca's time of the end
    filled: float  # Alpaca's cumulative filled quantity at the end
    unlisted: int = 0  # listings since that did not show the order


class Ends:
    """The ended orders the broker still remembers, and which of them may go."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, age: float = FORGET_AGE):
        self._clock = clock
        self.age = age
        self._ends: dict[str, _End] = {}
        #: Alpaca's latest end stamp of an order let go: an unknown order's update stamped
        #: at or before it is a late one of an order let go.
        self.through: pd.Timestamp | None = None

    def __len__(self) -> int:
        return len(self._ends)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._ends

    def ended(self, order_id: str, stamp: pd.Timestamp | None, filled: float) -> None:
        """The order's end (or a late fill after it) was handed out, ``filled`` Alpaca's."""
        self._ends[order_id] = _End(self._clock(), stamp, filled)

    def listed(self, ids: Iterable[str], settled: Callable[[str, float], bool]) -> list[str]:
        """A listing of the open orders showed ``ids``: the ended orders to let go now,
        those ``settled(order_id, filled)`` says have nothing left to hand out or keep."""
        shown = set(ids)
        now = self._clock()
        out = []
        for order_id, end in list(self._ends.items()):
            if order_id in shown:  # a lagging listing: remembered anew
                end.unlisted = 0
                continue
            end.unlisted += 1
            if (
                end.unlisted >= FORGET_AFTER
                and now - end.at >= self.age
                and settled(order_id, end.filled)
            ):
                del self._ends[order_id]
                out.append(order_id)
                if end.stamp is not None and (self.through is None or end.stamp > self.through):
                    self.through = end.stamp
        return out

    def let_go(self, stamp: pd.Timestamp | None) -> bool:
        """Whether an update stamped ``stamp`` of an order not known is a late one of an
        order let go (None: no stamp to judge by, taken as before)."""
        return stamp is not None and self.through is not None and stamp <= self.through


@dataclass
class Kept:
    """The broker's maps of what it keeps per order (held under its lock while used)."""

    orders: dict[str, Order]  # order id -> our copy
    handed: dict[str, tuple[float, float]]  # order id -> quantity, notional handed out
    reasons: dict[str, str]  # client order id -> the reason it was sent for

    def settled(self, order_id: str, filled: float) -> bool:
        """Whether an ended order has nothing left to hand out (every execution of the
        ``filled`` Alpaca counted at its end) and no leg still open, so it may go."""
        order = self.orders.get(order_id)
        handed = self.handed.get(order_id, (0.0, 0.0))[0]
        if filled - handed > QUANTITY_EPSILON * max(1.0, filled):
            return False  # its end came before a fill: the fill is still to come
        legs = [self.orders.get(i) for i in order.legs] if order is not None else []
        return all(leg is None or leg.status.is_terminal for leg in legs)

    def forget(self, order_ids: Iterable[str]) -> None:
        """Let go of what is kept of these ended orders: an entry's reason goes with the
        ones put there for its exits (``-tp``, ``-sl``)."""
        for order_id in order_ids:
            order = self.orders.pop(order_id, None)
            self.handed.pop(order_id, None)
            if order is None or not order.client_order_id:
                continue
            for suffix in ("",) if order.parent_id else ("", "-tp", "-sl"):
                self.reasons.pop(order.client_order_id + suffix, None)
