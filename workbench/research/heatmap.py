"""Heatmaps of a sweep: one metric over two parameters.

With more than two parameters in the grid, each cell shows the best value over the
others (the highest, or the lowest for metrics where lower is better). Combinations
that were skipped (they break a constraint) are blank.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workbench.errors import ConfigError
from workbench.research.sweep import LOWER_IS_BETTER, SweepInfo

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["heatmap_table", "plot_heatmap"]

#: Most tick labels drawn on one axis.
MAX_TICKS = 12


def _axes_names(frame: pd.DataFrame, x: str | None, y: str | None) -> tuple[str, str]:
    info = frame.attrs.get("sweep")
    names = list(info.grid) if isinstance(info, SweepInfo) else []
    numeric = [n for n in names if pd.api.types.is_numeric_dtype(frame[n])]
    candidates = [n for n in numeric if frame[n].nunique() > 1] or numeric
    x = x or (candidates[0] if candidates else None)
    y = y or next((n for n in candidates if n != x), None)
    if x is None or y is None:
        raise ConfigError(
            "a heatmap needs two swept parameters",
            hint="sweep at least two parameters, or name them with x= and y=",
        )
    for name in (x, y):
        if name not in frame.columns:
            raise ConfigError(f"{name!r} is not a column of the sweep", hint=f"choose from {names}")
    if x == y:
        raise ConfigError(f"x and y are both {x!r}", hint="choose two different parameters")
    return x, y


def heatmap_table(
    frame: pd.DataFrame, x: str | None = None, y: str | None = None, metric: str | None = None
) -> pd.DataFrame:
    """The metric as a table: rows are ``y`` values, columns ``x`` values (NaN where skipped)."""
    x, y = _axes_names(frame, x, y)
    metric = metric or frame.attrs.get("metric", "sharpe")
    if metric not in frame.columns:
        raise ConfigError(f"unknown metric {metric!r}", hint="a column of the sweep frame")
    info = frame.attrs.get("sweep")
    xs = info.grid[x] if isinstance(info, SweepInfo) and x in info.grid else None
    ys = info.grid[y] if isinstance(info, SweepInfo) and y in info.grid else None
    values = frame[[x, y, metric]].replace([np.inf, -np.inf], np.nan)
    how = "min" if metric in LOWER_IS_BETTER else "max"
    table = values.groupby([y, x])[metric].agg(how).unstack(x)
    if xs is not None and ys is not None:
        table = table.reindex(index=ys, columns=xs)
    return table.sort_index().sort_index(axis=1)


def plot_heatmap(
    frame: pd.DataFrame,
    x: str | None = None,
    y: str | None = None,
    metric: str | None = None,
    *,
    ax: Axes | None = None,
    mark: tuple[Any, Any] | None = None,
    title: str | None = None,
) -> Figure:
    """Draw ``metric`` over (``x``, ``y``); a star marks the best cell, a square ``mark``."""
    table = heatmap_table(frame, x, y, metric)
    x_name, y_name = table.columns.name, table.index.name
    metric = metric or frame.attrs.get("metric", "sharpe")
    if ax is None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 5.5))
    else:
        fig = ax.figure  # type: ignore[assignment]
    data = np.ma.masked_invalid(table.to_numpy(dtype=float))
    cmap = "viridis_r" if metric in LOWER_IS_BETTER else "viridis"
    image = ax.imshow(data, origin="lower", aspect="auto", cmap=cmap, interpolation="nearest")
    fig.colorbar(image, ax=ax, label=metric)
    _ticks(ax.set_xticks, ax.set_xticklabels, list(table.columns))
    _ticks(ax.set_yticks, ax.set_yticklabels, list(table.index))
    ax.set_xlabel(str(x_name))
    ax.set_ylabel(str(y_name))
    if data.count():
        flat = np.ma.argmin(data) if metric in LOWER_IS_BETTER else np.ma.argmax(data)
        row, col = np.unravel_index(flat, data.shape)
        ax.plot(col, row, marker="*", color="white", markeredgecolor="black", markersize=14)
    if mark is not None:
        cols, rows = list(table.columns), list(table.index)
        if mark[0] in cols and mark[1] in rows:
            ax.plot(
                cols.index(mark[0]),
                rows.index(mark[1]),
                marker="s",
                markersize=12,
                markerfacecolor="none",
                markeredgecolor="red",
                markeredgewidth=2,
            )
    info = frame.attrs.get("sweep")
    trials = (
        f", {info.n_trials} trials, {info.skipped} skipped" if isinstance(info, SweepInfo) else ""
    )
    strategy = frame.attrs.get("strategy", "sweep")
    ax.set_title(title or f"{strategy}: {metric} by {x_name} and {y_name}{trials}")
    return fig


def _ticks(set_ticks: Any, set_labels: Any, values: list[Any]) -> None:
    step = max(1, int(np.ceil(len(values) / MAX_TICKS)))
    positions = list(range(0, len(values), step))
    set_ticks(positions)
    set_labels(
        [f"{values[p]:g}" if isinstance(values[p], float) else str(values[p]) for p in positions]
    )
