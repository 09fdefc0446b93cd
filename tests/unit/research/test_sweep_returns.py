"""A vectorized sweep's trial returns, built on first read: the same values as written during
the sweep, built once, safe from later changes to the caller's bars, pickled as built."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pandas as pd
import pytest

from workbench import load_bars, sweep
from workbench.research import sweep_returns
from workbench.research.sweep import sweep_info, trial_returns

GRID = {"fast": [5, 10, 30], "slow": [20, 60]}
COSTS = {"commission": 0.001, "slippage": 3.0}


@pytest.fixture(scope="module")
def written(spx: pd.DataFrame) -> pd.DataFrame:
    """The returns as the kernel writes them during the sweep."""
    frame = sweep("ma_crossover", spx, grid=GRID, returns_now=True, **COSTS)
    assert sweep_info(frame).returns_built
    return trial_returns(frame)


def builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the recipes' builds."""
    calls: list[int] = []
    original = sweep_returns.ReturnsRecipe.build

    def counted(self: sweep_returns.ReturnsRecipe) -> pd.DataFrame:
        calls.append(1)
        return original(self)

    monkeypatch.setattr(sweep_returns.ReturnsRecipe, "build", counted)
    return calls


def test_built_on_first_read_bit_for_bit_what_the_sweep_would_have_written(
    spx: pd.DataFrame, written: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = builds(monkeypatch)
    frame = sweep("ma_crossover", spx, grid=GRID, **COSTS)
    info = sweep_info(frame)
    assert not info.returns_built and calls == []  # the sweep itself wrote none
    best = frame.head(2)  # a filtered copy shares the record, and the build
    returns = trial_returns(best)
    assert info.returns_built and calls == [1]
    assert trial_returns(frame) is returns and calls == [1]
    pd.testing.assert_frame_equal(returns, written, check_exact=True)
    assert returns.dtypes.eq(np.float32).all()


def test_the_callers_bars_changed_in_place_after_the_sweep_change_nothing(
    written: pd.DataFrame,
) -> None:
    bars = load_bars("sample:SPX", start="2003-01-01", end="2014-12-31")
    frame = sweep("ma_crossover", bars, grid=GRID, **COSTS)
    bars.loc[bars.index[100:], ["open", "high", "low", "close"]] *= 1.5
    bars.iloc[200, bars.columns.get_loc("close")] = np.nan
    pd.testing.assert_frame_equal(trial_returns(frame), written, check_exact=True)


def test_one_build_when_read_from_two_threads_at_once(
    spx: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = builds(monkeypatch)
    frame = sweep("ma_crossover", spx, grid=GRID, **COSTS)
    barrier = threading.Barrier(2)
    seen: list[pd.DataFrame] = []

    def read() -> None:
        barrier.wait(timeout=30)
        seen.append(trial_returns(frame))

    threads = [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(seen) == 2 and seen[0] is seen[1] and calls == [1]


def test_pickled_with_its_returns_built(spx: pd.DataFrame, written: pd.DataFrame) -> None:
    frame = sweep("ma_crossover", spx, grid=GRID, **COSTS)
    copy = pickle.loads(pickle.dumps(frame))
    assert sweep_info(copy).returns_built
    pd.testing.assert_frame_equal(trial_returns(copy), written, check_exact=True)
    pd.testing.assert_frame_equal(copy, frame)


def test_written_during_the_sweep_where_they_are_read_at_once(
    spx: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = builds(monkeypatch)
    relative = sweep("ma_crossover", spx, grid=GRID, benchmark="universe", **COSTS)
    assert sweep_info(relative).returns_built and "alpha" in relative.columns
    none = sweep("ma_crossover", spx, grid=GRID, keep_returns=False, **COSTS)
    assert sweep_info(none).returns is None
    assert calls == []
