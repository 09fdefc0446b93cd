"""A pool's zygote rehearses a fold of the run before it forks the kernels: what it runs,
that it runs once per process, leaves no thread and writes nothing of the run's; hidden
progress bars that start no thread."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from workbench.research import fold
from workbench.research.notebook_runner import NotebookRunner
from workbench.research.walkforward import (
    FOLD_PRELOAD,
    WalkForwardConfig,
    fold_parameters,
    fold_preload,
    plan_folds,
)

GRID = {"fast": [5, 10], "slow": [20, 40]}


def _config(**extra: Any) -> WalkForwardConfig:
    return WalkForwardConfig("ma_crossover", "sample:SPX", 252, 63, GRID, **extra)


def _rehearsal(code: str) -> str:
    """The JSON argument of ``preload(...)`` in a preload's code."""
    call = ast.parse(code).body[-1].value  # type: ignore[attr-defined]
    assert call.func.id == "preload"
    return call.args[0].value


def test_the_rehearsal_is_the_run_s_fold_parameters_without_a_fold_s_window() -> None:
    config = _config(commission=0.001, search="random", n_trials=6, seed=4)
    given = json.loads(_rehearsal(fold_preload(config)))
    one_fold = fold_parameters(config, plan_folds(config)[0][0], Path("out"))
    window = {"fold", "train_start", "train_end", "test_start", "test_end", "out"}
    assert given == {k: v for k, v in one_fold.items() if k not in window}
    assert json.loads(json.dumps(given)) == given  # as a notebook's parameters: plain JSON


def test_a_rehearsal_runs_a_small_fold_into_a_folder_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = _config(search="random", n_trials=6, seed=4)
    record = fold.rehearse(json.loads(_rehearsal(fold_preload(config))))
    assert record["n_samples"] == 2 >= record["n_trials"]  # a sampled search: 2 candidates
    assert record["params"]["fast"] in GRID["fast"] and record["params"]["slow"] in GRID["slow"]
    assert list(tmp_path.iterdir()) == []  # nothing written where the run is


def test_preload_rehearses_once_per_process_and_survives_a_failing_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[dict[str, Any]] = []

    def counting(parameters: dict[str, Any]) -> None:
        seen.append(parameters)
        if parameters["data"] == "broken":
            raise ValueError("no such data")

    monkeypatch.setattr(fold, "rehearse", counting)
    monkeypatch.setattr(fold, "_rehearsed", set())
    code = _rehearsal(fold_preload(_config()))
    fold.preload(code)
    fold.preload(code)  # a kernel forked from a zygote that ran it: nothing again
    fold.preload()
    assert seen == [json.loads(code)]
    fold.preload(json.dumps({"data": "broken"}))  # logged; the folds fail on it themselves
    assert len(seen) == 2


def test_a_pool_s_zygote_gets_the_shared_preload_one_worker_s_kernel_the_plain_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workbench.research import notebook_runner

    started: list[tuple[str, str | None]] = []
    monkeypatch.setattr(notebook_runner, "_start_kernel", lambda p: started.append(("kernel", p)))
    monkeypatch.setattr(
        NotebookRunner, "_start_zygote", lambda self, p: started.append(("zygote", p)) or object()
    )
    NotebookRunner(1).prepare(FOLD_PRELOAD, shared="rehearse")
    NotebookRunner(2).prepare(FOLD_PRELOAD, shared="rehearse")
    NotebookRunner(2).prepare(FOLD_PRELOAD)
    assert started == [("kernel", FOLD_PRELOAD), ("zygote", "rehearse"), ("zygote", FOLD_PRELOAD)]


PROBE = """
import json, sys, threading
from workbench.research.fold import preload
from workbench.research.walkforward import WalkForwardConfig, fold_preload
config = WalkForwardConfig("ma_crossover", "sample:SPX", 252, 63, {"fast": [5], "slow": [20]})
exec(fold_preload(config))
bar = getattr(sys.modules.get("tqdm.auto"), "tqdm", None)  # the class workbench uses
print(json.dumps({
    "threads": threading.active_count(),
    "monitor": bar is not None and bar.monitor is not None,
    "lock": bar is not None and "_lock" in vars(bar),
}))
"""


def test_a_rehearsal_leaves_no_thread_and_no_progress_bar_lock() -> None:
    """The zygote forks kernels after it: a thread there (tqdm's monitor, started by any
    tqdm even when disabled) would not be in the kernels; tqdm's lock is a semaphore."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300, check=True
    )
    after = json.loads(done.stdout.strip().splitlines()[-1])
    assert after == {"threads": 1, "monitor": False, "lock": False}


def test_a_hidden_bar_iterates_and_counts_without_tqdm() -> None:
    from workbench.progress import Hidden, progress

    bar = progress(range(3), show=False, desc="x")
    assert isinstance(bar, Hidden) and list(bar) == [0, 1, 2] and bar.n == 3
    with progress(total=5, show=False) as counted:
        counted.update(2)
        counted.update()
    assert counted.n == 3 and counted.total == 5
    shown = progress(range(2), show=True, disable=True)
    assert list(shown) == [0, 1] and not isinstance(shown, Hidden)
