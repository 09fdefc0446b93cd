"""Walk-forward analysis: optimise in sample, trade the choice out of sample, fold after fold.

For each fold of :func:`~workbench.research.splits.walk_forward`, a notebook
(``workbench/templates/walk_forward_fold.ipynb``) sweeps the grid on the train window
(every combination, or ``search="random"|"tpe"`` with ``n_trials`` samples per fold, fold N
seeded with ``seed + N``: :mod:`workbench.research.search`),
picks the best combination by the chosen metric, and runs it through the event-driven
engine on the test window (:mod:`workbench.research.fold`). The folds run as papermill
jobs (:mod:`workbench.research.notebook_runner`: in turn, on a process pool, or on Dask),
then :func:`summarize` stitches the out-of-sample equity, computes the walk-forward
efficiency and collects the overfitting statistics into ``summary.json``, and a report
notebook draws them.

Walk-forward efficiency (Pardo, "The Evaluation and Optimization of Trading Strategies",
2008): annualised out-of-sample return over annualised in-sample return. Per fold it is
``cagr(test) / cagr(train)``; for the run, the CAGR of the stitched out-of-sample curve
over the mean in-sample CAGR of the folds. It is undefined (None) when the in-sample
return is not positive. Around 0.5 or more is the usual bar for a robust strategy.

The run folder::

    run.json                 the configuration (a re-run with another one is refused)
    folds/fold_000.ipynb     each executed fold notebook (with its error, if it failed)
    folds/fold_000.json      its result: chosen parameters, in/out-of-sample metrics, stats
    folds/fold_000_sweep.csv the in-sample sweep, one row per combination
    folds/fold_000_equity.csv the out-of-sample equity curve
    summary.json             folds, parameters, metrics, efficiency, overfitting statistics
    equity.csv               the stitched out-of-sample equity
    report.ipynb             the executed report (stitched equity, parameter stability)
    report.html              the same and the overfitting statistics explained, in one page
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import ConfigError
from workbench.research.equity_csv import write_equity
from workbench.research.fold_results import FoldResult, FoldResults, stitch, stitched_times
from workbench.research.notebook_runner import (
    JobOutcome,
    NotebookJob,
    NotebookRunner,
    run_notebooks,
)
from workbench.research.overfitting import probabilistic_sharpe_ratio, return_moments
from workbench.research.search import check_search
from workbench.research.splits import Fold, parse_length, walk_forward
from workbench.research.sweep import expand_grid, grid_axes
from workbench.research.walkforward_report import REPORT_FIGURES
from workbench.resources import template_path
from workbench.strategy import resolve_strategy

__all__ = [
    "TEMPLATES",
    "WalkForwardConfig",
    "WalkForwardRun",
    "fold_parameters",
    "n_trials",
    "plan_folds",
    "run_walk_forward",
    "stitch",
    "summarize",
]

log = logging.getLogger(__name__)

#: The papermill templates shipped with the package (package data, see workbench.resources).
FOLD_TEMPLATE = template_path("walk_forward_fold.ipynb")
REPORT_TEMPLATE = template_path("walk_forward_report.ipynb")
TEMPLATES = FOLD_TEMPLATE.parent
#: What a fold's kernel runs as it starts (:attr:`NotebookJob.preload`): the fold's imports
#: and numba's first-use set-up, overlapping the pipeline's own start instead of fold 0.
FOLD_PRELOAD = "from workbench.research.fold import preload\npreload()\n"
#: What a fold kernel runs once no fold is left to start: the report's imports, while the
#: last folds run (the report lands on a warm kernel of the pool).
REPORT_PRELOAD = "from workbench.research.walkforward_report import preload\npreload()\n"


@dataclass(frozen=True)
class WalkForwardConfig:
    """Everything that defines a walk-forward run (and goes into ``run.json``)."""

    strategy: str
    data: str
    train: int | str
    test: int | str
    grid: dict[str, list[Any]]
    step: int | str | None = None
    gap: int | str = 0
    anchored: bool = False
    metric: str = "sharpe"
    params: dict[str, Any] = field(default_factory=dict)
    start: str | None = None
    end: str | None = None
    cash: float = 100_000.0
    commission: float | str | None = None
    slippage: float | str | None = None
    search: str = "grid"
    n_trials: int | None = None
    seed: int | None = None
    #: The out-of-sample benchmark: None (equal-weight buy-and-hold of the data's symbols)
    #: or a data spec such as ``sample:SP500_INDEX``.
    benchmark: str | None = None

    def __post_init__(self) -> None:
        from workbench.backtesting.column_metrics import COLUMN_METRICS

        cls = resolve_strategy(self.strategy)
        space = cls.param_space()
        if self.search == "grid" and self.n_trials is None:
            valid, _ = expand_grid(space, self.grid, self.params, strategy=cls.label())
            # store the values as validated (CLI strings become ints, floats, bools)
            grid = {n: list(dict.fromkeys(combo[n] for combo in valid)) for n in self.grid}
        else:  # a sampled search: the grid is each parameter's values, never expanded
            check_search(self.search, self.n_trials)
            grid, _ = grid_axes(space, self.grid, self.params, strategy=cls.label())
        object.__setattr__(self, "grid", grid)
        fixed = {n: space.params[n].validate(v) for n, v in self.params.items()}
        object.__setattr__(self, "params", fixed)
        if self.metric not in COLUMN_METRICS:
            raise ConfigError(
                f"unknown metric {self.metric!r}", hint="one of " + ", ".join(COLUMN_METRICS)
            )
        for name in ("train", "test", "step", "gap"):
            value = getattr(self, name)
            if value is not None:
                parse_length(value, name=name, allow_zero=name == "gap")
        if self.step is not None and _shorter(self.step, self.test):
            step, test = self.step, self.test
            raise ConfigError(
                f"step={step} is shorter than test={test}: test windows would overlap",
                hint="a stitched out-of-sample curve needs step >= test (the default is test)",
            )

    def to_dict(self) -> dict[str, Any]:
        doc = json.loads(json.dumps(asdict(self), default=str))
        if self.search == "grid":  # as before searches existed: earlier run.json still match
            for key in ("search", "n_trials", "seed"):
                doc.pop(key)
        if self.benchmark is None:  # likewise for runs from before benchmarks
            doc.pop("benchmark")
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> WalkForwardConfig:
        return cls(**dict(doc))


@dataclass
class WalkForwardRun:
    """The outcome of :func:`run_walk_forward`: the summary and every notebook's outcome."""

    out: Path
    summary: dict[str, Any]
    outcomes: list[JobOutcome]
    report: JobOutcome | None

    @property
    def failed(self) -> list[JobOutcome]:
        failed = [o for o in self.outcomes if o.status == "failed"]
        if self.report is not None and self.report.status == "failed":
            failed.append(self.report)
        return failed


