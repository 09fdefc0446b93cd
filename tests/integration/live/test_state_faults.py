"""Faults of the machine: a full disk mid-run, a read-only state file, a second runner.

The runner is a real ``workbench live --broker alpaca --feed alpaca`` subprocess against
the emulator (the venue outlives it, as Alpaca would). The disk is a real size-limited
filesystem: a tmpfs mounted for the test (root), else the runner's own file size limit
(``RLIMIT_FSIZE`` set on the running process: an OS-level limit too). Either way the
runner must stop with one line naming the file and the fix, exit code 7 and no
traceback; after space is freed the same command resumes and ends exactly where a clean
run ends: the reference backtest's orders, none sent twice, every fill recorded, the
same final equity.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_notify import Receiver  # the local apprise receiver (this folder)

from workbench import backtest
from workbench.errors import StateStoreError
from workbench.live import chaos
from workbench.live.chaos import (
    CASH,
    SLIPPAGE_BPS,
    ChaosReport,
    ChaosSwing,
    RunnerProcess,
    chaos_bars,
    chaos_emulator,
    write_chaos_bundle,
)
from workbench.live.state import StateStore
from workbench.live.status import read_status

BARS = 24
FAULT_AT = 10  # bars finished before the disk fills
TIMEOUT = 60.0


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "16m") -> Iterator[bool]:
    """``folder`` as a tmpfs of ``size`` (True), or a plain folder where mounting is not
    allowed (False: the test then limits the runner's file size instead)."""
    folder.mkdir()
    mounted = False
    if os.geteuid() == 0:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
            capture_output=True,
        )
        mounted = done.returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Write a file in ``folder`` until its filesystem says it is full."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:
        for chunk in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    out.write(b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    return filler


def step_to(emu, runner: RunnerProcess, first: int, last: int, report: ChaosReport) -> None:
    """Publish bars ``first``..``last`` (1-based), each once the runner finished the one before."""
    for n in range(first, last + 1):
        chaos._wait_ready(emu, runner, n - 1, TIMEOUT, report)
        emu.step()
        chaos._wait_finished(runner, n, TIMEOUT, report)


def error_line(out: str) -> str:
    lines = [line for line in out.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, out[-3000:]
    return lines[0]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _received(receiver: Receiver, event: str) -> list[str]:
    with receiver.arrived:  # the runner sends before it exits: nothing left to wait for
        return [p["message"] for p in receiver.posts if p["title"].endswith(f": {event}")]


def test_a_full_disk_stops_the_runner_and_the_rerun_loses_nothing(tmp_path, receiver) -> None:
    bars = chaos_bars(BARS)
    bundle = write_chaos_bundle(tmp_path)
    report = ChaosReport(bars=BARS)
    with small_disk(tmp_path / "disk") as mounted, chaos_emulator(bars) as emu:
        runner = RunnerProcess(bundle, emu, tmp_path / "disk")  # state and JSON log there
        runner.log = tmp_path / "runner.out"  # the runner's stderr: elsewhere, to read it
        runner.cmd += ["--notify", receiver.url]
        runner.start()
        step_to(emu, runner, 1, FAULT_AT, report)
        if mounted:
            filler = fill(tmp_path / "disk")
        else:  # the file size limit of the running process: the next write past it fails
            wal = runner.state.with_name(runner.state.name + "-wal")
            size = max(wal.stat().st_size, runner.state.stat().st_size)
            resource.prlimit(runner.proc.pid, resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))
        emu.step()  # the next bar: the runner's writes fail (its fill, heartbeat or bar)
        code = runner.proc.wait(TIMEOUT)
        out = runner.log.read_text()
        assert code == StateStoreError.exit_code == 7, out[-3000:]
        assert "Traceback" not in out
        line = error_line(out)
        assert line.startswith(f"error: state file {runner.state}")
        if mounted:
            assert "the disk holding it is full" in line
            assert f"free space on {tmp_path / 'disk'}" in line
        else:
            assert "file size limit" in line
        assert "it resumes where it stopped" in line
        [failed] = _received(receiver, "failed")  # a person hears of it, with the fix
        assert f"state file {runner.state}" in failed and "resumes where it stopped" in failed
        # its process is gone: shown failed at once, though the file could not say so
        status = read_status(runner.state)
        assert status["status"] == "failed" and status["written_status"] == "running"
        assert "is gone" in status["status_reason"]

        if mounted:
            filler.unlink()  # space freed: the same command resumes
        runner.log = tmp_path / "rerun.out"
        runner.start()  # it catches up the bar published while it was down, then goes on
        chaos._wait_finished(runner, FAULT_AT + 1, TIMEOUT, report)
        step_to(emu, runner, FAULT_AT + 2, BARS, report)
        assert runner.terminate() == 0, runner.log.read_text()[-3000:]
        assert report.self_exits == 0
        venue = emu.state()
        chaos.check(runner.state, venue, bars, report)
        assert read_status(runner.state)["status"] == "stopped"
    assert report.violations == []
    assert report.duplicates == 0 and report.orders > 5
    clean = backtest(ChaosSwing, bars, cash=CASH, slippage=SLIPPAGE_BPS)
    assert float(venue["account"]["equity"]) == pytest.approx(clean.final_equity, rel=1e-9)


def _live(state: Path, bundle: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "workbench.cli.main", "live", "--bundle", str(bundle),
           "--broker", "sim", "--feed", "replay:sample:SPX", "--end", "1999-03-01",
           "--state", str(state), *extra]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_a_second_runner_on_the_same_state_file_is_refused(tmp_path, receiver) -> None:
    bundle = write_chaos_bundle(tmp_path)
    path = tmp_path / "live.sqlite"
    first = StateStore(path, exclusive=True)  # a runner holds it (this process)
    try:
        first.set_meta(status="running", strategy="held")
        done = _live(path, bundle.path, "--notify", receiver.url)
    finally:
        first.close()
    assert done.returncode == StateStoreError.exit_code, done.stderr
    assert "Traceback" not in done.stderr
    line = error_line(done.stderr)
    assert f"state file {path} is locked by workbench live (pid {os.getpid()}" in line
    assert "stop it or use another --state" in line
    [failed] = _received(receiver, "failed")
    assert f"state file {path} is locked" in failed
    assert receiver.url.rsplit("/", 1)[1] not in done.stderr  # the URL's secret: never
    with StateStore.reader(path) as store:  # untouched
        assert store.meta() == {"status": "running", "strategy": "held"}
        assert store.bar_times() == []
    again = StateStore(path, exclusive=True)  # released with the first one: free again
    again.close()


def test_a_read_only_state_file_is_refused_with_the_fix(tmp_path) -> None:
    bundle = write_chaos_bundle(tmp_path)
    with small_disk(tmp_path / "disk", "4m") as mounted:
        path = tmp_path / "disk" / "live.sqlite"
        store = StateStore(path)
        store.set_meta(status="stopped", strategy="kept")
        store.close()
        if mounted:  # root writes through file modes: make the filesystem read-only
            subprocess.run(["mount", "-o", "remount,ro", str(path.parent)], check=True)
        elif os.geteuid() == 0:
            pytest.skip("root without the right to mount: file modes cannot make it read-only")
        else:
            path.chmod(0o444)
            path.parent.chmod(0o555)
        try:
            done = _live(path, bundle.path)
        finally:
            if not mounted:
                path.parent.chmod(0o755)
        assert done.returncode == StateStoreError.exit_code, done.stderr
        assert "Traceback" not in done.stderr
        line = error_line(done.stderr)
        assert line.startswith(f"error: state file {path}")
        if mounted:
            assert "read-only filesystem" in line and "remount" in line
        else:
            assert "read-only" in line
        with StateStore.reader(path) as reader:
            assert reader.meta() == {"status": "stopped", "strategy": "kept"}


def test_a_vanished_state_file_stops_the_writes(tmp_path) -> None:
    path = tmp_path / "live.sqlite"
    store = StateStore(path, exclusive=True)
    store.set_meta(status="running")
    moved = tmp_path / f"moved-{uuid.uuid4().hex}.sqlite"
    path.rename(moved)
    with pytest.raises(StateStoreError, match="vanished while the runner used it"):
        store.heartbeat()
    store.close()
