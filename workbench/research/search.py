"""Searches beyond the grid: random and TPE (optuna) sampling of a sweep's parameter space.

``sweep(strategy, bars, grid, search="tpe", n_trials=200, seed=7)`` samples combinations
of the grid's values instead of running every one: ``"random"`` draws them uniformly
(optuna's ``RandomSampler``), ``"tpe"`` (the Tree-structured Parzen Estimator, optuna's
``TPESampler``, as freqtrade's hyperopt and jesse use) proposes each next one from how
the earlier ones scored. The grid only says which values each parameter may take:

- a whole-number axis in equal steps (``fast=5:100:5``) is ``suggest_int(low, high, step)``;
- a decimal axis in equal steps is ``suggest_float(low, high, step)``, snapped to the axis;
- any other axis (uneven numbers, booleans, text) is ``suggest_categorical``.

Every sampled trial is a backtest of the same vectorized (or event-driven) path as the
grid sweep (one :func:`~workbench.research.sweep.sweep` of that single combination), and
is recorded: in the optuna study (parameters, score, and every metric as the trial's user
attributes) and in the returned frame. A combination sampled again is not run again; the
frame has one row per distinct combination (index ``trial``: the optuna trial that first
drew it; ``samples``: how often it was drawn). ``attrs["n_trials"]`` counts the distinct
combinations backtested, the independent trials the deflated Sharpe ratio and PBO need
(their returns are ``trial_returns(frame)``); ``attrs["n_samples"]`` counts every draw.
Samples that break the strategy's constraints are told to optuna as pruned, counted as
``skipped`` and not backtested.

On a Dask cluster (``scheduler=``, an address or a ``distributed.Client``, as for the grid
sweep) the search asks optuna for ``batch`` trials at a time (8 by default; locally 1)
and backtests them in parallel on the workers; with the same seed and batch, the trials
are those of a local run with that batch.

Searches are seeded (``seed``; the same seed gives the same trials) and a study kept in
``storage`` (``"sqlite:///study.db"``) resumes: the same call continues the same study
until it holds ``n_trials`` backtested trials, and the trials run before are evaluated
again (deterministic backtests) so the frame and the returns cover the whole study. A
study started with another strategy, grid, metric or data is refused. A resumed study's
sampler is seeded from ``seed`` and the number of trials it holds: a sampler seeded as the
first run's would draw that run's combinations again (optuna's random sampler does not
look at the study), so the continuation is reproducible and new, though not the trials an
uninterrupted run of the larger ``n_trials`` would have drawn.

A search runs one symbol (a universe is swept with ``search="grid"``: every combination).
``benchmark`` (as for the grid sweep) adds the benchmark-relative figures to every row.
"""

from __future__ import annotations

import contextlib
import logging
import math
import numbers
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import ConfigError
from workbench.progress import progress as progress_bar

__all__ = [
    "MAX_SEED",
    "SEARCHES",
    "Axis",
    "axis_of",
    "check_search",
    "evaluate_trial",
    "search_sweep",
]

log = logging.getLogger(__name__)

SEARCHES = ("grid", "random", "tpe")
#: Trials asked for at once on a Dask cluster (evaluated in parallel); locally one at a time.
CLUSTER_BATCH = 8
#: Give up when this many samples in a row break the strategy's constraints.
MAX_REJECTED_IN_A_ROW = 1_000


@dataclass(frozen=True)
class Axis:
    """How one swept parameter is sampled: ``kind`` int, float or categorical."""

    name: str
    kind: str
    values: tuple[Any, ...]
    low: float = 0.0
    high: float = 0.0
    step: float = 1.0

    def suggest(self, trial: Any) -> Any:
        if len(self.values) == 1:
            return self.values[0]
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step))
        if self.kind == "float":
            x = trial.suggest_float(self.name, self.low, self.high, step=self.step)
            return min(self.values, key=lambda v: abs(v - x))  # the axis's own value
        return trial.suggest_categorical(self.name, list(self.values))


def axis_of(name: str, values: list[Any]) -> Axis:
    """The sampling of one grid axis (module docstring)."""
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if numeric and len(values) >= 2:
        ordered = sorted(values)
        steps = np.diff(np.asarray(ordered, dtype=float))
        even = bool(np.allclose(steps, steps[0], rtol=1e-9, atol=1e-12)) and steps[0] > 0
        if even and all(isinstance(v, int) for v in values):
            return Axis(name, "int", tuple(ordered), ordered[0], ordered[-1], int(steps[0]))
        if even:
            return Axis(name, "float", tuple(ordered), ordered[0], ordered[-1], float(steps[0]))
    return Axis(name, "categorical", tuple(values))


