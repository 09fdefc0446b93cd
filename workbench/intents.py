"""What a strategy asks for. Intents pass through risk and execution before any broker.

A strategy never holds a broker: it returns intents through its context, so the
risk engine sits between every strategy output and the account by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from workbench.errors import ConfigError
from workbench.exits import Exits
from workbench.fastinit import fast_init
from workbench.orders import OrderRequest


@fast_init
@dataclass(frozen=True, slots=True)
class TargetIntent:
    """Hold this much of ``symbol``: exactly one of quantity, notional or percent (of equity).

    Negative values mean a short position. ``stop`` is the protective stop price the
    strategy has in mind, which risk sizing may use. ``exits`` are attached to the order
    that opens or adds to the position.
    """

    symbol: str
    time: pd.Timestamp
    quantity: float | None = None
    notional: float | None = None
    percent: float | None = None
    reason: str = ""
    stop: float | None = None
    exits: Exits | None = None

    def __post_init__(self) -> None:
        none = (self.quantity is None) + (self.notional is None) + (self.percent is None)
        if none != 2:
            raise ConfigError(
                f"target for {self.symbol}: give exactly one of quantity, notional or percent"
            )


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An explicit order the strategy wants sent as it is."""

    request: OrderRequest
    time: pd.Timestamp
    stop: float | None = None

    @property
    def symbol(self) -> str:
        return self.request.symbol

    @property
    def reason(self) -> str:
        return self.request.reason


@dataclass(frozen=True, slots=True)
class CancelIntent:
    """Cancel one working order, or all working orders of a symbol (or of every symbol)."""

    time: pd.Timestamp
    order_id: str | None = None
    symbol: str | None = None
    reason: str = ""


Intent = TargetIntent | OrderIntent | CancelIntent
