"""The simulated venue: a :class:`~workbench.broker.Broker` that fills orders against bars.

Backtests and dry runs use it exactly as live code uses the Alpaca broker. Its time
is simulated: the engine calls :meth:`SimulatedBroker.set_time` before the strategy
acts on a bar and :meth:`SimulatedBroker.process_bar` when a bar closes. The fill
rules are written once, in :mod:`workbench.sim.fills`; costs are in
:mod:`workbench.sim.costs`. Every status change goes through the lifecycle table of
:mod:`workbench.orders`.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import pandas as pd

from workbench.broker import AccountSnapshot, OrderUpdate, UpdateEvent
from workbench.errors import BrokerError, ConfigError, OrderRejected
from workbench.orders import (
    Fill,
    Order,
    OrderClass,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    apply_fill,
    exit_legs,
    transition,
)
from workbench.portfolio import QUANTITY_EPSILON, Portfolio, PositionView
from workbench.sim.costs import Commission, Slippage
from workbench.sim.fills import (
    SLIPPED_TYPES,
    match,
    next_hwm,
    notional_quantity,
    pessimistic,
    round_lot,
)

log = logging.getLogger(__name__)

NS_PER_DAY = 86_400_000_000_000
#: Alpaca's codes, so callers can handle both brokers alike.
CODE_DUPLICATE_CLIENT_ID = 40010001
CODE_NOT_FOUND = 40410000
CODE_NOT_CANCELABLE = 42210000
#: Relative slack of the buying-power check (floating-point dust of "spend all cash").
BUYING_POWER_TOLERANCE = 1e-9
NO_COMMISSION = Commission()
NO_SLIPPAGE = Slippage()

#: Enum members read on every order, as module globals (why: :mod:`workbench.orders`).
_NEW, _SELL, _DAY, _MARKET = OrderStatus.NEW, Side.SELL, TimeInForce.DAY, OrderType.MARKET
_SIMPLE, _OCO = OrderClass.SIMPLE, OrderClass.OCO
_EV_NEW, _EV_FILL = UpdateEvent.NEW, UpdateEvent.FILL


class _Live:
    """Venue-side state of one open order (the Order itself is frozen)."""

    __slots__ = ("created_ns", "day", "group", "hwm", "order", "triggered")

    def __init__(self, order: Order, group: str | None = None) -> None:
        self.order = order
        self.created_ns: int = order.created_at.value
        self.triggered = False
        self.day: int | None = None  # UTC day number of the first eligible bar (DAY orders)
        self.hwm: float | None = None  # a trailing stop's high-water (buy: low-water) mark
        self.group = group if group is not None else order.request.oco_group


class SimulatedBroker:
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
    ) -> None:
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
        self.fills: list[Fill] = []
        self._orders: dict[str, Order] = {}  # every order, latest version, submission order
        self._live: dict[str, _Live] = {}  # open orders
        self._book: dict[str, list[_Live]] = {}  # open orders by symbol, submission order
        self._by_client_id: dict[str, str] = {}
        self._oco: dict[str, list[str]] = {}  # group -> open order ids
        self._updates: list[OrderUpdate] = []
        self._counter = 0
        self._now: pd.Timestamp | None = None
        self._armed: list[_Live] = []  # exits armed on the bar being processed
        self._entry: tuple[float, bool] | None = None  # this bar's entry: (price, at the open)
        self._bar_open = 0.0

    # -- time ------------------------------------------------------------------
    def set_time(self, ts: pd.Timestamp) -> None:
        """Set the simulated time: orders submitted now are stamped with it."""
        self._now = ts

    # -- Broker protocol: reads --------------------------------------------------
    @property
    def orders(self) -> list[Order]:
        """Every order ever submitted (latest state), in submission order."""
        return list(self._orders.values())

    def get_account(self) -> AccountSnapshot:
        pf = self.portfolio
        value = gross = 0.0
        for p in pf.positions.values():  # Position.market_value, written out
            q = p.quantity
            if q != 0.0:
                v = q * p.last_price
                value += v
                gross += abs(v)
        equity = pf.cash + value
        return AccountSnapshot(pf.cash, equity, max(equity * self.margin - gross, 0.0))

    def get_positions(self) -> dict[str, PositionView]:
        return self.portfolio.open_positions()

    def get_open_orders(self) -> list[Order]:
        live = self._live
        if not live:  # the usual answer on the order path: no comprehension to run
            return []
        return [x.order for x in live.values()]

    @property
    def open_book(self) -> dict[str, list]:
        """Open orders by symbol (read only): ``open_book.get(symbol)`` is true when
        :meth:`process_bar` has work for ``symbol``, the check the engine's loop makes."""
        return self._book

    def has_open_orders(self, symbol: str) -> bool:
        """Cheap check the engine makes before calling :meth:`process_bar`."""
        return bool(self._book.get(symbol))

    def sells_first(self, symbols: list[tuple[str, int]]) -> list[tuple[str, int]]:
        """``(symbol, row)`` pairs of one time step, those with a working sell first.

        Orders of several symbols that meet the same bar time execute together at a
        venue; simulated one symbol after another, a rebalance's buys would otherwise
        be checked against cash its sells have not yet raised. Order kept otherwise.
        """
        if not self._live or len(symbols) < 2:
            return symbols
        book = self._book
        selling = [r for r in symbols if any(x.order.side is Side.SELL for x in book.get(r[0], ()))]
        if not selling:
            return symbols
        chosen = {r[0] for r in selling}
        return selling + [r for r in symbols if r[0] not in chosen]

    def get_order(self, order_id: str) -> Order:
        try:
            return self._orders[order_id]
        except KeyError:
            raise BrokerError(f"order {order_id} not found", code=CODE_NOT_FOUND) from None

    def get_order_by_client_id(self, client_order_id: str) -> Order | None:
        order_id = self._by_client_id.get(client_order_id)
        return None if order_id is None else self._orders[order_id]

    def drain_updates(self) -> list[OrderUpdate]:
        out, self._updates = self._updates, []
        return out

    def close(self) -> None:
        """Nothing to release: the simulated venue is in process, without a stream."""

    # -- Broker protocol: actions --------------------------------------------------
    def submit_order(self, request: OrderRequest) -> Order:
        """Accept ``request`` as a NEW order stamped with the current time.

        A duplicate client order id raises :class:`OrderRejected` (as Alpaca's 422);
        a quantity that rounds to zero lots returns a REJECTED order.
        """
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
        order = Order(oid, request, now, _NEW, quantity, 0.0, 0.0, 0.0, now)
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
        live = _Live(order, f"exits:{order.id}" if oco else None)
        self._live[order.id] = live
        self._book.setdefault(request.symbol, []).append(live)
        if live.group is not None:
            self._oco.setdefault(live.group, []).append(order.id)
        if request.has_exits and quantity is not None and not request.relative_exits:
            order = self._attach(live, quantity, held=not oco)
        return order

    def _attach(
        self, parent: _Live, quantity: float, *, held: bool, fill_price: float | None = None
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
            self._register(_Live(leg, group), in_book=not held)
            ids.append(leg.id)
        order = parent.order = dataclasses.replace(order, legs=tuple(ids))
        self._orders[order.id] = order
        return order

    def _register(self, live: _Live, *, in_book: bool) -> None:
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
        """The entry filled (some more): its legs cover what is filled, and are live."""
        for leg_id in parent.legs:
            live = self._live.get(leg_id)
            if live is None:
                continue  # filled, or canceled by its sibling
            leg = live.order
            if leg.status is OrderStatus.HELD:
                leg = transition(leg, OrderStatus.NEW, at=self._now, reason="entry filled")
                self._book.setdefault(leg.symbol, []).append(live)
                live.hwm = entry_price
                self._armed.append(live)
            live.order = leg = dataclasses.replace(leg, quantity=parent.filled_quantity)
            self._orders[leg.id] = leg
            if leg.status is OrderStatus.NEW and leg.filled_quantity == 0:
                self._emit(UpdateEvent.NEW, leg)

    def _reducible(self, order: Order) -> float:
        """How much a protective ``order`` may fill: the part of the position it reduces."""
        held = self.portfolio.quantity(order.symbol)
        return max(held, 0.0) if order.side is _SELL else max(-held, 0.0)

    def cancel_order(self, order_id: str) -> None:
        """Cancel an open order at once; a finished one raises :class:`OrderRejected`."""
        live = self._live.get(order_id)
        if live is None:
            order = self.get_order(order_id)  # raises when unknown
            raise OrderRejected(
                f"order {order_id} is {order.status} and cannot be canceled",
                code=CODE_NOT_CANCELABLE,
            )
        self._end(live, live.order, OrderStatus.CANCELED, "canceled by request")

    def cancel_all_orders(self) -> None:
        for live in list(self._live.values()):
            if live.order.id in self._live:  # canceling an entry also ends its held legs
                self._end(live, live.order, OrderStatus.CANCELED, "canceled by request")

    def replace_order(self, order_id: str, request: OrderRequest) -> Order:
        """Replace an open order by ``request`` (Alpaca's PATCH): the old one ends REPLACED.

        The new order is stamped with the current time, so it fills from the next bar.
        A finished order, or a duplicate client order id, raises :class:`OrderRejected`
        and leaves the old order untouched.
        """
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

    def _replace_leg(self, live: _Live, request: OrderRequest) -> Order:
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
        fresh = _Live(new, live.group)
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
        self._now = time
        book = self._book.get(symbol)
        if not book:
            self.portfolio.mark(symbol, close)
            return []
        start = len(self._updates)
        t_ns = time.value
        day = t_ns // NS_PER_DAY
        self._armed = []
        self._entry = None
        self._bar_open = open
        waiting: list[_Live] = []  # protective orders with no position to protect yet
        candidates: list[tuple[_Live, float, float]] = []  # (order, rule price, slipped price)
        for live in list(book):
            if t_ns <= live.created_ns:
                continue  # submitted on this bar (or later): never filled on it
            order = live.order
            req = order.request
            if req.tif is _DAY:
                if live.day is None:
                    live.day = day
                elif day > live.day:
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
        self, live: _Live, open: float, high: float, low: float, close: float
    ) -> tuple[_Live, float, float] | None:
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

    def _fill_all(self, candidates: list[tuple[_Live, float, float]], volume: float) -> None:
        if len(candidates) > 1:
            candidates = self._one_per_group(candidates)
        for live, base, price in candidates:
            if live.order.status.is_open:  # an earlier fill may have canceled its OCO group
                self._fill(live, base, price, volume)

    def _rest_of_entry_bar(
        self, waiting: list[_Live], high: float, low: float, close: float, volume: float
    ) -> set[str]:
        """Exits armed by an entry on this bar, matched against the rest of the bar.

        The rest starts at the entry's fill price; a take-profit (a limit) only fills
        when the entry filled at the open (see the same-bar rule in the fill rules).
        Returns the trailing stops whose mark this took care of.
        """
        entry, at_open = self._entry  # type: ignore[misc]
        candidates: list[tuple[_Live, float, float]] = []
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
        self, candidates: list[tuple[_Live, float, float]]
    ) -> list[tuple[_Live, float, float]]:
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

    def _fill(self, live: _Live, base: float, price: float, volume: float) -> None:
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
        complete = remaining - quantity <= QUANTITY_EPSILON * max(1.0, remaining)
        if complete:
            quantity = remaining
        filled_notional = order.filled_quantity * order.average_price
        commission = self.commission.increment(
            order.filled_quantity, filled_notional, quantity, quantity * price
        )
        pf = self.portfolio
        before = pf.quantity(req.symbol)
        refusal = self._refusal(req.symbol, req.side, quantity, price, commission, before)
        if refusal is not None:
            status = OrderStatus.REJECTED if order.filled_quantity == 0 else OrderStatus.CANCELED
            self._end(live, order, status, refusal)
            return
        now: pd.Timestamp = self._now  # type: ignore[assignment]
        fill = Fill(
            order.id,
            req.symbol,
            req.side,
            quantity,
            price,
            commission,
            now,
            reason=req.reason,
            slippage=abs(price - base),
        )
        first = order.filled_quantity == 0
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
        if first and live.group is not None:
            self._cancel_group(live.group, order.id)
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
            self._arm(order, base)

    def _refusal(
        self, symbol: str, side: Side, quantity: float, price: float, commission: float, old: float
    ) -> str | None:
        """Why this fill may not happen (shorting, buying power), or None; ``old`` is the
        position held before it."""
        pf = self.portfolio
        new = old + side.sign * quantity
        if abs(new) <= abs(old) and old * new >= 0:
            return None  # reduces or closes: always allowed
        if not self.allow_short and new < -QUANTITY_EPSILON:
            return (
                f"shorting not allowed: selling {quantity:g} {symbol} would take the position "
                f"from {old:g} to {new:g}"
            )
        others_value = others_gross = 0.0
        for sym, pos in pf.positions.items():
            if sym != symbol and pos.quantity != 0.0:
                value = pos.quantity * pos.last_price
                others_value += value
                others_gross += abs(value)
        cash_after = pf.cash - side.sign * quantity * price - commission
        equity_after = cash_after + others_value + new * price
        gross_after = others_gross + abs(new) * price
        slack = BUYING_POWER_TOLERANCE * max(gross_after, 1.0)
        if gross_after <= equity_after * self.margin + slack:
            return None
        equity_before = pf.cash + others_value + old * price
        power = max(equity_before * self.margin - others_gross - abs(old) * price, 0.0)
        cost = quantity * price + commission
        return (
            f"insufficient buying power: {side} {quantity:g} {symbol} at {price:g} costs "
            f"{cost:.2f} (commission {commission:.2f} included), cash is {pf.cash:.2f}, "
            f"buying power {power:.2f} (margin {self.margin:g})"
        )

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

    def _cancel_group(self, group: str, filled_id: str) -> None:
        for order_id in list(self._oco.get(group, ())):
            live = self._live.get(order_id)
            if order_id != filled_id and live is not None:
                self._end(live, live.order, OrderStatus.CANCELED, f"oco: {filled_id} filled")

    # -- bookkeeping ------------------------------------------------------------------
    def _end(
        self, live: _Live | None, order: Order, status: OrderStatus | None, reason: str
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
            book = self._book.get(order.symbol, [])
            if live in book:  # a held leg was never in the book
                book.remove(live)
            group = live.group
            if group is not None:
                members = self._oco[group]
                members.remove(order.id)
                if not members:
                    del self._oco[group]
        if status is not None:
            self._emit(_EVENTS[status], order)
            for leg_id in order.legs:  # an entry that ends unfilled takes its held legs along
                leg = self._live.get(leg_id)
                if leg is not None and leg.order.status is OrderStatus.HELD:
                    self._end(leg, leg.order, OrderStatus.CANCELED, f"entry {order.id} {status}")
        return order

    def _emit(self, event: UpdateEvent, order: Order, fill: Fill | None = None) -> None:
        now: pd.Timestamp = self._now  # type: ignore[assignment]
        self._updates.append(OrderUpdate(event, order, now, fill))


_NONE_MARKED: frozenset[str] = frozenset()


def _after_the_open(candidate: tuple[_Live, float, float]) -> bool:
    """Sort key: market orders fill at the open, before anything triggered inside the bar."""
    return candidate[0].order.request.type is not _MARKET


_EVENTS = {
    OrderStatus.CANCELED: UpdateEvent.CANCELED,
    OrderStatus.EXPIRED: UpdateEvent.EXPIRED,
    OrderStatus.REJECTED: UpdateEvent.REJECTED,
    OrderStatus.REPLACED: UpdateEvent.REPLACED,
}