#: The seeds numpy's generator (optuna's samplers') takes: 0 to 2**32 - 1.
MAX_SEED = 2**32 - 1


def check_search(search: str, n_trials: int | None, seed: int | None = None) -> None:
    """A sampled search needs a budget; the grid takes none. A seed is one the samplers
    take (a negative one failed in the first trial: each fold's notebook, in a walk-forward)."""
    if search not in ("random", "tpe"):  # each named as in Python, then on the command line
        raise ConfigError(
            f"n_trials={n_trials} (--trials) goes with search='random' or 'tpe' (--search), "
            f"not {search!r}"
            if search == "grid"
            else f"unknown search {search!r}",
            hint="search='grid' runs every combination; 'random' and 'tpe' sample n_trials",
        )
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ConfigError(
            f"search={search!r} needs n_trials (--trials), a positive whole number, got "
            f"{n_trials!r}",
            hint="e.g. sweep(..., search='tpe', n_trials=200, seed=7), or --search tpe "
            "--trials 200 --seed 7",
        )
    whole = isinstance(seed, numbers.Integral) and not isinstance(seed, bool)  # numpy's too
    if seed is not None and not (whole and 0 <= seed <= MAX_SEED):
        raise ConfigError(
            f"seed (--seed) must be a whole number from 0 to {MAX_SEED}, got {seed!r}",
            hint="e.g. seed=7, or --seed 7",
        )


