"""``workbench emulator`` as a user runs it: a real process, real requests, SIGTERM to stop."""

from __future__ import annotations

import argparse
import queue
import signal
import socket
import subprocess
import sys
import threading

import pytest
import requests

from workbench.cli.emulator import _venue
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
        (["--data", "nowhere:X"], "error: unknown source 'nowhere:'"),
        (["--replay-from", "2030-01-01"], "error: replay_from 2030-01-01 00:00:00+00:00 is after"),
    ],
)
def test_cli_bad_arguments_exit_with_one_line(capsys, extra: list[str], message: str) -> None:
    code = main(["emulator", *extra])
    err = capsys.readouterr().err
    assert code in (2, 3) and err.startswith(message), err
    assert len(err.strip().splitlines()) == 1


#: A number on the command line and its whole line, in the flag's words with an example
#: (they were the Python names: "margin must be a positive number, got 0.0", "rate_limit
#: must be ...", "interval must be ...", "a publication delay is ...").
FLAG_WORDS = [
    ("--margin", "0", "--margin must be a positive number, got 0 (e.g. --margin 2 doubles the "
     "buying power; 1 is none)"),
    ("--cash", "-5", "--cash must be at least 0, got -5 (e.g. --cash 100000 (0: an account "
     "with no cash))"),
    ("--lot-size", "0", "--lot-size must be a positive number, got 0 (e.g. --lot-size 1 trades "
     "whole shares)"),
    ("--volume-limit", "2", "--volume-limit must be in (0, 1], got 2 (e.g. --volume-limit 0.1: "
     "an order takes at most 10% of a bar's volume)"),
    ("--commission", "-1", "--commission percent must be a non-negative number, got -1.0 (e.g. "
     "--commission 0.001 (0.1% of the notional) or per_share=0.005,minimum=1)"),
    ("--slippage", "-5", "--slippage bps must be a non-negative number, got -5.0 (e.g. "
     "--slippage 5 (5 bps) or range=0.1 (10% of the bar's range))"),
    ("--port", "70000", "--port must be in [0, 65535], got 70000 (0 picks a free port)"),
    ("--interval", "0", "--interval must be a positive number, got 0 (e.g. --interval 1 "
     "streams a bar a second)"),
    ("--rate-limit", "-1", "--rate-limit must be at least 0, got -1 (e.g. --rate-limit 200 "
     "(Alpaca's))"),
    ("--publication-delay", "-1", "--publication-delay must be at least 0, got -1 (e.g. "
     "--publication-delay 1.5)"),
]  # fmt: skip


@pytest.mark.parametrize(("flag", "value", "line"), FLAG_WORDS, ids=lambda v: str(v)[:20])
def test_a_bad_number_is_named_as_its_flag_before_the_data_is_read(
    capsys, flag: str, value: str, line: str
) -> None:
    code = main(["emulator", "--data", "nowhere:X", flag, value])  # the data: never read
    assert code == 2
    assert capsys.readouterr().err == f"error: {line}\n"


def test_a_venue_of_no_cash_is_still_served(hand_frames) -> None:
    unset = dict.fromkeys(("margin", "lot_size", "volume_limit", "commission", "slippage"))
    args = argparse.Namespace(bundle=None, cash=0.0, calendar=None, **unset)
    assert _venue(args)["cash"] == 0.0
    assert Emulator(hand_frames, **_venue(args)).config.cash == 0.0


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
