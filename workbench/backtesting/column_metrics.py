"""The metrics of :func:`~workbench.backtesting.metrics.compute_metrics`, for many runs at once.

The sweep kernel (:func:`workbench.backtesting.nb.sweep_signals_nb`) accumulates, per
column, the sums the formulas need (sums of the per-bar returns and of their squares,
the drawdown and its longest span, trade counts and P&L sums). This module turns them
into the same keys and formulas as ``compute_metrics`` plus ``fees``, ``open_trades``
and ``rejected``, with numpy over all columns at once; the tests hold the two to 1e-9.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from workbench.backtesting.metrics import METRICS
from workbench.backtesting.nb import STAT_NAMES

__all__ = ["COLUMN_METRICS", "metrics_from_stats"]

#: The keys of :func:`metrics_from_stats`: compute_metrics' keys, then fees, open trades and
#: refused orders.
COLUMN_METRICS: tuple[str, ...] = (*METRICS, "fees", "open_trades", "rejected")
_S = {name: k for k, name in enumerate(STAT_NAMES)}


@np.errstate(all="ignore")
def metrics_from_stats(
    stats: np.ndarray,
    index: pd.DatetimeIndex,
    *,
    periods_per_year: float,
    risk_free: float = 0.0,
) -> pd.DataFrame:
    """One row per column of the sweep kernel's ``stats`` (N x len(STAT_NAMES))."""
    s = {name: stats[:, k] for name, k in _S.items()}
    n_bars = len(index)
    n_returns = n_bars - 1
    ppy = float(periods_per_year)
    rf = (1.0 + risk_free) ** (1.0 / ppy) - 1.0
    start, final = s["start_equity"], s["final_equity"]
    out: dict[str, np.ndarray] = {}
    out["start_equity"] = start
    out["final_equity"] = final
    out["total_return"] = np.where(start != 0, final / start - 1.0, np.nan)
    years = (index[-1] - index[0]) / pd.Timedelta(days=365.25)
    if years > 0:
        growth = np.where(final > 0, np.power(final / start, 1.0 / years), 0.0)
        out["cagr"] = np.where(start > 0, growth - 1.0, np.nan)
    else:
        out["cagr"] = np.full(len(start), np.nan)
    nan = np.full(len(start), np.nan)
    if n_returns >= 2:
        mean_r = s["sum_return"] / n_returns
        m2 = np.maximum(s["sum_return_sq"] - s["sum_return"] * mean_r, 0.0)
        std = np.sqrt(m2 / (n_returns - 1))
        mean = mean_r - rf
        downside = np.sqrt(s["downside_sq"] / n_returns)
        out["annual_volatility"] = std * math.sqrt(ppy)
        out["sharpe"] = _ratio(mean, std) * math.sqrt(ppy)
        out["sortino"] = _ratio(mean, downside) * math.sqrt(ppy)
    else:
        out["annual_volatility"] = out["sharpe"] = out["sortino"] = nan
    out["max_drawdown"] = s["max_drawdown"]
    out["max_drawdown_duration_bars"] = s["dd_bars"]
    out["max_drawdown_duration_days"] = s["dd_days"]
    out["calmar"] = np.where(s["max_drawdown"] < 0, out["cagr"] / np.abs(s["max_drawdown"]), np.nan)
    trades = s["closed_trades"]
    has = trades > 0
    out["number_of_trades"] = trades
    out["win_rate"] = np.where(has, s["winning_trades"] / trades, np.nan)
    gross_win, gross_loss = s["gross_win"], s["gross_loss"]
    profit_factor = np.where(
        gross_loss > 0, gross_win / gross_loss, np.where(gross_win > 0, np.inf, np.nan)
    )
    out["profit_factor"] = np.where(has, profit_factor, np.nan)
    out["average_trade"] = np.where(has, s["sum_pnl"] / trades, np.nan)
    out["average_trade_return"] = np.where(has, s["sum_trade_return"] / trades, np.nan)
    out["exposure"] = s["exposed_bars"] / n_bars
    average = s["sum_equity"] / n_bars
    out["turnover"] = np.where(average > 0, s["traded_notional"] / average * ppy / n_bars, np.nan)
    out["fees"] = s["fees"]
    out["open_trades"] = s["open_trades"]
    out["rejected"] = s["rejected"]
    return pd.DataFrame({k: out[k] for k in COLUMN_METRICS})


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator/denominator; NaN where the denominator is zero up to rounding (compute_metrics)."""
    ok = denominator > 1e-12 * np.abs(numerator)
    return np.where(ok, numerator / np.where(ok, denominator, 1.0), np.nan)