def search_sweep(
    strategy: Any,
    bars: Any,
    grid: Mapping[str, Any],
    *,
    search: str,
    n_trials: int | None,
    seed: int | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    metric: str = "sharpe",
    params: Mapping[str, Any] | None = None,
    cash: float = 100_000.0,
    commission: Any = None,
    slippage: Any = None,
    start: Any = None,
    end: Any = None,
    keep_returns: bool = True,
    risk_free: float = 0.0,
    periods_per_year: float | None = None,
    progress: bool | None = None,
    scheduler: Any = None,
    batch: int | None = None,
    benchmark: Any = None,
) -> pd.DataFrame:
    """Sample ``n_trials`` combinations of ``grid`` with optuna (module docstring)."""
    import optuna

    from workbench.backtesting.api import load_universe
    from workbench.backtesting.fastpath import prepare_bars
    from workbench.data.bars import periods_per_year as bars_per_year
    from workbench.research.sweep import (
        LOWER_IS_BETTER,
        SweepInfo,
        _check_metric,
        _rank,
        grid_axes,
    )
    from workbench.strategy import resolve_strategy

    check_search(search, n_trials, seed)
    cls = resolve_strategy(strategy)
    _check_metric(metric)
    space = cls.param_space()
    axes, base = grid_axes(space, grid, params, strategy=cls.label())
    sampled = [axis_of(name, values) for name, values in axes.items()]
    universe = load_universe(bars, start, end)
    if len(universe) > 1:
        raise ConfigError(
            f"a sampled search (search={search!r}) runs one symbol, got {len(universe)} "
            f"({', '.join(universe)})",
            hint="sweep a universe with search='grid' (every combination), or search one symbol",
        )
    symbol, frame = prepare_bars(universe)
    if benchmark is not None:
        from workbench.backtesting.benchmark import load_benchmark

        # read once, before any trial (each trial's sweep read it again, after its run)
        benchmark = load_benchmark(benchmark, {symbol: frame})
    ppy = periods_per_year or bars_per_year(frame.index)
    direction = "minimize" if metric in LOWER_IS_BETTER else "maximize"
    signature = {
        "strategy": cls.import_path(),
        "metric": metric,
        "grid": {k: [_jsonable(v) for v in vs] for k, vs in axes.items()},
        "params": {k: _jsonable(v) for k, v in base.items() if k not in axes},
        "data": {"symbol": symbol, "first": frame.index[0].isoformat(),
                 "last": frame.index[-1].isoformat(), "bars": len(frame)},
    }  # fmt: skip
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = _sampler(search, seed)
    name = study_name or f"{cls.label()}-{metric}-{search}"
    try:
        study = optuna.create_study(
            storage=storage, study_name=name, sampler=sampler, direction=direction,
            load_if_exists=storage is not None,
        )  # fmt: skip
    except Exception as exc:  # sqlalchemy's: a URL it cannot parse, a file that is not SQLite
        if storage is None:
            raise
        first = " ".join(str(exc).split("\n")[0].split()) or type(exc).__name__
        raise ConfigError(
            f"--storage {storage!r} cannot be opened as an optuna storage: {first}",
            hint="give a database URL, e.g. sqlite:///study.db (a new file, or one optuna wrote)",
        ) from None
    _check_study(study, signature, search, storage)
    if seed is not None and study.trials:  # resumed: not the first run's draws again
        study.sampler = _sampler(search, _resumed_seed(seed, len(study.trials)))

    options = {
        "metric": metric, "cash": cash, "commission": commission, "slippage": slippage,
        "keep_returns": keep_returns, "risk_free": risk_free, "periods_per_year": ppy,
        "benchmark": benchmark,
    }  # fmt: skip
    names = list(axes)

    started = time.perf_counter()
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    curves: dict[int, pd.Series] = {}
    skipped: list[dict[str, Any]] = []
    method = ""

    def record(trials: list[tuple[int, dict[str, Any]]]) -> list[dict[str, float]]:
        """Backtest the batch's combinations not run yet (on the cluster, if any), then
        count every trial of the batch; returns each trial's metrics."""
        nonlocal method
        new: dict[tuple[Any, ...], tuple[int, dict[str, Any]]] = {}
        for number, values in trials:
            key = tuple(values[n] for n in names)
            if key not in rows and key not in new:
                new[key] = (number, values)
        todo = [values for _, values in new.values()]
        if client is None:
            results = [evaluate_trial(target, symbol, frame, v, names, options) for v in todo]
        else:
            futures = [client.submit(evaluate_trial, target, symbol, shared, v, names, options,
                                     pure=False) for v in todo]  # fmt: skip
            results = client.gather(futures)
        for (key, (number, values)), result in zip(new.items(), results, strict=True):
            metrics, returns, method = result
            rows[key] = {"trial": number, "values": values, "metrics": metrics, "samples": 0}
            if returns is not None:
                curves[number] = returns
        out = []
        for _, values in trials:
            row = rows[tuple(values[n] for n in names)]
            row["samples"] += 1
            out.append(row["metrics"])
        return out

    # the study's earlier trials (a resumed search): evaluated again, in order
    previous = [t for t in study.trials if "workbench_params" in t.user_attrs]
    target = cls.import_path()
    client, shared = None, frame
    with contextlib.ExitStack() as stack:
        if scheduler is not None:
            from workbench.research.cluster import dask_client

            client = stack.enter_context(dask_client(scheduler))
            shared = client.scatter(frame, broadcast=True, hash=False)
        record([(t.number, {**base, **t.user_attrs["workbench_params"]}) for t in previous])
        done = len(previous)
        size = batch or (CLUSTER_BATCH if client is not None else 1)
        _run_trials(study, sampled, base, space, record, metric, n_trials, done, size,
                    skipped, progress, f"{search} {cls.label()}")  # fmt: skip
    seconds = time.perf_counter() - started

    records = sorted(rows.values(), key=lambda r: r["trial"])
    table = pd.DataFrame(
        [{**{n: r["values"][n] for n in axes}, **r["metrics"], "samples": r["samples"]}
         for r in records],
        index=pd.Index([r["trial"] for r in records], name="trial"),
    )  # fmt: skip
    table = _rank(table, metric)
    returns = None
    if keep_returns:
        returns = pd.DataFrame({r["trial"]: curves[r["trial"]] for r in records})
        returns.columns = pd.Index(returns.columns, name="trial")
    n_samples = sum(r["samples"] for r in records)
    info = SweepInfo(
        strategy=cls.label(), metric=metric, grid={n: list(v) for n, v in axes.items()},
        params={k: v for k, v in base.items() if k not in axes}, n_trials=len(records),
        skipped=len(skipped), skipped_params=skipped, returns_source=returns, method=method,
        symbol=symbol, bars=frame, cash=float(cash), commission=commission,
        slippage=slippage, seconds=seconds,
        cells_per_second=len(records) * len(frame) / seconds if seconds > 0 else math.inf,
    )  # fmt: skip
    table.attrs.update(
        strategy=cls.label(), metric=metric, n_trials=len(records), skipped=len(skipped),
        sweep=info, search=search, seed=seed, n_samples=n_samples, study_name=study.study_name,
        storage=storage,
    )  # fmt: skip
    log.info(
        "%s search %s: %d distinct trials of %d samples, %d skipped, %.2fs",
        search, cls.label(), len(records), n_samples, len(skipped), seconds,
    )  # fmt: skip
    return table


