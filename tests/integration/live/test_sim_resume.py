"""A ``--broker sim`` run resumes its simulated venue from the state file.

The simulated venue lives in the runner's process: a stop (``--max-bars``, SIGTERM) or a
kill (SIGKILL, or the death at a chosen write of ``test_crash_points.py``) takes it along,
and the next start on the state file resumes it as it was saved with the state's last
write. The run then ends with the fills, cash, positions and equity of one uninterrupted
replay of the same bars, and of the backtest; no order goes out twice; the start-up
reconciliation passes without ``--adopt-positions``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.integration.live.test_crash_points import (
    PARAMS,
    Crash,
    CrashingBroker,
    CrashingStore,
    with_plan,
)
from workbench import backtest, load_bars
from workbench.bundle import write_bundle
from workbench.live.replay import ReplayFeed, SimulatedVenueFeed
from workbench.live.runner import LiveRunner
from workbench.live.sim_venue import keep_venue
from workbench.live.state import StateStore, read_or
from workbench.runspec import RunSpec
from workbench.sim.broker import SimulatedBroker
from workbench.sim.costs import Commission, Slippage
from workbench.strategy import make_strategy

WITHIN = 120.0  # seconds a run may take at most on a busy machine (readiness, not timing)
CASH = 50_000.0
START, END = "2010-01-01", "2012-12-31"
FILL_COLUMNS = ["time", "symbol", "side", "quantity", "price", "commission", "order_id",
                "client_order_id", "reason"]  # fmt: skip


# -- in process: death at each write, the venue resumed from the file -----------------------
@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return load_bars("sample:SPX", end="2003-12-31")


def venue(nth: int | None = None, before: bool = True) -> SimulatedBroker:
    broker = CrashingBroker(100_000.0, nth, before)
    broker.commission, broker.slippage = Commission(percent=0.001), Slippage(bps=1.0)
    return broker


def run(bars: pd.DataFrame, state: StateStore, broker: SimulatedBroker) -> Any:
    keep_venue(broker, state)  # what `workbench live --broker sim` does
    feed = SimulatedVenueFeed(ReplayFeed({"SPX": bars}), broker)
    runner = LiveRunner(make_strategy("ma_crossover", PARAMS), ["SPX"], broker, feed, state)
    return runner.run()


CRASH_POINTS = {
    "bar traded, not recorded": ("record_bars", 40, None),
    "before the decision": ("record_decision", 3, with_plan),
    "before sending": ("submit", 3, True),
    "sent, not recorded": ("submit", 3, False),
    "fill drained, not recorded": ("record_fill", 4, None),
    "order's end not recorded": ("record_order", 6, None),
    "before the equity": ("record_equity", 300, None),
    "before finishing": ("finish_decision", 5, None),
    "before the heartbeat": ("heartbeat", 400, None),
}


@pytest.fixture(scope="module")
def uninterrupted(bars, tmp_path_factory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("uninterrupted") / "live.sqlite"
    broker = venue()
    with StateStore(path) as state:
        run(bars, state, broker)
        return outcome(state, broker)


def outcome(state: StateStore, broker: SimulatedBroker) -> dict[str, Any]:
    fills = state.fills()[FILL_COLUMNS]
    return {
        "fills": fills.to_dict("records"),
        "orders": state.orders()[["client_order_id", "order_id", "status", "filled_quantity",
                                  "average_price"]].to_dict("records"),
        "account": broker.get_account(), "positions": broker.get_positions(),
        "venue_fills": broker.fills, "equity": state.equity_curve().to_dict("records"),
    }  # fmt: skip


@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_a_death_at_any_write_resumes_the_venue_and_ends_as_one_run(
    bars, tmp_path, uninterrupted, point
) -> None:
    method, nth, when = CRASH_POINTS[point]
    path = tmp_path / "live.sqlite"
    if method == "submit":
        first, store = venue(nth, before=when), StateStore(path)
    else:
        first, store = venue(), CrashingStore(path, method, nth, when)
    with pytest.raises(Crash):
        run(bars, store, first)
    store.close()
    del first  # the venue dies with its process
    with StateStore(path) as state:
        resumed = venue()
        run(bars, state, resumed)  # no --adopt-positions: the reconciliation passes
        got = outcome(state, resumed)
        assert max(Counter(o.client_order_id for o in resumed.orders).values()) == 1
        assert state.events("holdings_mismatch").empty
    assert got == uninterrupted
    expected = backtest("ma_crossover", bars, PARAMS, cash=100_000, commission=0.001, slippage=1.0)
    assert got["account"].equity == pytest.approx(expected.final_equity, rel=1e-12)
    assert len(got["fills"]) == len(expected.fills) > 4


# -- real processes: `workbench live --broker sim` stopped, killed and started again ---------
@pytest.fixture(scope="module")
def cli(tmp_path_factory) -> tuple[list[str], dict[str, str], Path]:
    """The command line of a replay of a promoted ma_crossover (state file: add --state)."""
    root = tmp_path_factory.mktemp("sim_resume")
    bundle = write_bundle(
        root / "promoted", make_strategy("ma_crossover", {"fast": 10, "slow": 30}),
        data={"spec": "sample:SPX", "symbols": {"SPX": {}}}, gates=[], metrics={}, report="",
        run_spec=RunSpec(symbols=("SPX",), timeframe="1Day", session="all", cash=CASH,
                         commission={"percent": 0.001}, slippage={"bps": 1.0}),
    )  # fmt: skip
    cmd = [sys.executable, "-m", "workbench.cli.main", "live", "--bundle", str(bundle.path),
           "--broker", "sim", "--feed", "replay:sample:SPX", "--start", START,
           "--end", END]  # fmt: skip
    return cmd, {**os.environ, "MPLBACKEND": "Agg"}, root


def live(cli, state: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd, env, _ = cli
    return subprocess.run(
        [*cmd, "--state", str(state), *extra], env=env, capture_output=True, text=True,
        timeout=WITHIN,
    )  # fmt: skip


def bars_in(state: Path) -> int:
    return read_or(state, lambda s: len(s.bar_times()), 0)


def started(cli, state: Path, *extra: str) -> subprocess.Popen[str]:
    cmd, env, _ = cli
    return subprocess.Popen(
        [*cmd, "--state", str(state), *extra], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_for_bars(proc: subprocess.Popen[str], state: Path, n: int) -> None:
    """Until the run has recorded ``n`` bars (or more); it must still be running."""
    deadline = time.monotonic() + WITHIN
    while bars_in(state) < n:
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, f"the run never reached {n} bars"
        time.sleep(0.005)


def summary(cli, state: Path) -> dict[str, Any]:
    env = cli[1]
    out = subprocess.run(
        [sys.executable, "-m", "workbench.cli.main", "live", "status", "--state", str(state),
         "--json"], env=env, capture_output=True, text=True, check=True, timeout=WITHIN,
    ).stdout  # fmt: skip
    status = json.loads(out)
    with StateStore.reader(state) as store:
        fills = store.fills()[FILL_COLUMNS].to_dict("records")
        orders = store.orders()
        assert orders["client_order_id"].is_unique and orders["order_id"].is_unique
        assert store.events("holdings_mismatch").empty
        checks = store.get_meta("holdings")
        curve = store.equity_curve()
    assert checks.startswith("match")
    return {
        "cash": status["cash"], "equity": status["equity"], "positions": status["positions"],
        "open_orders": status["open_orders"], "fills": fills, "bars": len(curve),
        "last_equity": curve.iloc[-1].to_dict(),
    }  # fmt: skip


@pytest.fixture(scope="module")
def reference(cli) -> dict[str, Any]:
    """One uninterrupted replay, and the check that it is the backtest."""
    state = cli[2] / "reference.sqlite"
    done = live(cli, state)
    assert done.returncode == 0, done.stderr
    got = summary(cli, state)
    bars = load_bars("sample:SPX", start=START, end=END)
    expected = backtest("ma_crossover", bars, {"fast": 10, "slow": 30}, cash=CASH,
                        commission=0.001, slippage=1.0)  # fmt: skip
    assert got["equity"] == pytest.approx(expected.final_equity, rel=1e-12)
    assert len(got["fills"]) == len(expected.fills) > 6
    np.testing.assert_allclose([f["price"] for f in got["fills"]], expected.fills["price"],
                               rtol=1e-12)  # fmt: skip
    with StateStore.reader(state) as store:
        points = store.equity_points()
    got["held_at"] = [i for i, p in enumerate(points) if p.positions.get("SPX")]
    return got


def held(reference: dict[str, Any], after: int) -> int:
    """A bar count at which the reference holds a position: a stop there leaves one."""
    return next(i + 1 for i in reference["held_at"] if i + 1 >= after)


def same(got: dict[str, Any], reference: dict[str, Any]) -> None:
    want = {k: v for k, v in reference.items() if k != "held_at"}
    assert got == want


def test_a_run_stopped_by_max_bars_holding_a_position_resumes_it(cli, reference, tmp_path):
    """The brief's report: the second start stopped with exit code 6, a flat broker
    against the state's position."""
    state = tmp_path / "live.sqlite"
    first = live(cli, state, "--max-bars", str(held(reference, 200)))
    assert first.returncode == 0, first.stderr
    assert summary(cli, state)["positions"]  # it stopped holding SPX
    second = live(cli, state, "--max-bars", "50")
    assert second.returncode == 0, second.stderr
    assert "resumed the simulated venue" in second.stderr
    third = live(cli, state)
    assert third.returncode == 0, third.stderr
    same(summary(cli, state), reference)


def test_a_run_stopped_by_sigterm_resumes(cli, reference, tmp_path) -> None:
    state = tmp_path / "live.sqlite"
    proc = started(cli, state, "--speed", "200")
    try:
        wait_for_bars(proc, state, held(reference, 150))
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=WITHIN)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "stop requested" in err
    assert bars_in(state) < reference["bars"]  # it stopped before the end
    done = live(cli, state)
    assert done.returncode == 0, done.stderr
    same(summary(cli, state), reference)


def test_a_run_killed_again_and_again_resumes_each_time(cli, reference, tmp_path) -> None:
    """SIGKILL wherever the run happens to be (inside a bar or between two)."""
    state = tmp_path / "live.sqlite"
    kills = 0
    for target in (60, 180, 300, 420, 540, 660):
        proc = started(cli, state)
        try:
            wait_for_bars(proc, state, target)
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=WITHIN)
        finally:
            proc.kill()
        kills += proc.returncode == -signal.SIGKILL
    assert kills == 6
    done = live(cli, state)
    assert done.returncode == 0, done.stderr
    same(summary(cli, state), reference)
