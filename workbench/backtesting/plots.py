"""Plots of a backtest: the equity curve with its drawdown, and prices with trades.

Figures are built with matplotlib's object-oriented API on a bare
:class:`matplotlib.figure.Figure`, never through pyplot: nothing is registered in pyplot's
global figure list (no leak over many runs, no "more than 20 figures" warning) and a
notebook shows a returned figure once, not twice. Save with ``fig.savefig(path)``; in a
notebook, a figure that is the last expression of a cell is displayed.

This module is imported only when plotting, so ``import workbench`` stays free of matplotlib.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from workbench.backtesting.metrics import drawdown
from workbench.errors import DataError

__all__ = ["Figures", "plot_equity", "plot_trades"]

_TRADE_COLUMNS = ("entry_time", "entry_price", "exit_time", "exit_price")
_ACTION_COLORS = ("tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")


class Figures(list):  # type: ignore[type-arg]
    """A list of figures that displays itself in a notebook, one figure after the other.

    Jupyter shows a plain list as text (``[<Figure size ...>, ...]``); this list displays
    each figure as a PNG when it is a cell's last expression, whatever matplotlib backend
    the kernel has (the figures are bare Figures, never registered in pyplot).
    """

    def _ipython_display_(self) -> None:
        import io

        from IPython.display import display

        for fig in self:
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=100)
            display({"image/png": buf.getvalue(), "text/plain": repr(fig)}, raw=True)


def plot_equity(
    equity: pd.Series,
    *,
    benchmark: pd.Series | None = None,
    risk_events: pd.DataFrame | None = None,
    title: str | None = None,
) -> Figure:
    """Equity on top and its drawdown in percent below, on a shared time axis.

    ``benchmark`` (e.g. buy and hold) is rescaled to equal the equity where it starts;
    ``risk_events`` (columns ``time``, ``rule``, ``action``) are vertical lines on the
    equity panel, one colour and legend entry per action.
    """
    if len(equity) == 0:
        raise DataError("plot_equity: the equity curve is empty")
    fig = Figure(figsize=(11, 6.5), layout="constrained")
    ax_eq, ax_dd = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    ax_eq.plot(equity.index, equity.to_numpy(dtype=float), color="tab:blue", label="equity")
    if benchmark is not None:
        _plot_benchmark(ax_eq, equity, benchmark)
    if risk_events is not None and len(risk_events):
        _plot_risk_events(ax_eq, risk_events)
    ax_eq.set_ylabel("equity")
    ax_eq.grid(alpha=0.3)
    ax_eq.legend(loc="upper left")
    ax_eq.set_title(title or "Equity")

    dd = drawdown(equity).to_numpy(dtype=float) * 100.0
    ax_dd.fill_between(equity.index, dd, 0.0, color="tab:red", alpha=0.35, linewidth=0)
    ax_dd.plot(equity.index, dd, color="tab:red", linewidth=0.8, label="drawdown")
    ax_dd.set_ylabel("drawdown")
    ax_dd.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax_dd.set_ylim(top=0.0, bottom=min(float(np.min(dd)) * 1.1, -1.0))
    ax_dd.grid(alpha=0.3)
    return fig


def plot_trades(
    bars: pd.DataFrame,
    trades: pd.DataFrame,
    *,
    indicators: Mapping[str, pd.Series] | None = None,
    title: str | None = None,
) -> Figure:
    """Close price with indicator lines and the trades: ▲ green entries, ▼ red exits.

    Short trades (a ``direction`` column equal to ``"short"`` or negative) get hollow
    markers; trades still open (no ``exit_time``) get only an entry marker.
    """
    if "close" not in bars.columns:
        raise DataError("plot_trades: bars have no close column", hint="pass a bars frame")
    fig = Figure(figsize=(11, 5.5), layout="constrained")
    ax = fig.subplots()
    ax.plot(bars.index, bars["close"].to_numpy(dtype=float), color="0.25", lw=1, label="close")
    for name, series in (indicators or {}).items():
        ax.plot(series.index, series.to_numpy(dtype=float), linewidth=1, label=name)
    if trades is not None and len(trades):
        missing = [c for c in _TRADE_COLUMNS if c not in trades.columns]
        if missing:
            raise DataError(f"plot_trades: trades lack column(s) {', '.join(missing)}")
        short = _is_short(trades)
        for is_short, kind in ((False, "long"), (True, "short")):
            rows = trades[short == is_short]
            if len(rows):
                _plot_markers(ax, rows, hollow=is_short, label=kind if short.any() else "")
    ax.set_ylabel("price")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    ax.set_title(title or str(bars.attrs.get("symbol", "Trades")))
    return fig


def _plot_benchmark(ax: Axes, equity: pd.Series, benchmark: pd.Series) -> None:
    within = (benchmark.index >= equity.index[0]) & (benchmark.index <= equity.index[-1])
    bench = benchmark[within].dropna()
    if bench.empty or bench.iloc[0] == 0:
        return
    scale = float(equity.asof(bench.index[0])) / float(bench.iloc[0])
    label = f"benchmark ({benchmark.name})" if benchmark.name else "benchmark"
    ax.plot(bench.index, bench.to_numpy(dtype=float) * scale, color="0.5", lw=1, label=label)


def _plot_risk_events(ax: Axes, events: pd.DataFrame) -> None:
    missing = [c for c in ("time", "action") if c not in events.columns]
    if missing:
        raise DataError(f"risk_events: missing column(s) {', '.join(missing)}")
    for i, (action, rows) in enumerate(events.groupby("action", sort=True)):
        times = pd.to_datetime(rows["time"], utc=True)
        ax.vlines(
            times,
            0.0,
            1.0,
            transform=ax.get_xaxis_transform(),  # x in data, y from bottom to top of the axes
            colors=_ACTION_COLORS[i % len(_ACTION_COLORS)],
            linestyles="--",
            linewidth=1,
            label=f"risk: {action} ({len(rows)})",
        )


def _is_short(trades: pd.DataFrame) -> np.ndarray:
    if "direction" not in trades.columns:
        return np.zeros(len(trades), dtype=bool)
    direction = trades["direction"]
    if direction.dtype.kind in "biuf":
        return direction.to_numpy(dtype=float) < 0
    return direction.astype(str).str.lower().eq("short").to_numpy()


def _plot_markers(ax: Axes, rows: pd.DataFrame, *, hollow: bool, label: str) -> None:
    suffix = f" ({label})" if label else ""
    style = {"s": 60, "zorder": 3, "linewidths": 1.5}
    entries = rows.dropna(subset=["entry_time", "entry_price"])
    exits = rows.dropna(subset=["exit_time", "exit_price"])
    for frame, when, price, marker, color, what in (
        (entries, "entry_time", "entry_price", "^", "tab:green", "entry"),
        (exits, "exit_time", "exit_price", "v", "tab:red", "exit"),
    ):
        if len(frame):
            ax.scatter(
                pd.to_datetime(frame[when], utc=True),
                frame[price].to_numpy(dtype=float),
                marker=marker,
                facecolors="none" if hollow else color,
                edgecolors=color,
                label=f"{what}{suffix}",
                **style,
            )
