"""What a fold's kernel, or the zygote of a pool's kernels, runs as it starts: given to the
right one, leaving no thread; hidden progress bars that start no thread."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from workbench.research.notebook_runner import NotebookRunner
from workbench.research.walkforward import FOLD_PRELOAD


def test_one_worker_s_kernel_and_a_pool_s_zygote_get_the_preload(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workbench.research import notebook_runner

    started: list[tuple[str, str | None]] = []
    monkeypatch.setattr(notebook_runner, "_start_kernel", lambda p: started.append(("kernel", p)))
    monkeypatch.setattr(
        NotebookRunner, "_start_zygote", lambda self, p: started.append(("zygote", p)) or object()
    )
    NotebookRunner(1).prepare(FOLD_PRELOAD)
    NotebookRunner(2).prepare(FOLD_PRELOAD)
    NotebookRunner(2, reuse_kernels=False).prepare(FOLD_PRELOAD)  # nothing to prepare
    assert started == [("kernel", FOLD_PRELOAD), ("zygote", FOLD_PRELOAD)]


def test_the_preload_sets_numba_up_with_the_garbage_collector_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gc

    from numba.core.registry import cpu_target

    from workbench.research import fold

    seen: list[bool] = []

    def refresh() -> None:
        seen.append(gc.isenabled())
        if len(seen) == 2:
            raise RuntimeError("a failing set-up")

    monkeypatch.setattr(cpu_target.target_context, "refresh", refresh)
    assert gc.isenabled()
    fold.preload()
    assert seen == [False] and gc.isenabled()
    with pytest.raises(RuntimeError):
        fold.preload()
    assert gc.isenabled()  # on again, whatever happened
    gc.disable()
    try:
        fold.preload()
        assert not gc.isenabled()  # left as found
    finally:
        gc.enable()


PROBE = """
import json, sys, threading
from workbench.research.fold import preload
from workbench.research.walkforward import FOLD_PRELOAD
exec(FOLD_PRELOAD)
bar = getattr(sys.modules.get("tqdm.auto"), "tqdm", None)  # the class workbench uses
print(json.dumps({
    "threads": threading.active_count(),
    "monitor": bar is not None and bar.monitor is not None,
    "lock": bar is not None and "_lock" in vars(bar),
}))
"""


def test_the_preload_leaves_no_thread_and_no_progress_bar_lock() -> None:
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