def plan_folds(
    config: WalkForwardConfig, universe: Mapping[str, pd.DataFrame] | None = None
) -> tuple[list[Fold], pd.DatetimeIndex]:
    """The folds of ``config`` over its data (one symbol or a universe: the union of the
    symbols' bar times), with that index. ``universe``: the data, loaded already."""
    if universe is None:
        universe = _load(config)
    index = universe_index(universe)
    folds = walk_forward(
        index,
        config.train,
        config.test,
        step=config.step,
        gap=config.gap,
        anchored=config.anchored,
    )
    return folds, index


def _load(config: WalkForwardConfig) -> dict[str, pd.DataFrame]:
    from workbench.backtesting.api import load_universe

    return load_universe(config.data, config.start, config.end)


def universe_index(universe: Mapping[str, pd.DataFrame]) -> pd.DatetimeIndex:
    """The bar times of one symbol, or the union of several symbols' bar times."""
    frames = list(universe.values())
    index = frames[0].index
    for frame in frames[1:]:
        if not frame.index.equals(index):
            index = index.union(frame.index)
    return index


def fold_preload(config: WalkForwardConfig) -> str:
    """What the zygote of several jobs' kernels runs before it forks them: the fold's
    imports and a rehearsal of one of this run's folds on its first bars
    (:func:`workbench.research.fold.preload`), so each kernel's first fold starts with
    what a process pays on its first fold paid once, in the zygote, while the pool starts."""
    rehearsal = {
        k: v for k, v in fold_parameters(config, None, Path()).items() if k not in _FOLD_WINDOW
    }
    return f"from workbench.research.fold import preload\npreload({json.dumps(rehearsal)!r})\n"


#: The parameters of a fold that are the fold's own (its place in the data, its output).
_FOLD_WINDOW = ("fold", "train_start", "train_end", "test_start", "test_end", "out")