def evaluate_trial(
    strategy: str,
    symbol: str,
    frame: pd.DataFrame,
    values: dict[str, Any],
    names: list[str],
    options: dict[str, Any],
) -> tuple[dict[str, float], pd.Series | None, str]:
    """One combination's backtest (the grid sweep's path): metrics, returns, method.
    A plain function of plain arguments, so a Dask worker can run it."""
    from workbench.research.sweep import sweep

    table = sweep(
        strategy, {symbol: frame}, {n: [values[n]] for n in names},
        params={k: v for k, v in values.items() if k not in names}, progress=False,
        returns_now=True, **options,
    )  # fmt: skip
    row = {k: float(v) for k, v in table.iloc[0].items() if k not in names}
    info = table.attrs["sweep"]
    returns = info.returns.iloc[:, 0] if info.returns is not None else None
    return row, returns, info.method


def _run_trials(
    study: Any,
    sampled: list[Axis],
    base: dict[str, Any],
    space: Any,
    record: Any,
    metric: str,
    n_trials: int,
    done: int,
    size: int,
    skipped: list[dict[str, Any]],
    progress: bool | None,
    label: str,
) -> None:
    """Ask for trials ``size`` at a time until ``n_trials`` are backtested; tell their scores."""
    import optuna

    show = progress if progress is not None else n_trials - done >= 50
    rejected_in_a_row = 0
    with progress_bar(total=max(n_trials - done, 0), desc=label, unit="trial", show=show) as bar:
        while done < n_trials:
            batch: list[tuple[Any, dict[str, Any]]] = []
            while len(batch) < min(size, n_trials - done):
                trial = study.ask()
                values = dict(base)
                values.update({a.name: a.suggest(trial) for a in sampled})
                if not space.violated(values):
                    batch.append((trial, values))
                    rejected_in_a_row = 0
                    continue
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                skipped.append(values)
                rejected_in_a_row += 1
                if rejected_in_a_row >= MAX_REJECTED_IN_A_ROW:
                    rules = ", ".join(c.text for c in space.constraints)
                    raise ConfigError(
                        f"{rejected_in_a_row} samples in a row break {rules}",
                        hint="narrow the grid to values that satisfy the constraints",
                    )
            scores = record([(trial.number, values) for trial, values in batch])
            for (trial, values), metrics in zip(batch, scores, strict=True):
                names = [a.name for a in sampled]
                trial.set_user_attr("workbench_params", {n: _jsonable(values[n]) for n in names})
                trial.set_user_attr("metrics", {k: _jsonable(v) for k, v in metrics.items()})
                score = metrics.get(metric, math.nan)
                if math.isfinite(score):
                    study.tell(trial, score)
                else:  # no score (no trade: no Sharpe ratio): backtested all the same, counted
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
            done += len(batch)
            bar.update(len(batch))


def _sampler(search: str, seed: int | None) -> Any:
    import optuna

    if search == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def _resumed_seed(seed: int, n_trials: int) -> int:
    """The sampler's seed for a study resumed with ``n_trials`` trials (module docstring)."""
    return int(np.random.SeedSequence([seed, n_trials]).generate_state(1)[0])


def _check_study(study: Any, signature: dict[str, Any], search: str, storage: str | None) -> None:
    """A resumed study must be the same search; a new one records what it searches."""
    recorded = study.user_attrs.get("workbench")
    if recorded is None:
        study.set_user_attr("workbench", {**signature, "search": search})
        return
    changed = sorted(k for k in {**signature, "search": search} if recorded.get(k) != {
        **signature, "search": search}[k])  # fmt: skip
    if changed:
        raise ConfigError(
            f"study {study.study_name!r} in {storage} was started with another "
            f"{', '.join(changed)}",
            hint="give another study_name (--study) or storage to start a new search",
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
