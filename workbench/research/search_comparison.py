"""Searches compared on one budget: what each found, and what its count of trials costs it.

A full grid is the reference; a coarse grid, random and TPE sampling
(:mod:`workbench.research.search`) each get the coarse grid's size as their budget
(:func:`searches_on_budget`). :func:`compare_searches` then reads, for each search, the
samples it drew (a grid: every combination once; a sampled search may draw a combination
again, which is counted but not run again), its distinct trials (the backtests, the ``N``
of the deflated Sharpe ratio and PBO), its best combination by the sweep's metric, and the
overfitting statistics of that winner among that search's own trials
(:func:`~workbench.research.overfitting.overfitting_report`): the more combinations tried,
the better the best one looks by luck alone, and the higher the bar the DSR sets.

:func:`plot_search_comparison` draws it: how fast each sampled search finds a good
combination (best so far against trials drawn, with the grids' best as lines), and one
winner's DSR as a function of the number of trials it is told about. Figures use
matplotlib's object-oriented API on a bare :class:`~matplotlib.figure.Figure`, like
:mod:`workbench.backtesting.plots`; matplotlib is imported only to draw.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workbench.errors import ConfigError
from workbench.research.overfitting import deflated_sharpe_ratio, overfitting_report
from workbench.research.search import SEARCHES
from workbench.research.sweep import LOWER_IS_BETTER, sweep, sweep_info, top, trial_returns

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from pandas.io.formats.style import Styler

__all__ = [
    "SearchComparison",
    "best_so_far",
    "combination_label",
    "compare_searches",
    "dsr_by_trials",
    "is_sampled",
    "plot_search_comparison",
    "searches_on_budget",
]

#: The grids' best as horizontal lines: (colour, line style), in turn.
_GRID_LINES = (("0.4", "--"), ("tab:green", ":"), ("tab:purple", "-."), ("tab:brown", "--"))


@dataclass(frozen=True)
class SearchComparison:
    """Several searches of one strategy side by side (:func:`compare_searches`).

    ``searches`` are the sweep frames by name, ``reports`` each one's overfitting report of
    its winner, ``table`` one row per search.
    """

    metric: str
    searches: dict[str, pd.DataFrame]
    reports: dict[str, dict[str, Any]]
    table: pd.DataFrame

    def style(self) -> Styler:
        """The table formatted for a notebook: the metric to 3 decimals, DSR and PBO in %."""
        formats = {f"best {self.metric}": "{:.3f}", "DSR": "{:.1%}", "PBO": "{:.0%}"}
        return self.table.style.format(formats, na_rep="n/a")


def searches_on_budget(
    strategy: Any,
    bars: Any,
    grid: Mapping[str, Any],
    coarse: Mapping[str, Any],
    *,
    full: pd.DataFrame | None = None,
    samplers: Sequence[str] = ("random", "tpe"),
    seed: int | None = None,
    **options: Any,
) -> dict[str, pd.DataFrame]:
    """The full grid, the coarse grid, and each sampler over the full grid's values with the
    coarse grid's number of trials as its budget, by name (``"full grid"``, ``"coarse grid"``,
    then the samplers'). ``full`` is the full grid's sweep when it has been run already;
    ``options`` go to every :func:`~workbench.research.sweep.sweep` (metric, costs, dates)."""
    unknown = [s for s in samplers if s not in SEARCHES or s == "grid"]
    if unknown:
        raise ConfigError(f"unknown sampler(s) {unknown}", hint="'random' and/or 'tpe'")
    full = full if full is not None else sweep(strategy, bars, grid, **options)
    on_coarse = sweep(strategy, bars, coarse, **options)
    budget = int(on_coarse.attrs["n_trials"])
    out = {"full grid": full, "coarse grid": on_coarse}
    for how in samplers:
        out[how] = sweep(strategy, bars, grid, search=how, n_trials=budget, seed=seed, **options)
    return out


def is_sampled(frame: pd.DataFrame) -> bool:
    """Whether the sweep frame comes from a random or TPE search (rather than a grid)."""
    return frame.attrs.get("search") in ("random", "tpe")


def compare_searches(
    searches: Mapping[str, pd.DataFrame], metric: str | None = None
) -> SearchComparison:
    """One row per search: samples drawn, distinct trials, the best combination (by the
    grid's parameter names), its ``metric`` (the sweeps' own by default), and the DSR and PBO
    of that winner among the search's own trials (module docstring)."""
    if not searches:
        raise ConfigError("no searches to compare", hint="pass {name: sweep frame, ...}")
    metric = metric or _common_metric(searches)
    rows: dict[str, dict[str, Any]] = {}
    reports: dict[str, dict[str, Any]] = {}
    for name, frame in searches.items():
        winner = top(frame, 1, metric)
        if winner.empty:
            raise ConfigError(f"search {name!r} ran no trial", hint="widen its grid or budget")
        trial = winner.index[0]
        report = overfitting_report(trial_returns(frame), selected=trial)
        reports[name] = report
        rows[name] = {
            "samples drawn": int(frame.attrs.get("n_samples", frame.attrs["n_trials"])),
            "distinct trials": int(frame.attrs["n_trials"]),
            "best": combination_label(frame, trial),
            f"best {metric}": float(frame.at[trial, metric]),
            "DSR": _number(report["dsr"]),
            "PBO": _number(report["pbo"]),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "search"
    return SearchComparison(metric, dict(searches), reports, table)


def combination_label(frame: pd.DataFrame, trial: Any) -> str:
    """One trial's swept values as ``name=value, ...``, in the grid's order."""
    row = frame.loc[trial]
    return ", ".join(f"{name}={_value(row[name])}" for name in sweep_info(frame).grid)


def best_so_far(frame: pd.DataFrame, metric: str | None = None) -> pd.Series:
    """The best ``metric`` among the first k distinct trials, for k = 1..n, in the order they
    were drawn (the trial numbers'): a running maximum, or minimum where lower is better.
    A trial without a value (no trade: no Sharpe ratio) keeps the best before it."""
    metric = metric or frame.attrs.get("metric", "sharpe")
    if metric not in frame.columns:
        raise ConfigError(f"unknown metric {metric!r}", hint="a column of the sweep frame")
    values = frame.sort_index()[metric].astype(float)
    running = values.cummin() if metric in LOWER_IS_BETTER else values.cummax()
    out = running.ffill().reset_index(drop=True)
    out.index = pd.RangeIndex(1, len(out) + 1, name="distinct trials")
    return out.rename(f"best {metric} so far")


def dsr_by_trials(report: Mapping[str, Any], counts: Sequence[int] | np.ndarray) -> pd.Series:
    """The selected trial's deflated Sharpe ratio if ``N`` trials had been counted, for each
    N in ``counts``: its Sharpe ratio, the trials' Sharpe-ratio variance and the return shape
    held as the overfitting ``report`` measured them. NaN where the report has no DSR."""
    index = pd.Index([int(n) for n in counts], name="trials counted")
    if report.get("dsr") is None:
        return pd.Series(math.nan, index=index, name="DSR")
    sharpe, variance = report["sharpe"], report["sr_variance"]
    shape = (report["n_obs"], report["skew"], report["kurtosis"])
    values = [deflated_sharpe_ratio(sharpe, variance, n, *shape) for n in index]
    return pd.Series(values, index=index, name="DSR")


def plot_search_comparison(comparison: SearchComparison, winner: str | None = None) -> Figure:
    """Left: best so far of each sampled search against distinct trials drawn, each grid's
    best as a line. Right: ``winner``'s (the last sampled search by default) deflated Sharpe
    ratio by the number of trials counted, with each search's own count marked."""
    from matplotlib.figure import Figure

    names = list(comparison.searches)
    sampled = [n for n in names if is_sampled(comparison.searches[n])]
    winner = winner or (sampled or names)[-1]
    if winner not in comparison.searches:
        raise ConfigError(f"no search named {winner!r}", hint=f"one of {names}")
    fig = Figure(figsize=(12, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    _draw_best_so_far(left, comparison, sampled)
    _draw_dsr_by_trials(right, comparison, winner)
    return fig


def _draw_best_so_far(ax: Axes, comparison: SearchComparison, sampled: list[str]) -> None:
    from matplotlib.ticker import MaxNLocator

    metric = comparison.metric
    for name in sampled:
        curve = best_so_far(comparison.searches[name], metric)
        ax.plot(curve.index.to_numpy(), curve.to_numpy(), label=name)
    grids = [n for n in comparison.searches if n not in sampled]
    for i, name in enumerate(grids):
        color, style = _GRID_LINES[i % len(_GRID_LINES)]
        n_trials = comparison.table.at[name, "distinct trials"]
        best = comparison.table.at[name, f"best {metric}"]
        ax.axhline(best, color=color, ls=style, label=f"best of the {name} ({n_trials} trials)")
    lower = " (lower is better)" if metric in LOWER_IS_BETTER else ""
    ax.set_xlabel("distinct trials")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"best {metric} so far{lower}")
    ax.set_title("How fast each search finds a good combination")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _draw_dsr_by_trials(ax: Axes, comparison: SearchComparison, winner: str) -> None:
    report = comparison.reports[winner]
    counts = comparison.table["distinct trials"]
    upper = max(1000, 3 * int(counts.max()))
    curve = dsr_by_trials(report, np.unique(np.geomspace(1, upper, 60).astype(int)))
    ax.set_title(f"The {winner} winner's deflated Sharpe ratio, by trials counted")
    ax.set_xscale("log")
    ax.set_xlabel("number of trials (N)")
    ax.set_ylabel("DSR")
    if curve.isna().all():
        ax.text(0.5, 0.5, "no DSR: the returns cannot support it", ha="center",
                transform=ax.transAxes)  # fmt: skip
        return
    ax.plot(curve.index.to_numpy(), curve.to_numpy(), color="0.3")
    marks = dsr_by_trials(report, counts.to_numpy())
    for name, n, dsr in zip(counts.index, marks.index, marks.to_numpy(), strict=True):
        ax.scatter([n], [dsr], zorder=3, label=f"{name}: {n}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _common_metric(searches: Mapping[str, pd.DataFrame]) -> str:
    metrics = {name: frame.attrs.get("metric", "sharpe") for name, frame in searches.items()}
    if len(set(metrics.values())) > 1:
        raise ConfigError(
            f"the searches ranked by different metrics: {metrics}",
            hint="pass metric= to compare them by one",
        )
    return next(iter(metrics.values()))


def _value(value: Any) -> str:
    value = value.item() if isinstance(value, np.generic) else value
    return f"{value:g}" if isinstance(value, float) else str(value)


def _number(value: float | None) -> float:
    return math.nan if value is None else float(value)
