"""Parity on real and synthetic data: the vectorized runs (vectorbt and the numba kernel) and
the event-driven engine give the same trades and the same equity, with and without costs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench import check_parity, load_bars
from workbench.backtesting.fastpath import run_signals
from workbench.backtesting.vectorized import VectorCosts, VectorSignals

PARAMS = [
    {"fast": 10, "slow": 30},
    {"fast": 50, "slow": 200, "fraction": 0.5},
    {"fast": 5, "slow": 20, "allow_short": True},
    {"fast": 20, "slow": 60, "allow_short": True, "fraction": 0.7},
]
COSTS = [
    {"commission": None, "slippage": None},
    {"commission": 0.001, "slippage": 5.0},
]
DATA = {
    "sample:SPX": None,
    "sample:NASDAQ": None,
    "synthetic:SYN?bars=20000&freq=1min&seed=7": None,
}


@pytest.fixture(scope="module")
def bars() -> dict[str, pd.DataFrame]:
    return {spec: load_bars(spec) for spec in DATA}


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["vectorbt", "numba"])
@pytest.mark.parametrize("costs", COSTS, ids=["no-costs", "costs"])
@pytest.mark.parametrize("params", PARAMS, ids=lambda p: "-".join(f"{k}{v}" for k, v in p.items()))
@pytest.mark.parametrize("spec", list(DATA))
def test_parity(
    bars: dict[str, pd.DataFrame], spec: str, params: dict, costs: dict, engine: str
) -> None:
    report = check_parity("ma_crossover", bars[spec], params, engine=engine, **costs)
    assert report.ok, report.summary()
    assert report.event_trades == report.vector_trades >= 3
    assert report.final_equity_rel_diff <= 1e-6
    assert report.max_price_rel_diff <= 1e-9
    event, vector = report.event.trades, report.vector.trades
    assert list(event["entry_time"]) == list(vector["entry_time"])
    assert list(event["exit_time"].fillna(pd.Timestamp(0, tz="UTC"))) == list(
        vector["exit_time"].fillna(pd.Timestamp(0, tz="UTC"))
    )
    if engine == "vectorbt":
        assert report.vector.portfolio is not None


@pytest.mark.slow
def test_vectorbt_adapter_reproduces_hand_computed_fills() -> None:
    """Entry decided on bar 1 fills at bar 2's open, exit decided on 3 at 4's; 1 % fee, 100 bps."""
    index = pd.date_range("2024-01-01", periods=6, freq="D", tz="UTC")
    opens = np.array([100.0, 102.0, 104.0, 103.0, 105.0, 106.0])
    closes = np.array([101.0, 103.0, 102.0, 104.0, 106.0, 107.0])
    frame = pd.DataFrame(
        {"open": opens, "high": closes + 2, "low": opens - 2, "close": closes, "volume": 1.0},
        index=index,
    )
    entries = pd.Series([False, True, False, False, False, False], index=index)
    exits = pd.Series([False, False, False, True, False, False], index=index)
    signals = VectorSignals(entries, exits)
    result = run_signals(
        signals, frame, symbol="X", cash=1000.0, costs=VectorCosts(0.01, 100.0), engine="vectorbt"
    )
    buy, sell = 104.0 * 1.01, 105.0 * 0.99
    qty = 1000.0 / (buy * 1.01)
    fills = result.fills
    assert list(fills["time"]) == [index[2], index[4]]
    np.testing.assert_allclose(fills["price"], [buy, sell], rtol=1e-12)
    np.testing.assert_allclose(fills["quantity"], [qty, qty], rtol=1e-12)
    np.testing.assert_allclose(fills["commission"], [0.01 * qty * buy, 0.01 * qty * sell])
    assert result.final_equity == pytest.approx(qty * sell * 0.99, rel=1e-12)
    trade = result.trades.iloc[0]
    assert (trade["entry_time"], trade["exit_time"]) == (index[2], index[4])


#: A stop distance that fires often on each data set (daily closes, one-minute bars).
STOP_SCALE = {"sample:SPX": 0.01, "synthetic:SYN?bars=20000&freq=1min&seed=7": 0.0005}
STOP_PARAMS = {
    "sl-tp": {"fast": 10, "slow": 30, "sl_stop": 1.0, "tp_stop": 1.5},
    "short-trail": {"fast": 5, "slow": 20, "allow_short": True, "sl_stop": 1.0, "sl_trail": True},
}


@pytest.mark.slow
@pytest.mark.parametrize("costs", COSTS, ids=["no-costs", "costs"])
@pytest.mark.parametrize("kind", list(STOP_PARAMS))
@pytest.mark.parametrize("spec", list(STOP_SCALE))
def test_stop_parity_with_the_numba_kernel(
    bars: dict[str, pd.DataFrame], spec: str, kind: str, costs: dict
) -> None:
    """Stops, trade by trade: the event engine's relative exits and the kernel's stops."""
    params = dict(STOP_PARAMS[kind])
    for key in ("sl_stop", "tp_stop"):
        if key in params:
            params[key] *= STOP_SCALE[spec]
    report = check_parity("ma_crossover", bars[spec], params, engine="numba", **costs)
    assert report.ok, report.summary()
    assert report.max_equity_rel_diff <= 1e-9
    event = report.event.trades
    # the stops did fire: an exit leg carries its entry's reason, a cross its own
    assert (event["exit_reason"] == event["entry_reason"]).sum() >= 5
