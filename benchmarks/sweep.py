"""Parameter sweeps of the SMA crossover against vectorbt and a plain numba loop; widget latency.

The workload (issue 15): 100 (fast, slow) pairs, fast 10..100 by 10 and slow 150..600 by
50, over 1,000,000 synthetic minute bars; strict crossings decided at a bar's close, all-in
long-only orders filled at the next bar's open, 0.1% fees and 1 bp slippage. Engines:

  1. ``workbench.sweep`` with its defaults: every metric of every pair, and the float32
     per-bar returns of every pair kept (what the overfitting statistics need) as what
     builds them on first read: the kernel again, with the returns written (400 MB here);
     that read is timed too, as ``workbench + returns`` (the sweep, then ``trial_returns``),
     and checked (the returns compound to each pair's final equity), with no goal of its own;
  2. vectorbt, written the way its users write it (its documentation's crossover sweep):
     ``vbt.MA.run`` on each window list (the fast and the slow window of every pair),
     ``fast.ma_crossed_above(slow)`` / ``ma_crossed_below``, the signals shifted one bar
     (``vbt.fshift``) so that they fill at the next open (``price=open``), and
     ``vbt.Portfolio.from_signals`` on all 100 columns in one call (``size=1``,
     ``size_type="percent"``: all-in), then its final values, trade counts and Sharpe ratios;
  3. one numba loop per combination over the precomputed averages (crossings and an
     all-in long-only account, final equity and entries only): the bound.

Each engine runs in a fresh process (peak RSS is its own), ``--repeat`` times in turn; its
time is the CPU time of its best run (wall times and medians are printed too: see
``_harness.Runs``); numba compilation and data loading are outside the timed part.
Checks before any figure: every engine makes the same number of trades in every pair,
and the final equities agree within 1e-9 (relative). Goals:
workbench at least 20x vectorbt's throughput, within 3x of the numba loop's time, peak
RSS under 1 GB. Then the interactive widget: parameter updates on ``sample:SPX`` (goal:
median under 200 ms after the first). Exits 1 when a check or a goal fails.

    python benchmarks/sweep.py [--bars 1000000] [--repeat 3] [--skip-widgets]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import warnings
from typing import Any

import numpy as np
from _harness import Verdict, conditions, run_alternating, timed
from numba import njit

CASH = 100_000.0
FEES = 0.001
BPS = 1.0
FAST = list(range(10, 101, 10))
SLOW = list(range(150, 601, 50))
PAIRS = list(itertools.product(FAST, SLOW))
PERIODS_PER_YEAR = 365 * 1440  # vectorbt's annualisation of minute bars (freq="1min")
GOAL_VECTORBT = 20.0
GOAL_BOUND = 3.0
GOAL_PEAK_MB = 1024.0
UNTIMED = "untimed"  # an engine output's key: what to compute after the timed part


def load(n_bars: int) -> Any:
    from workbench.data.sources import load_bars

    return load_bars(f"synthetic:SYN?bars={n_bars}&freq=1min&seed=7")


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
) -> tuple[np.ndarray, np.ndarray]:
    """All-in long-only crossover per combination: (final equity, entries) of each."""
    n = open_.shape[0]
    out = np.empty(fast_idx.shape[0])
    entries = np.zeros(fast_idx.shape[0], dtype=np.int64)
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
                entries[k] += 1
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
    return out, entries


def run_numba(bars: Any) -> dict[str, np.ndarray]:
    from workbench.indicators import sma

    close = bars["close"].to_numpy()
    windows = sorted(set(FAST) | set(SLOW))
    ma = np.vstack([sma(close, w) for w in windows])
    fast_idx = np.array([windows.index(f) for f, _ in PAIRS])
    slow_idx = np.array([windows.index(s) for _, s in PAIRS])
    final, entries = numba_loop_nb(
        bars["open"].to_numpy(), ma, fast_idx, slow_idx, close, CASH, FEES, BPS
    )
    return {"final_equity": final, "trades": entries.astype(float)}


def run_vectorbt(bars: Any) -> dict[str, np.ndarray]:
    """The crossover sweep as vectorbt's users write it (module docstring)."""
    import vectorbt as vbt

    close, open_ = bars["close"], bars["open"]
    fast = vbt.MA.run(close, window=[f for f, _ in PAIRS], short_name="fast")
    slow = vbt.MA.run(close, window=[s for _, s in PAIRS], short_name="slow")
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
    return {
        "final_equity": pf.final_value().to_numpy(),
        "trades": pf.trades.count().to_numpy().astype(float),
        "sharpe": pf.sharpe_ratio().to_numpy(),
    }


def run_workbench(bars: Any) -> dict[str, np.ndarray]:
    return workbench_outputs(workbench_sweep(bars))


def run_workbench_returns(bars: Any) -> dict[str, np.ndarray]:
    """The sweep, then its trial returns read (built on first read), each pair's compounded."""
    from workbench.research.sweep import trial_returns

    frame = workbench_sweep(bars)
    returns = trial_returns(frame).to_numpy()
    trials = frame.set_index(["fast", "slow"]).loc[PAIRS, "trial"].to_numpy()

    def compound() -> dict[str, np.ndarray]:  # the check's work, outside the timed part
        growth = [np.prod(1.0 + returns[:, j].astype(np.float64)) for j in trials]
        return {"compounded": np.array(growth) * CASH}

    return {**workbench_outputs(frame), UNTIMED: compound}


def workbench_sweep(bars: Any) -> Any:
    from workbench.research.sweep import sweep

    return sweep(
        "ma_crossover",
        bars,
        grid={"fast": FAST, "slow": SLOW},
        commission=FEES,
        slippage=BPS,
        periods_per_year=PERIODS_PER_YEAR,
        progress=False,
    ).reset_index()


