"""The papermill job runner: outcomes, failures with their notebook, resume and fingerprints."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest
from jupyter_client.connect import LocalPortCache
from nbformat.v4 import new_code_cell, new_notebook

from workbench.errors import ConfigError
from workbench.research.notebook_runner import (
    KERNEL,
    KERNEL_ARGUMENTS,
    NotebookJob,
    NotebookRunner,
    execute_job,
    run_notebooks,
)
from workbench.research.warm_kernel import drop_kernel


def template(path: Path, body: str) -> Path:
    params = new_code_cell("x = 1\nout = 'result.json'")
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(
        cells=[params, new_code_cell(body)],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    nbformat.write(nb, path)
    return path


BODY = (
    "import json, pathlib\n"
    "if x < 0:\n"
    "    raise ValueError(f'x must be positive, got {x}')\n"
    "pathlib.Path(out).write_text(json.dumps({'square': x * x}))"
)


@pytest.mark.slow
def test_jobs_run_fail_alone_and_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")
    src = template(tmp_path / "square.ipynb", BODY)

    def jobs(values: dict[str, int]) -> list[NotebookJob]:
        return [
            NotebookJob(
                name,
                src,
                tmp_path / "out" / f"{name}.ipynb",
                {"x": x, "out": str(tmp_path / f"{name}.json")},
            )
            for name, x in values.items()
        ]

    first = run_notebooks(jobs({"a": 3, "b": -1, "c": 4}), workers=2, progress=False)
    assert [o.status for o in first] == ["ok", "failed", "ok"]
    assert json.loads((tmp_path / "a.json").read_text()) == {"square": 9}
    failed = first[1]
    assert failed.notebook == tmp_path / "out" / "b.ipynb" and failed.notebook.exists()
    assert failed.error.startswith("ValueError: x must be positive, got -1")
    assert not failed.ok and first[0].ok
    executed = nbformat.read(failed.notebook, as_version=4)
    assert any(o.get("ename") == "ValueError" for c in executed.cells for o in c.get("outputs", []))

    # same jobs again: the done ones are skipped; a changed parameter re-runs its job
    second = run_notebooks(jobs({"a": 3, "b": 2, "c": 5}), progress=False)
    assert [o.status for o in second] == ["skipped", "ok", "ok"]
    assert json.loads((tmp_path / "c.json").read_text()) == {"square": 25}
    # a changed template re-runs everything; force too
    template(src, BODY + "\n# edited")
    third = run_notebooks(jobs({"a": 3}), progress=False)
    assert third[0].status == "ok"
    assert run_notebooks(jobs({"a": 3}), progress=False)[0].status == "skipped"
    assert run_notebooks(jobs({"a": 3}), force=True, progress=False)[0].status == "ok"


def test_runner_refuses_bad_input(tmp_path: Path) -> None:
    src = template(tmp_path / "t.ipynb", "pass")
    job = NotebookJob("a", src, tmp_path / "a.ipynb")
    with pytest.raises(ConfigError, match="unique"):
        run_notebooks([job, job], progress=False)
    with pytest.raises(ConfigError, match="does not exist"):
        run_notebooks([NotebookJob("a", tmp_path / "missing.ipynb", tmp_path / "a.ipynb")])
    with pytest.raises(ConfigError, match="workers"):
        run_notebooks([job], workers=0)


def test_is_done_needs_the_marker_the_fingerprint_and_the_notebook(tmp_path: Path) -> None:
    src = template(tmp_path / "t.ipynb", "pass")
    job = NotebookJob("a", src, tmp_path / "a.ipynb", {"x": 1})
    assert not job.is_done()
    job.marker.write_text(json.dumps({"fingerprint": job.fingerprint()}))
    assert not job.is_done()  # no executed notebook yet
    job.output.write_text("{}")
    assert job.is_done()
    other = NotebookJob("a", src, tmp_path / "a.ipynb", {"x": 2})
    assert other.fingerprint() != job.fingerprint() and not other.is_done()
    # what the notebook reads besides its parameters (its data's digest) counts too
    read = NotebookJob("a", src, tmp_path / "a.ipynb", {"x": 1}, inputs="data 1")
    assert read.fingerprint() != job.fingerprint() and not read.is_done()
    read.marker.write_text(json.dumps({"fingerprint": read.fingerprint()}))
    assert read.is_done()
    assert not replace(read, inputs="data 2").is_done()
    job.marker.write_text("not json")
    assert not job.is_done()


@pytest.mark.slow
def test_unreachable_scheduler_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("workbench.research.notebook_runner.CONNECT_TIMEOUT", "1s")
    src = template(tmp_path / "t.ipynb", "pass")
    job = NotebookJob("a", src, tmp_path / "a.ipynb")
    with pytest.raises(ConfigError, match="cannot reach the Dask scheduler"):
        list(run_notebooks([job], scheduler="tcp://127.0.0.1:9", progress=False))


def test_the_kernels_keep_their_start_up_warning_to_themselves(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """In a notebook cell, whatever a papermill kernel writes to stderr is a red box."""
    src = template(tmp_path / "square.ipynb", BODY)
    job = NotebookJob("a", src, tmp_path / "a.ipynb", {"x": 2, "out": str(tmp_path / "a.json")})
    (outcome,) = run_notebooks([job], progress=False)
    assert outcome.status == "ok"
    captured = capfd.readouterr()  # file descriptors: the kernel subprocess's output too
    assert "without encryption" not in captured.err + captured.out


WARM_BODY = (
    "import json, os, pathlib\n"
    "assert 'left_over' not in globals(), 'a variable of the previous notebook survived'\n"
    "assert 'preloaded' not in globals(), 'a variable of the preload survived'\n"
    "import sys\n"
    "assert not then_ran or 'wave' in sys.modules, 'the previous batch left no then'\n"
    "assert not get_ipython().history_manager.enabled, 'a batch kernel keeps no history'\n"
    "left_over = x\n"
    "if x == 2:\n"
    "    raise ValueError('the second one fails')\n"
    "pathlib.Path(out).write_text(json.dumps({'pid': os.getpid(), 'cwd': os.getcwd()}))"
)


def test_the_warm_kernel_s_client_reconnects_soon_to_a_kernel_not_listening_yet() -> None:
    """Its channels connect before the kernel has bound its ports; zmq's default interval
    (100 ms) would hold every kernel's first request back that long."""
    import zmq

    from workbench.research import warm_kernel

    drop_kernel()
    warm_kernel.start_kernel(KERNEL, KERNEL_ARGUMENTS)
    try:
        kc = warm_kernel._kernel["kc"]
        for channel in (kc.shell_channel, kc.iopub_channel, kc.control_channel):
            assert channel.socket.getsockopt(zmq.RECONNECT_IVL) == warm_kernel.RECONNECT_MS
        assert warm_kernel.RECONNECT_MS < 100
        # whether it lives is asked of its manager: no heartbeat thread, which a quick stop
        # sent spinning (a socket a turn, to "Too many open files")
        assert kc._hb_channel is None or not kc._hb_channel.is_alive()
        assert warm_kernel._sync(kc.is_alive)  # as nbclient asks: of the manager
    finally:
        drop_kernel()


