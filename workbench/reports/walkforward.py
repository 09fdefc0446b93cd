"""The report of a walk-forward run: ``RUN/report.html``, written by every run.

From ``summary.json`` and ``equity.csv``: the stitched out-of-sample metrics, walk-forward
efficiency, deflated Sharpe ratio, PBO and the out-of-sample PSR, each with a sentence
saying what its value means here; the stitched equity; the per-fold table; parameter
stability; in-sample against out-of-sample returns; failed folds and the configuration.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.reports.backtest import metrics_table
from workbench.reports.html import (
    Section,
    escape,
    facts,
    figure_png,
    page,
    paragraph,
    png_image,
    table,
)

__all__ = ["overfitting_sentences", "walkforward_report", "write_walkforward_report"]

_PER_FOLD = frozenset(
    {"number_of_trades", "win_rate", "profit_factor", "average_trade", "average_trade_return",
     "exposure", "turnover"}
)  # fmt: skip


def write_walkforward_report(
    run_dir: str | Path,
    summary: dict[str, Any] | None = None,
    drawn: Mapping[str, Path] | None = None,
) -> Path:
    """Write ``RUN/report.html`` from the run's ``summary.json``; returns its path.

    ``drawn``: figures already saved as PNGs for this summary (by name, see
    :data:`~workbench.research.walkforward_report.REPORT_FIGURES`: what the report notebook
    saved), inlined as they are; the others are drawn here.
    """
    from workbench.research.walkforward_report import load_summary

    run_dir = Path(run_dir)
    summary = summary if summary is not None else load_summary(run_dir)
    path = run_dir / "report.html"
    path.write_text(walkforward_report(run_dir, summary, drawn), encoding="utf-8")
    return path


def walkforward_report(
    run_dir: str | Path, summary: dict[str, Any], drawn: Mapping[str, Path] | None = None
) -> str:
    from workbench.research.walkforward_report import fold_formats, fold_table

    def figure(name: str, alt: str, caption: str) -> str:
        path = (drawn or {}).get(name)
        if path is not None and Path(path).is_file():
            png = Path(path).read_bytes()
        else:
            from workbench.research.walkforward_report import REPORT_FIGURES

            png = figure_png(REPORT_FIGURES[name](Path(run_dir), summary))
        return png_image(png, alt, caption=caption, name=name)

    config = summary["config"]
    ok = [f for f in summary["folds"] if f["status"] == "ok"]
    over = summary.get("overfitting") or {}
    sections = [
        Section("summary", "Summary", facts(_facts(summary)) + _verdicts(summary)),
    ]
    oos = summary.get("out_of_sample") or {}
    if oos:
        # the stitched curve has no trade list: trade statistics are per fold (the table)
        shown = {
            k: v for k, v in oos.items() if not k.startswith("returns_") and k not in _PER_FOLD
        }
        sections.append(Section("oos", "Out-of-sample metrics (stitched)", metrics_table(shown)))
    if ok:
        sections.append(
            Section(
                "equity",
                "Stitched out-of-sample equity",
                figure("equity", "stitched out-of-sample equity",
                       caption="each fold's test window in turn (shaded), "
                       "chained so each continues where the last ended"),
            )
        )  # fmt: skip
    folds = fold_table(summary).reset_index()
    formats = fold_formats(folds.columns)
    sections.append(
        Section(
            "folds",
            "Folds",
            table(folds, formats=formats, table_id="folds")
            + paragraph(
                f"{len(ok)} of {len(summary['folds'])} folds finished; each row's notebook is "
                "in folds/ (IS: in sample, OOS: out of sample, WFE: the fold's efficiency)",
                cls="note",
            ),
        )
    )
    if ok:
        sections.append(
            Section(
                "stability",
                "Parameter stability",
                figure("parameter_stability", "parameter stability",
                       caption="the combination chosen in sample, fold by fold: flat is stable")
                + figure("in_vs_out", "in-sample versus out-of-sample CAGR",
                         caption="the chosen combination's CAGR in sample and out of sample"),
            )
        )  # fmt: skip
    if summary.get("failed"):
        failed = pd.DataFrame(summary["failed"])
        sections.append(Section("failed", "Failed folds", table(failed)))
    sections.append(Section("config", "Configuration", facts(config)))
    trials = over.get("n_trials")
    subtitle = (
        f"{config['strategy']} on {config['data']}: {len(summary['folds'])} folds, "
        f"{trials} trials per fold, chosen by {config.get('metric', 'sharpe')}"
    )
    return page(
        f"Walk-forward: {config['strategy']}", sections, subtitle=subtitle, kind="walkforward"
    )


def overfitting_sentences(summary: dict[str, Any]) -> dict[str, tuple[float | None, str]]:
    """Each headline statistic with a sentence saying what its value means for this run."""
    over = summary.get("overfitting") or {}
    trials = over.get("n_trials")
    wfe = _finite(summary.get("walk_forward_efficiency"))
    dsr = _finite(over.get("mean_in_sample_dsr"))
    pbo = _finite(over.get("mean_in_sample_pbo"))
    psr = _finite(over.get("out_of_sample_psr"))
    out: dict[str, tuple[float | None, str]] = {}
    if wfe is None:
        text = (
            "Walk-forward efficiency is undefined: the mean in-sample return is not positive, "
            "so there is nothing out-of-sample returns could be a share of."
        )
    else:
        verdict = "at or above" if wfe >= 0.5 else "below"
        text = (
            f"Walk-forward efficiency {wfe:.2f}: the stitched out-of-sample annualised return "
            f"is {wfe:.0%} of the mean in-sample one. It is {verdict} the usual bar of 0.5; "
            "well below it, what was optimal in sample does not carry over."
        )
    out["walk_forward_efficiency"] = (wfe, text)
    if dsr is None:
        text = "Deflated Sharpe ratio: not available (no fold had enough returns)."
    else:
        text = (
            f"Deflated Sharpe ratio {dsr:.2f} (mean over folds): the probability that the "
            f"combination chosen in sample has a true Sharpe ratio above zero, once the "
            f"{trials} trials tried in each fold and the returns' skew and fat tails are "
            "accounted for. "
            + (
                "Above 0.95, the in-sample Sharpe ratio is unlikely to be luck alone."
                if dsr >= 0.95
                else "Below 0.95: the best of that many trials would often look this good "
                "by luck alone."
            )
        )
    out["deflated_sharpe"] = (dsr, text)
    if pbo is None:
        text = "Probability of backtest overfitting: not available (too few trials or returns)."
    else:
        text = (
            f"Probability of backtest overfitting {pbo:.0%} (mean over folds, by combinatorially "
            "symmetric cross-validation): how often the combination best in sample ranks at or "
            "below the median of all trials out of sample. "
            + (
                "At 50% or more the selection is no better than picking at random."
                if pbo >= 0.5
                else "Below 50%: the in-sample ranking tends to carry over."
            )
        )
    out["pbo"] = (pbo, text)
    if psr is not None:
        text = (
            f"Out-of-sample probabilistic Sharpe ratio {psr:.2f}: the probability that the "
            "stitched out-of-sample returns have a true Sharpe ratio above zero (one series, "
            "no selection among trials left to deflate)."
        )
        out["out_of_sample_psr"] = (psr, text)
    return out


def _verdicts(summary: dict[str, Any]) -> str:
    rows = []
    for key, (value, text) in overfitting_sentences(summary).items():
        shown = "" if value is None else repr(value)
        rows.append(
            f'<p class="stat" data-stat="{escape(key)}" data-value="{shown}">{escape(text)}</p>'
        )
    return "".join(rows)


def _facts(summary: dict[str, Any]) -> dict[str, Any]:
    config = summary["config"]
    over = summary.get("overfitting") or {}
    search = config.get("search") or "grid"
    return {
        "strategy": config["strategy"],
        "data": config["data"],
        "train / test / step": f"{config['train']} / {config['test']} / "
        f"{config.get('step') or config['test']}",
        "folds": f"{summary['n_folds']} ({summary['n_failed']} failed)",
        "search": search,
        "trials per fold": over.get("n_trials"),
        "chosen by": config.get("metric", "sharpe"),
        "fold compute time": f"{summary.get('compute_seconds') or 0:.1f} s",
    }


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
