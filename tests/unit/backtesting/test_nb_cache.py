"""numba's cache of a kernel follows the steps it calls from other files (nb_cache.refresh)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from workbench.backtesting import exits_nb, fill_nb, nb
from workbench.backtesting.nb_cache import SOURCES

STEP = "from numba import njit\n@njit(cache=True)\ndef step():\n    return {}\n"
KERNEL = (
    "from numba import njit\nfrom pkg import step\n"
    "from workbench.backtesting.nb_cache import refresh\n"
    "@njit(cache=True)\ndef run():\n    return step.step()\n"
    "{}"
)


def test_the_kernels_know_every_source_they_are_built_from() -> None:
    """Followed link by link: the tolerances' owners -> fill_nb -> exits_nb -> nb."""
    names = {Path(p).name for p in getattr(nb, SOURCES)}
    assert {
        "nb.py",
        "exits_nb.py",
        "fill_nb.py",
        "targets.py",
        "portfolio.py",
        "broker.py",
    } <= names
    assert getattr(fill_nb, SOURCES) < getattr(exits_nb, SOURCES) < getattr(nb, SOURCES)


def test_an_edited_step_in_another_file_is_compiled_into_the_kernel_again(tmp_path: Path) -> None:
    """Real numba caches on disk, in fresh processes: ``raw`` shows numba's limit (it keeps
    running the step it cached), ``kernel``, which ends with refresh, runs the edited one;
    an unchanged step leaves the cache in use."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "step.py").write_text(STEP.format(1))
    (pkg / "raw.py").write_text(KERNEL.format(""))
    (pkg / "kernel.py").write_text(KERNEL.format("refresh(globals(), [step])\n"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    env.pop("NUMBA_CACHE_DIR", None)
    env["NUMBA_DEBUG_CACHE"] = "1"
    script = "from pkg import raw, kernel; print('result', raw.run(), kernel.run())"

    def run() -> tuple[list[str], str]:
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr
        result = next(line for line in out.stdout.splitlines() if line.startswith("result"))
        return result.split()[1:], out.stdout

    assert run()[0] == ["1", "1"]
    result, log = run()
    assert result == ["1", "1"]
    assert "data loaded from" in log and "kernel.run" in log  # unchanged: the cache serves it
    (pkg / "step.py").write_text(STEP.format(2))
    assert run()[0] == ["1", "2"]  # raw: numba's stale cache; kernel: compiled again
