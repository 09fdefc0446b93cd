"""Sweeps: grids, constraints, results equal to single event-driven backtests, records, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench import backtest, sweep
from workbench.backtesting.metrics import compute_metrics
from workbench.cli.main import main
from workbench.context import Context
from workbench.errors import ConfigError, ParameterError
from workbench.params import Param
from workbench.research.heatmap import heatmap_table, plot_heatmap
from workbench.research.sweep import expand_grid, parse_grid, sweep_info, top, trial_returns
from workbench.strategies.ma_crossover import MACrossover
from workbench.strategy import Strategy

COSTS = {"commission": 0.001, "slippage": 3.0}


@pytest.fixture(scope="module")
def result(spx: pd.DataFrame) -> pd.DataFrame:
    return sweep("ma_crossover", spx, grid={"fast": [5, 10, 30], "slow": [10, 20, 30, 60]}, **COSTS)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("fast=5:20:5", {"fast": [5, 10, 15, 20]}),
        ("fast=5:21:5", {"fast": [5, 10, 15, 20]}),
        ("slow=50,100, 200", {"slow": [50, 100, 200]}),
        ("fraction=0.25:1:0.25", {"fraction": [0.25, 0.5, 0.75, 1.0]}),
        ("fast=3", {"fast": [3]}),
        ("fast=7:9", {"fast": [7, 8, 9]}),
        ("allow_short=true,false", {"allow_short": ["true", "false"]}),
    ],
)
def test_parse_grid(item: str, expected: dict) -> None:
    assert parse_grid([item]) == expected


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["fast"], "expected NAME=START:STOP:STEP"),
        (["fast="], "expected NAME=START:STOP:STEP"),
        (["fast=10:5"], "STOP is below START"),
        (["fast=1:10:0"], "STEP must be a positive number"),
        (["fast=1:2:3:4"], "expected START:STOP"),
        (["fast=1", "fast=2"], "given twice"),
    ],
)
def test_parse_grid_refuses_malformed_items(items: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_grid(items)


def test_expand_grid_skips_and_counts_constraint_violations() -> None:
    space = MACrossover.param_space()
    valid, skipped = expand_grid(space, {"fast": [5, 10, 30], "slow": [10, 20, 30]})
    pairs = [(c["fast"], c["slow"]) for c in valid]
    assert pairs == [(5, 10), (5, 20), (5, 30), (10, 20), (10, 30)]
    assert [(c["fast"], c["slow"]) for c in skipped] == [(10, 10), (30, 10), (30, 20), (30, 30)]
    assert all(c["allow_short"] is False and c["fraction"] == 1.0 for c in valid)


@pytest.mark.parametrize(
    ("grid", "fixed", "error", "message"),
    [
        ({"fats": [5]}, None, ParameterError, "unknown parameter"),
        ({"fast": [0, 5]}, None, ParameterError, "out of range"),
        ({"fast": [5]}, {"fast": 6}, ConfigError, "both in the grid and as fixed"),
        ({}, None, ConfigError, "the grid is empty"),
        ({"fast": []}, None, ConfigError, "no values"),
        ({"fast": [50, 60], "slow": [20]}, None, ConfigError, "none of the 2 combinations"),
    ],
)
def test_expand_grid_refuses_bad_grids(
    grid: dict, fixed: dict | None, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        expand_grid(MACrossover.param_space(), grid, fixed)


def test_one_row_per_valid_combination_best_first(result: pd.DataFrame) -> None:
    assert len(result) == 8  # 12 pairs, 4 with fast >= slow
    assert result.attrs["n_trials"] == 8
    assert result.attrs["skipped"] == 4
    assert result.attrs["metric"] == "sharpe"
    assert list(result.columns[:2]) == ["fast", "slow"]
    assert (result["fast"] < result["slow"]).all()
    sharpe = result["sharpe"].to_numpy()
    assert (np.diff(sharpe[~np.isnan(sharpe)]) <= 0).all()
    assert sorted(result.index) == list(range(8))
    filtered = result[result["sharpe"] > result["sharpe"].median()]
    assert filtered.attrs["n_trials"] == 8  # the trials done, whatever is kept
    assert sweep_info(filtered) is sweep_info(result)


@pytest.mark.parametrize(
    "params",
    [
        {"fast": 5, "slow": 20},
        {"fast": 10, "slow": 60},
        {"fast": 30, "slow": 60},
    ],
)
def test_rows_equal_single_event_driven_backtests(
    spx: pd.DataFrame, result: pd.DataFrame, params: dict
) -> None:
    row = result[(result["fast"] == params["fast"]) & (result["slow"] == params["slow"])].iloc[0]
    event = backtest("ma_crossover", spx, params, **COSTS)
    for key, value in event.metrics.items():
        if math.isnan(value):
            assert math.isnan(row[key]), key
        else:
            assert row[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert row["number_of_trades"] > 0


def test_short_and_fraction_sweeps_equal_event_driven_backtests(spx: pd.DataFrame) -> None:
    frame = sweep(
        "ma_crossover",
        spx,
        grid={"fast": [10, 20], "fraction": [0.5, 1.0]},
        params={"slow": 50, "allow_short": True},
        **COSTS,
    )
    assert len(frame) == 4
    for _, row in frame.iterrows():
        params = {"fast": int(row["fast"]), "slow": 50, "allow_short": True}
        params["fraction"] = float(row["fraction"])
        event = backtest("ma_crossover", spx, params, **COSTS)
        assert row["final_equity"] == pytest.approx(event.final_equity, rel=1e-9)
        assert row["number_of_trades"] == event.metrics["number_of_trades"]
        rejected = float((event.orders["status"] == "rejected").sum())
        assert row["rejected"] == rejected


def test_stop_sweeps_equal_event_driven_backtests(spx: pd.DataFrame) -> None:
    """``sl_stop`` / ``sl_trail`` in the grid: the sweep kernel's stops are the venue's."""
    fixed = {"fast": 10, "slow": 50, "allow_short": True, "tp_stop": 0.06}
    frame = sweep(
        "ma_crossover",
        spx,
        grid={"sl_stop": [0.02, 0.04], "sl_trail": [False, True]},
        params=fixed,
        **COSTS,
    )
    assert len(frame) == 4
    assert frame["final_equity"].nunique() == 4  # each stop changes the outcome
    for _, row in frame.iterrows():
        params = {**fixed, "sl_stop": float(row["sl_stop"]), "sl_trail": bool(row["sl_trail"])}
        event = backtest("ma_crossover", spx, params, **COSTS)
        assert row["final_equity"] == pytest.approx(event.final_equity, rel=1e-9)
        for key in ("number_of_trades", "win_rate", "max_drawdown", "exposure"):
            assert row[key] == pytest.approx(event.metrics[key], rel=1e-9), key


def test_trial_returns_are_each_combination_per_bar_returns(
    spx: pd.DataFrame, result: pd.DataFrame
) -> None:
    returns = trial_returns(result)
    assert returns.shape == (len(spx) - 1, 8)
    assert (returns.dtypes == np.float32).all()
    assert returns.index.equals(spx.index[1:])
    trial = int(result.index[0])
    params = sweep_info(result).trial_params(trial, result)
    equity = backtest("ma_crossover", spx, params, **COSTS).equity
    expected = (equity / equity.shift(1) - 1).iloc[1:].to_numpy()
    np.testing.assert_allclose(returns[trial].to_numpy(), expected, rtol=1e-6, atol=1e-9)


def test_risk_free_rate_reaches_sharpe_and_sortino(spx: pd.DataFrame) -> None:
    frame = sweep("ma_crossover", spx, grid={"fast": [10]}, params={"slow": 40}, risk_free=0.03)
    event = backtest("ma_crossover", spx, {"fast": 10, "slow": 40})
    closed = event.trades[event.trades["status"] == "closed"]
    expected = compute_metrics(event.equity, closed, risk_free=0.03)
    for key in ("sharpe", "sortino"):
        assert frame[key].iloc[0] == pytest.approx(expected[key], rel=1e-9)


def test_chunks_do_not_change_results(spx: pd.DataFrame, result: pd.DataFrame) -> None:
    grid = {"fast": [5, 10, 30], "slow": [10, 20, 30, 60]}
    chunked = sweep("ma_crossover", spx, grid=grid, chunk_bytes=2 * len(spx), **COSTS)
    pd.testing.assert_frame_equal(chunked.sort_index(), result.sort_index())
    np.testing.assert_array_equal(
        trial_returns(chunked).to_numpy(), trial_returns(result).to_numpy()
    )


def test_without_returns(spx: pd.DataFrame) -> None:
    frame = sweep("ma_crossover", spx, grid={"fast": [5, 10]}, keep_returns=False)
    with pytest.raises(ConfigError, match="kept no return series"):
        trial_returns(frame)


def test_a_returns_matrix_over_the_limit_is_refused_before_any_work(spx: pd.DataFrame) -> None:
    grid = {"fast": [5, 10]}
    with pytest.raises(ConfigError, match="keep_returns=False"):
        sweep("ma_crossover", spx, grid=grid, max_returns_bytes=8 * (len(spx) - 1) - 1)
    assert len(sweep("ma_crossover", spx, grid=grid, max_returns_bytes=8 * (len(spx) - 1))) == 2


def test_top_and_lower_is_better_metrics(result: pd.DataFrame) -> None:
    best = top(result, 3)
    assert len(best) == 3
    assert list(best.index) == list(result.index[:3])
    calm = top(result, 8, metric="annual_volatility")["annual_volatility"].to_numpy()
    assert (np.diff(calm) >= 0).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "alpha"}, "unknown metric"),
        ({"commission": "per_share=0.01"}, "commission per_share"),
    ],
)
def test_sweep_refuses_bad_settings(spx: pd.DataFrame, kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        sweep("ma_crossover", spx, grid={"fast": [5]}, **kwargs)


def test_sweep_over_several_symbols_gives_portfolio_rows(spx: pd.DataFrame) -> None:
    rows = sweep("ma_crossover", {"A": spx, "B": spx}, grid={"fast": [5, 10]}, params={"slow": 50})
    assert rows.attrs["sweep"].method == "vectorized" and len(rows) == 2
    assert rows.attrs["sweep"].symbol == "A,B"
    one = sweep("ma_crossover", spx, grid={"fast": [5, 10]}, params={"slow": 50})
    # the same rule on two identical symbols, half of equity each: the same returns
    for fast in (5, 10):
        a = rows[rows["fast"] == fast].iloc[0]
        b = one[one["fast"] == fast].iloc[0]
        assert a["total_return"] == pytest.approx(b["total_return"], rel=1e-6)
        assert a["number_of_trades"] == 2 * b["number_of_trades"]


class Alternate(Strategy):
    """No vectorized form: long for ``hold`` bars out of every ``2 * hold``."""

    name = "alternate"
    params = (Param("hold", int, 20, low=1, high=1000),)

    def on_bar(self, ctx: Context) -> None:
        k = len(ctx.close)
        if k % (2 * self.p.hold) == 1:
            ctx.target(percent=1.0, reason="IN")
        elif k % (2 * self.p.hold) == self.p.hold + 1:
            ctx.target(percent=0.0, reason="OUT")


def test_strategies_without_vectorized_form_sweep_with_the_event_engine(
    spx: pd.DataFrame,
) -> None:
    frame = sweep(Alternate, spx.iloc[:600], grid={"hold": [10, 25]}, **COSTS)
    assert sweep_info(frame).method == "event"
    for _, row in frame.iterrows():
        event = backtest(Alternate, spx.iloc[:600], {"hold": int(row["hold"])}, **COSTS)
        assert row["sharpe"] == pytest.approx(event.metrics["sharpe"], rel=1e-12)
        assert row["number_of_trades"] == event.metrics["number_of_trades"] > 5
    assert trial_returns(frame).shape == (599, 2)


def test_heatmap_table_and_plot(result: pd.DataFrame) -> None:
    table = heatmap_table(result)
    assert list(table.columns) == [5, 10, 30] and list(table.index) == [10, 20, 30, 60]
    row = result[(result["fast"] == 10) & (result["slow"] == 60)].iloc[0]
    assert table.loc[60, 10] == row["sharpe"]
    assert math.isnan(table.loc[10, 10]) and math.isnan(table.loc[30, 30])  # skipped
    fig = plot_heatmap(result, mark=(10, 60))
    assert "8 trials, 4 skipped" in fig.axes[0].get_title()
    with pytest.raises(ConfigError, match="two different parameters"):
        heatmap_table(result, "fast", "fast")


def test_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["sweep", "--strategy", "ma_crossover", "--data", "sample:SPX", "--start", "2010-01-01"]
    code = main([*argv, "--grid", "fast=5:15:5", "--grid", "slow=10,40", "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["n_trials"], doc["skipped"]) == (4, 2)
    assert doc["grid"] == {"fast": [5, 10, 15], "slow": [10, 40]}
    assert len(doc["rows"]) == 4 and {"trial", "fast", "slow", "sharpe"} <= set(doc["rows"][0])


def test_cli_sweeps_the_stops(capsys: pytest.CaptureFixture[str]) -> None:
    """``--grid sl_stop=...`` and ``sl_trail=false,true``: each row is that stop's backtest."""
    argv = ["sweep", "--strategy", "ma_crossover", "--data", "sample:SPX", "--start", "2010-01-01"]
    grid = ["--grid", "sl_stop=0,0.03", "--grid", "sl_trail=false,true"]
    fixed = ["--param", "fast=10", "--param", "slow=40", "--param", "tp_stop=0.06"]
    assert main([*argv, *grid, *fixed, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["grid"] == {"sl_stop": [0, 0.03], "sl_trail": [False, True]}
    rows = {(r["sl_stop"], r["sl_trail"]): r for r in doc["rows"]}
    assert len(rows) == 4
    params = {"fast": 10, "slow": 40, "tp_stop": 0.06, "sl_stop": 0.03, "sl_trail": True}
    event = backtest("ma_crossover", "sample:SPX", params, start="2010-01-01")
    assert rows[(0.03, True)]["final_equity"] == pytest.approx(event.final_equity, rel=1e-9)
    assert rows[(0.03, True)]["final_equity"] != rows[(0.03, False)]["final_equity"]


def test_cli_table_and_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sweep"
    argv = ["sweep", "--strategy", "ma_crossover", "--start", "2010-01-01", "--out", str(out)]
    assert main([*argv, "--grid", "fast=5:15:5", "--grid", "slow=20:40:10", "--top", "3"]) == 0
    text = capsys.readouterr().out
    assert "9 combinations, 0 skipped" in text
    assert {p.name for p in out.iterdir()} == {
        "results.csv",
        "summary.json",
        "heatmap.png",
        "trial_returns.parquet",
    }
    assert len(pd.read_csv(out / "results.csv")) == 9
    assert pd.read_parquet(out / "trial_returns.parquet").shape[1] == 9


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--grid", "fats=5"], "unknown parameter"),
        (["--grid", "fast=5:x"], "START and STOP must be numbers"),
        (["--grid", "fast=5", "--metric", "alpha"], "unknown metric"),
    ],
)
def test_cli_errors_are_one_line_with_exit_code_2(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sweep", "--strategy", "ma_crossover", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
