"""A real account (the simulated broker) and small hand-made bars for the risk tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import pytest

from workbench.orders import Fill, OrderRequest, Side
from workbench.risk import FrameMarket
from workbench.sim.broker import SimulatedBroker

T0 = pd.Timestamp("2024-03-04 15:00", tz="UTC")


def flat_bars(
    price: float = 100.0, n: int = 30, spread: float = 2.0, end: pd.Timestamp = T0
) -> pd.DataFrame:
    """``n`` daily bars ending at ``end``: close ``price``, high - low = ``spread``, no gaps,
    so every true range is ``spread`` and ATR(k) is exactly ``spread``."""
    index = pd.date_range(end=end, periods=n, freq="D", tz="UTC")
    close = np.full(n, float(price))
    return pd.DataFrame(
        {
            "open": close,
            "high": close + spread / 2,
            "low": close - spread / 2,
            "close": close,
            "volume": np.full(n, 1e6),
        },
        index=index,
    )


def make_account(
    cash: float,
    positions: Mapping[str, tuple[float, float]] | None = None,
    orders: list[OrderRequest] | None = None,
    time: pd.Timestamp = T0,
) -> SimulatedBroker:
    """A simulated broker holding ``positions`` ({symbol: (signed quantity, price)}) bought
    out of ``cash``, with ``orders`` working."""
    broker = SimulatedBroker(cash)
    broker.set_time(time - pd.Timedelta(days=1))
    for sym, (qty, price) in (positions or {}).items():
        side = Side.BUY if qty > 0 else Side.SELL
        broker.portfolio.apply_fill(Fill("seed", sym, side, abs(qty), price, 0.0, time))
        broker.portfolio.mark(sym, price)
    for request in orders or []:
        broker.submit_order(request)
    broker.set_time(time)
    return broker


@pytest.fixture
def account() -> Callable[..., SimulatedBroker]:
    """``account(cash, positions={sym: (qty, price)}, orders=[...])``: a real account."""
    return make_account


@pytest.fixture
def bars() -> Callable[..., pd.DataFrame]:
    """``bars(price, n, spread)``: flat daily bars ending at T0 whose ATR is ``spread``."""
    return flat_bars


@pytest.fixture
def market() -> Callable[..., FrameMarket]:
    def build(prices: Mapping[str, float] | None = None, **frames: pd.DataFrame) -> FrameMarket:
        bars = {s: flat_bars(p) for s, p in (prices or {}).items()}
        bars.update(frames)
        return FrameMarket(bars, T0)

    return build
