"""What a walk-forward run is, before it runs: its configuration and its folds.

:class:`WalkForwardConfig` holds everything that defines a run (what goes into
``run.json``; a re-run into the same folder with another one is refused), validated as it is
made; :func:`plan_folds` cuts its data into folds (:func:`~workbench.research.splits.
walk_forward`); :func:`fold_parameters` gives each fold notebook its papermill parameters.
Run by :mod:`workbench.research.walkforward`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.errors import ConfigError, DataError
from workbench.research.search import MAX_SEED, check_search
from workbench.research.splits import Fold, NoFoldError, parse_length, walk_forward
from workbench.research.sweep import expand_grid, grid_axes
from workbench.strategy import resolve_strategy

__all__ = [
    "WalkForwardConfig",
    "check_before_running",
    "check_run_file",
    "fold_parameters",
    "is_shorter",
    "load_data",
    "n_trials",
    "plan_folds",
    "universe_index",
    "write_run_file",
]


@dataclass(frozen=True)
class WalkForwardConfig:
    """Everything that defines a walk-forward run (and goes into ``run.json``)."""

    strategy: str
    data: str
    train: int | str
    test: int | str
    grid: dict[str, list[Any]]
    step: int | str | None = None
    gap: int | str = 0
    anchored: bool = False
    metric: str = "sharpe"
    params: dict[str, Any] = field(default_factory=dict)
    start: str | None = None
    end: str | None = None
    cash: float = 100_000.0
    commission: float | str | None = None
    slippage: float | str | None = None
    search: str = "grid"
    n_trials: int | None = None
    seed: int | None = None
    #: The out-of-sample benchmark: None (equal-weight buy-and-hold of the data's symbols)
    #: or a data spec such as ``sample:SP500_INDEX``.
    benchmark: str | None = None

    def __post_init__(self) -> None:
        from workbench.backtesting.column_metrics import COLUMN_METRICS

        cls = resolve_strategy(self.strategy)
        space = cls.param_space()
        if self.search == "grid" and self.n_trials is None:
            valid, _ = expand_grid(space, self.grid, self.params, strategy=cls.label())
            # store the values as validated (CLI strings become ints, floats, bools)
            grid = {n: list(dict.fromkeys(combo[n] for combo in valid)) for n in self.grid}
        else:  # a sampled search: the grid is each parameter's values, never expanded
            check_search(self.search, self.n_trials, self.seed)
            grid, _ = grid_axes(space, self.grid, self.params, strategy=cls.label())
        object.__setattr__(self, "grid", grid)
        fixed = {n: space.params[n].validate(v) for n, v in self.params.items()}
        object.__setattr__(self, "params", fixed)
        _check_money(self.cash, self.commission, self.slippage)
        if self.metric not in COLUMN_METRICS:
            raise ConfigError(
                f"unknown metric {self.metric!r}", hint="one of " + ", ".join(COLUMN_METRICS)
            )
        for name in ("train", "test", "step", "gap"):
            value = getattr(self, name)
            if value is not None:
                parse_length(value, name=name, allow_zero=name == "gap")
        if self.step is not None and is_shorter(self.step, self.test):
            step, test = self.step, self.test
            raise ConfigError(
                f"step={step} is shorter than test={test}: test windows would overlap",
                hint="a stitched out-of-sample curve needs step >= test (the default is test)",
            )

    def to_dict(self) -> dict[str, Any]:
        doc = json.loads(json.dumps(asdict(self), default=str))
        if self.search == "grid":  # as before searches existed: earlier run.json still match
            for key in ("search", "n_trials", "seed"):
                doc.pop(key)
        if self.benchmark is None:  # likewise for runs from before benchmarks
            doc.pop("benchmark")
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> WalkForwardConfig:
        return cls(**dict(doc))


def _check_money(cash: Any, commission: Any, slippage: Any) -> None:
    """Cash and costs as every fold reads them: a slip here failed each fold's notebook and
    left a run.json that then blocked the corrected command."""
    from workbench.sim.costs import Commission, Slippage

    number = isinstance(cash, int | float) and not isinstance(cash, bool)
    if not (number and math.isfinite(cash) and cash > 0):
        raise ConfigError(f"cash must be a positive number, got {cash!r}", hint="e.g. 100000")
    Commission.parse(commission)
    Slippage.parse(slippage)


def check_before_running(
    config: WalkForwardConfig, universe: Mapping[str, pd.DataFrame], folds: Sequence[Fold]
) -> None:
    """Refuse, before any fold runs and before ``run.json`` is written, what would fail only
    once the folds ran: a seed a later fold's search cannot take, costs each fold's
    vectorized sweep cannot reproduce, and a benchmark that cannot be loaded or has no bar
    over the test windows (the summary's)."""
    from workbench.backtesting.benchmark import UNIVERSE, benchmark_equity
    from workbench.backtesting.vectorized import has_vectorized, vector_costs
    from workbench.research.portfolio_sweep import is_universe_sweep

    _check_fold_seeds(config, folds)
    cls = resolve_strategy(config.strategy)
    if has_vectorized(cls) and not is_universe_sweep(cls, universe):
        vector_costs(config.commission, config.slippage)
    if config.benchmark is not None and config.benchmark != UNIVERSE and folds:
        index = universe_index(universe)
        tested = index[(index >= folds[0].test.first) & (index <= folds[-1].test.last)]
        try:
            benchmark_equity(config.benchmark, universe, tested, config.cash)
        except (ConfigError, DataError) as exc:  # said of the benchmark, not of --data
            raise type(exc)(f"benchmark {config.benchmark}: {exc.message}", hint=exc.hint) from None


def _check_fold_seeds(config: WalkForwardConfig, folds: Sequence[Fold]) -> None:
    """Fold N's search is seeded ``seed + N``: refuse a seed whose last fold's seed is past
    numpy's (its notebook, and every later one, failed after run.json was written and the
    first folds ran). Refused, not wrapped round: every seed that runs keeps its folds'
    seeds, and ``seed + N`` stays the whole rule."""
    if config.search == "grid" or config.seed is None or not folds:
        return
    last = max(fold.number for fold in folds)
    if config.seed + last > MAX_SEED:
        raise ConfigError(
            f"seed (--seed) {config.seed} seeds fold {last} with {config.seed + last}, past "
            f"the largest seed the samplers take ({MAX_SEED}): fold N is seeded seed + N",
            hint=f"with {len(folds)} folds, give a seed from 0 to {MAX_SEED - last}",
        )


def plan_folds(
    config: WalkForwardConfig, universe: Mapping[str, pd.DataFrame] | None = None
) -> tuple[list[Fold], pd.DatetimeIndex]:
    """The folds of ``config`` over its data (one symbol or a universe: the union of the
    symbols' bar times), with that index. ``universe``: the data, loaded already."""
    if universe is None:
        universe = load_data(config)
    index = universe_index(universe)
    try:
        folds = walk_forward(
            index,
            config.train,
            config.test,
            step=config.step,
            gap=config.gap,
            anchored=config.anchored,
        )
    except NoFoldError as exc:  # the data is the config's: more of it through its fields
        ranged = config.start is not None or config.end is not None
        raise exc.worded(
            flags=False, more="widen start/end" if ranged else "give data= a longer history"
        ) from None
    return folds, index


def load_data(config: WalkForwardConfig) -> dict[str, pd.DataFrame]:
    """The run's data: each symbol's bars from ``config.start`` to ``config.end``."""
    from workbench.backtesting.api import load_universe

    return load_universe(config.data, config.start, config.end)


def universe_index(universe: Mapping[str, pd.DataFrame]) -> pd.DatetimeIndex:
    """The bar times of one symbol, or the union of several symbols' bar times."""
    frames = list(universe.values())
    index = frames[0].index
    for frame in frames[1:]:
        if not frame.index.equals(index):
            index = index.union(frame.index)
    return index


def fold_parameters(config: WalkForwardConfig, fold: Fold, out: Path) -> dict[str, Any]:
    """The papermill parameters of one fold notebook."""
    return {
        "strategy": config.strategy,
        "data": config.data,
        "start": config.start,
        "end": config.end,
        "fold": fold.number,
        "train_start": fold.train.first.isoformat(),
        "train_end": fold.train.last.isoformat(),
        "test_start": fold.test.first.isoformat(),
        "test_end": fold.test.last.isoformat(),
        "grid": {k: list(v) for k, v in config.grid.items()},
        "params": dict(config.params),
        "metric": config.metric,
        "cash": config.cash,
        "commission": config.commission,
        "slippage": config.slippage,
        "out": str(Path(out).resolve() / "folds"),
        **(
            {"search": config.search, "n_trials": config.n_trials, "seed": config.seed}
            if config.search != "grid"
            else {}
        ),
    }


def check_run_file(path: Path, config: WalkForwardConfig, force: bool) -> None:
    """Refuse to run into a folder that holds a run of another configuration (``run.json``),
    unless ``force``. Writes nothing: :func:`write_run_file` does, once the run is planned
    (a command refused for its data or its windows leaves no run.json to block its fix)."""
    doc = config.to_dict()
    if path.exists() and not force:
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(
                f"{path} cannot be read as a walk-forward run file ({exc})",
                hint="use another --out, or --force to replace it",
            ) from None
        if not isinstance(previous, dict):
            previous = {"run.json": previous}
        if previous != doc:
            changed = sorted(k for k in set(doc) | set(previous) if doc.get(k) != previous.get(k))
            raise ConfigError(
                f"{path.parent} holds a run with another configuration ({', '.join(changed)})",
                hint="use another --out, or --force to replace it",
            )


def write_run_file(path: Path, config: WalkForwardConfig) -> None:
    """Record ``config`` in ``run.json``: what :func:`check_run_file` compares a re-run with."""
    path.write_text(json.dumps(config.to_dict(), indent=2) + "\n", encoding="utf-8")


def is_shorter(a: Any, b: Any) -> bool:
    """Whether length ``a`` is shorter than ``b`` (both bars, or both time spans; mixed: no)."""
    x, y = parse_length(a), parse_length(b)
    if isinstance(x, int) and isinstance(y, int):
        return x < y
    if isinstance(x, pd.DateOffset) and isinstance(y, pd.DateOffset):
        ref = pd.Timestamp("2000-01-01", tz="UTC")
        return ref + x < ref + y
    return False  # mixed units: walk_forward refuses them with its own message


def n_trials(config: WalkForwardConfig, recorded: Sequence[Any] = ()) -> int:
    """The number of combinations each fold's sweep runs (the trials of its DSR and PBO).

    A sampled search records its own count per fold (distinct combinations backtested):
    the largest of them, or the budget when no fold finished.
    """
    if config.search != "grid":
        counts = [int(n) for n in recorded if n is not None]
        return max(counts) if counts else int(config.n_trials or 0)
    space = resolve_strategy(config.strategy).param_space()
    return len(expand_grid(space, config.grid, config.params)[0])