@pytest.mark.slow
@pytest.mark.parametrize("reuse", [True, False])
def test_warm_kernels_are_reused_and_cleared_between_notebooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reuse: bool
) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")
    drop_kernel()  # this process's kernel starts here, with the first job's preload
    src = template(tmp_path / "warm.ipynb", WARM_BODY)
    jobs = []
    preload = "preloaded = 1\nraise RuntimeError('a failing preload is no failed job')"
    for k in range(4):
        cwd = tmp_path / f"cwd{k}"
        cwd.mkdir()
        params = {"x": k, "out": str(cwd / "r.json"), "then_ran": reuse and k == 3}
        jobs.append(
            NotebookJob(f"j{k}", src, tmp_path / f"j{k}.ipynb", params, cwd=cwd, preload=preload)
        )
    with NotebookRunner(1, reuse_kernels=reuse) as runner:  # the last in a batch of its own
        outcomes = runner.run(jobs[:3], progress=False, then="import wave\nthen_ran = 0")
        outcomes += runner.run(jobs[3:], progress=False)
    assert [o.status for o in outcomes] == ["ok", "ok", "failed", "ok"]
    assert "the second one fails" in (outcomes[2].error or "")
    records = [json.loads((tmp_path / f"cwd{k}" / "r.json").read_text()) for k in (0, 1, 3)]
    assert [r["cwd"] for r in records] == [str(tmp_path / f"cwd{k}") for k in (0, 1, 3)]
    pids = {r["pid"] for r in records}
    assert len(pids) == (1 if reuse else 3)  # one warm kernel, or one kernel per notebook
    last = nbformat.read(tmp_path / "j3.ipynb", as_version=4)
    counts = [c.execution_count for c in last.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1))  # each notebook counts its own cells


