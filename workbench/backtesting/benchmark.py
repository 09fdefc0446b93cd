"""Benchmark-relative results: a strategy's equity against a benchmark's.

The benchmark is, by default, the equal-weight buy-and-hold of the same universe (each
symbol bought for ``cash / n`` at its first close and held), or any data spec
(``"sample:SP500_INDEX"``: its closes, rebased to the same starting cash), or a series.

Figures, from per-bar simple returns ``r`` (strategy) and ``b`` (benchmark) on the
strategy's bars (the benchmark's last close carried over days it has none; a daily
benchmark of an intraday run counts each close from the end of its day, not from the
00:00 UTC label of its session's date, hours before that close):

=====================  ==========================================================
``excess_return``      total return minus the benchmark's total return
``benchmark_return``   the benchmark's total return
``beta``               ``cov(r, b) / var(b)``
``alpha``              annualised intercept: ``(mean(r) - beta * mean(b)) * ppy``
``tracking_error``     ``std(r - b) * sqrt(ppy)`` (sample standard deviation)
``information_ratio``  ``mean(r - b) * ppy / tracking_error``
``correlation``        of ``r`` and ``b``
=====================  ==========================================================

Conventions where the established tools differ: ``alpha`` is the simple annualised
intercept (quantstats' greeks; empyrical and vectorbt compound it instead,
``(1 + mean(r - beta * b))**ppy - 1``), with no risk-free rate; ``information_ratio`` is
annualised, annual active return over annual tracking error (Grinold and Kahn;
PerformanceAnalytics' ``InformationRatio``), which is the per-bar ``mean(r - b) / std(r - b)``
of empyrical, vectorbt and quantstats times ``sqrt(ppy)``.

Turnover (traded value per year over the average equity) is among every run's metrics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.data.bars import bar_interval
from workbench.errors import ConfigError

RELATIVE_METRICS = (
    "excess_return",
    "benchmark_return",
    "alpha",
    "beta",
    "tracking_error",
    "information_ratio",
    "correlation",
)
UNIVERSE = "universe"
_DAY = pd.Timedelta(days=1)
#: How far before the run a spec benchmark is read (its last close before the first bar).
LOOKBACK = pd.Timedelta(days=10)
#: The margin around the raw bars :func:`load_benchmark` reads a spec over for a run that
#: resamples them (a session's daily bar is labelled with its date, 00:00 UTC).
MARGIN = pd.Timedelta(days=2)


def equal_weight_buy_and_hold(
    bars: Mapping[str, pd.DataFrame], cash: float = 100_000.0
) -> pd.Series:
    """Equity of ``cash / n`` put in each symbol at its first close and held (no costs)."""
    close = pd.DataFrame({s: f["close"] for s, f in bars.items()}).sort_index().ffill()
    first = close.apply(lambda c: c.dropna().iloc[0])
    growth = (close / first).fillna(1.0)  # a symbol not trading yet holds its cash
    return (cash * growth.mean(axis=1)).rename("benchmark")


@dataclass(frozen=True)
class LoadedBenchmark:
    """A benchmark spec's bars, read before the run (:func:`load_benchmark`) over more than
    the run's bars: :func:`benchmark_equity` cuts them to what it would have read."""

    spec: str
    bars: Mapping[str, pd.DataFrame]


def load_benchmark(
    benchmark: Any, bars: Mapping[str, pd.DataFrame], *, resampled: bool = False
) -> Any:
    """``benchmark`` for a run on ``bars``, checked before the run: a spec is read now (a
    mistyped one, or one without data then, refused before the backtest, not after it),
    over the range :func:`benchmark_equity` reads, widened by :data:`MARGIN` when the run
    ``resampled`` the bars to a timeframe (its bars' labels move); anything else is
    returned as it is."""
    if not isinstance(benchmark, str) or benchmark == UNIVERSE:
        if not _is_curve(benchmark):
            raise _not_a_benchmark(benchmark)
        return benchmark
    firsts = [f.index[0] for f in bars.values() if len(f)]
    if not firsts:
        return benchmark  # the run refuses its empty bars first
    from workbench.data.sources import load_symbols

    last = max(f.index[-1] for f in bars.values() if len(f))
    margin = MARGIN if resampled else pd.Timedelta(0)
    start, end = min(firsts) - LOOKBACK - margin, last + margin
    return LoadedBenchmark(benchmark, load_symbols(benchmark, start=start, end=end))


def _is_curve(benchmark: Any) -> bool:
    return (
        benchmark is None
        or benchmark is True
        or isinstance(benchmark, str | pd.DataFrame | pd.Series | LoadedBenchmark)
    )


def _not_a_benchmark(benchmark: Any) -> ConfigError:
    return ConfigError(
        f"benchmark must be a spec, a series or 'universe', got {type(benchmark).__name__}",
        hint='e.g. benchmark="sample:SP500_INDEX", or benchmark="universe"',
    )


