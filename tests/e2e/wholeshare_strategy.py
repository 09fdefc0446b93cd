"""A crossover that trades whole shares, as a cash account on Alpaca must with GTC orders.

The reference ``ma_crossover`` sizes entries as notional (fractional) orders, which
Alpaca accepts only as DAY orders; this one asks for a whole number of shares, so an
emulator session trades exactly like the backtest. With ``restate`` it states its target
on every bar, not only at a cross: the rest of a partly filled order is then canceled and
sent again as a new order on the next bar (a backtest that fills in full never sees it).
"""

from __future__ import annotations

import math

from workbench.context import Context
from workbench.indicators import SMA
from workbench.params import Param
from workbench.strategy import Strategy


class WholeShareCross(Strategy):
    name = "wholeshare_cross"
    params = (
        Param("fast", int, 5, low=1, high=1000),
        Param("slow", int, 15, low=2, high=1000),
        Param("fraction", float, 0.9, low=0.01, high=1.0),
        Param("restate", bool, False),
    )
    constraints = ("fast < slow",)

    def init(self, ctx: Context) -> None:
        self.fast = ctx.indicator(SMA(self.p.fast))
        self.slow = ctx.indicator(SMA(self.p.slow))
        self.shares = 0.0

    def on_bar(self, ctx: Context) -> None:
        if len(self.fast) < 2:
            return
        f1, s1, f0, s0 = self.fast[-1], self.slow[-1], self.fast[-2], self.slow[-2]
        if f1 > s1 and f0 <= s0:
            self.shares = float(math.floor(self.p.fraction * ctx.equity / ctx.close[-1]))
            ctx.target(quantity=self.shares, reason="CROSS_UP")
        elif f1 < s1 and f0 >= s0:
            ctx.target(quantity=0.0, reason="CROSS_DOWN")
        elif self.p.restate:
            ctx.target(quantity=self.shares if f1 > s1 else 0.0, reason="RESTATE")
