"""A kernel that dies while a cell runs (killed, aborted, out of memory) fails its notebook
with the reason, in bounded time, and the next notebook gets a new kernel: never a hang.

Each test carries a timeout: before the fix the runner waited forever on the dead kernel's
IOPub, and a regression must fail here, not hang the suite."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from workbench.research import notebook_runner, warm_kernel
from workbench.research.notebook_runner import NotebookJob, NotebookRunner
from workbench.research.zygote import Zygote

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180, method="thread")]

#: A cell ending its own kernel, and how the failed notebook says it ended (no core file).
DIE = {
    "SIGKILL": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
    "SIGABRT": (
        "import os, resource\nresource.setrlimit(resource.RLIMIT_CORE, (0, 0))\nos.abort()"
    ),
    "exit-3": "import os\nos._exit(3)",
}
ENDING = {"SIGKILL": "killed by SIGKILL", "SIGABRT": "killed by SIGABRT", "exit-3": "exit status 3"}


def _notebook(path: Path, *bodies: str) -> Path:
    params = new_code_cell("out = 'pid.txt'")
    params.metadata["tags"] = ["parameters"]
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cells = [params, *(new_code_cell(body) for body in bodies)]
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": kernelspec}), path)
    return path


def _jobs(tmp_path: Path, death: str) -> list[NotebookJob]:
    """A job whose third cell ends its kernel, then one that only writes its kernel's pid (and
    its parent's)."""
    write_pid = "import os, pathlib\npathlib.Path(out).write_text(f'{os.getpid()} {os.getppid()}')"
    dying = _notebook(tmp_path / "die.ipynb", write_pid, DIE[death], "print('never')")
    fine = _notebook(tmp_path / "fine.ipynb", write_pid)
    return [
        NotebookJob("die", dying, tmp_path / "out" / "die.ipynb", {"out": str(tmp_path / "a")}),
        NotebookJob("fine", fine, tmp_path / "out" / "fine.ipynb", {"out": str(tmp_path / "b")}),
    ]


@pytest.fixture(autouse=True)
def _own_kernel(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MPLBACKEND", "Agg")
    warm_kernel.drop_kernel()
    yield
    warm_kernel.drop_kernel()


@pytest.mark.parametrize("death", sorted(DIE))
@pytest.mark.parametrize("kernel", ["warm-forked", "warm-launched", "fresh"])
def test_a_kernel_dying_in_a_cell_fails_its_notebook_and_the_next_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel: str, death: str
) -> None:
    zygote = Zygote(fork=False) if kernel == "warm-forked" else None
    try:
        # this process's kernels: forked by that zygote, or launched
        monkeypatch.setitem(warm_kernel._kernel, "zygote", zygote and zygote.address)
        with NotebookRunner(1, reuse_kernels=kernel != "fresh") as runner:
            outcomes = runner.run(_jobs(tmp_path, death), progress=False)
    finally:
        if zygote is not None:
            warm_kernel.drop_kernel()  # before its zygote ends
            zygote.close()
    assert [o.status for o in outcomes] == ["failed", "ok"], outcomes
    dead, parent = map(int, (tmp_path / "a").read_text().split())
    assert int((tmp_path / "b").read_text().split()[0]) != dead  # a new kernel for the next
    if zygote is not None:
        assert parent == zygote.pid  # forked by it, not launched
    assert outcomes[0].error == (  # the parameters, papermill's, the pid's, the killing cell
        f"KernelDied: the kernel died while running cell 4 of {tmp_path / 'out' / 'die.ipynb'}"
        f" ({ENDING[death]})"
    )
    executed = nbformat.read(tmp_path / "out" / "die.ipynb", as_version=4)  # as far as it ran
    (shown,) = executed.cells[3].outputs
    assert shown.ename == "KernelDied" and shown.evalue == outcomes[0].error.split(": ", 1)[1]
    assert executed.cells[4].source == "print('never')" and not executed.cells[4].outputs


