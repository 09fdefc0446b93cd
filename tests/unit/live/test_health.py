"""A dead or silent runner is shown as failed or stale, whatever its state file says.

A runner killed by the machine (a full disk, the OOM killer) cannot write ``failed``:
``live status --json`` and the dashboard judge it from its heartbeat's age and its
process, and say why.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workbench.cli.main import main
from workbench.dashboard import create_app
from workbench.dashboard.data import snapshot
from workbench.live.health import STALE_MIN_S, STALE_OLD_S, judge
from workbench.live.state import StateStore

NOW = 1_800_000_000.0


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _meta(age: float, **extra: str) -> dict[str, str]:
    return {"status": "running", "heartbeat_unix": str(NOW - age), "heartbeat_every": "15",
            **extra}  # fmt: skip


def test_a_beating_runner_is_running() -> None:
    health = judge(_meta(10.0, pid="1", host="elsewhere"), NOW)
    assert (health.state, health.reason) == ("running", None)
    assert health.stale_after_s == STALE_MIN_S == 60.0
    assert judge(_meta(10.0, heartbeat_every="30"), NOW).stale_after_s == 120.0


def test_a_silent_runner_is_stale_after_its_limit() -> None:
    assert judge(_meta(59.0, host="elsewhere", pid="1"), NOW).state == "running"
    health = judge(_meta(61.0, host="elsewhere", pid="1"), NOW)
    assert health.state == "stale" and "no heartbeat for 61 s" in health.reason
    # a state file from a runner without the periodic heartbeat: the old fixed limit
    old = {"status": "running", "heartbeat_unix": str(NOW - STALE_OLD_S - 1)}
    assert judge(old, NOW).state == "stale"
    # degraded (the venue is out) is a live status too
    assert judge({**_meta(300.0), "status": "degraded"}, NOW).state == "stale"


def test_a_runner_gone_from_this_machine_is_failed_at_once() -> None:
    health = judge(_meta(1.0, pid=str(_dead_pid()), host=socket.gethostname()), NOW)
    assert health.state == "failed" and "is gone but the state says running" in health.reason
    # alive (this very process): running
    mine = _meta(1.0, pid=str(__import__("os").getpid()), host=socket.gethostname())
    assert judge(mine, NOW).state == "running"


def test_stopped_and_failed_are_taken_as_written() -> None:
    assert judge({"status": "stopped", "heartbeat_unix": str(NOW - 9999)}, NOW).state == "stopped"
    failed = judge({"status": "failed", "error": "state file x: the disk is full"}, NOW)
    assert (failed.state, failed.reason) == ("failed", "state file x: the disk is full")
    assert judge({}, NOW).state == "not started"


@pytest.fixture
def dead_run(tmp_path: Path) -> Path:
    """A state file a killed runner left: it says running, its heartbeat is 10 minutes old."""
    path = tmp_path / "live.sqlite"
    store = StateStore(path)
    store.set_meta(
        status="running", strategy="x", heartbeat_every="15", host="another-machine", pid="1",
        heartbeat_unix=str(time.time() - 600), started_at="2024-01-02T00:00:00+00:00",
    )  # fmt: skip
    store.close()
    return path


def test_live_status_json_and_the_dashboard_show_a_stale_run(dead_run, capsys) -> None:
    assert main(["live", "status", "--state", str(dead_run), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["status"] == "stale" and status["written_status"] == "running"
    assert status["heartbeat_age_s"] >= 600 and status["stale_after_s"] == 60.0
    assert "no heartbeat for" in status["status_reason"]
    shown = snapshot(dead_run)["status"]
    assert shown["state"] == "stale" and shown["runner"] == "running"
    assert "no heartbeat for" in shown["state_reason"]
    page = create_app(dead_run).test_client().get("/").get_data(as_text=True)
    assert 'class="badge stale" id="run-state">stale<' in page
    assert 'id="state-reason">stale: no heartbeat for' in page


def test_a_dead_runner_on_this_machine_shows_failed(dead_run, capsys) -> None:
    store = StateStore(dead_run)
    store.set_meta(host=socket.gethostname(), pid=str(_dead_pid()))
    store.heartbeat()  # a fresh heartbeat: its process is gone all the same
    store.close()
    assert main(["live", "status", "--state", str(dead_run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "failed"
    assert snapshot(dead_run)["status"]["state"] == "failed"
