"""The simulated venue: a :class:`~workbench.broker.Broker` that fills orders against bars.

Backtests and dry runs use it exactly as live code uses the Alpaca broker. Its time
is simulated: the engine calls :meth:`SimulatedBroker.set_time` before the strategy
acts on a bar and :meth:`SimulatedBroker.process_bar` when a bar closes. The fill
rules are written once, in :mod:`workbench.sim.fills`; costs are in
:mod:`workbench.sim.costs`, the buying-power check in :mod:`workbench.sim.buying_power`,
attached exits (bracket, OTO and OCO legs) in :mod:`workbench.sim.legs`, the Broker
protocol's reads (account, positions, orders, updates) in :mod:`workbench.sim.reads`.
Every status change goes through the lifecycle table of :mod:`workbench.lifecycle`.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import pandas as pd

from workbench.broker import ENDED_BY, OrderUpdate, UpdateEvent
from workbench.errors import BrokerError, ConfigError, OrderRejected
from workbench.lifecycle import apply_fill, transition
from workbench.orders import (
    TERMINAL,
    Fill,
    Order,
    OrderClass,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    build_fill,
    build_order,
)
from workbench.portfolio import QUANTITY_EPSILON, Portfolio
from workbench.sim import buying_power
from workbench.sim.codes import CODE_DUPLICATE_CLIENT_ID, CODE_NOT_CANCELABLE
from workbench.sim.costs import Commission, Slippage
from workbench.sim.days import DayEnds
from workbench.sim.fills import (
    SLIPPED_TYPES,
    match,
    next_hwm,
    notional_quantity,
    round_lot,
)
from workbench.sim.legs import AttachedExits, LiveOrder
from workbench.sim.reads import BrokerReads

log = logging.getLogger(__name__)

NO_COMMISSION = Commission()
NO_SLIPPAGE = Slippage()

#: Enum members read on every order, as module globals (why: :mod:`workbench.orders`).
_NEW, _SELL, _DAY, _MARKET = OrderStatus.NEW, Side.SELL, TimeInForce.DAY, OrderType.MARKET
_SIMPLE, _OCO = OrderClass.SIMPLE, OrderClass.OCO
_EV_NEW, _EV_FILL = UpdateEvent.NEW, UpdateEvent.FILL


class SimulatedBroker(AttachedExits, BrokerReads):
    """Fills orders against bars by the rules of :mod:`workbench.sim.fills`; owns a Portfolio."""

    def __init__(
        self,
        cash: float,
        *,
        commission: Commission = NO_COMMISSION,
        slippage: Slippage = NO_SLIPPAGE,
        volume_limit: float | None = None,
        lot_size: float | None = None,
        margin: float = 1.0,
        allow_short: bool = True,
        id_prefix: str = "sim",
        quantity_decimals: int | None = None,
        calendar: str | None = None,
    ) -> None:
        """``calendar``: the exchange calendar whose sessions DAY orders are good for
        (``XNYS``; None: UTC days, a venue open around the clock), :mod:`workbench.sim.days`."""
        if not (isinstance(cash, int | float) and math.isfinite(cash) and cash >= 0):
            raise ConfigError(f"cash must be a non-negative number, got {cash!r}")
        if volume_limit is not None and not 0 < volume_limit <= 1:
            raise ConfigError(
                f"volume_limit must be in (0, 1], got {volume_limit}",
                hint="it is the largest share of a bar's volume one order may take",
            )
        if lot_size is not None and not (math.isfinite(lot_size) and lot_size > 0):
            raise ConfigError(f"lot_size must be a positive number, got {lot_size}")
        if not (math.isfinite(margin) and margin > 0):
            raise ConfigError(
                f"margin must be a positive number, got {margin}", hint="1.0 means no leverage"
            )
        self.portfolio = Portfolio(float(cash))
        self.commission = commission
        self.slippage = slippage
        self.volume_limit = volume_limit
        self.lot_size = lot_size
        self.margin = float(margin)
        self.allow_short = allow_short
        self.id_prefix = id_prefix
        #: Decimals of a share a notional order resolves to (Alpaca's: 9); None: any.
        self.quantity_decimals = quantity_decimals
        self._day_ends = DayEnds(calendar)
        self.fills: list[Fill] = []
        self._orders: dict[str, Order] = {}  # every order, latest version, submission order
        self._live: dict[str, LiveOrder] = {}  # open orders
        self._book: dict[str, list[LiveOrder]] = {}  # open orders by symbol, submission order
        self._by_client_id: dict[str, str] = {}
        self._oco: dict[str, list[str]] = {}  # group -> open order ids
        self._updates: list[OrderUpdate] = []
        #: The last batch :meth:`drain_updates` handed out (saved with the queue).
        self.drained: list[OrderUpdate] = []
        self._counter = 0
        self._now: pd.Timestamp | None = None
        self._armed: list[LiveOrder] = []  # exits armed on the bar being processed
        self._entry: tuple[float, bool] | None = None  # this bar's entry: (price, at the open)
        self._bar_open = 0.0
        #: Counts the calls that may change the venue (:mod:`workbench.sim.snapshot` saves
        #: it again only when this moved).
        self.revision = 0

    @property
    def calendar(self) -> str | None:
        """The exchange calendar DAY orders keep (None: UTC days)."""
        return self._day_ends.calendar

    # -- time ------------------------------------------------------------------
    def set_time(self, ts: pd.Timestamp) -> None:
        """Set the simulated time: orders submitted now are stamped with it."""
        self.revision += 1
        self._now = ts

    @property
    def time(self) -> pd.Timestamp | None:
        """The venue's time: the last bar processed (or :meth:`set_time`); None before."""
        return self._now

    # -- Broker protocol: actions --------------------------------------------------
    def submit_order(self, request: OrderRequest) -> Order:
        """Accept ``request`` as a NEW order stamped with the current time.

        A duplicate client order id raises :class:`OrderRejected` (as Alpaca's 422);
        a quantity that rounds to zero lots returns a REJECTED order.
        """
        self.revision += 1
        now = self._now
        if now is None:
            raise BrokerError(
                "the simulated broker has no time yet", hint="call set_time(ts) before submitting"
            )
        cid = request.client_order_id
        if cid is not None and cid in self._by_client_id:
            raise OrderRejected(
                f"client_order_id must be unique: {cid!r} is order {self._by_client_id[cid]}",
                hint="reuse get_order_by_client_id to find the existing order",
                code=CODE_DUPLICATE_CLIENT_ID,
            )
        self._counter += 1
        quantity = request.quantity
        if quantity is not None and self.lot_size is not None:
            quantity = round_lot(quantity, self.lot_size)
        oid = f"{self.id_prefix}-{self._counter}"
        order = build_order(oid, request, now, _NEW, quantity, 0.0, 0.0, 0.0, now, "", None, ())
        self._orders[oid] = order
        if cid is not None:
            self._by_client_id[cid] = oid
        self._updates.append(OrderUpdate(_EV_NEW, order, now, None))
        if quantity is not None and quantity <= 0:
            return self._end(
                None,
                order,
                OrderStatus.REJECTED,
                f"quantity {request.quantity:g} is below the lot size {self.lot_size:g}",
            )
        oco = request.order_class is _OCO
        live = LiveOrder(order, f"exits:{order.id}" if oco else None)
        self._live[order.id] = live
        self._book.setdefault(request.symbol, []).append(live)
        if live.group is not None:
            self._oco.setdefault(live.group, []).append(order.id)
        if request.has_exits and quantity is not None and not request.relative_exits:
            order = self._attach(live, quantity, held=not oco)
        return order

    def _reducible(self, order: Order) -> float:
        """How much a protective ``order`` may fill: the part of the position it reduces."""
        held = self.portfolio.quantity(order.symbol)
        return max(held, 0.0) if order.side is _SELL else max(-held, 0.0)

    def cancel_order(self, order_id: str) -> None:
        """Cancel an open order at once; a finished one raises :class:`OrderRejected`."""
        self.revision += 1
        live = self._live.get(order_id)
        if live is None:
            order = self.get_order(order_id)  # raises when unknown
            raise OrderRejected(
                f"order {order_id} is {order.status} and cannot be canceled",
                code=CODE_NOT_CANCELABLE,
            )
        order = self._end(live, live.order, OrderStatus.CANCELED, "canceled by request")
        if live.group is not None and (
            order.parent_id is not None or order.request.order_class is _OCO
        ):
            # an exit of a bracket, oto or oco order: "If any one of the orders is canceled,
            # any remaining open order in the group is canceled" (Orders at Alpaca)
            for other_id in list(self._oco.get(live.group, ())):
                other = self._live[other_id]
                self._end(other, other.order, OrderStatus.CANCELED, f"oco: {order_id} canceled")

    def cancel_all_orders(self) -> None:
        self.revision += 1
        for live in list(self._live.values()):
            if live.order.id in self._live:  # canceling an entry also ends its held legs
                self._end(live, live.order, OrderStatus.CANCELED, "canceled by request")

    def replace_order(self, order_id: str, request: OrderRequest) -> Order:
        """Replace an open order by ``request`` (Alpaca's PATCH): the old one ends REPLACED.

        The new order is stamped with the current time, so it fills from the next bar.
        A finished order, or a duplicate client order id, raises :class:`OrderRejected`
        and leaves the old order untouched.
        """
        self.revision += 1
        live = self._live.get(order_id)
        if live is None:
            order = self.get_order(order_id)  # raises when unknown
            raise OrderRejected(
                f"order {order_id} is {order.status} and cannot be replaced",
                code=CODE_NOT_CANCELABLE,
            )
        cid = request.client_order_id
        if cid is not None and cid in self._by_client_id:
            raise OrderRejected(
                f"client_order_id must be unique: {cid!r} is order {self._by_client_id[cid]}",
                code=CODE_DUPLICATE_CLIENT_ID,
            )
        if live.order.parent_id is not None:
            return self._replace_leg(live, request)
        self._end(live, live.order, OrderStatus.REPLACED, "replaced by request")
        return self.submit_order(request)

    def trailing_mark(self, order_id: str) -> float | None:
        """A working trailing stop's high-water (a buy's: low-water) mark, once it has one."""
        live = self._live.get(order_id)
        return None if live is None else live.hwm

    # -- the venue -------------------------------------------------------------------
    def process_bar(
        self,
        symbol: str,
        time: pd.Timestamp,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float,
    ) -> list[OrderUpdate]:
        """Match ``symbol``'s open orders against the bar at ``time``, then mark at the close.

        Returns the updates this bar produced (they are also queued for :meth:`drain_updates`).
        """
        self.revision += 1
        self._now = time
        book = self._book.get(symbol)
        if not book:
            self.portfolio.mark(symbol, close)
            return []
        start = len(self._updates)
        t_ns = time.value
        self._armed = []
        self._entry = None
        self._bar_open = open
        waiting: list[LiveOrder] = []  # protective orders with no position to protect yet
        candidates: list[tuple[LiveOrder, float, float]] = []  # (order, rule price, slipped price)
        for live in list(book):
            if t_ns <= live.created_ns:
                continue  # submitted on this bar (or later): never filled on it
            order = live.order
            req = order.request
            if req.tif is _DAY:
                if live.day_end is None:
                    live.day_end = self._day_ends.after(t_ns)
                elif t_ns >= live.day_end:
                    self._end(live, order, OrderStatus.EXPIRED, "day order: session over")
                    continue
            if req.protective and self._reducible(order) <= QUANTITY_EPSILON:
                waiting.append(live)
                continue
            candidate = self._candidate(live, open, high, low, close)
            if candidate is not None:
                candidates.append(candidate)
        if len(candidates) > 1:  # the open comes first (the fill rules' order of fills)
            candidates.sort(key=_after_the_open)
        self._fill_all(candidates, volume)
        marked: set[str] | frozenset[str] = _NONE_MARKED
        if self._entry is not None and (waiting or self._armed):
            marked = self._rest_of_entry_bar(waiting, high, low, close, volume)
        for live in book:
            if live.hwm is not None and not live.triggered and live.order.id not in marked:
                live.hwm = next_hwm(live.order, live.hwm, high, low)
        self.portfolio.mark(symbol, close)
        return self._updates[start:]

    def _candidate(
        self, live: LiveOrder, open: float, high: float, low: float, close: float
    ) -> tuple[LiveOrder, float, float] | None:
        """(order, rule price, slipped price) if ``live`` fills on this bar (or its rest)."""
        order = live.order
        req = order.request
        kind = req.type
        if kind is _MARKET:  # match's first rule, without building its result
            return live, open, self.slippage.apply(open, req.side, high, low)
        if kind is OrderType.TRAILING_STOP and live.hwm is None:
            live.hwm = open  # live from this bar's open
        result = match(order, open, high, low, close, triggered=live.triggered, hwm=live.hwm)
        if result is None:
            return None
        if result.triggered:
            live.triggered = True
        base = result.price
        if base is None:
            return None
        price = base
        if req.type in SLIPPED_TYPES:
            price = self.slippage.apply(base, req.side, high, low)
        return live, base, price

    def _fill_all(self, candidates: list[tuple[LiveOrder, float, float]], volume: float) -> None:
        if len(candidates) > 1:
            candidates = self._one_per_group(candidates)
        for live, base, price in candidates:
            if live.order.status not in TERMINAL:  # an earlier fill may have canceled its group
                self._fill(live, base, price, volume)

    def _fill(self, live: LiveOrder, base: float, price: float, volume: float) -> None:
        order = live.order
        req = order.request
        cap: float | None = None
        if self.volume_limit is not None:
            cap = round_lot(self.volume_limit * volume, self.lot_size)
            if cap <= 0.0:
                return  # nothing to take from this bar
        if order.quantity is None:
            notional: float = req.notional  # type: ignore[assignment]
            quantity = notional_quantity(notional, price, self.commission, self.lot_size)
            if self.quantity_decimals is not None:  # rounded down, as the venue trades it
                scale = 10.0**self.quantity_decimals
                quantity = math.floor(quantity * scale + 1e-6) / scale
            if quantity <= 0.0:
                self._end(
                    live,
                    order,
                    OrderStatus.REJECTED,
                    f"notional too small: {req.notional:g} buys no quantity at {price:g}",
                )
                return
            order = live.order = dataclasses.replace(order, quantity=quantity)
            self._orders[order.id] = order
        remaining: float = order.remaining  # type: ignore[assignment]
        protective = req.protective
        if protective:
            room = self._reducible(order)
            if room <= QUANTITY_EPSILON:
                return  # nothing left to protect: it waits (or is canceled with the position)
            if room < remaining:  # never more than the position: the rest is not needed
                order = dataclasses.replace(order, quantity=order.filled_quantity + room)
                live.order = order
                self._orders[order.id] = order
                remaining = room
        quantity = remaining
        if cap is not None and cap < remaining:
            quantity = cap
        complete = remaining - quantity <= QUANTITY_EPSILON * (
            remaining if remaining > 1.0 else 1.0  # max(1.0, remaining), written out (costs)
        )
        if complete:
            quantity = remaining
        filled_notional = order.filled_quantity * order.average_price
        commission = self.commission.increment(
            order.filled_quantity, filled_notional, quantity, quantity * price
        )
        pf = self.portfolio
        before = pf.quantity(req.symbol)
        refusal = buying_power.refusal(
            pf, req.symbol, req.side, quantity, price, commission, before,
            margin=self.margin, allow_short=self.allow_short,
        )  # fmt: skip
        if refusal is not None:
            status = OrderStatus.REJECTED if order.filled_quantity == 0 else OrderStatus.CANCELED
            self._end(live, order, status, refusal)
            return
        now: pd.Timestamp = self._now  # type: ignore[assignment]
        fill = build_fill(
            order.id, req.symbol, req.side, quantity, price, commission, now, req.reason,
            abs(price - base),  # the slippage
        )  # fmt: skip
        order = apply_fill(order, fill, complete=complete)
        pf.apply_fill(fill)
        self.fills.append(fill)
        if complete:
            self._end(live, order, None, "")
            self._updates.append(OrderUpdate(_EV_FILL, order, now, fill))
        else:
            live.order = order
            self._orders[order.id] = order
            self._updates.append(OrderUpdate(UpdateEvent.PARTIAL_FILL, order, now, fill))
        if live.group is not None:
            if complete:  # one filled: the others are canceled
                self._cancel_group(live.group, order.id)
            else:  # partly filled: the others shrink to what is left (Alpaca's brackets)
                self._shrink_group(live.group, order.id, quantity)
        if before != 0.0:
            after = pf.quantity(req.symbol)
            if abs(after) <= QUANTITY_EPSILON or before * after < 0:
                self._cancel_exits(order)
        if not protective:
            self._entry = (base, base == self._bar_open)
        oc = req.order_class
        if oc is not _SIMPLE and oc is not _OCO:  # attached exits
            if not order.legs:  # a notional entry, or relative exits: known only now
                order = self._attach(live, order.filled_quantity, held=True, fill_price=price)
            if complete:  # the legs stay held through the entry's partial fills
                self._arm(order, base)

    # -- bookkeeping ------------------------------------------------------------------
    def _end(
        self, live: LiveOrder | None, order: Order, status: OrderStatus | None, reason: str
    ) -> Order:
        """Move ``order`` to a terminal ``status`` (None: already moved) and forget it as open."""
        if status is not None:
            order = transition(order, status, at=self._now, reason=reason)
            if reason:
                log.debug("order %s %s: %s", order.id, status, reason)
        self._orders[order.id] = order
        if live is not None:
            live.order = order
            del self._live[order.id]
            book = self._book.get(order.request.symbol, [])
            if live in book:  # a held leg was never in the book
                book.remove(live)
            group = live.group
            if group is not None:
                members = self._oco[group]
                members.remove(order.id)
                if not members:
                    del self._oco[group]
        if status is not None:
            self._emit(ENDED_BY[status], order)
            for leg_id in order.legs:  # ended before its complete fill: its held legs go
                leg = self._live.get(leg_id)
                if leg is not None and leg.order.status is OrderStatus.HELD:
                    self._end(leg, leg.order, OrderStatus.CANCELED, f"entry {order.id} {status}")
        return order

    def _emit(self, event: UpdateEvent, order: Order, fill: Fill | None = None) -> None:
        now: pd.Timestamp = self._now  # type: ignore[assignment]
        self._updates.append(OrderUpdate(event, order, now, fill))


_NONE_MARKED: frozenset[str] = frozenset()


def _after_the_open(candidate: tuple[LiveOrder, float, float]) -> bool:
    """Sort key: market orders fill at the open, before anything triggered inside the bar."""
    return candidate[0].order.request.type is not _MARKET
