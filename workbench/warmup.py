"""Compile the numba kernels once, at install (`make install` runs `python -m workbench.warmup`).

The workbench's kernels (``@njit(cache=True)``) and vectorbt's compile on their first call in
a fresh environment: about 20 s in which a first notebook cell would sit silent. Run here,
the compiled code lands in numba's on-disk caches, and later processes only load it. Each
step shows on a progress bar with the time it took. Nothing here depends on the data
shipped: the bars are synthetic and small.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["STEPS", "warm_up"]


#: The warm-up's data: small, synthetic, daily (no file shipped is read).
SPEC = "synthetic:WARM?bars=400&freq=1D&seed=1"


def _bars() -> object:
    from workbench.data.sources import load_bars

    return load_bars(SPEC)


def _sweep() -> None:
    """Each array layout the sweep kernel is called with, since numba compiles (and caches)
    one machine code per layout: the metrics alone (a sweep's first pass), the trial
    returns read back (the walk-forward's folds, ``trial_returns``, the overfitting
    statistics: a column-major matrix) and one combination (a single column, which numpy
    flags row-major too)."""
    from workbench.research.sweep import sweep, trial_returns

    bars = _bars()
    trial_returns(sweep("ma_crossover", bars, {"fast": [5, 10], "slow": [20, 40]}, progress=False))
    trial_returns(sweep("ma_crossover", bars, {"fast": [5], "slow": [20]}, progress=False))


def _portfolio() -> None:
    """A universe's kernel (rebalancing toward target weights), through a universe sweep."""
    from workbench.data.sources import load_symbols
    from workbench.research.sweep import sweep

    universe = load_symbols(SPEC.replace("WARM", "WARM,WARM2"))
    sweep("ma_crossover", universe, {"fast": [5, 10], "slow": [20, 40]}, progress=False)


def _overfitting() -> None:
    import numpy as np
    import pandas as pd

    from workbench.research.overfitting import (
        overfitting_report,
        probability_of_backtest_overfitting,
    )

    returns = np.random.default_rng(1).normal(0.0, 0.01, (400, 4))
    overfitting_report(pd.DataFrame(returns.astype(np.float32)))  # a sweep's trial returns
    overfitting_report(pd.DataFrame(returns))
    probability_of_backtest_overfitting(returns, metric=lambda block: block.mean(axis=0))


def _vectorized() -> None:
    from workbench.backtesting.fastpath import run_vectorized

    run_vectorized("ma_crossover", _bars(), {"fast": 5, "slow": 20})


def _vectorbt() -> None:
    from workbench.research.parity import check_parity

    bars = _bars()
    check_parity("ma_crossover", bars, {"fast": 5, "slow": 20}, engine="vectorbt")
    # shorting gives vectorbt's order function other argument types: its own machine code
    short = {"fast": 5, "slow": 20, "allow_short": True}
    check_parity("ma_crossover", bars, short, engine="vectorbt")


#: (what, function) in the order they run.
STEPS: tuple[tuple[str, Callable[[], None]], ...] = (
    ("sweep kernel", _sweep),
    ("portfolio kernel", _portfolio),
    ("overfitting statistics", _overfitting),
    ("vectorized backtest", _vectorized),
    ("vectorbt parity", _vectorbt),
)


def warm_up(progress: bool = True) -> dict[str, float]:
    """Run every step; returns the seconds each took (long once, short when cached)."""
    from tqdm.auto import tqdm

    seconds: dict[str, float] = {}
    bar = tqdm(STEPS, desc="compiling numba kernels (once)", unit="step", disable=not progress)
    for what, step in bar:
        bar.set_postfix_str(what)
        started = time.perf_counter()
        step()
        seconds[what] = time.perf_counter() - started
    return seconds


def main() -> int:
    for what, took in warm_up().items():
        print(f"  {what:<22} {took:6.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
