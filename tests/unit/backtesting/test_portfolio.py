"""Portfolios over sample:SP500: the rebalance rule against pandas, and event vs vectorized."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench import backtest
from workbench.backtesting.naive import equal_weight_rebalance
from workbench.backtesting.portfolio_nb import run_weights
from workbench.data.sources import load_symbols
from workbench.errors import ConfigError
from workbench.strategy import make_strategy


@pytest.fixture(scope="module")
def sp500() -> dict[str, pd.DataFrame]:
    return load_symbols("sample:SP500")


@pytest.fixture(scope="module")
def recent(sp500) -> dict[str, pd.DataFrame]:
    out = {}
    for sym, frame in sp500.items():
        cut = frame.loc["2012-01-01":]
        cut.attrs = dict(frame.attrs)
        out[sym] = cut
    return out


def test_equal_weight_monthly_rebalance_equals_pandas_within_1e9(sp500):
    result = backtest("equal_weight", sp500, cash=100_000)
    assert (result.orders["status"] == "filled").all()
    expected = equal_weight_rebalance(sp500, 100_000.0, 0.98 / 20)
    rel = np.abs(result.equity.to_numpy() / expected.to_numpy() - 1.0)
    assert rel.max() < 1e-9, rel.max()
    assert len(result.fills) > 7000  # 20 stocks, about 395 month ends
    first = result.fills["time"].iloc[0]
    assert first == pd.Timestamp("1990-02-01", tz="UTC")  # decided on 1990-01-31's close


@pytest.mark.parametrize(
    ("name", "params", "costs"),
    [
        ("momentum_rotation", {}, {"commission": 0.001, "slippage": 2}),
        ("momentum_rotation", {"lookback": 126, "skip": 5, "top_k": 3, "band": 0.05}, {}),
        ("inverse_volatility", {"schedule": "week_end"}, {"commission": 0.0005}),
        ("ma_crossover", {"fast": 20, "slow": 100}, {"commission": 0.001, "slippage": 2}),
    ],
)
def test_vectorized_portfolio_gives_the_event_engines_trades(recent, name, params, costs):
    strategy = make_strategy(name, params)
    event = backtest(name, recent, params=params, cash=50_000, **costs)
    weights = strategy.target_weights(recent)
    vec = run_weights(
        recent,
        weights,
        cash=50_000,
        commission=costs.get("commission", 0.0),
        slippage_bps=costs.get("slippage", 0.0),
        band=params.get("band", 0.0),
    )
    fills = event.fills
    assert len(fills) > 20
    assert len(vec.fills) == len(fills)
    assert (vec.fills["symbol"].to_numpy() == fills["symbol"].to_numpy()).all()
    assert (vec.fills["side"].to_numpy() == fills["side"].astype(str).to_numpy()).all()
    assert (vec.fills["time"].to_numpy() == fills["time"].to_numpy()).all()
    np.testing.assert_allclose(vec.fills["quantity"], fills["quantity"], rtol=1e-9)
    np.testing.assert_allclose(vec.fills["price"], fills["price"], rtol=1e-12)
    np.testing.assert_allclose(vec.equity, event.equity, rtol=1e-9)
    assert vec.rejected == int((event.orders["status"] == "rejected").sum())


def test_momentum_rotation_holds_the_top_k_by_12_1_momentum(recent):
    result = backtest("momentum_rotation", recent, params={"top_k": 3}, cash=100_000)
    close = pd.DataFrame({s: f["close"] for s, f in recent.items()})
    first = result.fills["time"].min()
    decision = close.index[close.index.get_loc(first) - 1]
    t = close.index.get_loc(decision)
    mom = close.iloc[t - 21] / close.iloc[t - 21 - 252] - 1
    bought = set(result.fills.loc[result.fills["time"] == first, "symbol"])
    assert bought == set(mom.nlargest(3).index)
    assert decision.month != close.index[t + 1].month  # the last session of its month


def test_a_late_starting_symbol_leaves_the_others_windows_at_the_decision_bar(recent):
    bars = {s: recent[s] for s in ("AAPL", "MSFT", "XOM", "KO")}
    late = bars["KO"].loc["2014-06-01":]
    late.attrs = dict(bars["KO"].attrs)
    bars["KO"] = late
    result = backtest("momentum_rotation", bars, params={"top_k": 2, "lookback": 63, "skip": 0})
    close = pd.DataFrame({s: f["close"] for s, f in bars.items()})
    fills = result.fills
    signed = fills["quantity"].where(fills["side"].astype(str) == "buy", -fills["quantity"])
    held = signed.groupby([fills["time"], fills["symbol"]]).sum().unstack(fill_value=0.0)
    held = held.cumsum()
    t0 = close.index.get_loc(held.index[0]) - 1
    assert close["KO"].iloc[: t0 + 1].count() == 64  # the first bar every symbol has 64
    for when, row in held.iterrows():
        t = close.index.get_loc(when) - 1  # decided on the close before
        mom = close.iloc[t] / close.iloc[t - 63] - 1
        assert set(row[row > 1e-9].index) == set(mom.nlargest(2).index), when


def test_band_skips_holdings_within_it(recent):
    tight = backtest("equal_weight", recent, params={"band": 0.0})
    loose = backtest("equal_weight", recent, params={"band": 0.01})
    assert len(loose.fills) < len(tight.fills) / 2
    w = loose.market_value.iloc[-1] / loose.equity.iloc[-1]
    assert 0.9 < w < 1.0


def test_vectorized_path_refuses_an_unaligned_universe(recent):
    bars = dict(recent)
    bars["AAPL"] = bars["AAPL"].iloc[5:]
    with pytest.raises(ConfigError, match="one index for every symbol"):
        run_weights(bars, pd.DataFrame())
