"""A deliberately biased strategy, kept as the fixture the look-ahead audit must catch.

:class:`PeekingCrossover` is the moving-average crossover with one bug of a kind that
really happens: its fast average comes from an indicator whose batch form is not causal.
``NextBarSMA.batch`` shifts the average back by one bar, so on bar t it holds the value
that bar t+1's close will give. The context cannot see this (the values it hands out stop
at bar t; they were computed from the whole series), the backtest looks better than the
honest crossover, and ``workbench audit --strategy workbench.research.fixtures:PeekingCrossover``
names the bars where it peeked. Do not trade it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from workbench.backtesting.vectorized import VectorSignals
from workbench.context import Context
from workbench.indicators import SMA, sma
from workbench.params import Param
from workbench.strategies.ma_crossover import BUY, SELL, crossings
from workbench.strategy import Strategy

__all__ = ["NextBarSMA", "PeekingCrossover"]


@dataclass(frozen=True)
class NextBarSMA:
    """SMA(n) of the *next* bar: ``batch`` reads one bar ahead (the bug); ``update`` cannot."""

    n: int
    inputs: ClassVar[tuple[str, ...]] = ("close",)
    n_outputs: ClassVar[int] = 1

    def batch(self, x: np.ndarray) -> np.ndarray:
        out = np.full(len(x), np.nan)
        out[:-1] = sma(np.asarray(x, dtype=float), self.n)[1:]
        return out

    def update(self, x: float) -> float:
        return float("nan")  # live there is no next bar: the bug shows up as no trades


class PeekingCrossover(Strategy):
    """Crossover of SMA(fast) one bar ahead and SMA(slow): look-ahead by construction."""

    name = "peeking_crossover"
    params = (
        Param("fast", int, 10, low=1, high=10_000),
        Param("slow", int, 30, low=2, high=10_000),
    )
    constraints = ("fast < slow",)

    def init(self, ctx: Context) -> None:
        self.fast = ctx.indicator(NextBarSMA(self.p.fast))
        self.slow = ctx.indicator(SMA(self.p.slow))

    def on_bar(self, ctx: Context) -> None:
        if len(self.fast) < 2:
            return
        f1, s1, f0, s0 = self.fast[-1], self.slow[-1], self.fast[-2], self.slow[-2]
        if f1 > s1 and f0 <= s0:
            ctx.target(percent=1.0, reason=BUY)
        elif f1 < s1 and f0 >= s0:
            ctx.target(percent=0.0, reason=SELL)

    def vectorized(self, bars: pd.DataFrame) -> VectorSignals:
        """The same leak in the vectorized form: ``shift(-1)`` of the fast average."""
        close = bars["close"].to_numpy(dtype=float)
        above, below = crossings(NextBarSMA(self.p.fast).batch(close), sma(close, self.p.slow))
        return VectorSignals(pd.Series(above, index=bars.index), pd.Series(below, index=bars.index))
