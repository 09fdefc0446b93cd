"""Throughput of the full event-driven engine on the SMA 50/200 crossover.

Runs, in one process and on the same synthetic minute bars:
  1. workbench's engine (strategy, orders, fills, accounting, results);
  2. a bare Python loop over the same arrays (the floor of any per-bar Python engine);
  3. backtesting.py (installed for the benchmark only: ``pip install backtesting``).
Each is run ``--repeat`` times, alternating, and timed by its best run (as ``timeit``
does: on a shared machine the other runs measure the neighbours); the median is
printed too. Prints bars per second and the ratio to backtesting.py (goal: at least 3x).

    python benchmarks/engine.py [--bars 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import pandas as pd

from workbench import backtest
from workbench.data.sources import load_bars
from workbench.indicators import sma


def bare_loop(
    open_: np.ndarray, fast: np.ndarray, slow: np.ndarray, cash: float
) -> tuple[float, int]:
    """All-in long-only crossover in plain Python: decide at t's close, fill at t+1's open."""
    o = open_.tolist()
    f = fast.tolist()
    s = slow.tolist()
    qty = 0.0
    pending = 0
    trades = 0
    for i in range(1, len(o)):
        if pending == 1:
            qty = cash / o[i]
            cash = 0.0
            trades += 1
        elif pending == -1:
            cash = qty * o[i]
            qty = 0.0
        pending = 0
        if f[i] > s[i] and f[i - 1] <= s[i - 1] and qty == 0.0:
            pending = 1
        elif f[i] < s[i] and f[i - 1] >= s[i - 1] and qty > 0.0:
            pending = -1
    return cash + qty * o[-1], trades


def run_backtesting_py(bars: pd.DataFrame, cash: float) -> tuple[float, int] | None:
    try:
        from backtesting import Backtest
        from backtesting import Strategy as BtStrategy
        from backtesting.lib import crossover
    except ImportError:
        return None

    class SmaCross(BtStrategy):
        def init(self) -> None:
            close = self.data.Close
            self.fast = self.I(lambda c: sma(np.asarray(c), 50), close)
            self.slow = self.I(lambda c: sma(np.asarray(c), 200), close)

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                self.buy()
            elif crossover(self.slow, self.fast):
                self.position.close()

    data = bars.rename(columns=str.capitalize).tz_localize(None)
    bt = Backtest(data, SmaCross, cash=cash, commission=0.0, finalize_trades=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = bt.run()
    return float(stats["Equity Final [$]"]), int(stats["# Trades"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    args = parser.parse_args()
    bars = load_bars(f"synthetic:SYN?bars={args.bars}&freq=1min&seed=42")
    n = len(bars)
    cash = 1_000_000.0
    print(f"SMA 50/200 crossover over {n:,} synthetic minute bars")

    def timed(fn):
        t0 = time.perf_counter()
        out = fn()
        return time.perf_counter() - t0, out

    def ours_run():
        return backtest("ma_crossover", bars, {"fast": 50, "slow": 200}, cash=cash, progress=False)

    def bare_run():
        fast, slow = sma(bars["close"].to_numpy(), 50), sma(bars["close"].to_numpy(), 200)
        return bare_loop(bars["open"].to_numpy(), fast, slow, cash)

    times: dict[str, list[float]] = {"ours": [], "bare": [], "theirs": []}
    bt = None
    for _ in range(args.repeat):
        sec, result = timed(ours_run)
        times["ours"].append(sec)
        sec, (_, bare_trades) = timed(bare_run)
        times["bare"].append(sec)
        sec, bt = timed(lambda: run_backtesting_py(bars, cash))
        if bt is not None:
            times["theirs"].append(sec)
    ours, bare = min(times["ours"]), min(times["bare"])
    theirs = min(times["theirs"]) if times["theirs"] else None

    rows = [
        (
            "workbench engine",
            ours,
            int(result.metrics["number_of_trades"] + result.metrics["open_trades"]),
        )
    ]
    rows.append(("bare Python loop", bare, bare_trades))
    if bt is not None:
        rows.append(("backtesting.py", theirs, bt[1]))
    print(f"{'engine':<20} {'seconds':>8} {'bars/s':>12} {'trades':>7}")
    for name, sec, trades in rows:
        print(f"{name:<20} {sec:8.2f} {n / sec:12,.0f} {trades:7d}")
    medians = {k: statistics.median(v) for k, v in times.items() if v}
    print(
        f"best of {args.repeat}; medians: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in medians.items())
    )
    if theirs is not None:
        print(f"workbench / backtesting.py throughput: {theirs / ours:.2f}x (goal >= 3x)")
        print(f"  with medians: {medians['theirs'] / medians['ours']:.2f}x")
    else:
        print("backtesting.py is not installed: pip install backtesting")
    print(f"workbench / bare loop time: {ours / bare:.2f}x")


if __name__ == "__main__":
    main()
