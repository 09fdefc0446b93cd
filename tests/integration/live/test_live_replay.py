"""The live runner on the simulated broker trades exactly like the backtest, across restarts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench import backtest, load_bars
from workbench.live.replay import ReplayFeed, SimulatedVenueFeed
from workbench.live.runner import LiveRunner
from workbench.live.state import StateStore
from workbench.sim.broker import SimulatedBroker
from workbench.sim.costs import Commission, Slippage
from workbench.strategy import make_strategy

PARAMS = {"fast": 10, "slow": 30}
COSTS = {"commission": Commission(percent=0.0005), "slippage": Slippage(bps=2)}


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return load_bars("sample:SPX", end="2004-12-31")


def run_live(bars: pd.DataFrame, state: StateStore, broker: SimulatedBroker, **kw):
    feed = SimulatedVenueFeed(ReplayFeed({"SPX": bars}), broker)
    runner = LiveRunner(make_strategy("ma_crossover", PARAMS), ["SPX"], broker, feed, state)
    return runner.run(**kw)


def test_live_replay_matches_the_backtest(bars, tmp_path) -> None:
    expected = backtest("ma_crossover", bars, PARAMS, cash=100_000, **COSTS)
    broker = SimulatedBroker(100_000, **COSTS)
    state = StateStore(tmp_path / "live.sqlite")
    summary = run_live(bars, state, broker)
    assert summary.bars == len(bars) and summary.stopped_by == "feed ended"
    fills = state.fills()
    assert len(fills) == len(expected.fills) > 10
    assert list(pd.to_datetime(fills["time"])) == list(expected.fills["time"])
    np.testing.assert_allclose(fills["price"], expected.fills["price"], rtol=1e-12)
    np.testing.assert_allclose(fills["quantity"], expected.fills["quantity"], rtol=1e-12)
    assert broker.get_account().equity == pytest.approx(expected.final_equity, rel=1e-12)
    curve = state.equity_curve()
    np.testing.assert_allclose(curve["equity"], expected.equity, rtol=1e-12)
    assert set(state.orders()["client_order_id"].str.startswith("wb-ma_crossover-SPX-")) == {True}


def test_a_restart_continues_where_it_stopped(bars, tmp_path) -> None:
    expected = backtest("ma_crossover", bars, PARAMS, cash=100_000, **COSTS)
    broker = SimulatedBroker(100_000, **COSTS)  # the venue outlives the runner
    path = tmp_path / "live.sqlite"
    for _ in range(3):  # three runs of 150 bars, each stopped and restarted
        state = StateStore(path)
        assert run_live(bars, state, broker, max_bars=150).bars == 150
        state.close()
    state = StateStore(path)
    run_live(bars, state, broker)
    fills = state.fills()
    assert list(pd.to_datetime(fills["time"])) == list(expected.fills["time"])
    np.testing.assert_allclose(fills["price"], expected.fills["price"], rtol=1e-12)
    assert len(broker.orders) == len(expected.orders)  # nothing sent twice
    assert broker.get_account().equity == pytest.approx(expected.final_equity, rel=1e-12)


def test_an_unfinished_plan_is_resent_once(bars, tmp_path) -> None:
    broker = SimulatedBroker(100_000, **COSTS)
    path = tmp_path / "live.sqlite"
    state = StateStore(path)
    run_live(bars, state, broker, max_bars=200)
    orders_before = len(broker.orders)
    # pretend the process died after writing the last plan but before finishing it
    last = max(t for t in state.conn.execute("SELECT time_ns FROM decisions").fetchall())[0]
    state.conn.execute("UPDATE decisions SET done = 0 WHERE time_ns = ?", (last,))
    state.close()
    state = StateStore(path)
    run_live(bars, state, broker, max_bars=1)
    assert state.pending_decisions() == []
    assert len(broker.orders) <= orders_before + 1  # at most the next bar's decision
    cids = [o.client_order_id for o in broker.orders]
    assert len(cids) == len(set(cids))
