"""Portfolio speed: the 20 stocks over 33 years, and a 500-symbol synthetic universe.

In one process:
  1. ``sample:SP500`` (20 stocks, 1990-2022): the event engine's monthly equal-weight
     rebalance (zero costs) beside a plain pandas implementation of the same rule
     (:func:`workbench.backtesting.naive.equal_weight_rebalance`). Their equity curves must
     agree within 1e-9 (checked first), then both are timed;
  2. ``synthetic:SYN?symbols=500&bars=2520&freq=1D&corr=0.3&sectors=10&seed=7`` through
     the event engine (monthly momentum rotation, top 50), symbol-bars per second;
  3. a 100-combination sweep (lookback x top_k) of that universe through the vectorized
     portfolio kernel; the combination of step 2 must equal the event backtest.

Peak memory is the process's maximum resident set (``ru_maxrss``, everything loaded).
Goals: the event engine at least 100,000 symbol-bars per second on the synthetic
universe; peak memory under 1 GB. Exit 1 on a disagreement or a missed goal.

    python benchmarks/portfolio.py [--symbols 500] [--bars 2520]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np

from workbench import backtest, sweep
from workbench.backtesting.naive import equal_weight_rebalance
from workbench.data.sources import load_symbols

GOAL_SYMBOL_BARS = 100_000
GOAL_MEMORY_MB = 1024


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def timed(fn, *args, **kwargs):
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--bars", type=int, default=2520)
    args = parser.parse_args()
    failures: list[str] = []

    print("== 1. sample:SP500, 20 stocks, monthly equal weight, zero costs")
    sp500 = load_symbols("sample:SP500")
    n_bars = len(next(iter(sp500.values())))
    result, t_event = timed(backtest, "equal_weight", sp500, cash=100_000, progress=False)
    reference, t_pandas = timed(equal_weight_rebalance, sp500, 100_000.0, 0.98 / len(sp500))
    rel = float(np.max(np.abs(result.equity.to_numpy() / reference.to_numpy() - 1.0)))
    print(f"   agreement: max relative equity difference {rel:.2e} (must be < 1e-9)")
    if not rel < 1e-9:
        failures.append(f"SP500: event engine and pandas differ by {rel:.2e}")
    cells = n_bars * len(sp500)
    print(
        f"   event engine {t_event:6.2f} s  {cells / t_event:12,.0f} symbol-bars/s "
        f"({len(result.fills)} fills)"
    )
    print(
        f"   plain pandas {t_pandas:6.2f} s  {cells / t_pandas:12,.0f} symbol-bars/s "
        f"(event / pandas time: {t_event / t_pandas:.1f}x)"
    )

    spec = (
        f"synthetic:SYN?symbols={args.symbols}&bars={args.bars}&freq=1D&corr=0.3&sectors=10&seed=7"
    )
    print(f"== 2. {spec} through the event engine (momentum rotation, top 50)")
    universe, t_load = timed(load_symbols, spec)
    params = {"lookback": 252, "skip": 21, "top_k": 50}
    event, t_event = timed(backtest, "momentum_rotation", universe, params=params, progress=False)
    cells = args.symbols * args.bars
    rate = cells / t_event
    print(
        f"   data {t_load:.2f} s; engine {t_event:.2f} s: {rate:,.0f} symbol-bars/s "
        f"(goal {GOAL_SYMBOL_BARS:,}); {len(event.fills)} fills; peak {peak_mb():,.0f} MB"
    )
    if rate < GOAL_SYMBOL_BARS:
        failures.append(f"event engine {rate:,.0f} symbol-bars/s < {GOAL_SYMBOL_BARS:,}")

    print("== 3. 100-combination sweep of that universe (vectorized portfolio kernel)")
    grid = {
        "lookback": [21, 42, 63, 84, 126, 168, 189, 210, 231, 252],
        "top_k": [5, 10, 20, 30, 40, 50, 60, 80, 100, 150],
    }
    rows, t_sweep = timed(
        sweep, "momentum_rotation", universe, grid, params={"skip": 21}, progress=False
    )
    same = rows[(rows["lookback"] == 252) & (rows["top_k"] == 50)].iloc[0]
    diff = abs(same["final_equity"] / event.metrics["final_equity"] - 1.0)
    print(f"   agreement: the (252, 50) row's final equity vs the event backtest: {diff:.2e}")
    if not diff < 1e-9 or same["number_of_trades"] != event.metrics["number_of_trades"]:
        failures.append(f"sweep row (252, 50) differs from the event backtest by {diff:.2e}")
    print(
        f"   {len(rows)} combinations in {t_sweep:.2f} s ({t_sweep / len(rows) * 1e3:.0f} ms "
        f"each, {len(rows) * cells / t_sweep:,.0f} symbol-bars/s; "
        f"{t_event / (t_sweep / len(rows)):.0f}x the event engine per combination)"
    )
    memory = peak_mb()
    print(f"== peak memory {memory:,.0f} MB (goal < {GOAL_MEMORY_MB:,} MB)")
    if memory >= GOAL_MEMORY_MB:
        failures.append(f"peak memory {memory:,.0f} MB >= {GOAL_MEMORY_MB:,} MB")
    for failure in failures:
        print(f"FAIL: {failure}")
    print("OK" if not failures else "FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
