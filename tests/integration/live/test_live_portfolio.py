"""A portfolio strategy live (replay on the simulated broker) trades exactly as its backtest,
and the dashboard shows the run's exposure per sector."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench import backtest
from workbench.dashboard import snapshot
from workbench.data.sources import load_symbols
from workbench.data.sp500 import gics_sectors
from workbench.live.replay import ReplayFeed, SimulatedVenueFeed
from workbench.live.runner import LiveRunner
from workbench.live.state import StateStore
from workbench.sim.broker import SimulatedBroker
from workbench.sim.costs import Commission, Slippage
from workbench.strategy import make_strategy

COSTS = {"commission": Commission(percent=0.0005), "slippage": Slippage(bps=2)}


@pytest.fixture(scope="module")
def bars() -> dict[str, pd.DataFrame]:
    return load_symbols(
        "sample:SP500?symbols=AAPL,JPM,KO,XOM,PFE,MSFT", start="2018-01-01", end="2021-12-31"
    )


# exposure 1.0 leaves no cash: some buys are refused, in both runs alike
@pytest.mark.parametrize("exposure", [0.98, 1.0])
def test_live_momentum_rotation_matches_the_backtest(bars, tmp_path, exposure) -> None:
    params = {"lookback": 63, "skip": 5, "top_k": 2, "exposure": exposure}
    expected = backtest("momentum_rotation", bars, params, cash=100_000, **COSTS)
    broker = SimulatedBroker(100_000, **COSTS)
    path = tmp_path / "live.sqlite"
    state = StateStore(path)
    feed = SimulatedVenueFeed(ReplayFeed(bars), broker)
    strategy = make_strategy("momentum_rotation", params)
    summary = LiveRunner(strategy, list(bars), broker, feed, state).run()
    assert summary.bars == len(next(iter(bars.values())))
    fills = state.fills()
    assert len(fills) == len(expected.fills) > 50
    assert list(fills["symbol"]) == list(expected.fills["symbol"])
    assert list(pd.to_datetime(fills["time"])) == list(expected.fills["time"])
    np.testing.assert_allclose(fills["quantity"], expected.fills["quantity"], rtol=1e-9)
    refused = sum(str(o.status) == "rejected" for o in broker.orders)
    assert refused == int((expected.orders["status"] == "rejected").sum())
    assert (refused > 0) == (exposure == 1.0)
    assert broker.get_account().equity == pytest.approx(expected.final_equity, rel=1e-9)
    state.close()
    # the dashboard of this run: exposure per GICS sector of the final holdings
    sectors = {x["sector"]: x for x in snapshot(path)["sectors"]}
    held = list(broker.get_positions())  # two, or one when a buy was refused
    expected_sectors = {gics_sectors()[s] for s in held}
    assert set(sectors) == expected_sectors and 1 <= len(held) <= 2
    total = sum(x["weight"] for x in sectors.values())
    assert total == pytest.approx(expected.market_value.iloc[-1] / expected.final_equity, rel=1e-6)