def workbench_outputs(frame: Any) -> dict[str, np.ndarray]:
    frame = frame.set_index(["fast", "slow"]).loc[PAIRS]
    return {
        "final_equity": frame["final_equity"].to_numpy(),
        "trades": (frame["number_of_trades"] + frame["open_trades"]).to_numpy(),
        "sharpe": frame["sharpe"].to_numpy(),
    }


ENGINES = {
    "workbench": run_workbench,
    "vectorbt": run_vectorbt,
    "numba loop": run_numba,
    "workbench + returns": run_workbench_returns,
}


def timed_engine(name: str, n_bars: int) -> tuple[dict[str, np.ndarray], float, float]:
    """In a fresh process: warm up on 3,000 bars (compilation), then time the full run
    (an engine's ``UNTIMED`` output, if any, computes what its check needs afterwards)."""
    fn = ENGINES[name]
    bars = load(n_bars)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn(bars.iloc[:3_000])
        out, cpu, wall = timed(fn, bars)
    finish = out.pop(UNTIMED, None)
    return ({**out, **finish()} if finish else out), cpu, wall


def bench_sweeps(n_bars: int, repeat: int, verdict: Verdict, *, vectorbt: bool = True) -> None:
    cells = len(PAIRS) * n_bars
    print(f"{len(PAIRS)} pairs x {n_bars:,} bars = {cells:.3g} combination-bars ({conditions()})")
    names = [name for name in ENGINES if vectorbt or name != "vectorbt"]
    runs = run_alternating([(name, timed_engine, (name, n_bars)) for name in names], repeat)
    ours = runs["workbench"].output
    for name in names[1:]:
        theirs = runs[name].output
        same = np.array_equal(ours["trades"], theirs["trades"])
        verdict.check(same, f"workbench and {name} make the same number of trades in every pair")
        rel = np.abs(ours["final_equity"] - theirs["final_equity"]) / np.abs(theirs["final_equity"])
        verdict.check(
            bool(rel.max() <= 1e-9),
            f"final equities agree with {name}: largest relative difference {rel.max():.1e}",
        )
    read = runs["workbench + returns"].output
    rel = np.abs(read["compounded"] - ours["final_equity"]) / np.abs(ours["final_equity"])
    verdict.check(
        bool(rel.max() <= 1e-6),
        "the trial returns built on first read compound to each pair's final equity: largest "
        f"relative difference {rel.max():.1e} (float32 returns)",
    )
    if verdict.failed:
        return  # a fast wrong engine wins nothing: no figures
    print(f"  trades per pair: {int(ours['trades'].min())} to {int(ours['trades'].max())}")
    print(
        f"{'engine':<20}{'CPU s':>9}{'median':>9}{'wall s':>9}{'combination-bars/s':>20}"
        f"{'peak RSS':>10}"
    )
    for r in runs.values():
        print(
            f"{r.name:<20}{r.best:9.3f}{r.median:9.3f}{r.best_wall:9.3f}{cells / r.best:20.3g}"
            f"{r.peak_mb:7.0f} MB"
        )
    w, b, r = runs["workbench"], runs["numba loop"], runs["workbench + returns"]
    print(
        f"  the trial returns, built on first read: {r.best - w.best:.3f} s of CPU more than "
        f"the sweep alone, peak RSS {r.peak_mb:.0f} MB (no goal)"
    )
    if vectorbt:
        v = runs["vectorbt"]
        vs = v.output["sharpe"]
        gap = np.nanmax(np.abs(ours["sharpe"] - vs) / np.maximum(np.abs(vs), 1))
        print(f"  Sharpe ratios within {gap:.1e} of vectorbt (it counts a 0 return on bar 0)")
        print(f"  medians: {v.median / w.median:.1f}x vectorbt, {w.median / b.median:.2f}x numba")
        verdict.check(
            v.best / w.best >= GOAL_VECTORBT,
            f"workbench throughput {v.best / w.best:.1f}x vectorbt's (goal >= {GOAL_VECTORBT:g}x)",
        )
    else:
        print("  vectorbt skipped (--skip-vectorbt): its goal is not checked")
    verdict.check(
        w.best / b.best <= GOAL_BOUND,
        f"workbench time {w.best / b.best:.2f}x the numba loop's (goal <= {GOAL_BOUND:g}x)",
    )
    verdict.check(
        w.peak_mb < GOAL_PEAK_MB,
        f"workbench peak RSS {w.peak_mb:.0f} MB (goal < {GOAL_PEAK_MB:.0f} MB)",
    )


def bench_widgets(verdict: Verdict, updates: int = 20) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from workbench.research.widgets import Explorer

    explorer = Explorer("ma_crossover", data="sample:SPX")
    slider = explorer.controls["fast"]
    times: list[float] = []
    for k in range(updates):
        slider.value = 10 + k
        times.append(explorer.last_update_seconds)
    first, rest = times[0], times[1:]
    median, worst = statistics.median(rest), max(rest)
    print(
        f"widget update on sample:SPX: first {first * 1e3:.0f} ms, then median "
        f"{median * 1e3:.0f} ms, worst {worst * 1e3:.0f} ms over {len(rest)} updates"
    )
    verdict.check(median < 0.2, f"widget update median {median * 1e3:.0f} ms (goal < 200 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    parser.add_argument("--skip-widgets", action="store_true")
    parser.add_argument(
        "--skip-vectorbt", action="store_true", help="quick runs: no vectorbt (~6 GB, minutes)"
    )
    args = parser.parse_args()
    verdict = Verdict()
    bench_sweeps(args.bars, args.repeat, verdict, vectorbt=not args.skip_vectorbt)
    if not args.skip_widgets:
        bench_widgets(verdict)
    verdict.finish()


if __name__ == "__main__":
    main()
