"""Orders, fills and the order lifecycle: one domain model for every path.

The lifecycle is a transition table (:data:`TRANSITIONS`) and one function,
:func:`transition`, that every status update goes through, whether it comes from
the simulated broker or from Alpaca. Statuses and their names follow Alpaca's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum

import pandas as pd

from workbench.errors import ConfigError, WorkbenchError


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class TimeInForce(StrEnum):
    DAY = "day"
    GTC = "gtc"


class OrderStatus(StrEnum):
    PENDING_NEW = "pending_new"
    ACCEPTED = "accepted"
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
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

#: Allowed status changes. A fill may race a cancel request, so ``pending_cancel``
#: can still end ``filled``; a partial fill may be followed by more partial fills.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING_NEW: frozenset({S.ACCEPTED, S.NEW, S.REJECTED, S.CANCELED}),
    S.ACCEPTED: frozenset({S.NEW, S.REJECTED, S.CANCELED, S.PENDING_CANCEL}),
    S.NEW: frozenset(
        {
            S.PARTIALLY_FILLED,
            S.FILLED,
            S.PENDING_CANCEL,
            S.CANCELED,
            S.EXPIRED,
            S.REJECTED,
            S.REPLACED,
        }
    ),
    S.PARTIALLY_FILLED: frozenset(
        {S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELED, S.EXPIRED, S.REPLACED}
    ),
    S.PENDING_CANCEL: frozenset({S.CANCELED, S.PARTIALLY_FILLED, S.FILLED, S.EXPIRED}),
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.EXPIRED: frozenset(),
    S.REJECTED: frozenset(),
    S.REPLACED: frozenset(),
}


class InvalidTransition(WorkbenchError):
    """An order update that the lifecycle does not allow (a bug or a broker inconsistency)."""

    exit_code = 4


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What to send: exactly one of ``quantity`` or ``notional`` (cash to spend, fees included).

    Prices are absolute. ``reason`` (e.g. ``MA_CROSS_BUY``) travels to the trade log.
    ``oco_group`` ties orders of which only one may fill (a stop and a take-profit).
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

    def __post_init__(self) -> None:
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
        for name in ("limit_price", "stop_price"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"order for {self.symbol}: {name} must be positive, got {value}")


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
        return max(self.quantity - self.filled_quantity, 0.0)


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


def transition(
    order: Order, status: OrderStatus, *, at: pd.Timestamp | None = None, reason: str = ""
) -> Order:
    """Return ``order`` moved to ``status``; raise :class:`InvalidTransition` if not allowed."""
    if status not in TRANSITIONS[order.status]:
        raise InvalidTransition(
            f"order {order.id} ({order.symbol}): {order.status} -> {status} is not allowed",
            hint="allowed: " + (", ".join(sorted(TRANSITIONS[order.status])) or "none (terminal)"),
        )
    return dataclasses.replace(
        order, status=status, updated_at=at or order.updated_at, status_reason=reason
    )


def apply_fill(order: Order, fill: Fill, *, complete: bool) -> Order:
    """Return ``order`` with ``fill`` applied; ``complete`` says whether nothing remains."""
    total = order.filled_quantity + fill.quantity
    avg = (order.average_price * order.filled_quantity + fill.price * fill.quantity) / total
    status = OrderStatus.FILLED if complete else OrderStatus.PARTIALLY_FILLED
    moved = transition(order, status, at=fill.time)
    return dataclasses.replace(
        moved,
        filled_quantity=total,
        average_price=avg,
        commission=order.commission + fill.commission,
    )
