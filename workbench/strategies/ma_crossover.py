"""The reference strategy: a fast and a slow simple moving average of the close.

"Crosses above" on bar t means ``fast[t] > slow[t]`` and ``fast[t-1] <= slow[t-1]``
(both averages defined on both bars); "crosses below" is the mirror. The decision is
taken on bar t's close and a market order fills at bar t+1's open. Long-only by
default: a cross above buys ``fraction`` of equity, a cross below closes. With
``allow_short`` a cross below goes short the same fraction.

Over a universe of n symbols the rule runs per symbol, each with ``fraction / n`` of
equity (:meth:`MACrossover.target_weights` gives those decisions for the vectorized
portfolio path).

:meth:`MACrossover.vectorized` is the same rule for a whole frame (the batch averages and
:func:`crossings`), for sweeps and the vectorbt adapter; the parity check holds it to
``on_bar``. One difference is inherent: with ``fraction < 1`` (or with shorts), two
crosses in the same direction in a row, which needs the averages to be exactly equal on
a bar in between, make ``on_bar`` re-balance to the target while the vectorized form
keeps the position; the parity check reports it if it ever happens.

Stops, vectorbt's way (``sl_stop``, ``tp_stop``, ``sl_trail``: fractions of the entry's
fill price): each entry carries exits relative to its fill (:func:`exit_options`), GTC,
one-cancels-other, checked from the entry bar on by the fill rules of
:mod:`workbench.sim.fills`; the vectorized form hands the same stops to the kernel. A
stop that fires leaves the strategy flat until the next cross. Simulation only: Alpaca's
brackets take absolute prices (the Alpaca broker refuses exits relative to a fill).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from workbench.backtesting.vectorized import VectorSignals, indicator
from workbench.context import Context
from workbench.errors import ConfigError
from workbench.indicators import SMA
from workbench.params import Param
from workbench.strategy import Strategy

BUY = "MA_CROSS_BUY"
SELL = "MA_CROSS_SELL"
SHORT = "MA_CROSS_SHORT"


class MACrossover(Strategy):
    name = "ma_crossover"
    params = (
        Param("fast", int, 50, low=1, high=10_000, doc="fast SMA window, in bars"),
        Param("slow", int, 200, low=2, high=10_000, doc="slow SMA window, in bars"),
        Param("allow_short", bool, False, doc="go short on a cross below instead of going flat"),
        Param("fraction", float, 1.0, low=0.0001, high=1.0, doc="fraction of equity per position"),
        Param(
            "sl_stop",
            float,
            0.0,
            low=0.0,
            high=0.99,
            doc="stop-loss below the entry fill, as a fraction (0: none)",
        ),
        Param(
            "tp_stop",
            float,
            0.0,
            low=0.0,
            high=1.0,
            doc="take-profit above the entry fill, as a fraction (0: none)",
        ),
        Param("sl_trail", bool, False, doc="the stop-loss trails the best price since entry"),
    )
    constraints = ("fast < slow",)

    def init(self, ctx: Context) -> None:
        self.fast = ctx.indicator(SMA(self.p.fast))
        self.slow = ctx.indicator(SMA(self.p.slow))
        self.others = [
            (s, ctx.indicator(SMA(self.p.fast), s), ctx.indicator(SMA(self.p.slow), s))
            for s in ctx.symbols[1:]
        ]
        self.share = self.p.fraction / len(ctx.symbols)
        self.exits = exit_options(self.p.sl_stop, self.p.tp_stop, self.p.sl_trail)

    def on_bar(self, ctx: Context) -> None:
        self._decide(ctx, None, self.fast, self.slow)
        for sym, fast, slow in self.others:
            self._decide(ctx, sym, fast, slow)

    def _decide(self, ctx: Context, symbol: str | None, fast: Any, slow: Any) -> None:
        if len(fast) < 2:
            return
        f1, s1, f0, s0 = fast[-1], slow[-1], fast[-2], slow[-2]
        if f1 > s1 and f0 <= s0:
            ctx.target(symbol, percent=self.share, reason=BUY, **self.exits)
        elif f1 < s1 and f0 >= s0:
            if self.p.allow_short:
                ctx.target(symbol, percent=-self.share, reason=SHORT, **self.exits)
            else:
                ctx.target(symbol, percent=0.0, reason=SELL)

    def target_weights(self, bars: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        """Per symbol: ``fraction / n`` on a cross above, 0 (or short) below, NaN between."""
        if self.p.sl_stop or self.p.tp_stop:
            raise ConfigError(
                "ma_crossover's stops are not in the portfolio (universe) fast path",
                hint="run the event engine (backtest), or sweep one symbol",
            )
        share = self.p.fraction / len(bars)
        columns = {}
        for sym, frame in bars.items():
            close = frame["close"]
            above, below = crossings(
                indicator(SMA(self.p.fast), close), indicator(SMA(self.p.slow), close)
            )
            w = np.full(len(close), np.nan)
            w[below] = -share if self.p.allow_short else 0.0
            w[above] = share
            columns[sym] = w
        return pd.DataFrame(columns, index=next(iter(bars.values())).index)

    def vectorized(self, bars: pd.DataFrame) -> VectorSignals:
        """The decisions of :meth:`on_bar` for every bar of ``bars`` at once (causal)."""
        close = bars["close"]
        above, below = crossings(
            indicator(SMA(self.p.fast), close), indicator(SMA(self.p.slow), close)
        )
        index = bars.index
        stops = {"sl_stop": self.p.sl_stop, "tp_stop": self.p.tp_stop, "sl_trail": self.p.sl_trail}
        if self.p.allow_short:
            never = pd.Series(False, index=index)
            return VectorSignals(
                entries=pd.Series(above, index=index),
                exits=never,
                short_entries=pd.Series(below, index=index),
                short_exits=never,
                fraction=self.p.fraction,
                **stops,
            )
        return VectorSignals(
            entries=pd.Series(above, index=index),
            exits=pd.Series(below, index=index),
            fraction=self.p.fraction,
            **stops,
        )


def exit_options(sl_stop: float, tp_stop: float, sl_trail: bool) -> dict[str, Any]:
    """The ``ctx.target`` exits of vectorbt-style stops (fractions of the entry's fill price).

    ``sl_stop=0.05`` is a stop 5 % below a long's fill (``stop_loss_percent=5``), or with
    ``sl_trail`` a trailing stop 5 % below the best price since the entry
    (``trail_percent=5``); ``tp_stop`` a take-profit above it. The exits are GTC although
    the notional entry is a DAY order, so they protect the position until it closes.
    The vectorized form passes the same fractions to the kernel, which prices them from
    ``fraction * 100`` exactly as this does.
    """
    exits: dict[str, Any] = {}
    if sl_stop:
        exits["trail_percent" if sl_trail else "stop_loss_percent"] = sl_stop * 100.0
    if tp_stop:
        exits["take_profit_percent"] = tp_stop * 100.0
    if exits:
        exits["exit_tif"] = "gtc"
    return exits


def crossings(fast: np.ndarray, slow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boolean arrays: where ``fast`` crosses above and below ``slow`` (the rule above).

    Causal: element t uses elements t and t-1 only. NaN (warm-up) never crosses. One pass
    of numba (:func:`workbench.indicators_nb.crossings_nb`): a sweep calls it per pair.
    """
    from workbench.indicators_nb import crossings_nb  # numba: imported when first needed

    return crossings_nb(np.asarray(fast, dtype=float), np.asarray(slow, dtype=float))