def benchmark_equity(
    benchmark: Any,
    bars: Mapping[str, pd.DataFrame],
    index: pd.DatetimeIndex,
    cash: float = 100_000.0,
) -> pd.Series:
    """The benchmark's equity on ``index``, starting at ``cash``.

    ``benchmark``: ``None``/``True``/``"universe"`` (equal-weight buy-and-hold of ``bars``),
    a data spec (one symbol: its closes; several: their equal-weight buy-and-hold), the
    same read before the run (:func:`load_benchmark`), a bars frame, or a price/equity
    series.
    """
    if (
        benchmark is None
        or benchmark is True
        or (isinstance(benchmark, str) and benchmark == UNIVERSE)
    ):
        curve = equal_weight_buy_and_hold(bars, cash)
    elif isinstance(benchmark, str):
        from workbench.data.sources import load_symbols

        loaded = load_symbols(benchmark, start=index[0] - LOOKBACK, end=index[-1])
        curve = _spec_curve(loaded, cash)
    elif isinstance(benchmark, LoadedBenchmark):
        cut = {s: f.loc[index[0] - LOOKBACK : index[-1]] for s, f in benchmark.bars.items()}
        curve = _spec_curve({s: f for s, f in cut.items() if len(f)}, cash)
    elif isinstance(benchmark, pd.DataFrame):
        curve = benchmark["close"]
    elif isinstance(benchmark, pd.Series):
        curve = benchmark
    else:
        raise _not_a_benchmark(benchmark)
    aligned = _from_its_close(curve.sort_index(), index).reindex(index, method="ffill")
    if aligned.isna().all():
        raise ConfigError(
            "the benchmark has no data over the run",
            hint=f"the run covers {index[0].date()} to {index[-1].date()}",
        )
    aligned = aligned.bfill()
    return (cash * aligned / aligned.iloc[0]).rename("benchmark")


def _spec_curve(loaded: Mapping[str, pd.DataFrame], cash: float) -> pd.Series:
    """A spec's curve: one symbol's closes, or several symbols' equal-weight buy-and-hold
    (none: an empty curve, which :func:`benchmark_equity` refuses as no data)."""
    if not loaded:
        return pd.Series(dtype=np.float64, index=pd.DatetimeIndex([], tz="UTC"))
    if len(loaded) != 1:
        return equal_weight_buy_and_hold(loaded, cash)
    return next(iter(loaded.values()))["close"]


def _from_its_close(curve: pd.Series, index: pd.DatetimeIndex) -> pd.Series:
    """``curve`` labelled where an intraday run's bars may see each value: a bar of a day or
    longer is labelled by its start (00:00 UTC of a session's date) but closes hours later,
    at the session's close, so its close counts from the run's bar that ends with it (at
    the next midnight UTC), not from the session's open. Runs of daily bars or longer align
    on labels, as before."""
    if len(curve) < 2 or len(index) < 2:
        return curve
    step, length = bar_interval(curve.index), bar_interval(index)
    if length >= _DAY or step < _DAY:
        return curve
    return curve.set_axis(curve.index + (step - length))


@np.errstate(all="ignore")
def relative_metrics(
    equity: pd.Series | np.ndarray, benchmark: pd.Series | np.ndarray, periods_per_year: float
) -> dict[str, float]:
    """The figures of the module docstring for one equity curve against a benchmark's."""
    e = np.asarray(equity, dtype=np.float64)
    b = np.asarray(benchmark, dtype=np.float64)
    if e.shape != b.shape:
        raise ConfigError(f"equity ({e.size} bars) and benchmark ({b.size}) differ in length")
    out = dict.fromkeys(RELATIVE_METRICS, math.nan)
    if e.size == 0:
        return out
    # the total returns are defined from one bar on (as compute_metrics' total_return); the
    # statistics of the per-bar returns need two returns for a sample standard deviation
    total = e[-1] / e[0] - 1.0
    bench = b[-1] / b[0] - 1.0
    out["excess_return"] = float(total - bench)
    out["benchmark_return"] = float(bench)
    if e.size < 3:
        return out
    ppy = float(periods_per_year)
    r = e[1:] / e[:-1] - 1.0
    m = b[1:] / b[:-1] - 1.0
    var_m = float(np.var(m, ddof=1))
    if var_m > 0:
        beta = float(np.cov(r, m, ddof=1)[0, 1] / var_m)
        out["beta"] = beta
        out["alpha"] = float((r.mean() - beta * m.mean()) * ppy)
        std_r = float(np.std(r, ddof=1))
        if std_r > 0:
            out["correlation"] = float(np.corrcoef(r, m)[0, 1])
    active = r - m
    te = float(np.std(active, ddof=1)) * math.sqrt(ppy)
    out["tracking_error"] = te
    if te > 0:
        out["information_ratio"] = float(active.mean() * ppy / te)
    return out


def relative_columns(
    returns: np.ndarray, benchmark: np.ndarray, periods_per_year: float
) -> pd.DataFrame:
    """:func:`relative_metrics` for many runs at once: ``returns`` is bars-1 x runs."""
    rows = []
    for j in range(returns.shape[1]):
        equity = np.concatenate([[1.0], np.cumprod(1.0 + returns[:, j].astype(np.float64))])
        rows.append(relative_metrics(equity, benchmark, periods_per_year))
    return pd.DataFrame(rows, columns=list(RELATIVE_METRICS))


def attach_benchmark(result: Any, benchmark: Any, bars: Mapping[str, pd.DataFrame]) -> None:
    """Put the benchmark's curve on ``result.benchmark`` and its figures in ``result.metrics``."""
    from workbench.data.bars import periods_per_year

    equity = result.equity
    ppy = getattr(result.config, "periods_per_year", None) or periods_per_year(equity.index)
    curve = benchmark_equity(benchmark, bars, equity.index, float(equity.iloc[0]))
    result.benchmark = curve
    result.metrics.update(relative_metrics(equity, curve, ppy))
