"""``workbench emulator`` as a user runs it: a real process, real requests, SIGTERM to stop."""

from __future__ import annotations

import queue
import signal
import socket
import subprocess
import sys
import threading

import pytest
import requests

from workbench.cli.main import main
from workbench.emulator import Emulator
from workbench.errors import ConfigError

KEY = "cli-key-id"
SECRET = "cli-secret-value"
COMMAND = [sys.executable, "-m", "workbench.cli.main", "emulator"]
HEADERS = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}


def _lines(proc: subprocess.Popen) -> tuple[queue.Queue[str], threading.Thread]:
    out: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            out.put(line)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return out, thread


def _wait_for(lines: queue.Queue[str], prefix: str, seen: list[str], timeout: float = 120) -> str:
    # readiness, bounded: a loaded 2-core box (the suite on 2 workers) took over 30 s to start
    while True:
        line = lines.get(timeout=timeout)
        seen.append(line)
        if line.startswith(prefix):
            return line


@pytest.mark.slow
def test_cli_serves_until_sigterm() -> None:
    args = [
        *COMMAND,
        *("--port", "0", "--data", "sample:SPX", "--replay-from", "2010-01-04"),
        *("--key", KEY, "--secret", SECRET, "--fault", "429,path=/v2/clock,times=1"),
    ]
    seen: list[str] = []
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
    with subprocess.Popen(args, **pipes) as proc:
        lines, pump = _lines(proc)
        try:
            base = _wait_for(lines, "REST (url_override):", seen).split()[-1]
            _wait_for(lines, "stop with Ctrl-C", seen)
            assert requests.get(f"{base}/v2/clock", headers=HEADERS, timeout=5).status_code == 429
            assert requests.get(f"{base}/v2/clock", headers=HEADERS, timeout=5).status_code == 200
            step = requests.post(f"{base}/_emulator/step", params={"n": 2}, timeout=5).json()
            assert step["stepped"] == 2
            account = requests.get(f"{base}/v2/account", headers=HEADERS, timeout=5).json()
            assert account["cash"] == "100000"
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(15)
            pump.join(5)
    while not lines.empty():
        seen.append(lines.get())
    output = "".join(seen)
    assert code == 0, output
    assert "emulator stopped" in output and "ws://127.0.0.1:" in output
    assert SECRET not in output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--fault", "explode"], "error: fault kind 'explode' is not known"),
        (["--port", "70000"], "error: port must be 0-65535, got 70000"),
        (["--interval", "0"], "error: interval must be a positive number of seconds, got 0.0"),
        (["--data", "nowhere:X"], "error: unknown source 'nowhere:'"),
        (["--replay-from", "2030-01-01"], "error: replay_from 2030-01-01 00:00:00+00:00 is after"),
        (["--margin", "0"], "error: margin must be a positive number, got 0.0"),
    ],
)
def test_cli_bad_arguments_exit_with_one_line(capsys, extra: list[str], message: str) -> None:
    code = main(["emulator", *extra])
    err = capsys.readouterr().err
    assert code in (2, 3) and err.startswith(message), err
    assert len(err.strip().splitlines()) == 1


def test_a_port_in_use_is_a_config_error(hand_frames) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        emulator = Emulator(hand_frames, port=port)
        with pytest.raises(ConfigError) as exc:
            emulator.start()
    assert str(exc.value).startswith(f"cannot listen on 127.0.0.1:{port}")
    assert "choose another --port" in str(exc.value)
    assert emulator.port is None
