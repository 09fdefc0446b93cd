"""The live runner applies the bundle's risk engine: the same halt as the backtest, persisted."""

from __future__ import annotations

import pytest

from workbench import backtest, load_bars
from workbench.live.replay import ReplayFeed, SimulatedVenueFeed
from workbench.live.runner import LiveRunner
from workbench.live.state import StateStore
from workbench.risk import RiskConfig, RiskEngine, SQLiteRiskStore, TradingState
from workbench.sim.broker import SimulatedBroker
from workbench.strategy import make_strategy

PARAMS = {"fast": 10, "slow": 50}
RISK = {"max_drawdown": 0.10}


def test_live_drawdown_halt_matches_the_backtest_and_survives_a_restart(tmp_path) -> None:
    bars = load_bars("sample:SPX", start="2007-01-01", end="2008-12-31")
    expected = backtest("ma_crossover", bars, PARAMS, risk=RISK)
    path = tmp_path / "live.sqlite"
    broker = SimulatedBroker(100_000.0)
    state = StateStore(path)
    risk = RiskEngine(RiskConfig.coerce(RISK), SQLiteRiskStore(path, scope="t"))
    feed = SimulatedVenueFeed(ReplayFeed({"SPX": bars}), broker)
    LiveRunner(make_strategy("ma_crossover", PARAMS), ["SPX"], broker, feed, state, risk=risk).run()
    fills = state.fills()
    assert len(fills) == len(expected.fills)
    assert list(fills["price"]) == pytest.approx(list(expected.fills["price"]), rel=1e-12)
    assert broker.get_account().equity == pytest.approx(expected.final_equity, rel=1e-12)
    rebuilt = RiskEngine(RiskConfig.coerce(RISK), SQLiteRiskStore(path, scope="t"))
    assert rebuilt.trading is TradingState.HALTED
