"""Reference portfolio strategies: equal weight, momentum rotation, inverse volatility.

Each rebalances on a :class:`~workbench.schedule.Schedule` (default: the last session of
each month on the New York calendar) through ``ctx.rebalance(weights, band=...)``: the
decision is taken on that session's close and fills on the next bar. Each also gives its
decisions for a whole universe at once (:meth:`target_weights`: a dates x symbols frame
of weights, NaN where nothing is decided), which the vectorized portfolio path
(:mod:`workbench.backtesting.portfolio_nb`) simulates; both forms compute the weights
with the same functions on the same numbers, so they trade alike (tested).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from workbench.context import Context
from workbench.params import Param
from workbench.schedule import RULES, Schedule
from workbench.strategy import Strategy

REASON = "REBALANCE"


def _common_params() -> tuple[Param, ...]:
    return (
        Param("schedule", str, "month_end", choices=RULES, doc="when to rebalance"),
        Param("band", float, 0.0, low=0.0, high=1.0, doc="no order within this weight band"),
        Param(
            "exposure",
            float,
            0.98,
            low=0.0,
            high=2.0,
            doc="fraction of equity invested (the rest absorbs overnight moves of the sells)",
        ),
    )


class PortfolioStrategy(Strategy):
    """Base: on each scheduled bar, ``weights(closes)`` decides and ``ctx.rebalance`` acts.

    Subclasses define :meth:`weights`: from the closes so far (a symbols x bars array,
    the last column now), the target weight of each symbol, or None to do nothing.

    Universes that are not aligned (event engine only): nothing is decided until every
    symbol has :meth:`history` bars, and each row of the window is that symbol's own last
    closes, so a symbol missing the decision bar gives its previous close. A symbol whose
    bars end (a delisting) stays in the universe: its holding is valued at its last close
    and its orders never fill (no bar comes to fill them).
    """

    calendar: str | None = "XNYS"

    def init(self, ctx: Context) -> None:
        self.when = Schedule(self.p.schedule, self.calendar)
        self.closes = {s: ctx.data(s)["close"] for s in ctx.symbols}

    def on_bar(self, ctx: Context) -> None:
        if not self.when.due(ctx.time):
            return
        need = self.history()
        if min(len(v) for v in self.closes.values()) < need:
            return
        # each symbol's own last ``need`` closes: a symbol that started late (or has a
        # missing bar) must not pull the others' windows back to its own bar count
        window = np.array([v[len(v) - need :] for v in self.closes.values()])
        w = self.weights(window)
        if w is not None:
            ctx.rebalance(
                dict(zip(self.closes, w.tolist(), strict=True)), band=self.p.band, reason=REASON
            )

    def history(self) -> int:
        """Bars of closes :meth:`weights` needs (the window it is given)."""
        raise NotImplementedError

    def weights(self, closes: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def target_weights(self, bars: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        """The decisions of :meth:`on_bar` on every bar at once (aligned universes)."""
        from workbench.backtesting.portfolio_nb import field_matrix

        symbols = list(bars)
        index = bars[symbols[0]].index
        close = field_matrix(bars, "close").T
        out = np.full((len(index), len(symbols)), np.nan)
        need = self.history()
        for t in np.flatnonzero(Schedule(self.p.schedule, self.calendar).mask(index)):
            if t + 1 >= need:
                w = self.weights(close[:, t + 1 - need : t + 1])
                if w is not None:
                    out[t] = w
        return pd.DataFrame(out, index=index, columns=symbols)


class EqualWeight(PortfolioStrategy):
    """Every symbol at ``exposure / n`` of equity, rebalanced on the schedule."""

    name = "equal_weight"
    params = _common_params()

    def history(self) -> int:
        return 1

    def weights(self, closes: np.ndarray) -> np.ndarray:
        n = closes.shape[0]
        return np.full(n, self.p.exposure / n)


class MomentumRotation(PortfolioStrategy):
    """The ``top_k`` symbols by momentum over ``lookback`` bars ending ``skip`` bars ago,
    equal weight (``exposure / top_k`` each), the rest closed.

    Momentum is ``close[t - skip] / close[t - skip - lookback] - 1``; ties go to the symbol
    listed first. The classic 12-1 month momentum is ``lookback=252, skip=21``.
    """

    name = "momentum_rotation"
    params = (
        Param("lookback", int, 252, low=1, high=5000, doc="momentum window, in bars"),
        Param("skip", int, 21, low=0, high=1000, doc="most recent bars left out"),
        Param("top_k", int, 5, low=1, high=10_000, doc="symbols held"),
        *_common_params(),
    )

    def history(self) -> int:
        return self.p.lookback + self.p.skip + 1

    def weights(self, closes: np.ndarray) -> np.ndarray | None:
        return top_k_weights(
            momentum(closes, self.p.lookback, self.p.skip), self.p.top_k, self.p.exposure
        )


class InverseVolatility(PortfolioStrategy):
    """Weights proportional to 1 / (standard deviation of the last ``lookback`` daily
    returns), scaled to ``exposure``; symbols without a full window get nothing."""

    name = "inverse_volatility"
    params = (
        Param("lookback", int, 63, low=2, high=5000, doc="volatility window, in returns"),
        *_common_params(),
    )

    def history(self) -> int:
        return self.p.lookback + 1

    def weights(self, closes: np.ndarray) -> np.ndarray | None:
        with np.errstate(invalid="ignore", divide="ignore"):
            returns = closes[:, 1:] / closes[:, :-1] - 1.0
            vol = returns.std(axis=1, ddof=1)
            inv = np.where(np.isfinite(vol) & (vol > 0), 1.0 / vol, 0.0)
        total = inv.sum()
        if total <= 0:
            return None
        return self.p.exposure * inv / total


def momentum(closes: np.ndarray, lookback: int, skip: int) -> np.ndarray:
    """Per symbol (rows): ``close[-1 - skip] / close[-1 - skip - lookback] - 1``, or NaN."""
    end = closes[:, closes.shape[1] - 1 - skip]
    start = closes[:, closes.shape[1] - 1 - skip - lookback]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = end / start - 1.0
    return np.where(np.isfinite(out), out, np.nan)


def top_k_weights(score: np.ndarray, k: int, exposure: float = 1.0) -> np.ndarray | None:
    """``exposure / k`` for the ``k`` highest finite scores (ties: first listed), 0 elsewhere."""
    valid = np.flatnonzero(np.isfinite(score))
    if valid.size == 0:
        return None
    order = valid[np.lexsort((valid, -score[valid]))]
    chosen = order[: min(k, valid.size)]
    out = np.zeros(len(score))
    out[chosen] = exposure / len(chosen)
    return out
