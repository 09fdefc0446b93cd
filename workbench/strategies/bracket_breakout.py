"""A breakout entry with its exits attached: the bracket order a trader would use.

When flat, with no order working, a close above the highest high of the ``window`` bars
before it buys ``fraction`` of equity in whole shares at the next open, with a
take-profit ``take_profit`` above and a stop-loss ``stop_loss`` below the decision
close, both attached to the entry (``ctx.buy(q, take_profit=..., stop_loss=...)``), or a
trailing stop of ``trail_percent`` instead of the fixed stop. The exits wait until the
entry fills, cancel each other, and on the entry's own bar follow the pessimistic rule
of :mod:`workbench.sim.fills`. Whole shares and GTC orders: a cash account on Alpaca
trades it exactly as the backtest does (Alpaca takes brackets for whole shares only).
"""

from __future__ import annotations

import math

from workbench.context import Context
from workbench.params import Param
from workbench.strategy import Strategy


class BracketBreakout(Strategy):
    name = "bracket_breakout"
    params = (
        Param("window", int, 20, low=2, high=500),
        Param("fraction", float, 0.9, low=0.01, high=1.0),
        Param("take_profit", float, 0.04, low=0.001, high=1.0),
        Param("stop_loss", float, 0.02, low=0.001, high=0.99),
        Param("trail_percent", float, 0.0, low=0.0, high=50.0),
    )

    def on_bar(self, ctx: Context) -> None:
        window = self.p.window
        if len(ctx.close) <= window or ctx.position().quantity or ctx.open_orders():
            return
        close = ctx.close[-1]
        if close <= ctx.data()["high"][-window - 1 : -1].max():
            return
        shares = math.floor(self.p.fraction * ctx.equity / close)
        if shares < 1:
            return
        exits: dict[str, float] = {"take_profit": round(close * (1 + self.p.take_profit), 2)}
        if self.p.trail_percent > 0:
            exits["trail_percent"] = self.p.trail_percent
        else:
            exits["stop_loss"] = round(close * (1 - self.p.stop_loss), 2)
        ctx.buy(float(shares), reason="BREAKOUT", **exits)
