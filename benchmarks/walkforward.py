"""Walk-forward through papermill: total time with 1 and 2 jobs, per-fold overhead, speed-up.

A 10-fold run of the crossover on ``sample:SPX`` (train 756 bars, test 252) with the
100-combination grid ``fast=10:100:10``, ``slow=50:300:25``: what ``workbench walkforward``
runs for a user, each fold an in-sample sweep of the whole grid (the numba kernel, the
PBO and deflated Sharpe ratio of the choice), then the choice through the event engine in
and out of sample; the report notebook and ``report.html`` after the folds. The workload
is a real daily-bar walk-forward and a small one: a warm fold computes in about 0.3-0.5 s,
so the fixed costs (a kernel's start, the imports and numba's cache loading in it, the
report) weigh as much as the folds; a larger grid or minute bars would hide them.

Measured in this run:

  1. the baseline: the ten folds' computation in this process (``run_fold``, no notebook);
  2. the pipeline with 1 job and with 2 jobs (every fold re-executed: ``force``), each run
     in a fresh process as a command would be (its imports untimed: the same for both),
     alternating 1, 2, 1, 2 ... ``--repeat`` times; each is timed by its best run (the
     slower runs measure the neighbours on a shared machine), the median shown too;
  3. the per-fold overhead: each notebook's execution time minus the computation the
     notebook measured in-process (papermill, and on the first fold of each process the
     warm kernel's start and imports), next to the time of an empty notebook on a fresh
     kernel (what every fold paid before warm kernels: a kernel's start and stop);
  4. the speed-up: best time with 1 job / best time with 2 jobs;
  5. the CPU seconds of a whole run (the process, its workers and every kernel, median),
     which do not depend on waiting for a core: on a shared machine they show what each
     run did, and half the 2-job figure is that run's floor on 2 cores;
  6. with ``--timeline``, one more run with 1 and with 2 jobs printed as every process's
     events in time (kernels started and ready, notebooks, each notebook's computing cell,
     summary, report, report.html): where the serial seconds go.

Checks first: every fold's notebook (with 1 job and with 2, every run) chose the
parameters, and measured the in- and out-of-sample figures, that the in-process
computation did. Goals: per-fold overhead under 1 s (median, best 1-job run), speed-up at
least 1.7 with 2 jobs (on 2 idle cores: other work on the machine skews it, the load
average is printed before and after). Exits 1 when a check or a goal fails.

    python benchmarks/walkforward.py [--folds 10] [--repeat 3] [--out DIR] [--timeline]
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from _harness import Verdict, conditions, timed

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
) -> tuple[tuple[float, list[float], dict[int, dict], list[float]], float, float]:
    """One pipeline run (in a fresh process): ((the report notebook's seconds, each fold's
    overhead, the fold records, each fold notebook's seconds), CPU seconds of the whole run
    (this process, its workers and every kernel), wall seconds)."""
    from workbench.research.warm_kernel import drop_kernel

    os.environ.setdefault("MPLBACKEND", "Agg")
    before = _cpu_with_children()
    result, _, wall = timed(
        lambda: run_walk_forward(config, out, workers=jobs, force=True, progress=False)
    )
    drop_kernel()  # the 1-job run's kernel lives in this process: stopped (and reaped) now
    cpu = _cpu_with_children() - before
    if result.failed:
        raise SystemExit(f"failed: {[(o.name, o.error) for o in result.failed]}")
    overheads = []
    records = {}
    for outcome in result.outcomes:
        record = json.loads((out / "folds" / f"{outcome.name}.json").read_text())
        overheads.append(outcome.seconds - record["compute_seconds"])
        records[record["fold"]] = record
    report = result.report.seconds if result.report is not None else 0.0
    return (report, overheads, records, [o.seconds for o in result.outcomes]), cpu, wall


def _cpu_with_children() -> float:
    """CPU seconds of this process and of its reaped descendants (workers, kernels)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def same_records(baseline: dict[int, dict], run: dict[int, dict]) -> bool:
    """The notebooks' fold records say what the in-process computation said."""
    if sorted(baseline) != sorted(run):
        return False
    return all(
        json.dumps([baseline[f][k] for k in COMPARED], sort_keys=True)
        == json.dumps([run[f][k] for k in COMPARED], sort_keys=True)
        for f in baseline
    )


def timeline_run(config: WalkForwardConfig, out: Path, jobs: int) -> list[tuple[float, str, str]]:
    """One pipeline run (in a fresh process) with every process's events: (seconds from the
    run's start, process, what). The workbench's debug events (kernels started and ready,
    notebooks started and ended, folds done, summary, report.html) go to a file opened before
    the pool forks, so the workers write to it too; the kernels' side comes from the executed
    notebooks (papermill times each cell: the fold's computation is its longest)."""
    from datetime import datetime

    os.environ.setdefault("MPLBACKEND", "Agg")
    path = out.parent / f"timeline{jobs}.jsonl"
    path.unlink(missing_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(_EventFormatter())
    logger = logging.getLogger("workbench.research")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    started = time.time()
    try:
        run_walk_forward(config, out, workers=jobs, force=True, progress=False)
    finally:
        logger.removeHandler(handler)
        handler.close()
    parent = os.getpid()
    names: dict[int, str] = {parent: "parent"}
    where: dict[str, str] = {}
    events = []
    for line in path.read_text().splitlines():
        at, pid, event, message = json.loads(line)
        if int(pid) not in names:
            names[int(pid)] = f"worker {len(names)}"
        who = names[int(pid)]
        if event == "notebook_start":
            where[message.split(":")[0]] = who
        events.append((at - started, who, message))
    for nb_path in sorted([*(out / "folds").glob("fold_*.ipynb"), out / "report.ipynb"]):
        cells = [c.get("metadata", {}).get("papermill", {}) for c in _cells(nb_path)]
        cells = [c for c in cells if c.get("start_time") and c.get("end_time")]
        if not cells:
            continue
        longest = max(cells, key=lambda c: c.get("duration") or 0.0)
        first, last = (
            datetime.fromisoformat(longest[k]).timestamp() for k in ("start_time", "end_time")
        )
        who = where.get(nb_path.stem, "?") + "'s kernel"
        events.append((first - started, who, f"{nb_path.stem}: its longest cell starts"))
        events.append(
            (last - started, who, f"{nb_path.stem}: its longest cell ends ({last - first:.2f} s)")
        )
    return sorted(events)


class _EventFormatter(logging.Formatter):
    """A log line as JSON: [time, process id, event, message]."""

    def format(self, record: logging.LogRecord) -> str:
        event = getattr(record, "event", "")
        return json.dumps([record.created, record.process, event, record.getMessage()])


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def print_timeline(events: list[tuple[float, str, str]], jobs: int) -> None:
    print(f"  timeline, {jobs} job(s): seconds from the call of run_walk_forward ({conditions()})")
    for at, who, what in events:
        print(f"    {at:6.2f}  {who:<18} {what}")


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
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (best is kept)")
    parser.add_argument("--out", help="keep the runs here (default: a temporary folder)")
    parser.add_argument(
        "--timeline",
        action="store_true",
        help="then one more run with 1 and with 2 jobs, each process's events printed in time",
    )
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
    print(f"walk-forward: {args.folds} folds, 100 combinations, sample:SPX ({conditions()})")
    runs: dict[int, list[tuple[float, float, list[float], dict[int, dict], list[float]]]] = {
        1: [],
        2: [],
    }
    cpus: dict[int, list[float]] = {1: [], 2: []}
    ctx = mp.get_context("spawn")  # a fresh process per run: no kernel left by the last one
    for _ in range(args.repeat):
        for jobs in (1, 2):
            # not a multiprocessing.Pool: its daemonic workers may not start the 2 jobs' pool
            with ProcessPoolExecutor(1, mp_context=ctx) as fresh:
                (report, overheads, records, seconds), cpu, wall = fresh.submit(
                    timed_run, config, root / f"jobs{jobs}", jobs
                ).result()
            runs[jobs].append((wall, report, overheads, records, seconds))
            cpus[jobs].append(cpu)
            print(f"  {jobs} job(s): {wall:.2f} s (report notebook {report:.2f} s)", flush=True)
    for jobs in (1, 2):
        verdict.check(
            all(same_records(baseline_records, r[3]) for r in runs[jobs]),
            f"{jobs} job(s): every fold notebook chose and measured what the in-process run did",
        )
    if verdict.failed:
        verdict.finish()
    best = {jobs: min(runs[jobs], key=lambda r: r[0]) for jobs in (1, 2)}
    one, two = best[1][0], best[2][0]
    overhead_one, overhead_two = best[1][2], best[2][2]
    overhead = statistics.median(overhead_one)
    speedup = one / two
    print(
        f"  in-process computation (baseline)  {baseline:7.2f} s"
        f"  ({baseline / len(folds):.2f} s/fold)"
    )
    for jobs, label in ((1, "1 job "), (2, "2 jobs")):
        walls = [r[0] for r in runs[jobs]]
        print(
            f"  pipeline, {label}                   {min(walls):7.2f} s"
            f"  (median of {len(walls)}: {statistics.median(walls):.2f} s)"
        )
    print(
        f"  per-fold overhead (1 job)          median {overhead:.2f} s, "
        f"max {max(overhead_one):.2f} s  (2 jobs: median {statistics.median(overhead_two):.2f} s)"
    )
    print(f"  an empty notebook (kernel start, papermill: the floor)  {floor:.2f} s")
    print(f"  speed-up with 2 jobs               {speedup:7.2f}x")
    # CPU does not wait for a core: what each run did, whatever the neighbours did meanwhile
    one_cpu, two_cpu = statistics.median(cpus[1]), statistics.median(cpus[2])
    print(
        f"  CPU of a whole run (process, workers, kernels; median)  1 job {one_cpu:.2f} s,"
        f" 2 jobs {two_cpu:.2f} s: a 2-job run needs at least {two_cpu / 2:.2f} s on 2 cores"
    )
    report_one, report_two = best[1][1], best[2][1]
    print(
        f"  without the report notebook (serial: {report_one:.1f} s, {report_two:.1f} s)"
        f"  {(one - report_one) / (two - report_two):7.2f}x"
    )
    # Amdahl: what 2 jobs can share is the folds at their steady pace (a warm kernel's); the
    # rest of the 1-job time (the first fold's kernel start, imports and numba cache loading,
    # papermill's import, the summary, the report notebook) stays serial with any number of jobs
    seconds = best[1][4]
    steady = statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]
    shared = steady * len(seconds)
    serial = one - shared
    print(
        f"  serial part of the 1-job run {serial:.2f} s, folds at a warm kernel's pace"
        f" {shared:.2f} s ({steady:.2f} s each): at most {one / (serial + shared / 2):.2f}x"
        " with 2 jobs (Amdahl)"
    )
    print(f"  runs kept in {root}; {conditions()} after")
    if args.timeline:
        for jobs in (1, 2):
            with ProcessPoolExecutor(1, mp_context=ctx) as fresh:
                events = fresh.submit(timeline_run, config, root / f"timeline{jobs}", jobs).result()
            print_timeline(events, jobs)
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
