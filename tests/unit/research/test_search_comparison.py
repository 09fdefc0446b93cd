"""Searches compared on one budget: the table's figures are the sweeps' and the overfitting
report's own, best so far is a running best in draw order, and the figure draws them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.errors import ConfigError
from workbench.research.overfitting import overfitting_report
from workbench.research.search_comparison import (
    best_so_far,
    compare_searches,
    dsr_by_trials,
    plot_search_comparison,
    searches_on_budget,
)
from workbench.research.sweep import sweep, trial_returns

DATA = {"start": "2009-01-01", "end": "2012-12-31"}
GRID = {"fast": list(range(5, 61, 5)), "slow": list(range(20, 201, 20))}
COARSE = {"fast": [10, 30, 50], "slow": [40, 100, 160, 200]}  # values of GRID's
BREAKOUT = "workbench.strategies.bracket_breakout:BracketBreakout"


@pytest.fixture(scope="module")
def searches() -> dict[str, pd.DataFrame]:
    return searches_on_budget("ma_crossover", "sample:SPX", GRID, COARSE, seed=7, **DATA)


@pytest.fixture(scope="module")
def comparison(searches):
    return compare_searches(searches)


def best_trial(frame: pd.DataFrame, metric: str, lowest: bool = False):
    return frame[metric].idxmin() if lowest else frame[metric].idxmax()


def test_each_search_is_counted_and_the_samplers_get_the_coarse_grids_budget(searches):
    assert list(searches) == ["full grid", "coarse grid", "random", "tpe"]
    budget = searches["coarse grid"].attrs["n_trials"]
    assert budget == 12 - 1  # 10/..., 30/..., 50/... with fast < slow: 50/40 is skipped
    for how in ("random", "tpe"):
        frame = searches[how]
        assert frame.attrs["search"] == how and frame.attrs["n_samples"] == budget
        assert set(frame["fast"]) <= set(GRID["fast"]) and set(frame["slow"]) <= set(GRID["slow"])


def test_the_table_is_each_sweeps_winner_and_its_overfitting_report(searches, comparison):
    table = comparison.table
    assert list(table.index) == list(searches)
    assert list(table.columns) == [
        "samples drawn", "distinct trials", "best", "best sharpe", "DSR", "PBO",
    ]  # fmt: skip
    for name, frame in searches.items():
        row = table.loc[name]
        trial = best_trial(frame, "sharpe")
        returns = trial_returns(frame)
        report = overfitting_report(returns, selected=trial)
        assert row["distinct trials"] == len(frame) == returns.shape[1]
        assert row["samples drawn"] == frame.attrs.get("n_samples", len(frame))
        assert row["samples drawn"] >= row["distinct trials"]
        fast, slow = frame.loc[trial, ["fast", "slow"]]
        assert row["best"] == f"fast={fast}, slow={slow}"
        assert row["best sharpe"] == frame["sharpe"].max()
        assert row["DSR"] == pytest.approx(report["dsr"]) and 0 < row["DSR"] < 1
        assert row["PBO"] == pytest.approx(report["pbo"])
        assert comparison.reports[name]["n_trials"] == len(frame)
    # every search tries combinations of the full grid's values: none beats its best
    assert (table["best sharpe"] <= table.at["full grid", "best sharpe"]).all()
    html = comparison.style().to_html()
    assert f"{table.at['tpe', 'DSR']:.1%}" in html and f"{table.at['tpe', 'PBO']:.0%}" in html


def test_best_so_far_is_the_running_best_in_the_order_trials_were_drawn(searches):
    for how in ("random", "tpe"):
        frame = searches[how]
        curve = best_so_far(frame)
        drawn = frame.sort_index()["sharpe"].tolist()
        expected = [max(drawn[: k + 1]) for k in range(len(drawn))]
        assert curve.tolist() == pytest.approx(expected)
        assert list(curve.index) == list(range(1, len(frame) + 1))
        assert curve.is_monotonic_increasing and curve.iloc[-1] == frame["sharpe"].max()


def test_lower_is_better_metrics_are_a_running_minimum():
    metric = "annual_volatility"
    frame = sweep("ma_crossover", "sample:SPX", GRID, metric=metric, search="random",
                  n_trials=10, seed=3, **DATA)  # fmt: skip
    curve = best_so_far(frame)
    drawn = frame.sort_index()[metric].tolist()
    assert curve.tolist() == pytest.approx([min(drawn[: k + 1]) for k in range(len(drawn))])
    assert curve.is_monotonic_decreasing and curve.iloc[-1] == frame[metric].min()
    row = compare_searches({"random": frame}).table.loc["random"]
    trial = best_trial(frame, metric, lowest=True)
    assert row[f"best {metric}"] == frame[metric].min()
    assert row["DSR"] == pytest.approx(overfitting_report(trial_returns(frame), trial)["dsr"])


def test_a_trial_without_a_score_keeps_the_best_before_it(searches):
    frame = searches["random"].sort_index().copy()
    frame.iloc[1, frame.columns.get_loc("sharpe")] = np.nan
    curve = best_so_far(frame)
    assert curve.iloc[1] == curve.iloc[0] == frame["sharpe"].iloc[0]


def test_any_strategys_parameter_names_label_the_best_combination():
    grid = {"window": [10, 20, 40], "stop_loss": [0.01, 0.02, 0.05]}
    found = {
        "grid": sweep(BREAKOUT, "sample:SPX", grid, **DATA),
        "random": sweep(BREAKOUT, "sample:SPX", grid, search="random", n_trials=6, seed=3, **DATA),
    }
    table = compare_searches(found).table
    for name, frame in found.items():
        trial = best_trial(frame, "sharpe")
        window, stop = frame.at[trial, "window"], frame.at[trial, "stop_loss"]
        assert table.at[name, "best"] == f"window={window}, stop_loss={stop:g}"


def test_the_dsr_falls_as_more_trials_are_counted(comparison):
    report = comparison.reports["tpe"]
    n = report["n_trials"]
    curve = dsr_by_trials(report, [1, 2, n, 10 * n, 1000])
    assert curve[n] == pytest.approx(report["dsr"])
    assert curve[1] == pytest.approx(report["psr"])  # one trial: nothing to deflate
    assert curve.is_monotonic_decreasing and curve[1] > curve[1000]
    assert dsr_by_trials({**report, "dsr": None}, [1, n]).isna().all()


def test_the_figure_draws_each_sampled_search_and_the_grids_best(comparison):
    import matplotlib.pyplot as plt

    open_before = plt.get_fignums()
    fig = plot_search_comparison(comparison)
    assert plt.get_fignums() == open_before  # a bare Figure, not registered in pyplot
    left, right = fig.axes[:2]
    lines = {line.get_label(): line for line in left.get_lines()}
    for how in ("random", "tpe"):
        expected = best_so_far(comparison.searches[how])
        assert list(lines[how].get_xdata()) == list(expected.index)
        assert np.allclose(lines[how].get_ydata(), expected.to_numpy())
    table = comparison.table
    for name in ("full grid", "coarse grid"):
        (line,) = [v for k, v in lines.items() if k.startswith(f"best of the {name} (")]
        assert set(line.get_ydata()) == {table.at[name, "best sharpe"]}
    assert "tpe winner" in right.get_title()
    marks = {c.get_label(): c.get_offsets()[0] for c in right.collections}
    expected = dsr_by_trials(comparison.reports["tpe"], table["distinct trials"].to_numpy())
    for (name, n), dsr in zip(table["distinct trials"].items(), expected, strict=True):
        assert tuple(marks[f"{name}: {n}"]) == pytest.approx((n, dsr))
    assert "random winner" in plot_search_comparison(comparison, "random").axes[1].get_title()
    with pytest.raises(ConfigError, match="no search named"):
        plot_search_comparison(comparison, "annealing")


def test_searches_ranked_by_different_metrics_need_one_named(searches):
    other = searches["coarse grid"].copy()
    other.attrs = {**other.attrs, "metric": "cagr"}
    with pytest.raises(ConfigError, match="different metrics"):
        compare_searches({"a": searches["random"], "b": other})
    table = compare_searches({"a": searches["random"], "b": other}, metric="cagr").table
    assert table.at["b", "best cagr"] == other["cagr"].max()
    with pytest.raises(ConfigError, match="unknown sampler"):
        searches_on_budget("ma_crossover", "sample:SPX", GRID, COARSE, samplers=("grid",))
