"""sd_notify over a real datagram socket, and the watchdog's health rule."""

from __future__ import annotations

import socket
from pathlib import Path

import yaml

from workbench.live.systemd import Watchdog, sd_notify, watchdog_interval

ROOT = Path(__file__).resolve().parents[3]


def test_sd_notify_writes_to_the_notify_socket(tmp_path, monkeypatch) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        server.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        assert sd_notify("READY=1")
        assert server.recv(100) == b"READY=1"
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert not sd_notify("READY=1")


def test_watchdog_interval_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "120000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert watchdog_interval() == 120.0
    monkeypatch.setenv("WATCHDOG_PID", "1")  # meant for another process
    assert watchdog_interval() is None


def test_watchdog_stops_pinging_when_a_bar_takes_too_long() -> None:
    now = [0.0]
    pings: list[str] = []
    dog = Watchdog(10.0, notify=pings.append, clock=lambda: now[0])
    assert dog.tick()  # idle, waiting for bars: healthy
    dog.busy()
    now[0] = 5.0
    assert dog.tick()
    now[0] = 11.0  # stuck in one bar for longer than the interval
    assert not dog.tick()
    dog.idle()
    assert dog.tick()
    assert pings == ["WATCHDOG=1"] * 3


def _unit_text() -> str:
    return (ROOT / "deploy" / "workbench-live@.service").read_text()


def test_the_unit_fails_safe() -> None:
    """Exit codes for config, data and strategy errors and for a broker reconciliation
    mismatch stop the restarts; matplotlib and the kill switch live where the sandbox lets
    them (ProtectHome, PrivateTmp)."""
    from workbench.errors import (
        ConfigError,
        DataError,
        ReconciliationError,
        StateStoreError,
        StrategyError,
    )

    lines = dict(
        line.split("=", 1) for line in _unit_text().splitlines() if "=" in line and line[0] != "#"
    )
    prevented = {int(code) for code in lines["RestartPreventExitStatus"].split()}
    assert prevented == {
        ConfigError.exit_code, DataError.exit_code, StrategyError.exit_code,
        ReconciliationError.exit_code, StateStoreError.exit_code,
    }  # fmt: skip
    assert lines["Environment"].startswith("MPLCONFIGDIR=%S/workbench/")  # the StateDirectory
    assert lines["StateDirectory"] == "workbench" and lines["PrivateTmp"] == "true"
    risk = yaml.safe_load((ROOT / "examples" / "risk.yaml").read_text())
    assert not risk["kill_switch_file"].startswith("/tmp/")  # PrivateTmp would hide it
    assert risk["kill_switch_file"].startswith("/var/lib/workbench/")


def test_systemd_analyze_verifies_the_unit(tmp_path) -> None:
    import shutil
    import subprocess
    import sys

    import pytest

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (no systemd on this machine)")
    command = Path(sys.executable).with_name("workbench")  # an executable that exists here
    text = _unit_text().replace("/opt/workbench/.venv/bin/workbench", str(command))
    text = text.replace("WorkingDirectory=/opt/workbench", f"WorkingDirectory={tmp_path}")
    unit = tmp_path / "workbench-live@test.service"
    unit.write_text(text)
    done = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr
    broken = tmp_path / "workbench-live@bad.service"  # the check can fail
    broken.write_text(text.replace("Type=notify", "Type=sometimes"))
    bad = subprocess.run([analyze, "verify", str(broken)], capture_output=True, text=True,
                         timeout=120, check=False)  # fmt: skip
    assert "service type" in bad.stderr  # a typo in the unit is caught
