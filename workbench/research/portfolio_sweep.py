"""Sweeps over a universe: one portfolio-level row per combination, equal to event backtests.

A strategy with :meth:`target_weights` (the portfolio strategies, ``ma_crossover`` per
symbol) gives each combination's decisions as a bars x symbols weight matrix; the numba
kernel :func:`~workbench.backtesting.portfolio_nb.rebalance_nb` simulates it with the
event engine's fills, and the row's metrics come from the same functions as a
backtest's (:func:`~workbench.backtesting.fastpath.result_metrics` on the same trades).
Strategies without it, or costs the kernel cannot reproduce, run one event backtest per
combination. With a ``benchmark`` every row also has the benchmark-relative figures
(:mod:`workbench.backtesting.benchmark`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.backtesting.column_metrics import COLUMN_METRICS
from workbench.errors import ConfigError
from workbench.progress import progress as progress_bar
from workbench.research._sweep_run import event_row
from workbench.strategy import Strategy


def is_universe_sweep(cls: type[Strategy], universe: Mapping[str, pd.DataFrame]) -> bool:
    """Whether ``sweep`` takes this path: several symbols, or a weights-only strategy."""
    from workbench.backtesting.vectorized import has_vectorized

    return len(universe) > 1 or (hasattr(cls, "target_weights") and not has_vectorized(cls))


def kernel_costs(commission: Any, slippage: Any) -> tuple[float, float] | None:
    """(percent commission, bps slippage) when the kernel reproduces the costs, else None."""
    from workbench.backtesting.vectorized import vector_costs

    try:
        vector_costs(commission, slippage)
    except ConfigError:
        return None
    from workbench.sim.costs import Commission, Slippage

    return Commission.parse(commission).percent, Slippage.parse(slippage).bps


def run_universe_sweep(
    cls: type[Strategy],
    universe: Mapping[str, pd.DataFrame],
    combos: list[dict[str, Any]],
    *,
    cash: float,
    commission: Any,
    slippage: Any,
    keep_returns: bool,
    ppy: float,
    risk_free: float,
    progress: bool,
    benchmark: Any = None,
) -> tuple[pd.DataFrame, pd.DataFrame | None, str]:
    """(metrics per combination, float32 returns or None, "vectorized" or "event")."""
    from workbench.backtesting.portfolio_nb import Universe

    costs = kernel_costs(commission, slippage)
    vectorized = hasattr(cls, "target_weights") and costs is not None
    if vectorized:
        try:
            universe = Universe(universe)  # the open and close matrices, built once
            index = universe.index
        except ConfigError:
            vectorized = False
    if not vectorized:
        index = pd.DatetimeIndex(
            np.unique(np.concatenate([f.index.as_unit("ns").asi8 for f in universe.values()]))
        ).tz_localize("UTC")
    rows: list[dict[str, float]] = []
    returns = np.empty((len(index) - 1, len(combos)), dtype=np.float32) if keep_returns else None
    curves: list[np.ndarray] = []
    label = "vectorized" if vectorized else "event engine"
    for j, values in enumerate(
        progress_bar(combos, desc=f"sweep {cls.label()} ({label})", unit="combo", show=progress)
    ):
        if vectorized:
            equity, row = _vectorized_row(cls(**values), universe, cash, costs, ppy, risk_free)
        else:
            equity, row = event_row(
                cls, dict(universe), values, cash, commission, slippage, ppy, risk_free
            )
        rows.append(row)
        if returns is not None:
            returns[:, j] = equity[1:] / equity[:-1] - 1.0
        if benchmark is not None:
            curves.append(equity)
    metrics = pd.DataFrame(rows, columns=list(COLUMN_METRICS))
    if benchmark is not None:
        from workbench.backtesting.benchmark import benchmark_equity, relative_metrics

        bench = benchmark_equity(benchmark, universe, index, cash).to_numpy()
        extra = pd.DataFrame([relative_metrics(c, bench, ppy) for c in curves])
        metrics = pd.concat([metrics, extra], axis=1)
    method = "vectorized" if vectorized else "event"
    if returns is None:
        return metrics, None, method
    columns = pd.RangeIndex(len(combos), name="trial")
    return metrics, pd.DataFrame(returns, index=index[1:], columns=columns, copy=False), method


@dataclass(frozen=True)
class PortfolioVectorResult:
    """A vectorized portfolio run, shaped like a backtest for :func:`compare_runs`."""

    strategy: str
    params: dict[str, Any]
    equity: pd.Series
    cash: pd.Series
    fills: pd.DataFrame
    trades: pd.DataFrame
    rejected: int
    in_market: pd.Series  # the bars with a position
    engine: str = "portfolio kernel"

    @property
    def final_equity(self) -> float:
        return float(self.equity.iloc[-1])


def run_portfolio_vectorized(
    strategy: Strategy,
    universe: Mapping[str, pd.DataFrame],
    *,
    cash: float = 100_000.0,
    commission: Any = None,
    slippage: Any = None,
) -> PortfolioVectorResult:
    """``strategy.target_weights`` simulated by the portfolio kernel, with its trades."""
    from workbench.backtesting.portfolio_nb import run_weights, to_fills
    from workbench.backtesting.trades import build_trades

    costs = kernel_costs(commission, slippage)
    if costs is None or not hasattr(strategy, "target_weights"):
        raise ConfigError(
            f"{strategy.label()} cannot run vectorized over a universe with these costs",
            hint="a strategy with target_weights, a percent commission and bps slippage",
        )
    band = float(strategy.p["band"]) if "band" in strategy.p else 0.0
    run = run_weights(
        universe,
        strategy.target_weights(universe),
        cash=cash,
        commission=costs[0],
        slippage_bps=costs[1],
        band=band,
    )
    last = {s: float(f["close"].iloc[-1]) for s, f in universe.items()}
    trades = build_trades(to_fills(run.fills), last, run.equity.index)
    return PortfolioVectorResult(
        strategy.label(),
        dict(strategy.p),
        run.equity,
        run.cash,
        run.fills,
        trades,
        run.rejected,
        run.in_market,
    )


def _vectorized_row(
    strategy: Any,
    universe: Mapping[str, pd.DataFrame],
    cash: float,
    costs: tuple[float, float],
    ppy: float,
    risk_free: float,
) -> tuple[np.ndarray, dict[str, float]]:
    from workbench.backtesting.fastpath import result_metrics

    run = run_portfolio_vectorized(
        strategy, universe, cash=cash, commission=costs[0], slippage=costs[1]
    )
    metrics = result_metrics(
        run.equity, run.trades, run.fills, ppy, in_market=run.in_market, risk_free=risk_free
    )
    row = {k: float(metrics.get(k, np.nan)) for k in COLUMN_METRICS}
    row["rejected"] = float(run.rejected)
    return run.equity.to_numpy(np.float64), row
