"""One walk-forward fold, computed in-process: the fold notebook calls :func:`run_fold`.

In sample: sweep the grid on the train window (:func:`workbench.research.sweep.sweep`:
the vectorized numba kernel when the strategy has a vectorized form, the event engine
otherwise) and choose the combination ranked first by ``metric`` (ties: grid order).
Over a universe (several symbols) the sweep's rows are the portfolio's and the runs
below trade every symbol. The out-of-sample metrics also hold the figures against an
equal-weight buy-and-hold of the same symbols over the test window
(:mod:`workbench.backtesting.benchmark`).
Then, with the chosen parameters, two runs of the event-driven engine:

- in sample, on the train window alone (as the sweep saw it), for the fold's in-sample
  metrics (they equal the sweep's: the two paths agree);
- out of sample, on every bar from the start of the data to the end of the test window,
  with every decision before the test window held back: the bars before it only warm
  the indicators up (they are the past, so this is no look-ahead), the account starts
  flat and in cash on the first test bar, and the metrics are those of the test window.
  A position still open at the end of the window is marked at its last close.

The overfitting statistics of the in-sample selection (number of trials, deflated Sharpe
ratio of the chosen trial, PBO of the sweep) come from the trials' per-bar returns.
The time this takes is measured here and stored, so the pipeline can tell the fold's
computation from the notebook's overhead (kernel start, imports, papermill).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.backtesting.api import load_universe
from workbench.backtesting.benchmark import benchmark_equity, relative_metrics
from workbench.backtesting.metrics import compute_metrics
from workbench.compose import run_backtest
from workbench.context import Context
from workbench.data.bars import periods_per_year
from workbench.data.spec import to_utc
from workbench.errors import DataError
from workbench.research.equity_csv import write_equity
from workbench.research.overfitting import overfitting_report
from workbench.research.sweep import LOWER_IS_BETTER, sweep, trial_returns
from workbench.research.walkforward import universe_index
from workbench.research.watch import Watched
from workbench.runspec import RunSpec
from workbench.sim.costs import Commission, Slippage
from workbench.strategy import make_strategy, resolve_strategy

__all__ = ["fold_tables", "preload", "run_fold"]

log = logging.getLogger(__name__)


def run_fold(
    *,
    strategy: str,
    data: str,
    fold: int,
    train_start: str,
    train_end: str,
    test_start: str,
    test_end: str,
    grid: Mapping[str, list[Any]],
    out: str | Path,
    metric: str = "sharpe",
    params: Mapping[str, Any] | None = None,
    cash: float = 100_000.0,
    commission: Any = None,
    slippage: Any = None,
    start: Any = None,
    end: Any = None,
    search: str = "grid",
    n_trials: int | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """Optimise on the train window, trade the choice on the test window; write the results.

    ``search``, ``n_trials`` and ``seed`` choose a sampled in-sample search instead of the
    whole grid (:mod:`workbench.research.search`); the fold's seed is ``seed + fold``.

    Writes ``fold_NNN.json`` (the record the summary reads), ``fold_NNN_sweep.csv`` and
    ``fold_NNN_equity.csv`` into ``out``, and returns the record.
    """
    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    name = f"fold_{int(fold):03d}"
    record_path = out / f"{name}.json"
    for stale in (record_path, out / f"{name}_sweep.csv", out / f"{name}_equity.csv"):
        stale.unlink(missing_ok=True)  # a stale result must not survive a failed re-run
    cls = resolve_strategy(strategy)
    fixed = dict(params or {})
    universe = load_universe(data, start, end)
    config = RunSpec(  # the bars as given: the folds cut them, never resample
        symbols=tuple(universe), timeframe=None, cash=cash,
        commission=Commission.parse(commission), slippage=Slippage.parse(slippage),
    )  # fmt: skip
    symbol = ",".join(universe)
    named = len(universe) > 1
    trains = {
        s: _window(f, train_start, train_end, "train", s if named else None)
        for s, f in universe.items()
    }
    tests = {
        s: _window(f, test_start, test_end, "test", s if named else None)
        for s, f in universe.items()
    }
    train_index = universe_index(trains)
    test_index = universe_index(tests)
    ppy = periods_per_year(universe_index(universe))

    table = sweep(
        cls,
        trains,
        dict(grid),
        metric=metric,
        params=fixed,
        cash=cash,
        commission=commission,
        slippage=slippage,
        progress=False,
        returns_now=True,  # the overfitting statistics read them below
        **(
            {"search": search, "n_trials": n_trials,
             "seed": None if seed is None else int(seed) + int(fold)}
            if search != "grid" or n_trials is not None
            else {}
        ),
    )  # fmt: skip
    best = _best_trial(table, metric)
    chosen = {k: _plain(table.loc[best, k]) for k in grid}
    score = _plain(table.loc[best, metric])

    instance = make_strategy(cls, {**fixed, **chosen})
    in_run = run_backtest(instance, trains, config, progress=False)
    in_sample = _metrics(in_run, train_index[0], ppy)

    history = {s: f.loc[: test_index[-1]] for s, f in universe.items()}
    first_ns = test_index[0].value
    gated = Watched(make_strategy(cls, {**fixed, **chosen}), _hold_back_before(first_ns))
    out_run = run_backtest(gated, history, config, progress=False)
    out_of_sample = _metrics(out_run, test_index[0], ppy)
    equity = out_run.equity.loc[test_index[0] :]
    benchmark = benchmark_equity(None, tests, equity.index, float(equity.iloc[0]))
    out_of_sample.update(relative_metrics(equity, benchmark, ppy))

    overfitting = overfitting_report(trial_returns(table), selected=best)
    compute_seconds = time.perf_counter() - started
    record = {
        "fold": int(fold),
        "strategy": cls.label(),
        "symbol": symbol,
        "metric": metric,
        "params": chosen,
        "score": score,
        "n_trials": int(table.attrs["n_trials"]),
        "search": table.attrs.get("search", "grid"),
        "n_samples": int(table.attrs.get("n_samples", table.attrs["n_trials"])),
        "train": {"first": train_index[0].isoformat(), "last": train_index[-1].isoformat()},
        "test": {"first": test_index[0].isoformat(), "last": test_index[-1].isoformat()},
        "in_sample": in_sample,
        "out_of_sample": out_of_sample,
        "efficiency": _efficiency(out_of_sample, in_sample),
        "overfitting": overfitting,
        "trades": len(out_run.trades),
        "compute_seconds": compute_seconds,
    }
    table.to_csv(out / f"{name}_sweep.csv")
    write_equity(equity, out / f"{name}_equity.csv")
    record_path.write_text(json.dumps(_clean(record), indent=2) + "\n")
    log.info("%s: chose %s, %s %.3g in sample", name, chosen, metric, score)
    return record


def preload() -> None:
    """Run by a fold's kernel as it starts, or by the zygote its kernels are forked from
    (this module's imports came with it): numba's target registries, set up on the first
    load of any compiled function, importing ``scipy.linalg`` for its BLAS check (about
    0.2 s of CPU) on the way; now, rather than inside the first fold. With the cyclic
    garbage collector off meanwhile: what it builds lives as long as the process, and the
    collections its allocations would trigger find nothing to free (0.18 s -> 0.15 s).

    Nothing more: what else a process pays on its first fold (the compiled functions read
    from numba's cache, the data source's first load, pandas' first paths) is about 0.1 s
    since the session calendars are kept on disk, and each kernel pays it on its own core,
    side by side with the others; a rehearsal of a small fold in the zygote (0.2-0.25 s
    before any kernel could start) cost the 2-job walk-forward more than it saved.
    """
    import gc

    from numba.core.registry import cpu_target

    enabled = gc.isenabled()
    gc.disable()
    try:
        cpu_target.target_context.refresh()
    finally:
        if enabled:
            gc.enable()


#: The metrics the fold notebook shows side by side.
SHOWN = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "max_drawdown",
    "number_of_trades",
    "win_rate",
    "exposure",
    "fees",
)


def fold_tables(record: Mapping[str, Any], out: str | Path, top: int = 10) -> tuple[Any, Any]:
    """For the fold notebook: in- versus out-of-sample metrics, and the best ``top`` trials."""
    metrics = pd.DataFrame(
        {
            "in sample": {k: record["in_sample"].get(k) for k in SHOWN},
            "out of sample": {k: record["out_of_sample"].get(k) for k in SHOWN},
        }
    )
    table = pd.read_csv(Path(out) / f"fold_{int(record['fold']):03d}_sweep.csv", index_col="trial")
    metric = record["metric"]
    ascending = metric in LOWER_IS_BETTER
    best = table.sort_values(metric, ascending=ascending, na_position="last").head(top)
    return metrics, best


def _hold_back_before(first_ns: int) -> Any:
    """The warm-up's decisions dropped. Read on every bar of the out-of-sample run (up to the
    whole history before the test window), so it compares the clock's epoch nanoseconds, and
    only when there is a decision: building ``ctx.time`` here cost a third of a minute-bar
    fold's computation."""

    def gate(ctx: Context) -> None:
        if ctx.intents and ctx.time_ns < first_ns:
            ctx.intents.clear()

    return gate


def _window(
    bars: pd.DataFrame, first: str, last: str, what: str, symbol: str | None = None
) -> pd.DataFrame:
    # naive bounds are UTC, a date-only last bound takes in its whole day (as everywhere)
    lo, hi = to_utc(first, name=f"{what} start"), to_utc(last, name=f"{what} end", end=True)
    part = bars.loc[lo:hi]
    if len(part) < 2:
        if symbol is None:
            raise DataError(
                f"the {what} window {first} to {last} holds {len(part)} bar(s) of the data",
                hint="check the data spec and the fold bounds",
            )
        span = f"{bars.index[0]:%Y-%m-%d} to {bars.index[-1]:%Y-%m-%d}" if len(bars) else "none"
        raise DataError(
            f"the {what} window {first} to {last} holds {len(part)} bar(s) of {symbol} "
            f"(its bars: {span}); every fold trades every symbol of the universe",
            hint="start the run where every symbol has bars (--start), or leave the symbol out",
        )
    return part


def _best_trial(table: pd.DataFrame, metric: str) -> Any:
    """The sweep ranks best first; a first row without a finite score means none has one."""
    first = table.index[0]
    if not math.isfinite(float(table.loc[first, metric])):
        raise DataError(
            f"no combination has a finite {metric} in the train window",
            hint="a longer train window or another metric (no trades gives no Sharpe ratio)",
        )
    return first


def _metrics(result: Any, first: pd.Timestamp, ppy: float) -> dict[str, float]:
    equity = result.equity.loc[first:]
    exposure = result.in_market.loc[first:]  # not |market value|: a hedged book nets to 0
    fills = result.fills
    if len(fills):
        fills = fills[pd.to_datetime(fills["time"], utc=True) >= first]
    traded = float((fills["quantity"] * fills["price"]).sum()) if len(fills) else 0.0
    trades = result.trades
    closed = trades[trades["status"] == "closed"] if len(trades) else trades
    metrics = compute_metrics(
        equity, closed, periods_per_year=ppy, exposure=exposure, turnover_notional=traded
    )
    metrics["fees"] = float(fills["commission"].sum()) if len(fills) else 0.0
    return metrics


def _efficiency(oos: Mapping[str, float], ins: Mapping[str, float]) -> float | None:
    a, b = oos.get("cagr", math.nan), ins.get("cagr", math.nan)
    if not (math.isfinite(a) and math.isfinite(b)) or b <= 0:
        return None
    return a / b


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    value = _plain(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
