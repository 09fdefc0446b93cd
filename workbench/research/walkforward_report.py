"""What the walk-forward report shows: the fold table, the stitched curve, parameter stability.

Figures use matplotlib's object-oriented API on bare :class:`~matplotlib.figure.Figure`
objects (nothing registered in pyplot), like :mod:`workbench.backtesting.plots`.
matplotlib is imported by the functions that draw: the fold table alone (what the HTML
report needs when the report notebook drew the figures) does not pay for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workbench.data.spec import to_utc
from workbench.errors import DataError
from workbench.research.equity_csv import read_equity
from workbench.research.fold_results import FoldResults, stitch

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "REPORT_FIGURES",
    "fold_formats",
    "fold_table",
    "load_summary",
    "plot_in_vs_out",
    "plot_parameter_stability",
    "plot_stitched_equity",
    "preload",
    "save_figures",
    "save_report_figures",
    "stitched_equity",
    "style_folds",
]


def preload() -> None:
    """What the report notebook needs before it can draw, set up ahead: run by a kernel whose
    folds are done while the last folds run elsewhere (the pipeline's ``then``), so the report
    that lands on it starts with matplotlib (its Agg canvas, its font list) and pandas'
    Styler (jinja2) imported."""
    import matplotlib.backends.backend_agg  # savefig's canvas
    import matplotlib.figure
    import matplotlib.font_manager  # reads the font list at import
    import matplotlib.ticker  # noqa: F401
    import pandas.io.formats.style  # noqa: F401  # the fold table's Styler, and jinja2


def load_summary(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / "summary.json"
    if not path.exists():
        raise DataError(f"{path} does not exist", hint="run `workbench walkforward` first")
    return json.loads(path.read_text())


def fold_table(summary: dict[str, Any]) -> pd.DataFrame:
    """One row per fold: dates, status, chosen parameters, in/out-of-sample metrics."""
    rows = []
    for fold in summary["folds"]:
        row: dict[str, Any] = {
            "fold": fold["fold"],
            "train": f"{fold['train_first'][:10]} to {fold['train_last'][:10]}",
            "test": f"{fold['test_first'][:10]} to {fold['test_last'][:10]}",
            "status": fold["status"],
        }
        if fold["status"] == "ok":
            row.update(fold["params"])
            ins, oos = fold["in_sample"], fold["out_of_sample"]
            for key in ("sharpe", "cagr", "max_drawdown"):
                row[f"IS {key}"] = ins.get(key)
                row[f"OOS {key}"] = oos.get(key)
            row["OOS trades"] = oos.get("number_of_trades")
            row["WFE"] = fold.get("efficiency")
            stats = fold.get("overfitting") or {}
            row["IS DSR"] = stats.get("dsr")
            row["IS PBO"] = stats.get("pbo")
        else:
            row["error"] = fold.get("error")
        rows.append(row)
    return pd.DataFrame(rows).set_index("fold")


#: Fold-table columns shown as percentages.
PERCENT_COLUMNS = ("IS cagr", "OOS cagr", "IS max_drawdown", "OOS max_drawdown", "IS PBO")


def fold_formats(columns: Any) -> dict[str, Any]:
    """How each column of :func:`fold_table` reads: percentages, whole numbers, 3 decimals."""
    out: dict[str, Any] = {}
    for column in columns:
        if column in PERCENT_COLUMNS:
            out[column] = _pct
        elif column != "fold":
            out[column] = _num
    return out


def style_folds(table: pd.DataFrame) -> Any:
    """:func:`fold_table` formatted for a notebook (a pandas Styler)."""
    return table.style.format(fold_formats(table.columns))


def _pct(value: Any) -> str:
    return "" if value is None or pd.isna(value) else f"{float(value):.2%}"


def _num(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e9:
        return f"{value:.0f}"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


#: A fold's test window, as summary.json gives it.
TESTED = ("test_first", "test_last")


def stitched_equity(run_dir: str | Path, summary: dict[str, Any] | None = None) -> pd.Series:
    """The stitched out-of-sample equity (what ``equity.csv`` holds), from the curves of the
    folds ``summary`` lists as finished: the report draws it while the run is still writing
    ``equity.csv`` (its text is most of the summary's time on minute bars), and reading the
    folds' smaller files is quicker than reading it back (884,520 rows: 0.2 s against 0.4 s).
    """
    run_dir = Path(run_dir)
    summary = summary or load_summary(run_dir)
    ok = [f["fold"] for f in summary["folds"] if f["status"] == "ok"]
    if not ok:
        raise DataError("no fold finished: no out-of-sample equity", hint="see summary.json")
    folds = FoldResults(run_dir)  # where each fold's files are (nothing is read here)
    curves = []
    for fold in ok:
        _, path = folds.paths(f"fold_{int(fold):03d}")
        if not path.exists():
            raise DataError(
                f"{path} does not exist, but summary.json says fold {fold} finished",
                hint="run `workbench walkforward` again (a resumed run re-reads the folds)",
            )
        curves.append(read_equity(path))
    return stitch(curves, float(summary["config"]["cash"]))


def plot_stitched_equity(run_dir: str | Path, summary: dict[str, Any] | None = None) -> Figure:
    """The stitched out-of-sample equity, with the test windows shaded in turn."""
    run_dir = Path(run_dir)
    summary = summary or load_summary(run_dir)
    equity = stitched_equity(run_dir, summary)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.5), layout="constrained")
    ax = fig.subplots()
    # naive UTC datetime64, which matplotlib converts at once: given tz-aware times, it makes
    # a datetime of each one, again on every redraw (seconds for a minute-bar curve)
    times = equity.index.tz_localize(None).to_numpy()
    ax.plot(times, equity.to_numpy(), color="tab:blue", label="out-of-sample equity")
    for i, fold in enumerate(f for f in summary["folds"] if f["status"] == "ok"):
        first, last = (to_utc(fold[k], name=k).tz_localize(None) for k in TESTED)
        ax.axvspan(first, last, color="0.9" if i % 2 else "0.96", zorder=0)
    wfe = summary.get("walk_forward_efficiency")
    cagr = (summary.get("out_of_sample") or {}).get("cagr")
    parts = [f"{len(summary['chosen_params'])} folds"]
    if cagr is not None:
        parts.append(f"CAGR {cagr:.1%}")
    if wfe is not None:
        parts.append(f"walk-forward efficiency {wfe:.2f}")
    ax.set_title("Stitched out-of-sample equity (" + ", ".join(parts) + ")")
    ax.set_ylabel("equity")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    return fig


def plot_parameter_stability(summary: dict[str, Any]) -> Figure:
    """The parameters chosen in each fold, one panel per parameter: stable is flat."""
    chosen = pd.DataFrame(summary["chosen_params"])
    if chosen.empty:
        raise DataError("no fold finished: no parameters to plot")
    chosen = chosen.set_index("fold")
    names = list(chosen.columns)
    grid = summary["config"]["grid"]
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(11, 2.2 + 1.8 * len(names)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(names), 1, sharex=True))
    for ax, name in zip(axes, names, strict=True):
        values = chosen[name]
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().all():
            ax.plot(chosen.index, numeric, marker="o", color="tab:blue")
            swept = [v for v in grid.get(name, []) if isinstance(v, int | float)]
            if swept:
                ax.set_ylim(min(swept) - 0.05 * (max(swept) - min(swept) or 1), None)
                ax.axhspan(min(swept), max(swept), color="0.95", zorder=0)
        else:
            codes, labels = pd.factorize(values.astype(str))
            ax.plot(chosen.index, codes, marker="o", linestyle="", color="tab:blue")
            ax.set_yticks(range(len(labels)), labels)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("fold")
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_title("Parameter stability: the combination chosen in sample, fold by fold")
    return fig


def plot_in_vs_out(summary: dict[str, Any], metric: str = "cagr") -> Figure:
    """In-sample against out-of-sample ``metric`` per fold: the cost of choosing in sample."""
    ok = [f for f in summary["folds"] if f["status"] == "ok"]
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    fig = Figure(figsize=(11, 4), layout="constrained")
    ax = fig.subplots()
    folds = [f["fold"] for f in ok]
    width = 0.4
    ins = [_number(f["in_sample"].get(metric)) for f in ok]
    oos = [_number(f["out_of_sample"].get(metric)) for f in ok]
    ax.bar(np.array(folds) - width / 2, ins, width, label="in sample", color="tab:gray")
    ax.bar(np.array(folds) + width / 2, oos, width, label="out of sample", color="tab:blue")
    ax.axhline(0, color="black", linewidth=0.8)
    if metric in ("cagr", "total_return", "max_drawdown"):
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("fold")
    ax.set_ylabel(metric)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{metric}: in sample (chosen) versus out of sample")
    ax.grid(alpha=0.3, axis="y")
    ax.legend()
    return fig


def save_figures(figures: dict[str, Figure], run_dir: str | Path) -> list[Path]:
    """Save each figure as ``NAME.png`` in ``run_dir``."""
    paths = []
    for name, fig in figures.items():
        path = Path(run_dir) / f"{name}.png"
        fig.savefig(path, dpi=100)
        paths.append(path)
    return paths


#: The report's figures by name (``NAME.png`` in the run folder): how each is drawn.
REPORT_FIGURES: dict[str, Callable[[Path, dict[str, Any]], Figure]] = {
    "equity": lambda run_dir, summary: plot_stitched_equity(run_dir, summary),
    "parameter_stability": lambda run_dir, summary: plot_parameter_stability(summary),
    "in_vs_out": lambda run_dir, summary: plot_in_vs_out(summary),
}


def save_report_figures(run_dir: str | Path, summary: dict[str, Any] | None = None) -> list[Path]:
    """The report's three figures, saved as PNGs in ``run_dir`` (rendered once, shown from file;
    the HTML report inlines these files rather than drawing them again)."""
    summary = summary or load_summary(run_dir)
    figures = {name: draw(Path(run_dir), summary) for name, draw in REPORT_FIGURES.items()}
    return save_figures(figures, run_dir)


def _number(value: Any) -> float:
    return np.nan if value is None else float(value)
