"""What a portfolio backtest looks like: holdings, weights, sectors, correlations, benchmark.

The tables come from the run's fills and closes (no extra state is kept by the engine):
:func:`holdings` is the quantity of each symbol after each bar's fills,
:func:`weights` its value over the equity at each close, :func:`sector_exposure` those
weights summed by sector (GICS for ``sample:SP500``, ``attrs["sector"]`` for synthetic
universes, or a mapping). The plots are matplotlib figures, as every result plot.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def holdings(result: Any) -> pd.DataFrame:
    """Quantity held of each traded symbol after each bar (bars x symbols)."""
    fills = result.fills
    index = result.equity.index
    if not len(fills):
        return pd.DataFrame(index=index)
    signed = fills["quantity"].where(fills["side"] == "buy", -fills["quantity"])
    table = (
        pd.DataFrame({"time": fills["time"], "symbol": fills["symbol"], "q": signed})
        .pivot_table(index="time", columns="symbol", values="q", aggfunc="sum")
        .reindex(index)
        .fillna(0.0)
        .cumsum()
    )
    table[table.abs() < 1e-9] = 0.0
    return table


def closes(result: Any, symbols: list[str]) -> pd.DataFrame:
    """The closes of ``symbols`` on the run's bars (the last close carried over gaps)."""
    frame = pd.DataFrame({s: result.bars[s]["close"] for s in symbols})
    return frame.reindex(result.equity.index).ffill()


def weights(result: Any) -> pd.DataFrame:
    """Each symbol's value as a fraction of equity at every close."""
    held = holdings(result)
    value = held * closes(result, list(held.columns))
    return value.div(result.equity, axis=0)


def sectors_for(result: Any, sectors: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{symbol: sector}``: the mapping given, else GICS, else each frame's ``attrs``."""
    if sectors is not None:
        return dict(sectors)
    from workbench.data.sp500 import gics_sectors

    known = gics_sectors()
    return {
        s: known.get(s) or str(f.attrs.get("sector", "unknown")) for s, f in result.bars.items()
    }


def sector_exposure(result: Any, sectors: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Gross weight of each sector at every close (bars x sectors)."""
    w = weights(result).abs()
    names = sectors_for(result, sectors)
    return w.T.groupby(lambda s: names.get(s, "unknown")).sum().T


def plot_equity_vs_benchmark(result: Any, benchmark: pd.Series | None = None) -> Figure:
    """Equity against the benchmark (``result.benchmark``, else equal-weight buy-and-hold)."""
    import matplotlib.pyplot as plt

    from workbench.backtesting.benchmark import benchmark_equity

    if benchmark is None:
        benchmark = getattr(result, "benchmark", None)
    if benchmark is None:
        benchmark = benchmark_equity(
            None, result.bars, result.equity.index, float(result.equity.iloc[0])
        )
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.plot(result.equity.index, result.equity, label=result.strategy, lw=1.2)
    top.plot(benchmark.index, benchmark, label="benchmark", lw=1.0, color="grey")
    top.set_yscale("log")
    top.set_ylabel("equity (log)")
    top.legend(loc="upper left")
    top.set_title(f"{result.strategy} against its benchmark")
    relative = result.equity / benchmark
    bottom.plot(relative.index, relative / relative.iloc[0], color="tab:green", lw=1.0)
    bottom.axhline(1.0, color="grey", lw=0.6)
    bottom.set_ylabel("relative")
    fig.tight_layout()
    return fig


def plot_weights(result: Any, top: int = 12) -> Figure:
    """Weights over time, stacked: the ``top`` most held symbols, the rest as 'other'."""
    import matplotlib.pyplot as plt

    w = weights(result).clip(lower=0.0)
    order = w.mean().sort_values(ascending=False).index
    shown = w[order[:top]]
    if len(order) > top:
        shown = shown.assign(other=w[order[top:]].sum(axis=1))
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.stackplot(shown.index, shown.T.to_numpy(), labels=list(shown.columns), lw=0)
    ax.set_ylabel("weight")
    ax.set_ylim(0, max(1.0, float(shown.sum(axis=1).max()) * 1.05))
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    ax.set_title("weights over time")
    fig.tight_layout()
    return fig


def plot_sector_exposure(result: Any, sectors: Mapping[str, str] | None = None) -> Figure:
    """Gross sector weights over time, stacked."""
    import matplotlib.pyplot as plt

    exposure = sector_exposure(result, sectors)
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.stackplot(exposure.index, exposure.T.to_numpy(), labels=list(exposure.columns), lw=0)
    ax.set_ylabel("gross weight")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    ax.set_title("sector exposure over time")
    fig.tight_layout()
    return fig


def holdings_correlation(result: Any, last: int | None = 252) -> pd.DataFrame:
    """Correlation of daily returns of the symbols held at the end (over ``last`` bars)."""
    held = holdings(result)
    symbols = [s for s in held.columns if held[s].iloc[-1] != 0.0] or list(held.columns)
    returns = closes(result, symbols).pct_change().iloc[1:]
    if last is not None:
        returns = returns.iloc[-last:]
    return returns.corr()


def plot_correlation(result: Any, last: int | None = 252) -> Figure:
    """The heatmap of :func:`holdings_correlation`."""
    import matplotlib.pyplot as plt

    corr = holdings_correlation(result, last)
    fig, ax = plt.subplots(figsize=(6, 5))
    image = ax.imshow(corr.to_numpy(), vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(np.arange(len(corr)), corr.columns, rotation=90, fontsize=8)
    ax.set_yticks(np.arange(len(corr)), corr.index, fontsize=8)
    fig.colorbar(image, ax=ax, label="correlation")
    ax.set_title("correlation of the holdings' returns")
    fig.tight_layout()
    return fig


def portfolio_figures(result: Any) -> list[Figure]:
    """Equity vs benchmark, weights, sector exposure and the holdings' correlation."""
    return [
        plot_equity_vs_benchmark(result),
        plot_weights(result),
        plot_sector_exposure(result),
        plot_correlation(result),
    ]
