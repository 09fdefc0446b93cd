"""sd_notify over a real datagram socket, and the watchdog's health rule."""

from __future__ import annotations

import socket

from workbench.live.systemd import Watchdog, sd_notify, watchdog_interval


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
