"""The full event engine against backtesting.py, a bare Python loop and a numba loop.

The workload (issue 15): 1,000,000 synthetic minute bars; an SMA 50/200 crossover with
strict crossings, one-unit long-only orders (buy one unit on a cross above when flat,
close on a cross below), market orders decided at a bar's close and filled at the next
bar's open, 0.1% commission on the traded notional. Engines:

  1. ``workbench.backtest``: strategy, risk engine in the loop (drawdown halt, order
     notional and open-position limits that never bind here), execution, simulated
     broker, accounting and the result (equity, trades, fills, orders, metrics);
  2. backtesting.py (installed for the benchmark only: ``make bench`` installs it), its
     documented ``SmaCross`` with ``self.buy(size=1)`` and ``position.close()``;
  3. a bare Python loop over the same arrays (the floor of any per-bar Python engine);
  4. a numba loop (the floor of any engine).

The bars are generated once and written to a file that each engine's process reads, so
that each engine's peak RSS (imports, data, run) is its own. Each engine runs
``--repeat`` times in turn, in a fresh process; its time is the CPU time of its best run
(see ``_harness.py``). Checks before any figure: every engine makes the same entries and
exits at the same bars and prices, and the equity at every bar agrees within 1e-9
(relative). Goals: workbench at least 5x backtesting.py's throughput, peak RSS at most
350 MB. Exits 1 when a check or a goal fails.

    python benchmarks/engine.py [--bars 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _harness import Verdict, conditions, run_alternating, timed

CASH = 1_000_000.0
FEE = 0.001
FAST, SLOW = 50, 200
GOAL_RATIO = 5.0
GOAL_PEAK_MB = 350.0
RISK = {"max_drawdown": 0.99, "max_order_notional": 1e9, "max_open_positions": 10}


def write_bars(n_bars: int, path: Path) -> None:
    from workbench.data.sources import load_bars

    bars = load_bars(f"synthetic:SYN?bars={n_bars}&freq=1min&seed=42")
    columns = {c: bars[c].to_numpy() for c in ("open", "high", "low", "close", "volume")}
    np.savez(path, time=bars.index.as_unit("ns").asi8, **columns)


def read_bars(path: str) -> Any:
    import pandas as pd

    with np.load(path) as f:
        index = pd.DatetimeIndex(f["time"].astype("datetime64[ns]")).tz_localize("UTC")
        cols = {c: f[c] for c in ("open", "high", "low", "close", "volume")}
    return pd.DataFrame(cols, index=index)


def one_unit_cross() -> type:
    """The workload's strategy in workbench's API."""
    from workbench.indicators import SMA
    from workbench.strategy import Strategy

    class OneUnitCross(Strategy):
        name = "one_unit_cross"

        def init(self, ctx: Any) -> None:
            self.fast = ctx.indicator(SMA(FAST))
            self.slow = ctx.indicator(SMA(SLOW))

        def on_bar(self, ctx: Any) -> None:
            fast, slow = self.fast, self.slow
            if len(fast) < 2:
                return
            f1, s1, f0, s0 = fast[-1], slow[-1], fast[-2], slow[-2]
            if f1 > s1 and f0 <= s0:
                ctx.target(quantity=1.0)
            elif f1 < s1 and f0 >= s0:
                ctx.target(quantity=0.0)

    return OneUnitCross


def run_workbench(bars: Any) -> dict[str, np.ndarray]:
    from workbench import backtest

    result = backtest(one_unit_cross(), bars, cash=CASH, commission=FEE, risk=RISK, progress=False)
    trades = result.trades
    closed = trades[trades["exit_time"].notna()]
    index = bars.index
    return {
        "entry_bar": index.get_indexer(closed["entry_time"]),
        "entry_price": closed["entry_price"].to_numpy(),
        "exit_bar": index.get_indexer(closed["exit_time"]),
        "exit_price": closed["exit_price"].to_numpy(),
        "equity": result.equity.to_numpy(),
    }


def run_backtesting_py(bars: Any) -> dict[str, np.ndarray]:
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    from workbench.indicators import sma

    class SmaCross(Strategy):
        def init(self) -> None:
            self.fast = self.I(sma, np.asarray(self.data.Close), FAST)
            self.slow = self.I(sma, np.asarray(self.data.Close), SLOW)

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                if not self.position:
                    self.buy(size=1)
            elif crossover(self.slow, self.fast):
                self.position.close()

    data = bars.rename(columns=str.capitalize).tz_localize(None)
    bt = Backtest(data, SmaCross, cash=CASH, commission=FEE)
    stats = bt.run()
    closed = stats["_trades"]  # closed trades (the open one is in the equity only)
    return {
        "entry_bar": closed["EntryBar"].to_numpy(dtype=np.int64),
        "entry_price": closed["EntryPrice"].to_numpy(dtype=float),
        "exit_bar": closed["ExitBar"].to_numpy(dtype=np.int64),
        "exit_price": closed["ExitPrice"].to_numpy(dtype=float),
        "equity": stats["_equity_curve"]["Equity"].to_numpy(dtype=float),
    }


def _loop_result(entries: list, exits: list, equity: Any) -> dict[str, np.ndarray]:
    entries = entries[: len(exits)]  # closed trades (the open one is in the equity only)
    return {
        "entry_bar": np.array([b for b, _ in entries], dtype=np.int64),
        "entry_price": np.array([p for _, p in entries]),
        "exit_bar": np.array([b for b, _ in exits], dtype=np.int64),
        "exit_price": np.array([p for _, p in exits]),
        "equity": np.asarray(equity, dtype=float),
    }


def run_bare(bars: Any) -> dict[str, np.ndarray]:
    """The workload in plain Python: decide at t's close, fill at t+1's open."""
    from workbench.indicators import sma

    close = bars["close"].to_numpy()
    o, c = bars["open"].to_numpy().tolist(), close.tolist()
    f, s = sma(close, FAST).tolist(), sma(close, SLOW).tolist()
    cash, qty, pending = CASH, 0.0, 0
    entries, exits, equity = [], [], [0.0] * len(o)
    for i in range(len(o)):
        if pending == 1:
            cash -= o[i] + FEE * o[i]
            qty = 1.0
            entries.append((i, o[i]))
        elif pending == -1:
            cash += o[i] - FEE * o[i]
            qty = 0.0
            exits.append((i, o[i]))
        pending = 0
        equity[i] = cash + qty * c[i]
        if i and f[i] > s[i] and f[i - 1] <= s[i - 1]:
            pending = 1 if qty == 0.0 else 0
        elif i and f[i] < s[i] and f[i - 1] >= s[i - 1] and qty > 0.0:
            pending = -1
    return _loop_result(entries, exits, equity)


def _numba_loop(o: np.ndarray, c: np.ndarray, f: np.ndarray, s: np.ndarray) -> tuple:
    """Compiled by :func:`run_numba` only (numba is not imported by the other engines)."""
    n = o.shape[0]
    equity = np.empty(n)
    fills = np.empty((n, 3))  # bar, price, +1 entry / -1 exit
    k = 0
    cash, qty, pending = CASH, 0.0, 0
    for i in range(n):
        if pending != 0:
            cash -= pending * o[i] + FEE * o[i]
            qty = 1.0 if pending == 1 else 0.0
            fills[k, 0], fills[k, 1], fills[k, 2] = i, o[i], pending
            k += 1
        pending = 0
        equity[i] = cash + qty * c[i]
        if i > 0 and f[i] > s[i] and f[i - 1] <= s[i - 1]:
            pending = 1 if qty == 0.0 else 0
        elif i > 0 and f[i] < s[i] and f[i - 1] >= s[i - 1] and qty > 0.0:
            pending = -1
    return equity, fills[:k]


def run_numba(bars: Any) -> dict[str, np.ndarray]:
    from workbench.indicators import sma

    close = bars["close"].to_numpy()
    f, s = sma(close, FAST), sma(close, SLOW)
    from numba import njit

    equity, fills = njit(cache=True)(_numba_loop)(bars["open"].to_numpy(), close, f, s)
    entries = [(int(b), p) for b, p, side in fills if side > 0]
    exits = [(int(b), p) for b, p, side in fills if side < 0]
    return _loop_result(entries, exits, equity)


ENGINES = {
    "workbench": run_workbench,
    "backtesting.py": run_backtesting_py,
    "bare loop": run_bare,
    "numba loop": run_numba,
}


def timed_engine(name: str, path: str) -> tuple[dict[str, np.ndarray], float, float]:
    """In a fresh process: read the bars, warm up on 3,000 of them, time the full run."""
    fn = ENGINES[name]
    bars = read_bars(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn(bars.iloc[:3_000])
        return timed(fn, bars)


def _read_kind() -> str:
    from workbench import series

    if series.COMPILED:
        return "compiled (workbench._reads)"
    return "Python (workbench._reads did not build: reinstall with a C compiler)"


def check_agreement(runs: dict[str, Any], verdict: Verdict) -> None:
    ours = runs["workbench"].output
    for name, r in runs.items():
        if name == "workbench":
            continue
        theirs = r.output
        same = all(
            len(ours[k]) == len(theirs[k]) and np.array_equal(ours[k], theirs[k])
            for k in ("entry_bar", "exit_bar", "entry_price", "exit_price")
        )
        verdict.check(
            same,
            f"{name}: the same {len(theirs['exit_bar'])} closed trades (entry and exit bars and"
            " prices)",
        )
        a, b = ours["equity"], theirs["equity"]
        rel = np.abs(a - b) / np.abs(b) if len(a) == len(b) else np.array([np.inf])
        verdict.check(
            bool(rel.max() <= 1e-9),
            f"{name}: equity at every bar within 1e-9 (largest relative gap {rel.max():.1e})",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    args = parser.parse_args()
    try:
        import backtesting  # noqa: F401
    except ImportError:
        raise SystemExit("backtesting.py is not installed: pip install backtesting") from None
    verdict = Verdict()
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        path = str(Path(tmp) / "bars.npz")
        write_bars(args.bars, Path(path))
        print(f"SMA {FAST}/{SLOW} crossover, one unit, over {args.bars:,} bars ({conditions()})")
        print(f"  workbench's per-bar view read: {_read_kind()}")
        engines = [(name, timed_engine, (name, path)) for name in ENGINES]
        runs = run_alternating(engines, args.repeat)
    check_agreement(runs, verdict)
    if verdict.failed:
        verdict.finish()  # a fast wrong engine wins nothing: no figures
    print(f"{'engine':<16}{'CPU s':>9}{'median':>9}{'wall s':>9}{'bars/s':>14}{'peak RSS':>10}")
    for r in runs.values():
        print(
            f"{r.name:<16}{r.best:9.3f}{r.median:9.3f}{r.best_wall:9.3f}"
            f"{args.bars / r.best:14,.0f}{r.peak_mb:7.0f} MB"
        )
    ours, theirs = runs["workbench"], runs["backtesting.py"]
    print(f"  medians: {theirs.median / ours.median:.2f}x backtesting.py")
    print(f"  workbench / bare loop time: {ours.best / runs['bare loop'].best:.2f}x")
    verdict.check(
        theirs.best / ours.best >= GOAL_RATIO,
        f"workbench throughput {theirs.best / ours.best:.2f}x backtesting.py's "
        f"(goal >= {GOAL_RATIO:g}x)",
    )
    verdict.check(
        ours.peak_mb <= GOAL_PEAK_MB,
        f"workbench peak RSS {ours.peak_mb:.0f} MB (goal <= {GOAL_PEAK_MB:.0f} MB)",
    )
    verdict.finish()


if __name__ == "__main__":
    main()
