"""What a batch writes beside ``batch.json``: ``batch.csv``, ``comparison.png``, ``report.html``.

``batch.csv`` has one row per run: its name, status, time, parameters (one column each,
nested ones flattened as ``params.fast``) and the key metrics from the run's
``metrics.json`` (written by a template with an ``out`` parameter, as
``workbench/templates/backtest_run.ipynb`` is). ``comparison.png`` draws the runs side by
side (Sharpe ratio, total return, maximum drawdown; and their equity curves, rebased,
when the runs wrote ``equity.csv``). ``report.html`` is the index: the table with a
link to each run's own report and notebook, and the comparison.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workbench.backtesting.metrics import format_metric
from workbench.reports.html import Section, facts, figure_png, page, paragraph, png_image, table

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from workbench.research.notebook_runner import JobOutcome

__all__ = ["KEY_METRICS", "batch_table", "plot_comparison", "write_batch_report"]

#: The metrics ``batch.csv`` carries for every run.
KEY_METRICS = (
    "total_return", "cagr", "sharpe", "sortino", "max_drawdown", "number_of_trades",
    "win_rate", "exposure", "fees", "final_equity",
)  # fmt: skip


def batch_table(runs: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run (``runs``: ``name``, ``status``, ``seconds``, ``parameters``, ``out``)."""
    rows = []
    for run in runs:
        row: dict[str, Any] = {
            "name": run["name"],
            "status": run["status"],
            "seconds": round(float(run.get("seconds") or 0.0), 2),
        }
        row.update(_flatten(run.get("parameters") or {}, skip=("out",)))
        metrics = _read_metrics(run.get("out"))
        row.update({k: metrics.get(k) for k in KEY_METRICS})
        row["error"] = run.get("error") or ""
        rows.append(row)
    frame = pd.DataFrame(rows)
    for key in KEY_METRICS:
        frame[key] = pd.to_numeric(frame[key], errors="coerce")
    return frame


def write_batch_report(
    out: str | Path,
    outcomes: Sequence[JobOutcome],
    parameters: Sequence[Mapping[str, Any]],
    *,
    template: str = "",
) -> dict[str, Path]:
    """Write ``batch.csv``, ``comparison.png`` and ``report.html`` into ``out``."""
    out = Path(out)
    runs = [
        {**o.to_dict(), "parameters": dict(p), "out": p.get("out")}
        for o, p in zip(outcomes, parameters, strict=True)
    ]
    frame = batch_table(runs)
    paths = {
        "csv": out / "batch.csv",
        "plot": out / "comparison.png",
        "report": out / "report.html",
    }
    frame.to_csv(paths["csv"], index=False)
    png = figure_png(plot_comparison(frame, _equity_curves(runs)))
    paths["plot"].write_bytes(png)
    links = {r["name"]: _relative_report(out, r.get("out")) for r in runs}
    notebooks = {r["name"]: _relative(out, r.get("notebook")) for r in runs}
    shown = frame.copy()
    shown.insert(1, "notebook", shown["name"].map(notebooks))
    formats = {k: (lambda v, k=k: format_metric(k, v)) for k in KEY_METRICS}
    ok = int((frame["status"] != "failed").sum())
    sections = [
        Section(
            "summary",
            "Summary",
            facts(
                {
                    "template": template,
                    "runs": len(frame),
                    "finished": ok,
                    "failed": len(frame) - ok,
                }
            )
            + paragraph(
                "each run's name links to its own report; batch.csv has this table", cls="note"
            ),
        ),
        Section(
            "runs",
            "Runs",
            table(
                shown,
                formats=formats,
                links={"name": links.get, "notebook": lambda v: v or None},
                table_id="runs",
            ),
        ),
        Section(
            "comparison",
            "Comparison",
            png_image(png, "comparison of the runs", name="comparison"),
        ),
    ]
    paths["report"].write_text(
        page(f"Batch: {len(frame)} runs", sections, subtitle=template, kind="batch"),
        encoding="utf-8",
    )
    return paths


def plot_comparison(frame: pd.DataFrame, curves: Mapping[str, pd.Series]) -> Figure:
    """Sharpe, total return and maximum drawdown per run; equity curves rebased to 1."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    n = max(len(frame), 1)
    panels = 4 if curves else 3
    fig = Figure(figsize=(11, 2.2 + 0.28 * n * 3 + (3.5 if curves else 0)), layout="constrained")
    heights = [n, n, n] + ([max(n, 8)] if curves else [])
    axes = fig.subplots(panels, 1, height_ratios=heights)
    names = frame["name"].astype(str).tolist() if len(frame) else []
    y = np.arange(len(names))
    for ax, key, pct in zip(
        axes[:3], ("sharpe", "total_return", "max_drawdown"), (False, True, True), strict=True
    ):
        values = frame[key].to_numpy(dtype=float) if len(frame) else np.array([])
        colors = ["tab:green" if v >= 0 else "tab:red" for v in np.nan_to_num(values)]
        ax.barh(y, np.nan_to_num(values), color=colors)
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.axvline(0.0, color="black", linewidth=0.7)
        ax.set_title(key.replace("_", " "))
        if pct:
            ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.grid(alpha=0.3, axis="x")
    if curves:
        ax = axes[3]
        for name, curve in curves.items():
            ax.plot(curve.index, curve.to_numpy(dtype=float) / float(curve.iloc[0]), label=name,
                    linewidth=1)  # fmt: skip
        ax.set_title("equity, rebased to 1")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8, ncol=2)
    return fig


def _read_metrics(folder: Any) -> dict[str, Any]:
    if not folder:
        return {}
    path = Path(folder) / "metrics.json"
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return dict(doc.get("metrics") or {})


def _equity_curves(runs: Sequence[Mapping[str, Any]]) -> dict[str, pd.Series]:
    curves = {}
    for run in runs:
        folder = run.get("out")
        path = Path(folder) / "equity.csv" if folder else None
        if run["status"] == "failed" or path is None or not path.is_file():
            continue
        frame = pd.read_csv(path, index_col=0)
        if "equity" in frame and len(frame):
            series = frame["equity"].astype(float)
            series.index = pd.to_datetime(series.index, utc=True)
            curves[str(run["name"])] = series
    return curves


def _flatten(values: Mapping[str, Any], *, skip: tuple[str, ...] = (), prefix: str = "") -> dict:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in skip and not prefix:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, prefix=f"{name}."))
        else:
            out[name] = value if isinstance(value, int | float | str | bool) else str(value)
    return out


def _relative(root: Path, target: Any) -> str | None:
    if not target:
        return None
    return os.path.relpath(Path(target).resolve(), root.resolve())


def _relative_report(root: Path, folder: Any) -> str | None:
    if not folder or not (Path(folder) / "report.html").is_file():
        return None
    return _relative(root, Path(folder) / "report.html")
