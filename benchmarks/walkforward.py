"""Walk-forward through papermill: total time with 1 and 2 jobs, per-fold overhead, speed-up.

A 10-fold run of the crossover on ``sample:SPX`` (train 756 bars, test 252) with the
100-combination grid ``fast=10:100:10``, ``slow=50:300:25``. Measured in this run:

  1. the baseline: the ten folds' computation in this process (``run_fold``, no notebook);
  2. the pipeline with 1 job and with 2 jobs (every fold re-executed: ``force``);
  3. the per-fold overhead: each notebook's execution time minus the computation the
     notebook measured in-process (papermill, and on the first fold of each process the
     warm kernel's start and imports), next to the time of an empty notebook on a fresh
     kernel (what every fold paid before warm kernels: a kernel's start and stop);
  4. the speed-up: time with 1 job / time with 2 jobs.

Checks first: every fold's notebook (with 1 job and with 2) chose the parameters, and
measured the in- and out-of-sample figures, that the in-process computation did. Goals:
per-fold overhead under 1 s (median, 1 job), speed-up at least 1.7 with 2 jobs (on 2
free cores: other work on the machine lowers it). Exits 1 when a check or a goal fails.

    python benchmarks/walkforward.py [--folds 10] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from _harness import Verdict, conditions

from workbench.data.sources import load_bars
from workbench.research.fold import run_fold
from workbench.research.sweep import parse_grid
from workbench.research.walkforward import (
    WalkForwardConfig,
    fold_parameters,
    plan_folds,
    run_walk_forward,
)

TRAIN, TEST = 756, 252


def config_for(folds: int) -> WalkForwardConfig:
    """The run: data cut so that exactly ``folds`` folds fit."""
    index = load_bars("sample:SPX").index
    first = index[len(index) - (TRAIN + folds * TEST)]
    grid = parse_grid(["fast=10:100:10", "slow=50:300:25"])
    return WalkForwardConfig(
        strategy="ma_crossover",
        data="sample:SPX",
        train=TRAIN,
        test=TEST,
        grid=grid,
        start=first.strftime("%Y-%m-%d"),
        commission=0.0005,
        slippage=2,
    )


GOAL_OVERHEAD = 1.0
GOAL_SPEEDUP = 1.7
COMPARED = ("params", "score", "in_sample", "out_of_sample", "trades")


def timed_run(
    config: WalkForwardConfig, out: Path, jobs: int
) -> tuple[float, float, list[float], dict[int, dict]]:
    """Total seconds of one run, the report notebook's, each fold's overhead, its records."""
    started = time.perf_counter()
    result = run_walk_forward(config, out, workers=jobs, force=True, progress=False)
    total = time.perf_counter() - started
    if result.failed:
        raise SystemExit(f"failed: {[(o.name, o.error) for o in result.failed]}")
    overheads = []
    records = {}
    for outcome in result.outcomes:
        record = json.loads((out / "folds" / f"{outcome.name}.json").read_text())
        overheads.append(outcome.seconds - record["compute_seconds"])
        records[record["fold"]] = record
    report = result.report.seconds if result.report is not None else 0.0
    return total, report, overheads, records


def same_records(baseline: dict[int, dict], run: dict[int, dict]) -> bool:
    """The notebooks' fold records say what the in-process computation said."""
    if sorted(baseline) != sorted(run):
        return False
    return all(
        json.dumps([baseline[f][k] for k in COMPARED], sort_keys=True)
        == json.dumps([run[f][k] for k in COMPARED], sort_keys=True)
        for f in baseline
    )


def empty_notebook_seconds(root: Path, runs: int = 3) -> float:
    """The floor of any fold's overhead: an empty notebook through papermill (kernel and all)."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from workbench.research.notebook_runner import NotebookJob, execute_job

    cell = new_code_cell("x = 0")
    cell.metadata["tags"] = ["parameters"]
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb = new_notebook(cells=[cell], metadata={"kernelspec": kernel})
    src = root / "empty.ipynb"
    nbformat.write(nb, src)
    times = [
        execute_job(NotebookJob(f"empty{i}", src, root / f"empty{i}.out.ipynb", {"x": i})).seconds
        for i in range(runs)
    ]
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--out", help="keep the runs here (default: a temporary folder)")
    args = parser.parse_args()
    os.environ.setdefault("MPLBACKEND", "Agg")
    config = config_for(args.folds)
    folds, _ = plan_folds(config)
    assert len(folds) == args.folds, len(folds)
    root = Path(args.out or tempfile.mkdtemp(prefix="wf-bench-"))

    verdict = Verdict()
    started = time.perf_counter()
    for fold in folds:
        run_fold(**fold_parameters(config, fold, root / "baseline"))
    baseline = time.perf_counter() - started
    baseline_records = {}
    for path in (root / "baseline").rglob("fold_[0-9][0-9][0-9].json"):
        record = json.loads(path.read_text())  # as written, as the notebooks' are read
        baseline_records[record["fold"]] = record

    floor = empty_notebook_seconds(root)
    one, report_one, overhead_one, records_one = timed_run(config, root / "jobs1", 1)
    two, report_two, overhead_two, records_two = timed_run(config, root / "jobs2", 2)
    overhead = statistics.median(overhead_one)
    speedup = one / two

    print(f"walk-forward: {args.folds} folds, 100 combinations, sample:SPX ({conditions()})")
    for jobs, records in ((1, records_one), (2, records_two)):
        verdict.check(
            same_records(baseline_records, records),
            f"{jobs} job(s): every fold notebook chose and measured what the in-process run did",
        )
    if verdict.failed:
        verdict.finish()
    print(
        f"  in-process computation (baseline)  {baseline:7.2f} s"
        f"  ({baseline / len(folds):.2f} s/fold)"
    )
    print(f"  pipeline, 1 job                    {one:7.2f} s")
    print(f"  pipeline, 2 jobs                   {two:7.2f} s")
    print(
        f"  per-fold overhead (1 job)          median {overhead:.2f} s, "
        f"max {max(overhead_one):.2f} s  (2 jobs: median {statistics.median(overhead_two):.2f} s)"
    )
    print(f"  an empty notebook (kernel start, papermill: the floor)  {floor:.2f} s")
    print(f"  speed-up with 2 jobs               {speedup:7.2f}x")
    print(
        f"  without the report notebook (serial: {report_one:.1f} s, {report_two:.1f} s)"
        f"  {(one - report_one) / (two - report_two):7.2f}x"
    )
    print(f"  runs kept in {root}")
    verdict.check(
        overhead < GOAL_OVERHEAD,
        f"per-fold overhead {overhead:.2f} s (goal < {GOAL_OVERHEAD:g} s)",
    )
    verdict.check(
        speedup >= GOAL_SPEEDUP, f"speed-up with 2 jobs {speedup:.2f}x (goal >= {GOAL_SPEEDUP}x)"
    )
    verdict.finish()


if __name__ == "__main__":
    main()
