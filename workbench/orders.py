"""Orders and fills: one domain model for every path.

Statuses and their names follow Alpaca's; how an order moves between them (the transition
table, stale updates, fills applied) is :mod:`workbench.lifecycle`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum

import pandas as pd

from workbench.errors import ConfigError
from workbench.fastinit import fast_build, fast_copy, fast_init


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is _BUY else -1


#: Enum members read on every order, as module globals: on Python 3.11 a member read
#: through its class (``Side.BUY``) passes ``EnumType.__getattr__``'s hook, ~6x a global.
_BUY = Side.BUY


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"


class OrderClass(StrEnum):
    """Alpaca's order classes: how an order is tied to others.

    ``bracket``: an entry with a take-profit and a stop-loss leg, one-cancels-other;
    ``oto``: an entry with one of them; ``oco``: an exit pair for a held position
    (the order itself is the take-profit limit, its leg the stop-loss).
    """

    SIMPLE = "simple"
    BRACKET = "bracket"
    OCO = "oco"
    OTO = "oto"


_SIMPLE, _OCO = OrderClass.SIMPLE, OrderClass.OCO


class Leg(StrEnum):
    """Which attached exit an order is."""

    TAKE_PROFIT = "take_profit"
    STOP_LOSS = "stop_loss"


class TimeInForce(StrEnum):
    DAY = "day"
    GTC = "gtc"


class OrderStatus(StrEnum):
    PENDING_NEW = "pending_new"
    HELD = "held"  # an attached exit waiting for its entry to fill
    ACCEPTED = "accepted"
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    PENDING_REPLACE = "pending_replace"  # working until the replacement reaches the venue
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"
    REPLACED = "replaced"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL

    @property
    def is_open(self) -> bool:
        return self not in TERMINAL


S = OrderStatus
TERMINAL = frozenset({S.FILLED, S.CANCELED, S.EXPIRED, S.REJECTED, S.REPLACED})

#: The price fields of an :class:`OrderRequest`, each positive when given.
_PRICE_FIELDS = (
    "limit_price",
    "stop_price",
    "trail_price",
    "trail_percent",
    "take_profit",
    "stop_loss",
    "stop_loss_limit",
    "take_profit_percent",
    "stop_loss_percent",
)


@fast_init
@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What to send: exactly one of ``quantity`` or ``notional`` (cash to spend, fees included).

    Prices are absolute. ``reason`` (e.g. ``MA_CROSS_BUY``) travels to the trade log.
    ``oco_group`` ties orders of which only one may fill (a stop and a take-profit): one
    filled cancels the others, one partly filled shrinks them by what it filled.

    A ``trailing_stop`` order trails by ``trail_price`` (currency) or ``trail_percent``.
    Attached exits (``order_class`` bracket or oto) are a take-profit limit at
    ``take_profit`` and a stop-loss at ``stop_loss`` (a stop-limit with
    ``stop_loss_limit``), or a trailing stop-loss by ``trail_price``/``trail_percent``.
    An ``oco`` order is a limit order (the take-profit, ``limit_price``) with a stop-loss
    leg: an exit pair for a position already held. Exits are protective: they never
    open or increase a position (see :mod:`workbench.sim.fills`).

    Exits may instead be relative to the entry's fill: ``take_profit_percent`` above and
    ``stop_loss_percent`` below it (a short's: below and above), priced when the entry
    first fills, as vectorbt's ``tp_stop`` / ``sl_stop`` are (``trail_percent`` is
    relative by nature). ``exit_tif`` gives the legs their own time in force, so a
    DAY entry (notional, fractional) can carry GTC exits. Both are the simulated venue's:
    Alpaca's bracket takes absolute prices and one time in force for all its orders.
    """

    symbol: str
    side: Side
    quantity: float | None = None
    notional: float | None = None
    type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    stop_price: float | None = None
    tif: TimeInForce = TimeInForce.GTC
    reason: str = ""
    client_order_id: str | None = None
    oco_group: str | None = None
    trail_price: float | None = None
    trail_percent: float | None = None
    order_class: OrderClass = OrderClass.SIMPLE
    take_profit: float | None = None
    stop_loss: float | None = None
    stop_loss_limit: float | None = None
    leg: Leg | None = None  # set on the exits a broker creates for an entry
    take_profit_percent: float | None = None  # exits relative to the entry's fill price
    stop_loss_percent: float | None = None
    exit_tif: TimeInForce | None = None  # the legs' time in force (None: the entry's)

    def __post_init__(self) -> None:
        oc = self.order_class
        if type(oc) is not OrderClass:  # an enum's call costs more than the rest
            object.__setattr__(self, "order_class", OrderClass(oc))
        if (self.quantity is None) == (self.notional is None):
            raise ConfigError(f"order for {self.symbol}: give exactly one of quantity or notional")
        size = self.quantity if self.quantity is not None else self.notional
        if not size > 0:
            raise ConfigError(f"order for {self.symbol}: size must be positive, got {size}")
        needs_limit = self.type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        needs_stop = self.type in (OrderType.STOP, OrderType.STOP_LIMIT)
        if needs_limit != (self.limit_price is not None):
            raise ConfigError(
                f"{self.type} order for {self.symbol}: limit_price is "
                + ("required" if needs_limit else "not allowed")
            )
        if needs_stop != (self.stop_price is not None):
            raise ConfigError(
                f"{self.type} order for {self.symbol}: stop_price is "
                + ("required" if needs_stop else "not allowed")
            )
        prices = (
            self.limit_price,
            self.stop_price,
            self.trail_price,
            self.trail_percent,
            self.take_profit,
            self.stop_loss,
            self.stop_loss_limit,
            self.take_profit_percent,
            self.stop_loss_percent,
        )
        if (  # a plain market order (the common one): no price, trail or exit to check
            prices.count(None) == len(prices)
            and self.exit_tif is None
            and self.order_class is OrderClass.SIMPLE
            and self.type is not OrderType.TRAILING_STOP
        ):
            return
        for name, value in zip(_PRICE_FIELDS, prices, strict=True):
            if value is not None and not value > 0:
                raise ConfigError(f"order for {self.symbol}: {name} must be positive, got {value}")
        self._check_trail_and_exits()

    def _check_trail_and_exits(self) -> None:
        sym = self.symbol
        trails = (self.trail_price is not None) + (self.trail_percent is not None)
        if trails > 1:
            raise ConfigError(f"order for {sym}: give trail_price or trail_percent, not both")
        if self.exit_tif is not None:
            object.__setattr__(self, "exit_tif", TimeInForce(self.exit_tif))
        relative = self.take_profit_percent is not None or self.stop_loss_percent is not None
        if relative:
            self._check_relative_exits()
        if self.trail_percent is not None and self.trail_percent >= 100:
            raise ConfigError(
                f"order for {sym}: trail_percent must be below 100, got {self.trail_percent}"
            )
        oc = self.order_class
        if self.type is OrderType.TRAILING_STOP:
            if not trails:
                raise ConfigError(
                    f"trailing_stop order for {sym}: give trail_price or trail_percent",
                    hint="e.g. trail_percent=2.0 trails the best price by 2%",
                )
            if oc is not OrderClass.SIMPLE:
                raise ConfigError(f"trailing_stop order for {sym} cannot carry exits ({oc})")
            return
        has_stop = self.stop_loss is not None or trails > 0 or self.stop_loss_percent is not None
        tp_given = self.take_profit is not None or self.take_profit_percent is not None
        if oc is OrderClass.SIMPLE:
            if has_stop or tp_given or self.stop_loss_limit is not None:
                raise ConfigError(
                    f"order for {sym}: take_profit/stop_loss/trail need order_class "
                    "bracket, oto or oco",
                    hint="ctx.buy(q, take_profit=..., stop_loss=...) sets it for you",
                )
            return
        if self.stop_loss is not None and trails:
            raise ConfigError(
                f"order for {sym}: the stop-loss is either stop_loss or a trail, not both"
            )
        if self.stop_loss_limit is not None and self.stop_loss is None:
            raise ConfigError(f"order for {sym}: stop_loss_limit needs stop_loss")
        tp = self.take_profit
        if oc is OrderClass.OCO:
            if self.type is not OrderType.LIMIT or not has_stop:
                raise ConfigError(
                    f"oco order for {sym}: a limit order (the take-profit) with a stop-loss",
                    hint="OrderRequest(..., type='limit', limit_price=TP, order_class='oco', "
                    "stop_loss=SL)",
                )
            tp = self.limit_price if tp is None else tp
            if tp != self.limit_price:
                raise ConfigError(f"oco order for {sym}: take_profit must equal limit_price")
        elif oc is OrderClass.BRACKET and (not tp_given or not has_stop):
            raise ConfigError(f"bracket order for {sym}: needs both take_profit and a stop-loss")
        elif oc is OrderClass.OTO and tp_given == has_stop:
            raise ConfigError(f"oto order for {sym}: needs exactly one of take_profit or stop-loss")
        if tp is not None and self.stop_loss is not None:
            long_exit = (self.side is Side.BUY) != (oc is OrderClass.OCO)
            if (tp <= self.stop_loss) if long_exit else (tp >= self.stop_loss):
                raise ConfigError(
                    f"{oc} order for {sym}: take_profit {tp:g} must be "
                    + ("above" if long_exit else "below")
                    + f" stop_loss {self.stop_loss:g}"
                )

    def _check_relative_exits(self) -> None:
        sym = self.symbol
        if self.take_profit_percent is not None and self.take_profit is not None:
            raise ConfigError(f"order for {sym}: give take_profit or take_profit_percent, not both")
        if self.stop_loss_percent is not None and (
            self.stop_loss is not None
            or self.trail_price is not None
            or self.trail_percent is not None
        ):
            raise ConfigError(
                f"order for {sym}: the stop-loss is either stop_loss_percent, stop_loss or a "
                "trail, not two of them"
            )
        if self.stop_loss_percent is not None and self.stop_loss_percent >= 100:
            raise ConfigError(
                f"order for {sym}: stop_loss_percent must be below 100, got "
                f"{self.stop_loss_percent}"
            )
        if self.order_class is OrderClass.OCO:
            raise ConfigError(
                f"oco order for {sym}: exits relative to a fill need an entry",
                hint="give an oco pair absolute prices (limit_price, stop_loss)",
            )

    @property
    def relative_exits(self) -> bool:
        """Exits priced from the entry's fill: the legs exist only once it fills."""
        return self.take_profit_percent is not None or self.stop_loss_percent is not None

    def with_client_id(self, client_order_id: str | None) -> OrderRequest:
        """This request under another client order id: a copy without validating again
        (the id takes no part in it), several times cheaper than ``dataclasses.replace``
        on the path every order takes; a test holds the two equal."""
        return _copy_with_client_id(self, client_order_id)

    @property
    def shown_price(self) -> float | None:
        """The price a log line shows for this order: its limit, else its stop (None for a
        market order or a trailing stop)."""
        return self.limit_price if self.limit_price is not None else self.stop_price

    @property
    def protective(self) -> bool:
        """An exit: it may only reduce a position the strategy holds (never open or add)."""
        return self.leg is not None or self.oco_group is not None or self.order_class is _OCO

    @property
    def has_exits(self) -> bool:
        """Whether submitting this request creates attached exit legs."""
        return self.order_class is not _SIMPLE


