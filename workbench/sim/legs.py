"""Attached exits at the simulated venue: bracket, OTO and OCO legs.

An entry's exit legs are created with it, held until it fills completely (an OCO pair's
are live at once), or at its first fill when they are priced from it; its complete fill
arms them for what it filled, and an entry that ends before (canceled, expired) takes them
along, as Alpaca's. On the entry's own bar they are matched against the rest of that bar,
from the entry's fill price on; of an OCO group, only the pessimistic candidate fills on a
bar, its complete fill cancels the others and a partial fill shrinks them by what it filled
(as Alpaca's bracket legs); a position closed or reversed takes the exits
that protected it along. A replaced leg (Alpaca's PATCH of a leg) stays a leg of the same
entry. The fill rules are stated in :mod:`workbench.sim.fills`.

:class:`AttachedExits` is this part of :class:`~workbench.sim.broker.SimulatedBroker`, kept
here by concept: it works on the broker's order tables and calls its fill and bookkeeping
steps (``_candidate``, ``_fill_all``, ``_end``, ``_emit``, ``_reducible``).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pandas as pd

from workbench.broker import UpdateEvent
from workbench.errors import OrderRejected
from workbench.exits import exit_legs
from workbench.lifecycle import transition
from workbench.orders import Order, OrderRequest, OrderStatus, OrderType, TimeInForce
from workbench.portfolio import QUANTITY_EPSILON
from workbench.sim.codes import CODE_NOT_CANCELABLE
from workbench.sim.fills import next_hwm, pessimistic

if TYPE_CHECKING:
    from workbench.portfolio import Portfolio
    from workbench.sim.days import DayEnds

__all__ = ["AttachedExits", "LiveOrder"]


class LiveOrder:
    """Venue-side state of one open order (the Order itself is frozen)."""

    __slots__ = ("created_ns", "day_end", "group", "hwm", "order", "triggered")

    def __init__(self, order: Order, group: str | None = None) -> None:
        self.order = order
        self.created_ns: int = order.created_at.value
        self.triggered = False
        #: A DAY order's end (UTC ns), set at its first eligible bar (:mod:`workbench.sim.days`)
        self.day_end: int | None = None
        self.hwm: float | None = None  # a trailing stop's high-water (buy: low-water) mark
        self.group = group if group is not None else order.request.oco_group


class AttachedExits:
    """The attached exits of :class:`~workbench.sim.broker.SimulatedBroker` (its base)."""

    # the broker's, declared here for what reads them
    portfolio: Portfolio
    id_prefix: str
    _orders: dict[str, Order]
    _live: dict[str, LiveOrder]
    _book: dict[str, list[LiveOrder]]
    _by_client_id: dict[str, str]
    _oco: dict[str, list[str]]
    _counter: int
    _now: pd.Timestamp | None
    _armed: list[LiveOrder]
    _entry: tuple[float, bool] | None
    _day_ends: DayEnds

    def _attach(
        self, parent: LiveOrder, quantity: float, *, held: bool, fill_price: float | None = None
    ) -> Order:
        """Create ``parent``'s exit legs: held until it fills (an oco pair's are live at once).

        Legs relative to the entry's fill are created at its first fill, priced from it.
        """
        order = parent.order
        group = parent.group or f"exits:{order.id}"
        ids: list[str] = []
        for request in exit_legs(order.request, quantity, fill_price):
            self._counter += 1
            leg = Order(
                f"{self.id_prefix}-{self._counter}",
                request,
                order.created_at,
                status=OrderStatus.HELD if held else OrderStatus.NEW,
                quantity=quantity,
                updated_at=self._now,
                parent_id=order.id,
            )
            self._register(LiveOrder(leg, group), in_book=not held)
            ids.append(leg.id)
        order = parent.order = dataclasses.replace(order, legs=tuple(ids))
        self._orders[order.id] = order
        return order

    def _register(self, live: LiveOrder, *, in_book: bool) -> None:
        order = live.order
        self._orders[order.id] = order
        self._live[order.id] = live
        cid = order.client_order_id
        if cid is not None:
            self._by_client_id[cid] = order.id
        if in_book:
            self._book.setdefault(order.symbol, []).append(live)
        if live.group is not None:
            self._oco.setdefault(live.group, []).append(order.id)

    def _arm(self, parent: Order, entry_price: float) -> None:
        """The entry filled completely: its held legs go live for the quantity it filled.

        Not before: Alpaca's exits "won't be active until the first order is completely
        filled" (Orders at Alpaca, bracket orders), so a partly filled entry's legs wait.
        A day leg is good for the session it is armed in (a day entry's: the entry's own),
        not the next one, though the bar it first works on whole is the next.
        """
        now: pd.Timestamp = self._now  # type: ignore[assignment]
        for leg_id in parent.legs:
            live = self._live.get(leg_id)
            if live is None or live.order.status is not OrderStatus.HELD:
                continue  # canceled (with its sibling) while it was held
            leg = transition(live.order, OrderStatus.NEW, at=now, reason="entry filled")
            live.order = leg = dataclasses.replace(leg, quantity=parent.filled_quantity)
            self._orders[leg.id] = leg
            self._book.setdefault(leg.symbol, []).append(live)
            if leg.request.tif is TimeInForce.DAY:  # a day order of the session it is armed in
                live.day_end = self._day_ends.after(now.value)
            live.hwm = entry_price
            self._armed.append(live)
            self._emit(UpdateEvent.NEW, leg)

    def _replace_leg(self, live: LiveOrder, request: OrderRequest) -> Order:
        """A leg's new price (Alpaca's PATCH of a leg): it stays a leg of the same entry."""
        old = live.order
        if request.side is not old.side:
            raise OrderRejected(
                f"order {old.id} is a {old.request.leg} leg: a replacement keeps its side",
                code=CODE_NOT_CANCELABLE,
            )
        request = dataclasses.replace(request, leg=old.request.leg)
        now: pd.Timestamp = self._now  # type: ignore[assignment]
        held = old.status is OrderStatus.HELD
        self._end(live, old, OrderStatus.REPLACED, "replaced by request")
        self._counter += 1
        quantity = old.remaining if old.remaining else old.quantity
        new = Order(
            f"{self.id_prefix}-{self._counter}",
            dataclasses.replace(request, quantity=quantity, notional=None),
            now,
            status=OrderStatus.HELD if held else OrderStatus.NEW,
            quantity=quantity,
            updated_at=now,
            parent_id=old.parent_id,
        )
        fresh = LiveOrder(new, live.group)
        fresh.hwm = live.hwm
        self._register(fresh, in_book=not held)
        parent = self._orders[old.parent_id]  # type: ignore[index]
        legs = tuple(new.id if i == old.id else i for i in parent.legs)
        parent = dataclasses.replace(parent, legs=legs)
        self._orders[parent.id] = parent
        if parent.id in self._live:
            self._live[parent.id].order = parent
        self._emit(UpdateEvent.NEW, new)
        return new

    def _rest_of_entry_bar(
        self, waiting: list[LiveOrder], high: float, low: float, close: float, volume: float
    ) -> set[str]:
        """Exits armed by an entry on this bar, matched against the rest of the bar.

        The rest starts at the entry's fill price; a take-profit (a limit) only fills
        when the entry filled at the open (see the same-bar rule in the fill rules).
        Returns the trailing stops whose mark this took care of.
        """
        entry, at_open = self._entry  # type: ignore[misc]
        candidates: list[tuple[LiveOrder, float, float]] = []
        marked: set[str] = set()
        for live in [*waiting, *self._armed]:
            order = live.order
            if not order.status.is_open or self._reducible(order) <= QUANTITY_EPSILON:
                continue
            if order.request.type is OrderType.LIMIT and not at_open:
                continue
            if order.request.type is OrderType.TRAILING_STOP:
                live.hwm = entry if live.hwm is None else live.hwm
                marked.add(order.id)
            candidate = self._candidate(live, entry, max(high, entry), min(low, entry), close)
            if candidate is not None:
                candidates.append(candidate)
            elif live.hwm is not None and not live.triggered:
                hi, lo = (high, low) if at_open else (max(entry, close), min(entry, close))
                live.hwm = next_hwm(order, live.hwm, hi, lo)
        self._fill_all(candidates, volume)
        return marked

    def _one_per_group(
        self, candidates: list[tuple[LiveOrder, float, float]]
    ) -> list[tuple[LiveOrder, float, float]]:
        """Keep only the pessimistic candidate of each OCO group (see the fill rules)."""
        groups: dict[str, list[int]] = {}
        for i, (live, _, _) in enumerate(candidates):
            group = live.group
            if group is not None:
                groups.setdefault(group, []).append(i)
        drop: set[int] = set()
        for members in groups.values():
            if len(members) > 1:
                sides = [(candidates[i][0].order.side, candidates[i][2]) for i in members]
                keep = members[pessimistic(sides)]
                drop.update(i for i in members if i != keep)
        return [c for i, c in enumerate(candidates) if i not in drop]

    def _cancel_exits(self, closer: Order) -> None:
        """A position closed (or reversed) by ``closer``: the exits that protected it go."""
        book = self._book.get(closer.request.symbol)
        if not book:  # the usual case: the closer was the symbol's last working order
            return
        for live in list(book):
            order = live.order
            if (
                order.request.protective
                and order.id in self._live
                and live.created_ns < closer.created_at.value
            ):
                self._end(live, order, OrderStatus.CANCELED, f"position closed by {closer.id}")

    def _shrink_group(self, group: str, filled_id: str, quantity: float) -> None:
        """``filled_id`` filled ``quantity`` of its group: the others cover that much less."""
        for order_id in list(self._oco.get(group, ())):
            live = self._live.get(order_id)
            if order_id == filled_id or live is None:
                continue
            order = live.order
            if order.quantity is None:  # a notional order: resolved at its own first fill
                continue
            left = max(order.quantity - quantity, order.filled_quantity)
            if left - order.filled_quantity <= QUANTITY_EPSILON:
                self._end(live, order, OrderStatus.CANCELED, f"oco: {filled_id} filled")
                continue
            live.order = order = dataclasses.replace(order, quantity=left)
            self._orders[order.id] = order

    def _cancel_group(self, group: str, filled_id: str) -> None:
        for order_id in list(self._oco.get(group, ())):
            live = self._live.get(order_id)
            if order_id != filled_id and live is not None:
                self._end(live, live.order, OrderStatus.CANCELED, f"oco: {filled_id} filled")
