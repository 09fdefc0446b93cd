"""The seams between simulation and reality: the Broker and Feed protocols.

Strategy, risk and execution code talk to these and never ask which implementation
is behind them: the simulated broker (:mod:`workbench.sim.broker`) in backtests and
dry runs, the Alpaca broker live. A submission is idempotent by client order id.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

import pandas as pd

from workbench.fastinit import fast_init
from workbench.orders import Fill, Order, OrderRequest, OrderStatus
from workbench.portfolio import PositionView


@fast_init
@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    cash: float
    equity: float
    buying_power: float
    currency: str = "USD"


class UpdateEvent(StrEnum):
    """Trade-update events, named as Alpaca's trade stream names them."""

    NEW = "new"
    FILL = "fill"
    PARTIAL_FILL = "partial_fill"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"
    REPLACED = "replaced"


#: The event a stream sends when an order ends in each final status: an end the runner
#: learned by a lookup instead (the stream was down) is followed as this update.
ENDED_BY: dict[OrderStatus, UpdateEvent] = {
    OrderStatus.FILLED: UpdateEvent.FILL,
    OrderStatus.CANCELED: UpdateEvent.CANCELED,
    OrderStatus.EXPIRED: UpdateEvent.EXPIRED,
    OrderStatus.REJECTED: UpdateEvent.REJECTED,
    OrderStatus.REPLACED: UpdateEvent.REPLACED,
}


@fast_init
@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """One change to an order; ``fill`` is set for fill and partial_fill events."""

    event: UpdateEvent
    order: Order
    time: pd.Timestamp
    fill: Fill | None = None


@runtime_checkable
class Broker(Protocol):
    """Account, positions, orders and a stream of order updates."""

    def get_account(self) -> AccountSnapshot: ...

    def get_positions(self) -> dict[str, PositionView]: ...

    def get_open_orders(self) -> list[Order]: ...

    def get_order(self, order_id: str) -> Order: ...

    def get_order_by_client_id(self, client_order_id: str) -> Order | None: ...

    def submit_order(self, request: OrderRequest) -> Order: ...

    def cancel_order(self, order_id: str) -> None: ...

    def cancel_all_orders(self) -> None: ...

    def drain_updates(self) -> list[OrderUpdate]:
        """Order updates since the last call, oldest first."""
        ...

    def close(self) -> None:
        """Release what the broker holds open (its update stream's connection and thread);
        the runner calls it once when it stops, however it stops. Safe to call twice."""
        ...


@dataclass(frozen=True, slots=True)
class Bar:
    """One closed bar of one symbol, labelled by its start time."""

    symbol: str
    time: pd.Timestamp
    open: float
    high: float
    low: float
    close: float
    volume: float


@runtime_checkable
class Feed(Protocol):
    """Closed bars in time order; bars with equal times (several symbols) come together."""

    def __iter__(self) -> Iterator[list[Bar]]: ...

    def is_stale(self, now: pd.Timestamp) -> bool: ...