def fold_parameters(config: WalkForwardConfig, fold: Fold | None, out: Path) -> dict[str, Any]:
    """The papermill parameters of one fold notebook."""
    window = (
        {
            "fold": fold.number,
            "train_start": fold.train.first.isoformat(),
            "train_end": fold.train.last.isoformat(),
            "test_start": fold.test.first.isoformat(),
            "test_end": fold.test.last.isoformat(),
        }
        if fold is not None
        else {}
    )
    return {
        "strategy": config.strategy,
        "data": config.data,
        "start": config.start,
        "end": config.end,
        **window,
        "grid": {k: list(v) for k, v in config.grid.items()},
        "params": dict(config.params),
        "metric": config.metric,
        "cash": config.cash,
        "commission": config.commission,
        "slippage": config.slippage,
        "out": str(Path(out).resolve() / "folds"),
        **(
            {"search": config.search, "n_trials": config.n_trials, "seed": config.seed}
            if config.search != "grid"
            else {}
        ),
    }


def run_walk_forward(
    config: WalkForwardConfig,
    out: str | Path,
    *,
    workers: int = 1,
    scheduler: Any = None,
    force: bool = False,
    progress: bool = True,
    fold_template: Path = FOLD_TEMPLATE,
    report_template: Path | None = REPORT_TEMPLATE,
    fold_overrides: Mapping[int, Mapping[str, Any]] | None = None,
) -> WalkForwardRun:
    """Plan, execute every fold notebook, summarise, and execute the report notebook.

    ``fold_overrides`` changes the parameters of given folds (tests use it to make one
    fail on purpose). Re-running into the same ``out`` skips the folds already done.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _check_run_file(out / "run.json", config, force)
    with NotebookRunner(workers, scheduler=scheduler) as runner:
        # the kernels' imports start while the folds are planned; the zygote of 2 jobs'
        # kernels also rehearses a fold, once for all of them
        runner.prepare(FOLD_PRELOAD, shared=fold_preload(config))
        universe = _load(config)  # once: the plan's, and the summary's benchmark
        folds, jobs = _fold_jobs(config, universe, out, Path(fold_template), fold_overrides or {})
        then = REPORT_PRELOAD if report_template is not None and scheduler is None else None
        # in parallel, the last folds first: each fold's out-of-sample run starts at the data's
        # first bar, so a later fold costs more, and the last fold to start, run while the
        # other jobs idle, is then the cheapest (longest first: a shorter tail)
        backwards = workers > 1 or scheduler is not None
        # each fold's results read as it finishes (on a thread that ends with the summary)
        with FoldResults(out) as results:
            ran = runner.run(
                jobs[::-1] if backwards else jobs,
                force=force,
                progress=progress,
                desc="folds",
                then=then,
                on_outcome=results.on_outcome,
            )
            outcomes = ran[::-1] if backwards else ran  # in fold order
            log.debug("folds done", extra={"event": "folds_done"})
            summary = summarize(
                out,
                folds=folds,
                outcomes=outcomes,
                config=config,
                universe=universe,
                results=results,
            )
        log.debug("summary written", extra={"event": "summary_written"})
        report = None
        if report_template is not None:
            report_job = NotebookJob(
                name="report",
                template=Path(report_template),
                output=out / "report.ipynb",
                parameters={"run_dir": str(out.resolve())},
                cwd=out,
            )
            for name in REPORT_FIGURES:  # a figure left by an earlier run is not this one's
                (out / f"{name}.png").unlink(missing_ok=True)
            if scheduler is None:  # on a warm kernel of the folds' pool: no cold start
                report = runner.run([report_job], force=True, progress=False)[0]
            else:  # here, as before
                report = run_notebooks([report_job], force=True, progress=False)[0]
    from workbench.reports.walkforward import write_walkforward_report

    # from summary.json, as written; the figures the report notebook drew, not drawn again
    drawn = {n: out / f"{n}.png" for n in REPORT_FIGURES} if report and report.ok else None
    write_walkforward_report(out, drawn=drawn)
    log.debug("report.html written", extra={"event": "html_written"})
    return WalkForwardRun(out, summary, outcomes, report)


def _fold_jobs(
    config: WalkForwardConfig,
    universe: Mapping[str, pd.DataFrame],
    out: Path,
    template: Path,
    overrides: Mapping[int, Mapping[str, Any]],
) -> tuple[list[Fold], list[NotebookJob]]:
    """The folds of ``config`` and the notebook job of each."""
    folds, _ = plan_folds(config, universe)
    log.info(
        "walk-forward %s: %d folds into %s",
        config.strategy,
        len(folds),
        out,
        extra={"event": "folds_planned"},
    )
    jobs = []
    for fold in folds:
        parameters = fold_parameters(config, fold, out)
        parameters.update(overrides.get(fold.number, {}))
        jobs.append(
            NotebookJob(
                name=f"fold_{fold.number:03d}",
                template=template,
                output=out / "folds" / f"fold_{fold.number:03d}.ipynb",
                parameters=parameters,
                cwd=out,
                preload=FOLD_PRELOAD,
            )
        )
    return folds, jobs


def summarize(
    out: str | Path,
    *,
    folds: Sequence[Fold] | None = None,
    outcomes: Sequence[JobOutcome] | None = None,
    config: WalkForwardConfig | None = None,
    universe: Mapping[str, pd.DataFrame] | None = None,
    results: FoldResults | None = None,
) -> dict[str, Any]:
    """Read the fold results in ``out``, write ``summary.json`` and ``equity.csv``, return it.
    ``universe``: the run's data, if loaded already (the benchmark is held over it);
    ``results``: the folds' results as read so far (by :func:`run_walk_forward`, as each
    fold finished), the others read here."""
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
    summary = _aggregate(config, rows, read, out, universe)
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
) -> dict[str, Any]:
    ok = [r for r in rows if r["status"] == "ok"]
    stitched = stitch([r.equity for r in read], config.cash)
    if len(stitched):  # the times as text from the folds', formatted as each finished
        write_equity(stitched, out / "equity.csv", times=stitched_times(read, stitched))
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


def n_trials(config: WalkForwardConfig, recorded: Sequence[Any] = ()) -> int:
    """The number of combinations each fold's sweep runs (the trials of its DSR and PBO).

    A sampled search records its own count per fold (distinct combinations backtested):
    the largest of them, or the budget when no fold finished.
    """
    if config.search != "grid":
        counts = [int(n) for n in recorded if n is not None]
        return max(counts) if counts else int(config.n_trials or 0)
    space = resolve_strategy(config.strategy).param_space()
    return len(expand_grid(space, config.grid, config.params)[0])


def _relative(
    config: WalkForwardConfig,
    stitched: pd.Series,
    universe: Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, float]:
    """The stitched out-of-sample curve against the benchmark held over the same span."""
    from workbench.backtesting.benchmark import benchmark_equity, relative_metrics
    from workbench.data.bars import periods_per_year

    if universe is None:
        universe = _load(config)
    curve = benchmark_equity(config.benchmark, universe, stitched.index, config.cash)
    return relative_metrics(stitched, curve, periods_per_year(stitched.index))


def _psr(moments: Mapping[str, float]) -> float | None:
    n = int(moments["n_obs"])
    if n < 2 or not math.isfinite(moments["sharpe"]):
        return None
    try:
        return probabilistic_sharpe_ratio(
            moments["sharpe"], 0.0, n, moments["skew"], moments["kurtosis"]
        )
    except ConfigError:
        return None


def _mean(values: Any) -> float | None:
    got = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.mean(got)) if got else None


def _check_run_file(path: Path, config: WalkForwardConfig, force: bool) -> None:
    doc = config.to_dict()
    if path.exists() and not force:
        previous = json.loads(path.read_text())
        if previous != doc:
            changed = sorted(k for k in set(doc) | set(previous) if doc.get(k) != previous.get(k))
            raise ConfigError(
                f"{path.parent} holds a run with another configuration ({', '.join(changed)})",
                hint="use another --out, or --force to replace it",
            )
    path.write_text(json.dumps(doc, indent=2) + "\n")


def _shorter(a: Any, b: Any) -> bool:
    """Whether length ``a`` is shorter than ``b`` (both bars, or both time spans)."""
    x, y = parse_length(a), parse_length(b)
    if isinstance(x, int) and isinstance(y, int):
        return x < y
    if isinstance(x, pd.DateOffset) and isinstance(y, pd.DateOffset):
        ref = pd.Timestamp("2000-01-01", tz="UTC")
        return ref + x < ref + y
    return False  # mixed units: walk_forward refuses them with its own message


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