PID_BODY = (
    "import gc, os, pathlib, sys\n"
    "assert 'preloaded' not in globals(), 'a variable of the preload survived'\n"
    "assert 'colorsys' in sys.modules, 'the preload did not run'\n"
    "assert gc.get_freeze_count() > 0, 'the warm kernel froze nothing'\n"
    "pathlib.Path(out).write_text(str(os.getpid()))"
)


@pytest.mark.slow
def test_a_runner_keeps_its_pool_and_warm_kernels_for_the_next_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A walk-forward's report lands on a kernel its folds warmed up, not on a cold one; each
    worker's kernel ran the first job's preload as it started."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    src = template(tmp_path / "pid.ipynb", PID_BODY)

    def job(name: str) -> NotebookJob:
        params = {"x": 0, "out": str(tmp_path / f"{name}.pid")}
        preload = "import colorsys\npreloaded = 1"
        return NotebookJob(name, src, tmp_path / f"{name}.ipynb", params, preload=preload)

    with NotebookRunner(2) as runner:
        first = runner.run([job("a"), job("b"), job("c")], progress=False, then="import wave")
        second = runner.run([job("report")], progress=False)
    assert [o.status for o in first + second] == ["ok"] * 4
    pid = {n: int((tmp_path / f"{n}.pid").read_text()) for n in ("a", "b", "c", "report")}
    assert pid["report"] in {pid["a"], pid["b"], pid["c"]}


#: Two jobs run side by side: each waits (bounded) until the other has started, so each
#: batch of two puts one job on each of the pool's two workers.
PAIR_BODY = (
    "import os, pathlib, sys, time\n"
    "pathlib.Path(out).write_text(str(os.getpid()))\n"
    "deadline = time.monotonic() + 60\n"
    "while not pathlib.Path(other).exists() and time.monotonic() < deadline:\n"
    "    time.sleep(0.01)\n"
    "assert pathlib.Path(other).exists(), 'the other job never ran alongside'\n"
    "if prepared is not None:\n"
    "    assert prepared == ('wave' in sys.modules), f'expected prepared={prepared}'"
)


def pair(folder: Path, batch: str, prepared: tuple[bool | None, bool | None]) -> list[NotebookJob]:
    """Two jobs that run side by side; ``prepared``: whether each job's kernel must have run
    the previous batch's ``then`` (None: not checked)."""
    src = template(folder / "pair.ipynb", PAIR_BODY)
    names = [f"{batch}1", f"{batch}2"]
    pids = [str(folder / f"{n}.pid") for n in names]
    return [
        NotebookJob(
            name,
            src,
            folder / f"{name}.ipynb",
            {"out": pids[k], "other": pids[1 - k], "prepared": prepared[k]},
        )
        for k, name in enumerate(names)
    ]


@pytest.mark.slow
def test_the_first_idle_worker_runs_then_and_takes_the_next_batch_s_first_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool does not say which worker takes the next batch's job (a walk-forward's
    report): the first worker left idle stands by, its kernel runs ``then``, and the next
    batch's first job runs there; the other kernel is left alone (no imports made twice
    beside the caller's own work between the batches)."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    with NotebookRunner(2) as runner:
        first = runner.run(pair(tmp_path, "a", (None, None)), progress=False, then="import wave")
        second = runner.run(pair(tmp_path, "b", (True, False)), progress=False)
    assert [o.status for o in first] == ["ok", "ok"], [o.error for o in first]
    assert [o.status for o in second] == ["ok", "ok"], [o.error for o in second]
    pid = {n: int((tmp_path / f"{n}.pid").read_text()) for n in ("a1", "a2", "b1", "b2")}
    assert len({pid["a1"], pid["a2"]}) == 2  # one job on each worker's kernel
    assert {pid["b1"], pid["b2"]} == {pid["a1"], pid["a2"]}


