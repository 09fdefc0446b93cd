"""Cash, positions and P&L: changed only by applying fills, marked at each close.

Accounting identity, at every moment: ``equity == cash + sum(quantity * last_price)``.
A fill moves cash by ``-signed_quantity * price - commission``; the commission is
charged here and nowhere else. Short positions have negative quantity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from workbench.fastinit import fast_init
from workbench.orders import Fill


@dataclass(slots=True)
class Position:
    """One symbol's holding. ``average_price`` is the cost basis of the open quantity."""

    symbol: str
    quantity: float = 0.0
    average_price: float = 0.0
    realized_pnl: float = 0.0  # price P&L of closed quantity, before commissions
    commission: float = 0.0  # all commissions paid on this symbol
    last_price: float = math.nan

    @property
    def market_value(self) -> float:
        if self.quantity == 0.0:
            return 0.0
        return self.quantity * self.last_price

    @property
    def unrealized_pnl(self) -> float:
        if self.quantity == 0.0:
            return 0.0
        return (self.last_price - self.average_price) * self.quantity


@fast_init
@dataclass(frozen=True, slots=True)
class PositionView:
    """A read-only snapshot of a position, what strategies and risk rules see."""

    symbol: str
    quantity: float
    average_price: float
    last_price: float
    market_value: float
    unrealized_pnl: float
    realized_pnl: float


#: Floating-point dust in share quantities: a position closer to zero than this is flat,
#: and two quantities closer than this (relative, above one share) are equal (a broker's
#: fills against its order's filled quantity).
QUANTITY_EPSILON = 1e-9


@dataclass(slots=True)
class Portfolio:
    """The account: cash and positions. Mutated only by :meth:`apply_fill` and :meth:`mark`."""

    cash: float
    positions: dict[str, Position] = field(default_factory=dict)
    commission_paid: float = 0.0

    def position(self, symbol: str) -> Position:
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = Position(symbol)
        return pos

    def quantity(self, symbol: str) -> float:
        pos = self.positions.get(symbol)
        return 0.0 if pos is None else pos.quantity

    def apply_fill(self, fill: Fill) -> float:
        """Book ``fill``; return the price P&L it realised (before commission)."""
        pos = self.position(fill.symbol)
        signed = fill.quantity * fill.side.sign
        self.cash -= signed * fill.price + fill.commission
        self.commission_paid += fill.commission
        pos.commission += fill.commission
        realized = 0.0
        old = pos.quantity
        new = old + signed
        if old == 0.0 or (old > 0) == (signed > 0):
            # opening or adding: weighted average cost
            pos.average_price = (pos.average_price * old + fill.price * signed) / new
        else:
            closed = min(abs(signed), abs(old))
            realized = (fill.price - pos.average_price) * closed * (1 if old > 0 else -1)
            if abs(new) <= QUANTITY_EPSILON:
                new = 0.0
                pos.average_price = 0.0
            elif (new > 0) != (old > 0):
                pos.average_price = fill.price  # flipped: the remainder opened at this price
        pos.quantity = new
        pos.realized_pnl += realized
        if math.isnan(pos.last_price):
            pos.last_price = fill.price
        return realized

    def mark(self, symbol: str, price: float) -> None:
        """Set the last price used to value ``symbol`` (the bar's close)."""
        self.position(symbol).last_price = price

    @property
    def market_value(self) -> float:
        """Summed left to right, as :meth:`SimulatedBroker.get_account` sums it (one
        rounding for both; ``sum`` may compensate on newer Pythons)."""
        value = 0.0
        for p in self.positions.values():
            q = p.quantity
            if q != 0.0:
                value += q * p.last_price
        return value

    @property
    def equity(self) -> float:
        return self.cash + self.market_value

    def view(self, symbol: str) -> PositionView:
        p = self.positions.get(symbol) or Position(symbol)
        return PositionView(
            p.symbol,
            p.quantity,
            p.average_price,
            p.last_price,
            p.market_value,
            p.unrealized_pnl,
            p.realized_pnl,
        )

    def open_positions(self) -> dict[str, PositionView]:
        """The views of the held positions (:meth:`view`'s values, built inline: the risk
        engine reads them on every check)."""
        out: dict[str, PositionView] = {}
        for s, p in self.positions.items():
            q = p.quantity
            if q != 0.0:
                last, avg = p.last_price, p.average_price
                out[s] = PositionView(
                    p.symbol, q, avg, last, q * last, (last - avg) * q, p.realized_pnl
                )
        return out
