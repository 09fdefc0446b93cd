"""Throughput of parameter sweeps of the SMA crossover, and latency of the widget updates.

Runs, in one process, on the same synthetic minute bars and the same grid (every pair
fast < slow of 64 windows 5, 10, ..., 320: 2,016 combinations over 100,000 bars):

  1. workbench's ``sweep`` (each distinct average once, every column in one kernel call,
     all metrics and the float32 return matrix kept);
  2. a straightforward vectorbt sweep: the pairs of ``vbt.MA.run_combs``,
     ``ma_crossed_above/below`` and ``Portfolio.from_signals`` over the columns (next-open
     fills, same costs and sizing), then its final value and Sharpe ratio; in chunks of
     256 columns, because all 2,016 at once need more than the machine's 24 GB;
  3. a plain numba loop over the precomputed averages (crossings and an all-in long-only
     account, final equity only): the bound.

Each is run once on a small input first, so numba compilation is not timed. Prints
combination-bars per second, the ratio to vectorbt (goal: at least 5x) and checks that
the three agree (final equity of every combination). Then times the interactive widget:
parameter updates on ``sample:SPX`` (goal: under 200 ms after the first).

    python benchmarks/sweep.py [--bars 100000] [--windows 64] [--skip-widgets]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
from numba import njit

from workbench.data.sources import load_bars
from workbench.indicators import sma
from workbench.research.sweep import sweep

CASH = 100_000.0
FEES = 0.0005
BPS = 1.0
PERIODS_PER_YEAR = 365 * 1440  # vectorbt's annualisation of minute bars (freq="1min")


@njit(cache=True)
def numba_loop_nb(
    open_: np.ndarray,
    ma: np.ndarray,
    fast_idx: np.ndarray,
    slow_idx: np.ndarray,
    close: np.ndarray,
    cash0: float,
    fee: float,
    bps: float,
) -> np.ndarray:
    """All-in long-only crossover per combination: decide at t's close, fill at t+1's open."""
    n = open_.shape[0]
    out = np.empty(fast_idx.shape[0])
    for k in range(fast_idx.shape[0]):
        f = ma[fast_idx[k]]
        s = ma[slow_idx[k]]
        cash = cash0
        qty = 0.0
        pending = 0
        for t in range(1, n):
            if pending == 1:
                price = open_[t] + open_[t] * bps * 1e-4
                qty = cash / (price * (1.0 + fee))
                cash -= qty * price + fee * qty * price
            elif pending == -1:
                price = open_[t] - open_[t] * bps * 1e-4
                cash += qty * price - fee * qty * price
                qty = 0.0
            pending = 0
            if f[t] > s[t] and f[t - 1] <= s[t - 1]:
                if qty == 0.0:
                    pending = 1
            elif f[t] < s[t] and f[t - 1] >= s[t - 1] and qty > 0.0:
                pending = -1
        out[k] = cash + qty * close[n - 1]
    return out


def run_numba(bars: pd.DataFrame, windows: list[int]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    close = bars["close"].to_numpy()
    ma = np.vstack([sma(close, w) for w in windows])
    pairs = [(i, j) for i in range(len(windows)) for j in range(i + 1, len(windows))]
    fast_idx = np.array([p[0] for p in pairs])
    slow_idx = np.array([p[1] for p in pairs])
    final = numba_loop_nb(bars["open"].to_numpy(), ma, fast_idx, slow_idx, close, CASH, FEES, BPS)
    return final, [(windows[i], windows[j]) for i, j in pairs]


def run_vectorbt(bars: pd.DataFrame, windows: list[int], chunk: int = 256) -> pd.DataFrame:
    """The pairs ``MA.run_combs(window=windows, r=2)`` makes, simulated ``chunk`` columns at a time.

    ``run_combs`` itself materialises every column's averages, signals, prices and values
    at once: with 2,016 columns over 100,000 bars that took more than 23 GB here and was
    killed, so the same calls run on chunks of the pairs (the per-column work is the same).
    """
    import vectorbt as vbt

    close, open_ = bars["close"], bars["open"]
    pairs = list(itertools.combinations(windows, 2))
    parts = []
    for lo in range(0, len(pairs), chunk):
        part = pairs[lo : lo + chunk]
        fast = vbt.MA.run(close, window=[p[0] for p in part], short_name="fast")
        slow = vbt.MA.run(close, window=[p[1] for p in part], short_name="slow")
        entries = fast.ma_crossed_above(slow).vbt.fshift(1, fill_value=False).astype(bool)
        exits = fast.ma_crossed_below(slow).vbt.fshift(1, fill_value=False).astype(bool)
        pf = vbt.Portfolio.from_signals(
            close,
            entries,
            exits,
            price=open_,
            size=1.0,
            size_type="percent",
            fees=FEES,
            slippage=BPS * 1e-4,
            init_cash=CASH,
            freq="1min",
        )
        out = pd.DataFrame(
            {"final_equity": pf.final_value().to_numpy(), "sharpe": pf.sharpe_ratio().to_numpy()},
            index=pd.MultiIndex.from_tuples(part, names=["fast", "slow"]),
        )
        parts.append(out)
    return pd.concat(parts)


def run_workbench(bars: pd.DataFrame, windows: list[int]) -> pd.DataFrame:
    return sweep(
        "ma_crossover",
        bars,
        grid={"fast": windows, "slow": windows},
        metric="sharpe",
        commission=FEES,
        slippage=BPS,
        periods_per_year=PERIODS_PER_YEAR,
        progress=False,
    ).set_index(["fast", "slow"])


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def bench_sweeps(n_bars: int, n_windows: int) -> None:
    windows = list(range(5, 5 * (n_windows + 1), 5))
    bars = load_bars(f"synthetic:SYN?bars={n_bars}&freq=1min&seed=7")
    small = bars.iloc[:2_000]
    n_combos = n_windows * (n_windows - 1) // 2
    cells = n_combos * n_bars
    print(f"{n_combos} combinations x {n_bars} bars = {cells:.3g} combination-bars")
    for fn in (run_workbench, run_numba, run_vectorbt):  # compile (or load numba's cache)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn(small, windows[:4])
    ours, t_ours = timed(run_workbench, bars, windows)
    (bound, pairs), t_bound = timed(run_numba, bars, windows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vbt_out, t_vbt = timed(run_vectorbt, bars, windows)
    rows = [
        ("workbench sweep (all metrics + returns)", t_ours),
        ("vectorbt MA.run_combs pairs + from_signals", t_vbt),
        ("plain numba loop (final equity only)", t_bound),
    ]
    print(f"{'method':<42}{'seconds':>10}{'combination-bars/s':>22}")
    for name, seconds in rows:
        print(f"{name:<42}{seconds:>10.2f}{cells / seconds:>22.3g}")
    print(f"workbench / vectorbt throughput: {t_vbt / t_ours:.1f}x (goal: at least 5x)")
    print(f"workbench / numba bound: {t_bound / t_ours:.2f} of the bound")

    keys = pd.MultiIndex.from_tuples(pairs, names=["fast", "slow"])
    ours_final = ours["final_equity"].reindex(keys).to_numpy()
    vbt_final = vbt_out["final_equity"].reindex(keys).to_numpy()
    rel_vbt = np.abs(ours_final - vbt_final) / np.abs(vbt_final)
    rel_bound = np.abs(ours_final - bound) / np.abs(bound)
    print(
        f"final equity, largest relative difference: vs vectorbt {rel_vbt.max():.1e} "
        f"({int((rel_vbt > 1e-9).sum())} of {n_combos} above 1e-9), "
        f"vs numba loop {rel_bound.max():.1e}"
    )
    sharpe_ours = ours["sharpe"].reindex(keys).to_numpy()
    sharpe_vbt = vbt_out["sharpe"].reindex(keys).to_numpy()
    gap = np.nanmax(np.abs(sharpe_ours - sharpe_vbt) / np.maximum(np.abs(sharpe_vbt), 1.0))
    print(
        f"Sharpe ratio, largest difference vs vectorbt: {gap:.1e} (relative, or absolute below 1;"
        " vectorbt also counts a return of 0 on the first bar, one more return in its mean and"
        " deviation)"
    )


def bench_widgets(updates: int = 20) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from workbench.research.widgets import Explorer

    explorer = Explorer("ma_crossover", data="sample:SPX")
    slider = explorer.controls["fast"]
    times: list[float] = []
    for k in range(updates):
        slider.value = 10 + k
        times.append(explorer.last_update_seconds)
    first = times[0]
    rest = times[1:]
    median, worst = statistics.median(rest), max(rest)
    print(
        f"widget update on sample:SPX: first {first * 1e3:.0f} ms, then median "
        f"{median * 1e3:.0f} ms, worst {worst * 1e3:.0f} ms over {len(rest)} updates "
        "(goal: under 200 ms)"
    )
    assert median < 0.2, "widget updates are slower than 200 ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--windows", type=int, default=64)
    parser.add_argument("--skip-widgets", action="store_true")
    args = parser.parse_args()
    bench_sweeps(args.bars, args.windows)
    if not args.skip_widgets:
        bench_widgets()


if __name__ == "__main__":
    main()
