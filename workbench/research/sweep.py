"""Parameter sweeps: every combination of a grid, vectorized, in a few calls.

``sweep("ma_crossover", bars, grid={"fast": range(5, 101, 5), "slow": range(20, 301, 10)})``
returns a DataFrame with one row per valid combination (index ``trial``; the grid's
parameters, then the metrics of :data:`~workbench.backtesting.column_metrics.COLUMN_METRICS`),
best first by ``metric``. Combinations that break the strategy's declared constraints
(``fast < slow``) are skipped and counted.

How it is fast: indicators are computed once per distinct indicator and input
(:func:`~workbench.backtesting.vectorized.shared_indicators`: each distinct window's
average once, whatever the number of pairs using it); each combination's signals are one
byte per bar; all columns are simulated in one call of the numba kernel
(:func:`~workbench.backtesting.nb.sweep_signals_nb`), which accumulates the metrics on
the way instead of storing curves. Only the signal matrix is chunked, to keep it under
``chunk_bytes``. Conventions (timing, sizing, costs) are the event engine's
(:mod:`workbench.backtesting.vectorized`); results equal single event-driven backtests.

What it records, in ``frame.attrs`` (they survive filtering and sorting): ``n_trials``
(every combination run: what the deflated Sharpe ratio needs), ``skipped``, ``metric``,
``strategy``, and ``attrs["sweep"]``, a :class:`SweepInfo` with each trial's per-bar
returns ``E[t] / E[t-1] - 1`` (bars 1..T-1) as a float32 matrix, 4 bytes per bar and
trial (2,000 trials over 100,000 bars: 800 MB; ``keep_returns=False`` keeps none; more
than ``max_returns_bytes``, 4 GiB by default, is refused before any work). A vectorized
sweep builds that matrix when it is first read (:func:`trial_returns`, the overfitting
statistics), by running its kernel again on the same inputs: the same values, and a sweep
read only for its metrics (a table, a heatmap, a widget) never pays for it
(:mod:`workbench.research.sweep_returns`); ``returns_now=True`` writes it during the sweep.
Strategies without a vectorized form are swept with the event engine, one backtest per
combination (slower; same output).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workbench.backtesting.column_metrics import COLUMN_METRICS
from workbench.errors import ConfigError
from workbench.research.grid import expand_grid, grid_axes, parse_grid
from workbench.research.sweep_returns import ReturnsRecipe
from workbench.sim.costs import Commission, Slippage
from workbench.strategy import Strategy

__all__ = [
    "LOWER_IS_BETTER",
    "SweepInfo",
    "expand_grid",
    "grid_axes",
    "parse_grid",
    "sweep",
    "sweep_info",
    "top",
    "trial_returns",
]

log = logging.getLogger(__name__)

#: Metrics where a smaller value ranks first.
LOWER_IS_BETTER = frozenset(
    {
        "annual_volatility",
        "max_drawdown_duration_bars",
        "max_drawdown_duration_days",
        "fees",
        "turnover",
        "rejected",
    }
)
#: Show a progress bar when combinations x bars exceed this.
PROGRESS_MIN_CELLS = 20_000_000
DEFAULT_CHUNK_BYTES = 32 * 2**20  # signal bytes per kernel call: memory, not speed
#: Largest trial-returns matrix kept by default (float32: 4 bytes per bar and trial).
DEFAULT_MAX_RETURNS_BYTES = 4 * 2**30
_BUILDING = threading.Lock()  # one build of a sweep's trial returns at a time


@dataclass(eq=False)
class SweepInfo:
    """What a sweep did, kept in ``frame.attrs["sweep"]`` (shared, never copied)."""

    strategy: str
    metric: str
    grid: dict[str, list[Any]]
    params: dict[str, Any]
    n_trials: int
    skipped: int
    skipped_params: list[dict[str, Any]]
    #: the trial returns, or what builds them on first use (:attr:`returns`)
    returns_source: pd.DataFrame | ReturnsRecipe | None = field(repr=False)
    method: str
    symbol: str
    bars: pd.DataFrame = field(repr=False)
    cash: float
    commission: Any
    slippage: Any
    seconds: float
    cells_per_second: float  # combination-bars per second
    universe: dict[str, pd.DataFrame] | None = field(default=None, repr=False)

    def __deepcopy__(self, memo: dict[int, Any]) -> SweepInfo:
        return self  # pandas deep-copies attrs on every operation; this record is read-only

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["returns_source"] = self.returns  # pickled as built: a recipe needs its class
        return state

    @property
    def returns(self) -> pd.DataFrame | None:
        """Every trial's per-bar returns (float32, one column per trial), or None when the
        sweep kept none. A vectorized sweep builds them on first use (module docstring)."""
        source = self.returns_source
        if isinstance(source, ReturnsRecipe):
            with _BUILDING:
                if isinstance(self.returns_source, ReturnsRecipe):  # not built meanwhile
                    self.returns_source = self.returns_source.build()
                source = self.returns_source
        return source

    @property
    def returns_built(self) -> bool:
        """Whether the trial returns are held (built), rather than to be built on first use."""
        return not isinstance(self.returns_source, ReturnsRecipe)

    def trial_params(self, trial: int, frame: pd.DataFrame) -> dict[str, Any]:
        """All parameter values of one trial (the grid's from ``frame``, the rest fixed)."""
        row = frame.loc[trial]
        values = dict(self.params)
        values.update({name: _plain(row[name]) for name in self.grid})
        return values


def sweep(
    strategy: str | type[Strategy],
    bars: Any,
    grid: Mapping[str, Any],
    *,
    metric: str = "sharpe",
    params: Mapping[str, Any] | None = None,
    cash: float = 100_000.0,
    commission: Commission | float | str | None = None,
    slippage: Slippage | float | str | None = None,
    start: Any = None,
    end: Any = None,
    keep_returns: bool = True,
    returns_now: bool = False,
    risk_free: float = 0.0,
    periods_per_year: float | None = None,
    progress: bool | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    max_returns_bytes: int = DEFAULT_MAX_RETURNS_BYTES,
    benchmark: Any = None,
    search: str = "grid",
    n_trials: int | None = None,
    seed: int | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    scheduler: Any = None,
) -> pd.DataFrame:
    """Backtest every valid combination of ``grid`` (module docstring); best ``metric`` first.

    ``scheduler`` (a Dask scheduler's address, or a ``distributed.Client``) spreads the
    combinations over that cluster, with the same result (:mod:`workbench.research.cluster`).

    ``keep_returns`` keeps every trial's per-bar returns (:func:`trial_returns`); a
    vectorized sweep builds them when first read, unless ``returns_now`` (one kernel pass
    instead of two, for a caller that reads them at once).

    Over a universe (several symbols) each row is the portfolio's
    (:mod:`workbench.research.portfolio_sweep`); ``benchmark`` (``"universe"`` or a spec)
    adds the benchmark-relative figures to each row.

    ``search="random"`` or ``"tpe"`` samples ``n_trials`` combinations of the grid's values
    with optuna instead (seeded by ``seed``; a study kept in ``storage``, e.g.
    ``"sqlite:///study.db"``, resumes): :mod:`workbench.research.search`.
    """
    from workbench.runspec import RunSpec

    # cash and costs checked as a backtest's are, before any data is read (the kernels
    # swept a cash of -5: every trial ended at -5)
    RunSpec(symbols=(), timeframe=None, cash=cash, commission=commission, slippage=slippage)
    if search != "grid" or n_trials is not None:
        from workbench.research.search import search_sweep

        return search_sweep(
            strategy, bars, grid, search=search, n_trials=n_trials, seed=seed, storage=storage,
            study_name=study_name, metric=metric, params=params, cash=cash,
            commission=commission, slippage=slippage, start=start, end=end,
            keep_returns=keep_returns, risk_free=risk_free, periods_per_year=periods_per_year,
            progress=progress, scheduler=scheduler, benchmark=benchmark,
        )  # fmt: skip
    from workbench.backtesting.fastpath import prepare_bars
    from workbench.backtesting.vectorized import has_vectorized, vector_costs
    from workbench.data.bars import periods_per_year as bars_per_year
    from workbench.strategy import resolve_strategy

    cls = resolve_strategy(strategy)
    _check_metric(metric)
    space = cls.param_space()
    combos, skipped = expand_grid(space, grid, params, strategy=cls.label())
    from workbench.backtesting.api import load_universe
    from workbench.research.portfolio_sweep import is_universe_sweep

    universe = load_universe(bars, start, end)
    if benchmark is not None:
        from workbench.backtesting.benchmark import load_benchmark

        # a spec is read now: one that cannot be read is refused before the sweep, not after
        benchmark = load_benchmark(benchmark, universe)
    if is_universe_sweep(cls, universe):
        return _sweep_universe(
            cls,
            universe,
            grid,
            combos,
            skipped,
            metric=metric,
            cash=cash,
            commission=commission,
            slippage=slippage,
            keep_returns=keep_returns,
            risk_free=risk_free,
            periods_per_year=periods_per_year,
            progress=progress,
            benchmark=benchmark,
            scheduler=scheduler,
        )
    symbol, frame = prepare_bars(universe, start, end)
    ppy = periods_per_year or bars_per_year(frame.index)
    size = 4 * (len(frame) - 1) * len(combos)
    if keep_returns and size > max_returns_bytes:
        limit = max_returns_bytes / 2**30
        raise ConfigError(
            f"the trial returns of {len(combos)} combinations over {len(frame)} bars need "
            f"{size / 2**30:.1f} GiB, more than max_returns_bytes ({limit:g} GiB)",
            hint="pass keep_returns=False, a coarser grid or fewer bars, or a larger limit",
        )
    started = time.perf_counter()
    show = progress if progress is not None else len(combos) * len(frame) >= PROGRESS_MIN_CELLS
    from workbench.research._sweep_run import run_event_sweep, run_vectorized_sweep

    if has_vectorized(cls):
        method, run, head = "vectorized", run_vectorized_sweep, (cls,)
        options: dict[str, Any] = {
            "costs": vector_costs(commission, slippage),
            "chunk_bytes": chunk_bytes,
        }
    else:
        log.warning("%s has no vectorized form: sweeping with the event engine", cls.label())
        method, run, head = "event", run_event_sweep, (cls, symbol)
        options = {"commission": commission, "slippage": slippage}
    options.update(cash=cash, risk_free=risk_free, ppy=ppy)
    # the vectorized kernel's returns are built on first use (module docstring): the same
    # kernel on the same inputs again, only when something reads them
    eager = returns_now or method != "vectorized" or scheduler is not None or benchmark is not None
    on_demand = keep_returns and not eager
    recipe = ReturnsRecipe(cls, frame, combos, options, show) if on_demand else None
    # the benchmark's figures are read from the returns: built for them, kept if asked
    options["keep_returns"] = (keep_returns or benchmark is not None) and not on_demand
    if scheduler is None:
        metrics, returns = run(*head, frame, combos, progress=show, **options)
    else:
        from workbench.research.cluster import concat_results, map_combinations

        parts = map_combinations(
            scheduler, run, head, frame, combos, label=f"sweep {cls.label()}", progress=show,
            **options,
        )  # fmt: skip
        metrics, returns = concat_results(parts)
    if benchmark is not None:
        metrics = _with_benchmark(metrics, returns, benchmark, {symbol: frame}, ppy)
        returns = returns if keep_returns else None
    seconds = time.perf_counter() - started
    names = list(grid)
    table = pd.DataFrame({n: [c[n] for c in combos] for n in names})
    frame_out = pd.concat([table, metrics.reset_index(drop=True)], axis=1)
    frame_out.index = pd.RangeIndex(len(combos), name="trial")
    frame_out = _rank(frame_out, metric)
    fixed = {k: v for k, v in combos[0].items() if k not in names}
    info = SweepInfo(
        strategy=cls.label(),
        metric=metric,
        grid={n: sorted({c[n] for c in combos + skipped}, key=_sort_key) for n in names},
        params=fixed,
        n_trials=len(combos),
        skipped=len(skipped),
        skipped_params=skipped,
        returns_source=recipe or returns,
        method=method,
        symbol=symbol,
        bars=frame,
        cash=float(cash),
        commission=commission,
        slippage=slippage,
        seconds=seconds,
        cells_per_second=len(combos) * len(frame) / seconds if seconds > 0 else math.inf,
    )
    frame_out.attrs.update(
        strategy=cls.label(),
        metric=metric,
        n_trials=len(combos),
        skipped=len(skipped),
        sweep=info,
    )
    log.info(
        "sweep %s: %d trials, %d skipped, %.2fs (%.3g combination-bars/s)",
        cls.label(),
        len(combos),
        len(skipped),
        seconds,
        info.cells_per_second,
    )
    return frame_out


def _with_benchmark(
    metrics: pd.DataFrame,
    returns: pd.DataFrame,
    benchmark: Any,
    bars: dict[str, pd.DataFrame],
    ppy: float,
) -> pd.DataFrame:
    """The single-symbol sweep's rows with the benchmark-relative figures of each trial
    (from their returns, which :func:`sweep` builds for them when it does not keep them)."""
    from workbench.backtesting.benchmark import benchmark_equity, relative_columns

    index = next(iter(bars.values())).index
    bench = benchmark_equity(benchmark, bars, index, 1.0).to_numpy()
    extra = relative_columns(returns.to_numpy(), bench, ppy)
    return pd.concat([metrics.reset_index(drop=True), extra], axis=1)


def _sweep_universe(
    cls: type[Strategy],
    universe: dict[str, pd.DataFrame],
    grid: Mapping[str, Any],
    combos: list[dict[str, Any]],
    skipped: list[dict[str, Any]],
    *,
    metric: str,
    cash: float,
    commission: Any,
    slippage: Any,
    keep_returns: bool,
    risk_free: float,
    periods_per_year: float | None,
    progress: bool | None,
    benchmark: Any,
    scheduler: Any = None,
) -> pd.DataFrame:
    """:func:`sweep` over several symbols: one portfolio-level row per combination."""
    from workbench.data.bars import periods_per_year as bars_per_year
    from workbench.research.portfolio_sweep import run_universe_sweep

    first = next(iter(universe.values()))
    ppy = periods_per_year or bars_per_year(first.index)
    started = time.perf_counter()
    cells = len(combos) * len(first) * len(universe)
    show = progress if progress is not None else cells >= PROGRESS_MIN_CELLS
    options = dict(
        cash=cash, commission=commission, slippage=slippage, keep_returns=keep_returns,
        ppy=ppy, risk_free=risk_free, benchmark=benchmark,
    )  # fmt: skip
    if scheduler is None:
        metrics, returns, method = run_universe_sweep(
            cls, universe, combos, progress=show, **options
        )
    else:
        from workbench.research.cluster import concat_results, map_combinations

        parts = map_combinations(
            scheduler, run_universe_sweep, (cls,), universe, combos,
            label=f"sweep {cls.label()}", progress=show, **options,
        )  # fmt: skip
        metrics, returns = concat_results(parts)
        method = parts[0][2]
    seconds = time.perf_counter() - started
    names = list(grid)
    table = pd.DataFrame({n: [c[n] for c in combos] for n in names})
    out = pd.concat([table, metrics.reset_index(drop=True)], axis=1)
    out.index = pd.RangeIndex(len(combos), name="trial")
    out = _rank(out, metric)
    info = SweepInfo(
        strategy=cls.label(),
        metric=metric,
        grid={n: sorted({c[n] for c in combos + skipped}, key=_sort_key) for n in names},
        params={k: v for k, v in combos[0].items() if k not in names},
        n_trials=len(combos),
        skipped=len(skipped),
        skipped_params=skipped,
        returns_source=returns,
        method=method,
        symbol=",".join(universe),
        bars=first,
        cash=float(cash),
        commission=commission,
        slippage=slippage,
        seconds=seconds,
        cells_per_second=cells / seconds if seconds > 0 else math.inf,
        universe=universe,
    )
    out.attrs.update(
        strategy=cls.label(), metric=metric, n_trials=len(combos), skipped=len(skipped), sweep=info
    )
    log.info(
        "universe sweep %s: %d trials over %d symbols, %.2fs",
        cls.label(),
        len(combos),
        len(universe),
        seconds,
    )
    return out


def _check_metric(metric: str) -> None:
    if metric not in COLUMN_METRICS:
        raise ConfigError(f"unknown metric {metric!r}", hint="one of " + ", ".join(COLUMN_METRICS))


def _rank(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    ascending = metric in LOWER_IS_BETTER
    return frame.sort_values(metric, ascending=ascending, kind="stable", na_position="last")


def _sort_key(value: Any) -> Any:
    return (0, value) if isinstance(value, int | float) else (1, str(value))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def sweep_info(frame: pd.DataFrame) -> SweepInfo:
    """The :class:`SweepInfo` of a sweep's result frame (also after filtering or sorting)."""
    info = frame.attrs.get("sweep")
    if not isinstance(info, SweepInfo):
        raise ConfigError(
            "this frame does not come from workbench.sweep",
            hint="pass the DataFrame sweep() returned (or a filtered/sorted copy of it)",
        )
    return info


def trial_returns(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-bar returns of every trial (float32, one column per trial id), for overfitting stats."""
    info = sweep_info(frame)
    if info.returns is None:
        raise ConfigError(
            "this sweep kept no return series", hint="run sweep(..., keep_returns=True)"
        )
    return info.returns


def top(frame: pd.DataFrame, n: int = 10, metric: str | None = None) -> pd.DataFrame:
    """The best ``n`` combinations by ``metric`` (the sweep's own by default), key columns."""
    metric = metric or frame.attrs.get("metric", "sharpe")
    _check_metric(metric)
    ranked = _rank(frame, metric)
    info = frame.attrs.get("sweep")
    names = list(info.grid) if isinstance(info, SweepInfo) else []
    keys = [metric, "total_return", "sharpe", "max_drawdown", "number_of_trades", "final_equity"]
    columns = names + list(dict.fromkeys(k for k in keys if k in frame.columns))
    return ranked.head(n)[columns]
