"""What the risk engine reads: the account (any Broker) and the market (bars up to now).

The account side is a subset of the :class:`~workbench.broker.Broker` protocol, so the
simulated broker and the Alpaca broker both serve as they are. The market side gives
the decision price (the close of the decision bar) and the bars up to now: a strategy
:class:`~workbench.context.Context` is one (through :class:`ContextMarket`), so the
rules see exactly what the strategy saw, never a later bar.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import pandas as pd

from workbench.broker import AccountSnapshot
from workbench.context import Context
from workbench.errors import ConfigError, LookAheadError
from workbench.orders import Order
from workbench.portfolio import PositionView

__all__ = ["Account", "ContextMarket", "FrameMarket", "Market"]


@runtime_checkable
class Account(Protocol):
    """Equity, positions and working orders: the reads the risk engine needs of a broker."""

    def get_account(self) -> AccountSnapshot: ...

    def get_positions(self) -> dict[str, PositionView]: ...

    def get_open_orders(self) -> list[Order]: ...


@runtime_checkable
class Market(Protocol):
    """Decision prices and bar history, up to the current bar only."""

    def price(self, symbol: str) -> float: ...

    def history(self, symbol: str, n: int) -> pd.DataFrame: ...


class ContextMarket:
    """The market as a strategy context shows it (past-only by construction)."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def price(self, symbol: str) -> float:
        try:  # a view's [-1] raises IndexError before its first bar
            return float(self._ctx.data(symbol)["close"][-1])
        except IndexError:
            raise LookAheadError(f"{symbol} has no bar yet") from None

    def history(self, symbol: str, n: int) -> pd.DataFrame:
        return self._ctx.history(symbol, n)


class FrameMarket:
    """The market from bars frames, cut at ``now`` (inclusive): for tests and notebooks."""

    def __init__(self, bars: Mapping[str, pd.DataFrame], now: pd.Timestamp | str) -> None:
        self.bars = dict(bars)
        self.now = pd.Timestamp(now)
        if self.now.tzinfo is None:
            raise ConfigError("FrameMarket: now must be tz-aware (UTC)")

    def _frame(self, symbol: str) -> pd.DataFrame:
        try:
            frame = self.bars[symbol]
        except KeyError:
            raise ConfigError(
                f"unknown symbol {symbol!r}", hint=f"known: {', '.join(self.bars)}"
            ) from None
        past = frame.loc[: self.now]
        if past.empty:
            raise LookAheadError(f"{symbol} has no bar at or before {self.now}")
        return past

    def price(self, symbol: str) -> float:
        return float(self._frame(symbol)["close"].iloc[-1])

    def history(self, symbol: str, n: int) -> pd.DataFrame:
        return self._frame(symbol).iloc[-n:]
