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
notebook draws them. The run's configuration and folds are
:mod:`workbench.research.walkforward_plan`'s, its summary
:mod:`workbench.research.walkforward_summary`'s.

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
    folds/fold_000.done.json its success marker (the fingerprint a resumed run compares)
    summary.json             folds, parameters, metrics, efficiency, overfitting statistics
    equity.csv               the stitched out-of-sample equity
    report.ipynb             the executed report (stitched equity, parameter stability)
    report.html              the same and the overfitting statistics explained, in one page

A run into a folder an earlier run used (resumed, or forced) first removes the files of the
folds it does not plan (a longer test window, shorter data): ``folds/`` holds this run's
folds only. Files the pipeline does not name are left alone. A resumed run skips the folds
done with the same template, parameters and data (a hash of the bars loaded, not the file's
name or time: their marker's fingerprint), and runs the others again, their earlier files
removed first (a fold that fails before it writes its results leaves none of another run's).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.data.bars import data_fingerprint
from workbench.outdir import check_output_folder, output_folder
from workbench.research.equity_csv import EquityWriter
from workbench.research.fold_results import FoldResults, stitch
from workbench.research.notebook_runner import (
    JobOutcome,
    NotebookJob,
    NotebookRunner,
    run_notebooks,
)
from workbench.research.splits import Fold
from workbench.research.walkforward_plan import (
    WalkForwardConfig,
    check_before_running,
    check_run_file,
    fold_parameters,
    load_data,
    n_trials,
    plan_folds,
    universe_index,
    write_run_file,
)
from workbench.research.walkforward_report import REPORT_FIGURES
from workbench.research.walkforward_summary import summarize
from workbench.resources import template_path

__all__ = [  # the run, and (re-exported) its plan and summary
    "TEMPLATES",
    "WalkForwardConfig",
    "WalkForwardRun",
    "fold_parameters",
    "n_trials",
    "plan_folds",
    "run_walk_forward",
    "stitch",
    "summarize",
    "universe_index",
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
#: The files of fold N in ``folds/`` (N as ``fold_{N:03d}``): its notebook, its success
#: marker (:attr:`NotebookJob.marker`), and what ``run_fold`` writes. The only files the
#: pipeline removes there: a user's own files in the folder are left alone.
FOLD_SUFFIXES = (".ipynb", ".done.json", ".json", "_sweep.csv", "_equity.csv")
FOLD_FILE = re.compile(r"fold_(\d{3,})(" + "|".join(map(re.escape, FOLD_SUFFIXES)) + ")")


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
    fail on purpose). Re-running into the same ``out`` skips the folds already done, and
    removes the files of folds this run does not plan.
    """
    # made once the run is planned (a refusal leaves none); absolute, as the threads that read
    # the folds and write equity.csv need it: papermill runs a notebook in its folder by
    # changing this process's directory
    out = check_output_folder(out).absolute()
    check_run_file(out / "run.json", config, force)
    # equity.csv is written on a thread while the report runs (which draws the stitched
    # curve from the folds' own files): its text is most of the summary's time
    with EquityWriter() as write_curve:
        with NotebookRunner(workers, scheduler=scheduler) as runner:
            # the kernels' imports start while the folds are planned
            runner.prepare(FOLD_PRELOAD)
            universe = load_data(config)  # once: the plan's, and the summary's benchmark
            folds, jobs = _fold_jobs(
                config, universe, out, Path(fold_template), fold_overrides or {}
            )
            check_before_running(config, universe, folds)
            output_folder(out)
            write_run_file(out / "run.json", config)  # planned: this folder holds this run
            _remove_unplanned_folds(out / "folds", {fold.number for fold in folds})
            _remove_folds_to_run(jobs, force)
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
                    write_curve=write_curve,
                )
            log.debug("summary written", extra={"event": "summary_written"})
            report = _run_report(runner, out, report_template, scheduler)
        from workbench.reports.walkforward import write_walkforward_report

        # from summary.json, as written; the figures the report notebook drew, not drawn again
        drawn = {n: out / f"{n}.png" for n in REPORT_FIGURES} if report and report.ok else None
        write_walkforward_report(out, drawn=drawn)
        log.debug("report.html written", extra={"event": "html_written"})
    return WalkForwardRun(out, summary, outcomes, report)


def _run_report(
    runner: NotebookRunner, out: Path, template: Path | None, scheduler: Any
) -> JobOutcome | None:
    """The report notebook (None without a template): on a warm kernel of the folds' local
    pool (no cold start); with a Dask scheduler, in this process. The figures and the report
    notebook an earlier run left are not this one's: removed first."""
    for name in REPORT_FIGURES:
        (out / f"{name}.png").unlink(missing_ok=True)
    if template is None:
        (out / "report.ipynb").unlink(missing_ok=True)
        return None
    job = NotebookJob(
        name="report",
        template=Path(template),
        output=out / "report.ipynb",
        parameters={"run_dir": str(out.resolve())},
        cwd=out,
    )
    if scheduler is None:
        return runner.run([job], force=True, progress=False)[0]
    return run_notebooks([job], force=True, progress=False)[0]


def _remove_unplanned_folds(folder: Path, planned: Collection[int]) -> None:
    """Remove the files (:data:`FOLD_FILE`) of every fold in ``folder`` not ``planned``.

    A run with fewer folds than an earlier one into the same folder (forced, with a longer
    test window, or its data now shorter) would leave the earlier run's higher-numbered folds
    beside its own: notebooks and results a reader of the folder takes for this run's. Done
    folds of this plan are kept (a resume skips them by their fingerprint).
    """
    removed = 0
    for path in sorted(folder.glob("fold_*")) if folder.is_dir() else []:
        match = FOLD_FILE.fullmatch(path.name)
        if match is None or not path.is_file():
            continue
        number = int(match[1])
        if f"fold_{number:03d}" == path.name[: match.end(1)] and number not in planned:
            path.unlink(missing_ok=True)
            removed += 1
    if removed:
        log.info("removed %d files of folds this run does not plan", removed)


def _remove_folds_to_run(jobs: Sequence[NotebookJob], force: bool) -> None:
    """Remove the files (:data:`FOLD_SUFFIXES`) an earlier run left of each fold this run
    executes: all of them when ``force``, else those not done (no marker, or another
    fingerprint). ``run_fold`` removes its own as it starts, but a fold that fails before
    (its kernel gone at the start, a cell before it) kept the earlier run's record, sweep
    and equity beside its failed notebook (or the earlier notebook, if none was written).
    A few file removals per fold, before the folds start; done folds are not touched.
    """
    for job in jobs:
        if force or not job.is_done():
            stem = job.output.parent / job.output.name.removesuffix(".ipynb")
            for suffix in FOLD_SUFFIXES:
                Path(f"{stem}{suffix}").unlink(missing_ok=True)


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
    # the data a fold reads is part of its fingerprint: a resume after the data changed (same
    # spec, same range, other bars) re-runs the folds instead of keeping their old results
    data = json.dumps(data_fingerprint(universe), sort_keys=True)
    data = hashlib.sha256(data.encode()).hexdigest()
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
                inputs=data,
            )
        )
    return folds, jobs