@pytest.mark.parametrize("reuse", [True, False], ids=["warm", "fresh"])
def test_a_cell_over_its_timeout_fails_its_notebook_and_the_next_runs(
    tmp_path: Path, reuse: bool
) -> None:
    """Quiet cells too: the time limit is checked while the kernel sends nothing. The
    notebook is saved as far as it ran, the timeout shown on its cell (the audit trail)."""
    slow = _notebook(
        tmp_path / "slow.ipynb", "print('started', flush=True)", "import time\ntime.sleep(600)"
    )
    fine = _notebook(tmp_path / "fine.ipynb", "import os, pathlib\npathlib.Path(out).touch()")
    jobs = [
        NotebookJob("slow", slow, tmp_path / "slow-out.ipynb", timeout=1),
        NotebookJob("fine", fine, tmp_path / "fine-out.ipynb", {"out": str(tmp_path / "b")}),
    ]
    with NotebookRunner(1, reuse_kernels=reuse) as runner:
        outcomes = runner.run(jobs, progress=False)
    assert [o.status for o in outcomes] == ["failed", "ok"], outcomes
    assert re.match(r"CellTimeoutError: .*timed out", outcomes[0].error or "")
    assert (tmp_path / "b").exists()
    executed = nbformat.read(tmp_path / "slow-out.ipynb", as_version=4)
    started, late = executed.cells[-2:]
    assert started.outputs[0].text == "started\n"
    assert late.metadata.papermill.status == "failed"
    (shown,) = (o for o in late.outputs if o.output_type == "error")
    assert shown.ename == "CellTimeoutError"
    assert shown.evalue == f"cell 3 of {tmp_path / 'slow-out.ipynb'} ran over its timeout of 1 s"


def test_a_pool_worker_whose_kernel_dies_goes_on_with_the_other_jobs(tmp_path: Path) -> None:
    """2 workers, their kernels forked from the runner's zygote: one is killed in a cell."""
    die, fine = _jobs(tmp_path, "SIGKILL")
    others = [
        NotebookJob(f"fine{k}", fine.template, tmp_path / f"fine{k}.ipynb", {"out": f"{k}.pid"})
        for k in range(3)
    ]
    with NotebookRunner(2) as runner:
        outcomes = runner.run([die, *others], progress=False)
    assert [o.status for o in outcomes] == ["failed", "ok", "ok", "ok"], outcomes
    assert "KernelDied: the kernel died while running cell 4" in (outcomes[0].error or "")
    assert "killed by SIGKILL" in (outcomes[0].error or "")
    summary = json.dumps([o.to_dict() for o in outcomes])
    assert summary.count("KernelDied") == 1


def test_a_pool_process_that_dies_fails_its_batch_s_open_jobs_and_not_the_next_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not the kernel but the pool's process dies (the kernel's parent, killed or out of
    memory): the jobs it took down fail with a reason that says to resume, the finished ones
    stay finished, and the runner's next batch (a walk-forward's report) runs on a new pool
    instead of raising BrokenProcessPool."""
    die, fine = _jobs(tmp_path, "SIGKILL")
    real = notebook_runner.execute_job

    def dying(job: NotebookJob, reuse: bool = False) -> notebook_runner.JobOutcome:
        if job.name == "die":
            os._exit(9)  # in the forked worker, which inherited this patch
        return real(job, reuse)

    monkeypatch.setattr(notebook_runner, "execute_job", dying)
    others = [
        NotebookJob(f"fine{k}", fine.template, tmp_path / f"fine{k}.ipynb", {"out": f"{k}.pid"})
        for k in range(2)
    ]
    with NotebookRunner(2) as runner:
        outcomes = runner.run([die, *others], progress=False)
        after = runner.run([fine], progress=False)
    assert outcomes[0].status == "failed"
    for outcome, job in zip(outcomes, [die, *others], strict=True):
        if outcome.status == "failed":
            assert "a pool process died" in (outcome.error or "") and "resume" in outcome.error
        else:
            assert outcome.status == "ok" and job.is_done()
    assert [o.status for o in after] == ["ok"]


@pytest.mark.parametrize("kernel", ["warm-forked", "warm-launched"])
def test_a_dropped_kernel_is_gone_with_its_connection_file_and_pipes(
    monkeypatch: pytest.MonkeyPatch, kernel: str
) -> None:
    """Killed, waited for and released: no process, no connection file, the provisioner's
    process handle forgotten (a launched kernel's pipes closed with it)."""
    zygote = Zygote(fork=False) if kernel == "warm-forked" else None
    try:
        monkeypatch.setitem(warm_kernel._kernel, "zygote", zygote and zygote.address)
        warm_kernel.start_kernel("python3")
        km, _ = warm_kernel._ready_kernel("python3", None)
        provisioner, connection_file = km.provisioner, Path(km.connection_file)
        process = provisioner.process
        assert connection_file.exists() and process.poll() is None
        pipes = [p for p in (process.stdin, process.stdout, process.stderr) if p is not None]
        warm_kernel.drop_kernel()
        assert process.poll() is not None  # waited for: its exit known
        assert not connection_file.exists()
        assert provisioner.process is None and all(p.closed for p in pipes)
    finally:
        warm_kernel.drop_kernel()
        if zygote is not None:
            zygote.close()