@pytest.mark.slow
def test_a_worker_standing_by_for_a_batch_that_never_comes_is_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that stops after the batch (a walk-forward whose summary failed) closes its
    pool: the worker standing by goes back and exits, nothing waits for it."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    runner = NotebookRunner(2)
    first = runner.run(pair(tmp_path, "a", (None, None)), progress=False, then="import wave")
    assert [o.status for o in first] == ["ok", "ok"], [o.error for o in first]
    assert runner._held is not None  # one worker stands by
    closing = threading.Thread(target=runner.close, daemon=True)
    closing.start()
    closing.join(timeout=60)
    assert not closing.is_alive(), "the runner's close waited for the worker standing by"


def test_papermill_is_imported_without_building_the_iri_grammar() -> None:
    """jsonschema's optional IRI checker costs over a second of CPU at import, unused."""
    code = (
        "import sys\n"
        "from workbench.research.notebook_runner import import_papermill\n"
        "pm = import_papermill()\n"
        "import nbformat.validator\n"
        "assert 'rfc3987_syntax' not in sys.modules, 'the IRI grammar was built'\n"
        "assert callable(pm.execute_notebook)\n"
        "import rfc3987_syntax  # still importable by whoever asks for it\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


class _PortTaken:
    """jupyter_client's port choice, with some ports already taken by another process: what
    happens when one takes a chosen port before the kernel binds it (jupyter_client#487)."""

    def __init__(self, taken: int, every_kernel: bool) -> None:
        self.taken, self.every_kernel, self.calls = taken, every_kernel, 0

    def __call__(self, ip: str) -> int:
        self.calls += 1
        if self.calls == 1 or (self.every_kernel and self.calls % 5 == 1):  # 5 ports a kernel
            return self.taken
        return ORIGINAL_FIND_PORT(LocalPortCache.instance(), ip)


ORIGINAL_FIND_PORT = LocalPortCache.find_available_port


@contextmanager
def ports_taken(monkeypatch: pytest.MonkeyPatch, *, every_kernel: bool) -> Iterator[_PortTaken]:
    """A port held by a listening socket, handed to the first kernel (or to every kernel)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = _PortTaken(taken.getsockname()[1], every_kernel)
        monkeypatch.setattr(LocalPortCache, "find_available_port", ports)
        yield ports


def square_job(tmp_path: Path) -> NotebookJob:
    src = template(tmp_path / "square.ipynb", BODY)
    return NotebookJob("a", src, tmp_path / "a.ipynb", {"x": 3, "out": str(tmp_path / "a.json")})


@pytest.mark.slow
@pytest.mark.parametrize("reuse", [True, False], ids=["warm", "fresh"])
def test_a_kernel_that_dies_before_it_answers_is_started_again(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    reuse: bool,
) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")
    drop_kernel()
    job = square_job(tmp_path)
    quiet = caplog.at_level(logging.WARNING, logger="workbench.research.warm_kernel")
    with ports_taken(monkeypatch, every_kernel=False) as ports, quiet:
        outcome = execute_job(job, reuse_kernel=reuse)
    drop_kernel()
    assert outcome.status == "ok", outcome.error
    assert json.loads((tmp_path / "a.json").read_text()) == {"square": 9}
    died = [r for r in caplog.records if getattr(r, "event", "") == "kernel_died_at_start"]
    assert len(died) == 1 and "attempt 1 of 3" in died[0].getMessage()
    assert ports.calls == 10  # two kernels' five ports: the second bound its own


@pytest.mark.slow
def test_a_kernel_that_keeps_dying_fails_its_job_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = square_job(tmp_path)
    with ports_taken(monkeypatch, every_kernel=True) as ports:
        outcome = execute_job(job)
    assert outcome.status == "failed"
    assert outcome.error == (
        "KernelDied: the kernel died before replying to kernel_info (3 kernels started, each died)"
    )
    assert ports.calls == 15 and not (tmp_path / "a.json").exists()
