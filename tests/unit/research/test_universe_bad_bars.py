"""The portfolio kernel (universe sweeps, the portfolio explorer) refuses bars out of order,
prices at or below zero and inconsistent OHLC, as the event engine and the vectorized path
do."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from workbench import backtest, sweep
from workbench.data.sources import load_symbols
from workbench.errors import DataError
from workbench.research.portfolio_sweep import run_portfolio_vectorized
from workbench.strategy import make_strategy

SPEC = "synthetic:S?symbols=2&bars=300&freq=1D&seed=3"
PARAMS = {"fast": 5, "slow": 20}


def negative_close() -> dict[str, pd.DataFrame]:
    bars = load_symbols(SPEC)
    frame = bars["S002"].copy()
    frame.iloc[150, frame.columns.get_loc("close")] = -5.0
    frame.iloc[160, frame.columns.get_loc("open")] = 0.0
    bars["S002"] = frame
    return bars


def close_above_high() -> dict[str, pd.DataFrame]:
    bars = load_symbols(SPEC)
    frame = bars["S002"].copy()
    high, low = frame.columns.get_loc("high"), frame.columns.get_loc("low")
    frame.iloc[150, frame.columns.get_loc("close")] = frame.iloc[150, high] * 1.01
    frame.iloc[160, low] = frame.iloc[160, high] + 1.0  # a low above the high
    bars["S002"] = frame
    return bars


def swapped_rows() -> dict[str, pd.DataFrame]:
    order = list(range(300))
    order[100], order[101] = 101, 100  # the same two bars swapped in every symbol
    return {s: f.iloc[order] for s, f in load_symbols(SPEC).items()}


CASES = [
    pytest.param(
        negative_close,
        re.escape(f"S002 ({SPEC}): 2 bar(s) with a price at or below zero, the first at ")
        + r"\S+ \S+: close -5 \(correct or remove those rows",
        id="prices",
    ),
    pytest.param(
        close_above_high,
        re.escape(f"S002 ({SPEC}): 2 bar(s) with open, high, low and close that disagree, ")
        + r"the first at \S+ \S+: open \S+ high \S+ low \S+ close \S+: close above high "
        r"\(correct or remove those rows",
        id="ohlc",
    ),
    pytest.param(
        swapped_rows,
        r"S001: the timestamps are out of order or duplicated: \S+ \S+ is earlier than",
        id="order",
    ),
]


@pytest.mark.parametrize(("bars", "message"), CASES)
def test_a_universe_sweep_refuses_them_as_a_backtest_does(bars, message) -> None:
    universe = bars()
    with pytest.raises(DataError, match=message):
        backtest("ma_crossover", universe, PARAMS)  # the event engine, as before
    with pytest.raises(DataError, match=message):  # the kernel traded at them
        sweep("ma_crossover", universe, {"fast": [5, 10], "slow": [20]})


@pytest.mark.parametrize(("bars", "message"), CASES)
def test_the_portfolio_explorer_run_refuses_them(bars, message) -> None:
    strategy = make_strategy("ma_crossover", PARAMS)
    with pytest.raises(DataError, match=message):
        run_portfolio_vectorized(strategy, bars())


def test_clean_bars_still_run_on_the_kernel() -> None:
    rows = sweep("ma_crossover", load_symbols(SPEC), {"fast": [5, 10], "slow": [20]})
    assert rows.attrs["sweep"].method == "vectorized" and len(rows) == 2
