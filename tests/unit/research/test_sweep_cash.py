"""``sweep(cash=...)`` refuses a cash at or below zero as a backtest does, before any data is
read: the vectorized kernels swept it, every trial ending at that cash."""

from __future__ import annotations

import math

import pytest

from workbench import backtest, sweep
from workbench.errors import ConfigError

GRID = {"fast": [5, 10], "slow": [50]}
SAMPLED = {"search": "random", "n_trials": 2, "seed": 1}


@pytest.mark.parametrize("cash", [-5.0, 0.0, math.nan])
@pytest.mark.parametrize(
    ("data", "search"),
    [
        ("synthetic:T?bars=300&freq=1D&seed=3", {}),
        ("synthetic:S?symbols=2&bars=300&freq=1D&seed=3", {}),
        ("synthetic:T?bars=300&freq=1D&seed=3", SAMPLED),
        ("no_such_source:X", {}),  # refused before the data is read
    ],
    ids=["symbol", "universe", "search", "unread"],
)
def test_a_cash_at_or_below_zero_is_refused(data: str, search: dict, cash: float) -> None:
    message = f"cash must be a positive number, got {cash!r}"
    with pytest.raises(ConfigError, match=message):
        backtest("ma_crossover", "synthetic:T?bars=300&freq=1D&seed=3", cash=cash)
    with pytest.raises(ConfigError, match=message):
        sweep("ma_crossover", data, GRID, cash=cash, **search)
