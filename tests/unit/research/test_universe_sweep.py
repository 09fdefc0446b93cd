"""Sweeps over a universe equal event backtests row by row; benchmark-relative figures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from workbench import backtest, sweep
from workbench.backtesting.benchmark import (
    RELATIVE_METRICS,
    equal_weight_buy_and_hold,
    relative_metrics,
)
from workbench.backtesting.column_metrics import COLUMN_METRICS
from workbench.data.sources import load_symbols
from workbench.research.sweep import trial_returns
from workbench.strategies.portfolio import EqualWeight

SPEC = "sample:SP500?symbols=AAPL,JPM,KO,XOM,PFE,WMT"


@pytest.fixture(scope="module")
def universe() -> dict[str, pd.DataFrame]:
    return load_symbols(SPEC, start="2014-01-01", end="2022-12-31")


@pytest.mark.parametrize(
    ("name", "grid"),
    [
        ("momentum_rotation", {"lookback": [63, 126], "top_k": [2, 3]}),
        ("ma_crossover", {"fast": [10, 30], "slow": [60, 120]}),
    ],
)
def test_universe_sweep_rows_equal_event_backtests(universe, name, grid):
    costs = {"commission": 0.001, "slippage": 2}
    rows = sweep(name, universe, grid, benchmark="universe", **costs)
    assert rows.attrs["sweep"].method == "vectorized"
    assert len(rows) == 4
    returns = trial_returns(rows)
    for trial, row in rows.iterrows():
        params = {k: int(row[k]) for k in grid}
        result = backtest(name, universe, params=params, benchmark="universe", **costs)
        assert result.metrics["number_of_trades"] > 5
        for key in (*COLUMN_METRICS, *RELATIVE_METRICS):
            want = result.metrics.get(key, float("nan"))
            if key == "rejected":
                want = float((result.orders["status"] == "rejected").sum())
            if isinstance(want, float) and math.isnan(want):
                assert math.isnan(row[key]), (trial, key)
            else:
                assert row[key] == pytest.approx(want, rel=1e-9, abs=1e-12), (trial, key)
        equity = result.equity.to_numpy()
        np.testing.assert_allclose(returns[trial], equity[1:] / equity[:-1] - 1, atol=1e-6)


def test_event_sweep_over_an_unaligned_universe(universe):
    bars = dict(universe)
    bars["AAPL"] = bars["AAPL"].iloc[30:]
    rows = sweep("momentum_rotation", bars, {"top_k": [2, 3]}, params={"lookback": 63})
    assert rows.attrs["sweep"].method == "event"
    result = backtest("momentum_rotation", bars, params={"lookback": 63, "top_k": 2})
    row = rows[rows["top_k"] == 2].iloc[0]
    assert row["sharpe"] == pytest.approx(result.metrics["sharpe"], rel=1e-12)


def test_benchmark_figures_by_hand():
    index = pd.date_range("2020-01-01", periods=300, freq="D", tz="UTC")
    rng = np.random.default_rng(3)
    m = rng.normal(0.0004, 0.01, len(index) - 1)
    noise = rng.normal(0.0, 0.005, len(index) - 1)
    r = 0.0002 + 1.5 * m + noise
    bench = 100 * np.concatenate([[1.0], np.cumprod(1 + m)])
    equity = 100 * np.concatenate([[1.0], np.cumprod(1 + r)])
    got = relative_metrics(equity, bench, 252)
    beta = np.polyfit(m, r, 1)[0]
    assert got["beta"] == pytest.approx(beta, rel=1e-9)
    assert got["alpha"] == pytest.approx((r.mean() - beta * m.mean()) * 252, rel=1e-9)
    te = np.std(r - m, ddof=1) * np.sqrt(252)
    assert got["tracking_error"] == pytest.approx(te, rel=1e-12)
    assert got["information_ratio"] == pytest.approx((r - m).mean() * 252 / te, rel=1e-12)
    assert got["excess_return"] == pytest.approx(equity[-1] / 100 - bench[-1] / 100)
    same = relative_metrics(bench, bench, 252)
    assert same["beta"] == pytest.approx(1.0) and abs(same["alpha"]) < 1e-12
    assert same["tracking_error"] == 0 and math.isnan(same["information_ratio"])


def test_default_benchmark_is_equal_weight_buy_and_hold(universe):
    curve = equal_weight_buy_and_hold(universe, 60_000.0)
    close = pd.DataFrame({s: f["close"] for s, f in universe.items()})
    by_hand = (10_000.0 * close / close.iloc[0]).sum(axis=1)
    np.testing.assert_allclose(curve.to_numpy(), by_hand.to_numpy(), rtol=1e-12)
    result = backtest("equal_weight", universe, benchmark="sample:SP500_INDEX")
    assert result.benchmark.iloc[0] == result.equity.iloc[0]
    assert 0.5 < result.metrics["beta"] < 1.5
    assert result.metrics["correlation"] > 0.8


def test_single_symbol_sweep_rows_take_a_benchmark_too():
    rows = sweep(
        "ma_crossover", "sample:SPX", {"fast": [10, 20], "slow": [100]}, benchmark="universe"
    )
    result = backtest("ma_crossover", "sample:SPX", {"fast": 10, "slow": 100}, benchmark="universe")
    row = rows[rows["fast"] == 10].iloc[0]
    for key in ("excess_return", "alpha", "beta", "tracking_error", "information_ratio"):
        # from the trials' float32 returns: about 7 significant digits
        assert row[key] == pytest.approx(result.metrics[key], rel=1e-5, abs=1e-7), key


def test_cli_backtest_and_sweep_print_benchmark_figures(capsys):
    import json

    from workbench.cli.main import main

    data = "sample:SP500?symbols=AAPL,MSFT,KO,XOM"
    code = main(
        [
            "backtest",
            "--strategy",
            "momentum_rotation",
            "--data",
            data,
            "--param",
            "top_k=2",
            "--start",
            "2015-01-01",
            "--benchmark",
            "sample:SP500_INDEX",
            "--json",
        ]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert 0 < doc["metrics"]["beta"] < 2 and "information_ratio" in doc["metrics"]
    code = main(
        [
            "sweep",
            "--strategy",
            "momentum_rotation",
            "--data",
            data,
            "--grid",
            "top_k=1,2",
            "--start",
            "2015-01-01",
            "--benchmark",
            "universe",
        ]
    )
    assert code == 0


class PairTrade(EqualWeight):
    """Long the first symbol and short the second, each at ``exposure / 2`` of equity."""

    name = "pair_trade"

    def weights(self, closes: np.ndarray) -> np.ndarray:
        return np.array([0.5, -0.5]) * self.p.exposure


@pytest.mark.parametrize("how", ["vectorized", "event"])
def test_a_long_short_book_that_nets_to_zero_is_exposed_in_sweeps(how: str) -> None:
    """Two symbols of the same bars, one long and one short of the same value: the book
    nets to zero (equity == cash) from the first rebalance on, yet it is in the market.
    The sweep's rows (the portfolio kernel's, or event backtests') read exposure from
    |equity - cash| > 1e-12: 0, where the event backtest holds on 0.9 of the bars."""
    spx = load_symbols("sample:SPX", start="2015-01-01", end="2016-12-31")["SPX"]
    pair = {"A": spx, "B": spx.copy()}
    # costs alike on both sides (no slippage): the same quantities, a net of 0.0 exactly;
    # a per-share commission the kernel cannot reproduce sends the sweep to the event engine
    commission = 0.001 if how == "vectorized" else "per_share=0.001"
    rows = sweep(PairTrade, pair, {"band": [0.01, 0.05]}, commission=commission)
    assert rows.attrs["sweep"].method == how
    for _, row in rows.iterrows():
        result = backtest(PairTrade, pair, params={"band": row["band"]}, commission=commission)
        assert (result.equity == result.cash).all()
        held = result.in_market.to_numpy()
        assert 0.9 < held.mean() < 1.0 and not held[0]  # from the first month's end on
        assert result.metrics["exposure"] == held.mean()
        assert row["exposure"] == result.metrics["exposure"]