#: ``request`` under another client order id (straight-line slot copies, see fastinit).
_copy_with_client_id = fast_copy(OrderRequest, "client_order_id")
_copy_with_client_id.__doc__ = OrderRequest.with_client_id.__doc__
OrderRequest.with_client_id = _copy_with_client_id  # type: ignore[method-assign]  # one call
_market_request = fast_build(OrderRequest, ("symbol", "side", "quantity", "tif", "reason"))


def market_order(
    symbol: str, side: Side, quantity: float, tif: TimeInForce, reason: str = ""
) -> OrderRequest:
    """``OrderRequest(symbol, side, quantity=quantity, tif=tif, reason=reason)``, built at a
    third of the cost: of the constructor's checks only the size applies to a plain market
    order (the rest are about prices, trails and exits it has not), so that one is made
    here and the slots are set directly. Every target's order is built so; a test holds
    it equal to the constructor, errors included."""
    if not quantity > 0:
        raise ConfigError(f"order for {symbol}: size must be positive, got {quantity}")
    return _market_request(symbol, side, quantity, tif, reason)


@fast_init
@dataclass(frozen=True, slots=True)
class Order:
    """An order as the broker knows it. Updated only through :func:`transition` / :meth:`filled`."""

    id: str
    request: OrderRequest
    created_at: pd.Timestamp
    status: OrderStatus = OrderStatus.NEW
    quantity: float | None = None  # the request's, or resolved from its notional at first fill
    filled_quantity: float = 0.0
    average_price: float = 0.0
    commission: float = 0.0
    updated_at: pd.Timestamp | None = None
    status_reason: str = ""
    parent_id: str | None = None  # set on an attached exit: its entry (or oco order)
    legs: tuple[str, ...] = ()  # the attached exits' order ids

    @property
    def symbol(self) -> str:
        return self.request.symbol

    @property
    def side(self) -> Side:
        return self.request.side

    @property
    def client_order_id(self) -> str | None:
        return self.request.client_order_id

    @property
    def remaining(self) -> float | None:
        """Quantity still to fill, or None for a notional order not yet resolved."""
        if self.quantity is None:
            return None
        left = self.quantity - self.filled_quantity
        return 0.0 if left < 0.0 else left  # max(left, 0.0): the builtin costs ~8x (3.11)


@fast_init
@dataclass(frozen=True, slots=True)
class Fill:
    """One execution. ``price`` includes slippage; ``commission`` is charged exactly once, here."""

    order_id: str
    symbol: str
    side: Side
    quantity: float
    price: float
    commission: float
    time: pd.Timestamp
    reason: str = ""
    slippage: float = 0.0  # price difference against the unslipped price, per unit (>= 0)
    liquidity: str = field(default="taker")


#: ``build_order(id, request, created_at, status, quantity, filled_quantity, average_price,
#: commission, updated_at, status_reason, parent_id, legs)``: an :class:`Order` from every
#: field, and ``build_fill(order_id, symbol, side, quantity, price, commission, time, reason,
#: slippage)``: a :class:`Fill` (liquidity ``taker``). Neither class has checks to run, so
#: the order path builds them without the class call (its arguments, ``__init__``'s frame
#: and two class changes), slot by slot; a test holds both equal to the constructors.
build_order = fast_build(Order, tuple(f.name for f in fields(Order)))
build_fill = fast_build(Fill, tuple(f.name for f in fields(Fill) if f.name != "liquidity"))
