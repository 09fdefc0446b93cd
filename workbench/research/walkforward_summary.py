"""A walk-forward run's summary: the folds' results read, the out-of-sample equity stitched.

:func:`summarize` reads each fold's result (as :mod:`workbench.research.fold_results` read
it while the folds ran, or now), stitches the out-of-sample equity into ``equity.csv``,
computes the run's metrics, its walk-forward efficiency (module docstring of
:mod:`workbench.research.walkforward`), its benchmark-relative figures and its overfitting
statistics, and writes them all to ``summary.json``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from workbench.errors import DataError
from workbench.research.equity_csv import write_equity
from workbench.research.fold_results import FoldResult, FoldResults, stitch, stitched_times
from workbench.research.notebook_runner import JobOutcome
from workbench.research.overfitting import probabilistic_sharpe_ratio, return_moments
from workbench.research.splits import Fold
from workbench.research.walkforward_plan import WalkForwardConfig, load_data, n_trials, plan_folds

__all__ = ["CurveWriter", "summarize"]


class CurveWriter(Protocol):
    """Writes an equity curve as :func:`~workbench.research.equity_csv.write_equity` does."""

    def __call__(
        self, equity: pd.Series, path: str | Path, *, times: Sequence[str] | None = None
    ) -> None: ...


def summarize(
    out: str | Path,
    *,
    folds: Sequence[Fold] | None = None,
    outcomes: Sequence[JobOutcome] | None = None,
    config: WalkForwardConfig | None = None,
    universe: Mapping[str, pd.DataFrame] | None = None,
    results: FoldResults | None = None,
    write_curve: CurveWriter = write_equity,
) -> dict[str, Any]:
    """Read the fold results in ``out``, write ``summary.json`` and ``equity.csv``, return it.
    ``universe``: the run's data, if loaded already (the benchmark is held over it);
    ``results``: the folds' results as read so far (by :func:`run_walk_forward`, as each
    fold finished), the others read here; ``write_curve``: what writes ``equity.csv``
    (:func:`run_walk_forward` has it written on a thread while the report notebook runs)."""
    out = Path(out)
    if results is None:
        results = FoldResults(out)
    if config is None:
        config = WalkForwardConfig.from_dict(json.loads((out / "run.json").read_text()))
    if folds is None:
        folds, _ = plan_folds(config)
    by_name = {o.name: o for o in outcomes or []}
    rows: list[dict[str, Any]] = []
    read: list[FoldResult] = []
    for fold in folds:
        name = f"fold_{fold.number:03d}"
        outcome = by_name.get(name)
        record_path = out / "folds" / f"{name}.json"
        row: dict[str, Any] = {
            "fold": fold.number,
            "notebook": str(out / "folds" / f"{name}.ipynb"),
            **{f"train_{k}": v for k, v in fold.train.to_dict().items() if k in ("first", "last")},
            **{f"test_{k}": v for k, v in fold.test.to_dict().items() if k in ("first", "last")},
        }
        if (outcome is not None and outcome.status == "failed") or not record_path.exists():
            row["status"] = "failed"
            row["error"] = outcome.error if outcome is not None else "no result file"
            rows.append(row)
            continue
        result = results.get(name)
        row.update(status="ok", **{k: result.record[k] for k in _RECORD_KEYS if k in result.record})
        rows.append(row)
        read.append(result)
    summary = _aggregate(config, rows, read, out, universe, write_curve)
    (out / "summary.json").write_text(json.dumps(_clean(summary), indent=2) + "\n")
    return summary


_RECORD_KEYS = (
    "params",
    "n_trials",
    "score",
    "in_sample",
    "out_of_sample",
    "efficiency",
    "overfitting",
    "compute_seconds",
)


def _aggregate(
    config: WalkForwardConfig,
    rows: list[dict[str, Any]],
    read: list[FoldResult],
    out: Path,
    universe: Mapping[str, pd.DataFrame] | None,
    write_curve: CurveWriter,
) -> dict[str, Any]:
    ok = [r for r in rows if r["status"] == "ok"]
    stitched = stitch([r.equity for r in read], config.cash)
    # an earlier run's curve is not this one's, even while this one is being written
    (out / "equity.csv").unlink(missing_ok=True)
    if len(stitched):  # the times as text from the folds', formatted as each finished
        write_curve(stitched, out / "equity.csv", times=stitched_times(read, stitched))
    oos: dict[str, Any] = {}
    if len(stitched) > 2:
        from workbench.backtesting.metrics import compute_metrics

        oos = compute_metrics(stitched)
        oos.update(_relative(config, stitched, universe))
        moments = return_moments(stitched.pct_change().dropna().to_numpy())
        oos["psr"] = _psr(moments)
        oos.update({f"returns_{k}": v for k, v in moments.items()})
    is_cagr = [r["in_sample"].get("cagr") for r in ok]
    is_cagr = [v for v in is_cagr if v is not None and math.isfinite(v)]
    mean_is = float(np.mean(is_cagr)) if is_cagr else math.nan
    efficiency = oos.get("cagr", math.nan) / mean_is if mean_is > 0 else None
    stats = [r.get("overfitting") or {} for r in ok]
    return {
        "config": config.to_dict(),
        "folds": rows,
        "n_folds": len(rows),
        "n_failed": len(rows) - len(ok),
        "failed": [
            {"fold": r["fold"], "notebook": r["notebook"], "error": r.get("error")}
            for r in rows
            if r["status"] != "ok"
        ],
        "chosen_params": [{"fold": r["fold"], **r["params"]} for r in ok],
        "walk_forward_efficiency": efficiency,
        "mean_in_sample_cagr": mean_is,
        "out_of_sample": oos,
        "overfitting": {
            "n_trials": n_trials(config, [r.get("n_trials") for r in ok]),
            "mean_in_sample_pbo": _mean(s.get("pbo") for s in stats),
            "mean_in_sample_dsr": _mean(s.get("dsr") for s in stats),
            "out_of_sample_psr": oos.get("psr"),
        },
        "compute_seconds": sum(float(r.get("compute_seconds") or 0.0) for r in ok),
    }


def _relative(
    config: WalkForwardConfig,
    stitched: pd.Series,
    universe: Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, float]:
    """The stitched out-of-sample curve against the benchmark held over the same span."""
    from workbench.backtesting.benchmark import benchmark_equity, relative_metrics
    from workbench.data.bars import periods_per_year

    if universe is None:
        universe = load_data(config)
    curve = benchmark_equity(config.benchmark, universe, stitched.index, config.cash)
    return relative_metrics(stitched, curve, periods_per_year(stitched.index))


def _psr(moments: Mapping[str, float]) -> float | None:
    """The stitched returns' PSR, or None where it is undefined: under two returns, no
    finite Sharpe ratio, or no positive variance term (returns of two sizes at SR = 2 /
    skew: :func:`probabilistic_sharpe_ratio` raises DataError), not a failed summary."""
    n = int(moments["n_obs"])
    if n < 2 or not math.isfinite(moments["sharpe"]):
        return None
    try:
        return probabilistic_sharpe_ratio(
            moments["sharpe"], 0.0, n, moments["skew"], moments["kurtosis"]
        )
    except DataError:
        return None


def _mean(values: Any) -> float | None:
    got = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.mean(got)) if got else None


def _clean(value: Any) -> Any:
    """JSON-ready: NaN and infinities become None, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
