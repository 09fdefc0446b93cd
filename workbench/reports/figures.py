"""The figures a backtest report adds to the equity and trade plots of
:mod:`workbench.backtesting.plots`: monthly returns, rolling Sharpe ratio, exposure.

Bare :class:`~matplotlib.figure.Figure` objects, never pyplot (nothing kept in a global list).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

__all__ = [
    "monthly_returns",
    "plot_exposure",
    "plot_monthly_returns",
    "plot_rolling_sharpe",
    "rolling_sharpe",
    "rolling_window",
]

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def monthly_returns(equity: pd.Series) -> pd.DataFrame:
    """Compounded return of each calendar month (UTC), years by months, plus the year's.

    A month's return is its last equity over the previous month's last (the first month:
    over the starting equity), so the months of a year compound to the year column.
    """
    ends = equity.resample("ME").last().dropna()
    previous = ends.shift(1)
    previous.iloc[0] = float(equity.iloc[0])
    months = ends / previous - 1.0
    table = pd.DataFrame(
        {"year": months.index.year, "month": months.index.month, "value": months.to_numpy()}
    ).pivot(index="year", columns="month", values="value")
    table = table.reindex(columns=range(1, 13))
    table.columns = list(MONTHS)
    table["Year"] = (1.0 + table[list(MONTHS)].fillna(0.0)).prod(axis=1) - 1.0
    table.index.name = "year"
    return table


def plot_monthly_returns(equity: pd.Series) -> Figure:
    """Monthly returns as a heatmap (green up, red down), each cell labelled in percent."""
    table = monthly_returns(equity)
    values = table.to_numpy(dtype=float) * 100.0
    years = len(table)
    fig = Figure(figsize=(11, 1.2 + 0.32 * max(years, 3)), layout="constrained")
    ax = fig.subplots()
    finite = np.abs(values[np.isfinite(values)])
    limit = float(np.percentile(finite, 95)) if finite.size else 1.0
    image = ax.imshow(
        np.ma.masked_invalid(values),
        cmap="RdYlGn",
        vmin=-max(limit, 1e-9),
        vmax=max(limit, 1e-9),
        aspect="auto",
    )
    ax.set_xticks(range(13), [*MONTHS, "Year"])
    ax.set_yticks(range(years), [str(y) for y in table.index])
    small = years > 25
    for (i, j), v in np.ndenumerate(values):
        if math.isfinite(v):
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=6 if small else 8)
    ax.axvline(11.5, color="white", linewidth=3)
    ax.set_title("Monthly returns (%)")
    fig.colorbar(image, ax=ax, format=PercentFormatter(decimals=0), shrink=0.8)
    return fig


def rolling_window(periods_per_year: float, n_bars: int) -> int:
    """Half a year of bars, at most a third of the run and at least 10 bars."""
    half_year = round(periods_per_year / 2) if math.isfinite(periods_per_year) else 126
    return max(10, min(half_year, n_bars // 3))


def rolling_sharpe(equity: pd.Series, window: int, periods_per_year: float) -> pd.Series:
    """Annualised Sharpe ratio (risk-free 0) of the last ``window`` per-bar returns."""
    returns = equity.pct_change()
    mean = returns.rolling(window).mean()
    std = returns.rolling(window).std(ddof=1)
    out = mean / std.where(std > 1e-12) * math.sqrt(periods_per_year)
    return out.rename("rolling_sharpe")


def plot_rolling_sharpe(equity: pd.Series, periods_per_year: float) -> Figure:
    window = rolling_window(periods_per_year, len(equity))
    series = rolling_sharpe(equity, window, periods_per_year)
    fig = Figure(figsize=(11, 3.2), layout="constrained")
    ax = fig.subplots()
    ax.plot(series.index, series.to_numpy(dtype=float), color="tab:blue", linewidth=1)
    ax.axhline(0.0, color="black", linewidth=0.7)
    ax.set_ylabel("Sharpe (annualised)")
    ax.set_title(f"Rolling Sharpe ratio over {window} bars")
    ax.grid(alpha=0.3)
    return fig


def plot_exposure(equity: pd.Series, market_value: pd.Series) -> Figure:
    """The share of equity held in positions at each bar's close (negative: net short)."""
    share = (market_value / equity.where(equity != 0)).to_numpy(dtype=float) * 100.0
    fig = Figure(figsize=(11, 2.8), layout="constrained")
    ax = fig.subplots()
    ax.fill_between(equity.index, share, 0.0, color="tab:purple", alpha=0.3, linewidth=0)
    ax.plot(equity.index, share, color="tab:purple", linewidth=0.8)
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_ylabel("of equity")
    ax.set_title("Exposure: market value of positions over equity")
    ax.grid(alpha=0.3)
    return fig
