"""Operations: systemd readiness, SIGTERM between bars, and a stale feed blocking entries."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pandas as pd

from workbench import backtest, load_bars
from workbench.bundle import write_bundle
from workbench.live.replay import ReplayFeed, SimulatedVenueFeed
from workbench.live.runner import LiveRunner
from workbench.live.state import StateStore
from workbench.runspec import RunSpec
from workbench.sim.broker import SimulatedBroker
from workbench.strategy import make_strategy

PARAMS = {"fast": 5, "slow": 15}


class StaleAfter(SimulatedVenueFeed):
    """Reports stale from bar ``n`` on (a feed that lags)."""

    def __init__(self, feed, broker, n: int) -> None:
        super().__init__(feed, broker)
        self.n, self.seen = n, 0

    def __iter__(self):
        for group in super().__iter__():
            self.seen += 1
            yield group

    def is_stale(self, now: pd.Timestamp) -> bool:
        return self.seen >= self.n


def test_a_stale_feed_blocks_new_entries_but_not_exits(tmp_path, monkeypatch) -> None:
    bars = load_bars("sample:SPX", end="2001-12-31")
    broker = SimulatedBroker(100_000)
    feed = StaleAfter(ReplayFeed({"SPX": bars}), broker, n=200)
    state = StateStore(tmp_path / "s.sqlite")
    runner = LiveRunner(make_strategy("ma_crossover", PARAMS), ["SPX"], broker, feed, state)
    runner.run()
    blocked = state.events("blocked_stale_feed")
    reference = backtest("ma_crossover", bars, PARAMS)
    late_entries = reference.orders[
        (reference.orders.side == "buy") & (reference.orders.created_at >= bars.index[199])
    ]
    assert len(blocked) == len(late_entries) > 0  # every entry signal once stale, no other
    buys = [o for o in broker.orders if o.side == "buy"]
    assert all(o.created_at < bars.index[199] for o in buys)


def test_systemd_ready_and_sigterm_finishes_the_bar(tmp_path) -> None:
    strategy = make_strategy("ma_crossover", PARAMS)
    bundle = write_bundle(
        tmp_path / "promoted", strategy, data={"spec": "sample:SPX", "symbols": {"SPX": {}}},
        gates=[], metrics={}, report="",
        run_spec=RunSpec(symbols=("SPX",), timeframe="1Day", session="all"),
    )  # fmt: skip
    sock_path = str(tmp_path / "notify.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(sock_path)
    server.settimeout(30)
    state = tmp_path / "live.sqlite"
    env = {**os.environ, "NOTIFY_SOCKET": sock_path, "MPLBACKEND": "Agg"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli.main", "live", "--bundle", str(bundle.path),
         "--feed", "replay:sample:SPX", "--speed", "50", "--state", str(state)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        messages = []
        while "READY=1" not in messages:
            messages.append(server.recv(200).decode())
        done = 0
        while done < 6:  # readiness: the runner reports each finished bar (30 s timeout each)
            done += server.recv(200).decode().startswith("STATUS=last bar")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        server.close()
    assert proc.returncode == 0, err
    assert "stop requested" in out
    status = json.loads(
        subprocess.run(
            [sys.executable, "-m", "workbench.cli.main", "live", "status", "--state", str(state),
             "--json"], capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    assert status["status"] == "stopped" and status["stopped_by"] == "stop requested"
    store = StateStore(state)
    assert store.pending_decisions() == []
    n_bars = len(store.bars()["SPX"])
    assert 5 < n_bars < 5031
    assert len(store.equity_curve()) == n_bars  # every bar seen was finished
