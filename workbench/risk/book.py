"""The account as the rules judge it during one check: positions, working orders, approvals.

Limits are judged on the *worst case* of each symbol: the position plus every working
order that pushes it the same way (they may all fill; the opposite ones may not), plus
what this check already approved. So two entries in one bar, or an entry on top of a
working limit order, cannot together slip past a cap. Protective orders (attached exits,
oco orders, ``oco_group`` members) are left out: they only ever reduce the position
(:attr:`~workbench.orders.OrderRequest.protective`), so counting a long's stop-loss as a
possible short would make the exit that closes the long look like a new short, and a
cap or a reduce-only state would trap the position it protects. Quantities of notional orders are
estimated as notional / price. Prices are the decision prices (the close of the decision
bar): limits hold at the price the decision was made on; a gap to the next open moves
positions with the market, as it would any position.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench.errors import ConfigError, LookAheadError
from workbench.fastinit import fast_init
from workbench.indicators import ATR
from workbench.orders import OrderRequest, OrderType
from workbench.risk.state import RiskState
from workbench.risk.views import Account, Market

#: Relative slack when comparing quantities (floating-point dust is not a breach).
EPSILON = 1e-9
#: ATR is computed over this many periods of history (Wilder's seed then weighs < 1e-8).
ATR_HISTORY = 20

#: Enum members read on every order, as module globals (why: :mod:`workbench.orders`).
_MARKET, _LIMIT, _STOP, _STOP_LIMIT = (
    OrderType.MARKET,
    OrderType.LIMIT,
    OrderType.STOP,
    OrderType.STOP_LIMIT,
)


@fast_init
@dataclass(frozen=True, slots=True)
class Proposal:
    """One order as the rules see it. ``base`` is the worst-case signed position before it
    in the order's direction; ``quantity`` is estimated for notional orders. ``increases``:
    whether any part opens, adds to, or flips a position (every cap asks it first), worked
    out once with the quantity (:func:`increases_position`)."""

    request: OrderRequest
    sign: int
    quantity: float
    price: float
    entry: float
    stop: float | None
    base: float
    increases: bool

    @property
    def symbol(self) -> str:
        return self.request.symbol

    @property
    def reducing(self) -> float:
        """The part of the quantity that brings the position toward zero (no flip)."""
        return reducing_part(self.sign, self.quantity, self.base)

    @property
    def after(self) -> float:
        """The worst-case signed position once this order fills."""
        return self.base + self.sign * self.quantity

    def resized(self, quantity: float) -> Proposal:
        moves = increases_position(self.sign, quantity, self.base)
        return dataclasses.replace(self, quantity=quantity, increases=moves)

    def describe(self) -> str:
        return f"{self.request.side} {self.quantity:.6g} {self.symbol} at {self.price:,.2f}"


def reducing_part(sign: int, quantity: float, base: float) -> float:
    """The part of ``quantity`` in direction ``sign`` that brings the worst case ``base``
    toward zero (no flip): :attr:`Proposal.reducing`."""
    if sign * base < 0:  # min(quantity, |base|) written out: the builtin costs ~8x (3.11)
        held = abs(base)
        return held if held < quantity else quantity
    return 0.0


def increases_position(sign: int, quantity: float, base: float) -> bool:
    """Whether ``quantity`` in direction ``sign`` from the worst case ``base`` opens, adds
    to, or flips a position: more than its reducing part."""
    return quantity > reducing_part(sign, quantity, base) * (1 + EPSILON) + EPSILON


def cap_quantity(p: Proposal, max_abs: float) -> float:
    """The largest quantity (at most ``p.quantity``) leaving ``|position| <= max_abs``.

    The reducing part always passes; a position already over the cap may shrink, not grow.
    """
    return min(p.quantity, max(max_abs - p.sign * p.base, p.reducing, 0.0))


class Book:
    """Equity, positions, working orders and this check's approvals, read once per check."""

    def __init__(
        self, time: pd.Timestamp, account: Account, market: Market | None, state: RiskState
    ) -> None:
        self.time = time
        self.state = state
        self.market = market
        self.equity = float(account.get_account().equity)
        held = self._held = account.get_positions()
        positions: dict[str, float] = {}
        for s, p in held.items():  # loops, not comprehensions: no extra frame per check
            if p.quantity != 0.0:
                positions[s] = p.quantity
        self.positions = positions
        self._prices: dict[str, float] = {}
        self.buy: dict[str, float] = {}
        self.sell: dict[str, float] = {}
        self.approved = 0
        self._atr: dict[tuple[str, int], tuple[float, int]] = {}
        self._corr: dict[tuple[str, str, int, int], float] = {}
        for order in account.get_open_orders():
            if order.request.protective:  # exits never add to a position (module docstring)
                continue
            remaining = order.remaining
            if remaining is None:
                remaining = order.request.notional / self.order_price(order.request)
            self._add(order.symbol, order.side.sign, remaining)

    # -- prices -------------------------------------------------------------------------
    def price(self, symbol: str) -> float:
        """The decision price of ``symbol``: its latest close (a held symbol the market does
        not know is valued at its last marked price)."""
        price = self._prices.get(symbol)
        if price is None:
            try:
                if self.market is None:
                    raise ConfigError("no market")
                price = self.market.price(symbol)
            except (ConfigError, LookAheadError):
                view = self._held.get(symbol)
                price = math.nan if view is None else view.last_price
            if not (math.isfinite(price) and price > 0):
                raise ConfigError(
                    f"risk: no price for {symbol} at {self.time}",
                    hint="the risk engine needs the symbol's bars (or a marked position)",
                )
            self._prices[symbol] = price
        return price

    def order_price(self, request: OrderRequest) -> float:
        """Where ``request`` would execute: its limit (or stop) price, else the decision price."""
        kind = request.type
        if kind is _MARKET:
            return self.price(request.symbol)
        if kind is _LIMIT or kind is _STOP_LIMIT:
            return float(request.limit_price)  # type: ignore[arg-type]
        if kind is _STOP:
            return float(request.stop_price)  # type: ignore[arg-type]
        return self.price(request.symbol)

    # -- positions --------------------------------------------------------------------
    def base(self, symbol: str, sign: int) -> float:
        """Worst-case signed position of ``symbol`` in direction ``sign``."""
        q = self.positions.get(symbol, 0.0)
        return q + self.buy.get(symbol, 0.0) if sign > 0 else q - self.sell.get(symbol, 0.0)

    def worst(self, symbol: str) -> float:
        """Worst-case absolute position of ``symbol`` (either direction)."""
        q = self.positions.get(symbol, 0.0)  # :meth:`base` of both directions, written out
        up, down = abs(q + self.buy.get(symbol, 0.0)), abs(q - self.sell.get(symbol, 0.0))
        return down if down > up else up  # max(up, down): the builtin costs ~8x (3.11)

    def exposure(self, symbol: str) -> float:
        """Worst-case absolute value held in ``symbol`` at its decision price."""
        worst = self.worst(symbol)
        return 0.0 if worst <= EPSILON else worst * self.price(symbol)

    def symbols(self) -> set[str]:
        """Symbols with a position or a working order."""
        return (
            {s for s, q in self.positions.items() if q}
            | {s for s, q in self.buy.items() if q}
            | {s for s, q in self.sell.items() if q}
        )

    def open_count(self) -> int:
        """Symbols that hold, or may come to hold, a position."""
        n = 0
        seen: set[str] = set()
        for book in (self.positions, self.buy, self.sell):  # :meth:`symbols`, counted in place
            for s, q in book.items():
                if q and s not in seen:
                    seen.add(s)
                    if self.worst(s) > EPSILON:
                        n += 1
        return n

    def proposal(self, request: OrderRequest, stop: float | None) -> Proposal:
        symbol = request.symbol
        price = self._prices.get(symbol)  # read once per check (:meth:`price`)
        if price is None:
            price = self.price(symbol)
        entry = price if request.type is _MARKET else self.order_price(request)
        notional = request.notional
        quantity = request.quantity if notional is None else notional / entry
        sign = request.side.sign
        quantity = float(quantity)
        base = self.base(symbol, sign)
        adds = increases_position(sign, quantity, base)
        return Proposal(request, sign, quantity, price, entry, stop, base, adds)

    def _add(self, symbol: str, sign: int, quantity: float) -> None:
        book = self.buy if sign > 0 else self.sell
        book[symbol] = book.get(symbol, 0.0) + quantity

    def approve(self, p: Proposal) -> None:
        """Count ``p`` as working: later proposals in this check see it (an exit only
        as an order sent: it never adds to a position)."""
        if not p.request.protective:
            self._add(p.symbol, p.sign, p.quantity)
        self.approved += 1

    # -- market statistics (bars up to now only) --------------------------------------
    def atr(self, symbol: str, period: int) -> tuple[float, int]:
        """ATR(``period``) of ``symbol`` at the decision bar (NaN while warming up), and the
        number of bars it was computed from."""
        key = (symbol, period)
        if key not in self._atr:
            value, n = math.nan, 0
            if self.market is not None:
                bars = self.market.history(symbol, period * ATR_HISTORY)
                n = len(bars)
                if n >= period:
                    value = float(
                        ATR(period).batch(
                            bars["high"].to_numpy(float),
                            bars["low"].to_numpy(float),
                            bars["close"].to_numpy(float),
                        )[-1]
                    )
            self._atr[key] = (value, n)
        return self._atr[key]

    def correlation(self, a: str, b: str, lookback: int, min_periods: int) -> float:
        """Correlation of close-to-close returns of ``a`` and ``b`` over the last ``lookback``
        common bars up to now; NaN with fewer than ``min_periods`` common returns."""
        key = (min(a, b), max(a, b), lookback, min_periods)
        if key not in self._corr:
            value = math.nan
            if self.market is not None:
                ca = self.market.history(a, lookback + 1)["close"]
                cb = self.market.history(b, lookback + 1)["close"]
                both = pd.concat([ca, cb], axis=1, join="inner").pct_change().iloc[1:]
                both = both.tail(lookback).dropna()
                if len(both) >= min_periods:
                    x = both.to_numpy(dtype=float)
                    if np.std(x[:, 0]) > 0 and np.std(x[:, 1]) > 0:
                        value = float(np.corrcoef(x[:, 0], x[:, 1])[0, 1])
            self._corr[key] = value
        return self._corr[key]
