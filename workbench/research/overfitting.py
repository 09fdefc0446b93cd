"""How likely is a backtest a fluke: the probabilistic and deflated Sharpe ratios, and PBO.

Conventions: every Sharpe ratio here is **per period** (per bar: mean / standard deviation
of the per-bar returns, not annualised), ``n_obs`` is the number of returns it was
measured on, ``skew`` the sample skewness and ``kurtosis`` the sample kurtosis in the
non-excess convention (a normal distribution has 3).

Probabilistic Sharpe ratio (Bailey and Lopez de Prado, "The Sharpe Ratio Efficient
Frontier", Journal of Risk 15(2), 2012, eq. 11): the probability that the true Sharpe
ratio exceeds a benchmark ``SR*``, given the estimate ``SR`` and the shape of the returns::

    PSR(SR*) = Phi( (SR - SR*) * sqrt(n - 1) / sqrt(1 - g3 * SR + (g4 - 1) / 4 * SR**2) )

Deflated Sharpe ratio (Bailey and Lopez de Prado, "The Deflated Sharpe Ratio: Correcting
for Selection Bias, Backtest Overfitting and Non-Normality", Journal of Portfolio
Management 40(5), 2014, eq. 2): the PSR against the Sharpe ratio the best of ``N``
independent trials would show by luck alone when every true Sharpe ratio is zero,
from the variance ``V`` of the trials' Sharpe ratios and the Euler-Mascheroni constant
``gamma`` (the expected maximum of N standard normals, by extreme value theory)::

    SR0 = sqrt(V) * ((1 - gamma) * Phi^-1(1 - 1/N) + gamma * Phi^-1(1 - 1/(N e)))
    DSR = PSR(SR0)

``N`` here is the count of trials as given (the report: the sweep's columns), not an
effective number of independent trials: correlated neighbours in a parameter grid each
count in full. The paper asks for independent trials and suggests clustering correlated
ones; nothing here estimates that, so with correlated trials ``N`` is too large and SR0
too high for that ``V`` (a lower, more cautious DSR).

Probability of backtest overfitting (Bailey, Borwein, Lopez de Prado and Zhu, "The
Probability of Backtest Overfitting", Journal of Computational Finance 20(4), 2017;
SSRN 2326253, 2015), by combinatorially symmetric cross-validation (CSCV): the T x N
matrix of the trials' returns is cut into S row blocks; for each of the C(S, S/2) ways
to pick half of the blocks as the in-sample set J (the rest is the out-of-sample set),
take the trial n* with the best in-sample performance, its out-of-sample rank
``w = rank / (N + 1)`` among all trials (1 = worst, average rank for ties) and the logit
``lambda = ln(w / (1 - w))``. PBO is the share of splits with ``lambda <= 0``: how often
the in-sample winner is at or below the out-of-sample median.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import ConfigError, DataError

__all__ = [
    "EULER_GAMMA",
    "PBOResult",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "overfitting_report",
    "probabilistic_sharpe_ratio",
    "probability_of_backtest_overfitting",
    "return_moments",
]

EULER_GAMMA = 0.5772156649015329
"""The Euler-Mascheroni constant."""

_NORMAL = NormalDist()  # the standard normal (the standard library's: no scipy import)


def probabilistic_sharpe_ratio(
    observed_sr: float,
    benchmark_sr: float = 0.0,
    n_obs: int = 0,
    skew: float = 0.0,
    kurtosis: float = 3.0,
) -> float:
    """P(true SR > ``benchmark_sr``) given ``observed_sr`` over ``n_obs`` returns (module doc)."""
    _check_n_obs(n_obs)
    for name, value in (("observed_sr", observed_sr), ("benchmark_sr", benchmark_sr)):
        if not math.isfinite(value):
            raise ConfigError(f"{name}={value} must be a finite per-period Sharpe ratio")
    variance = 1.0 - skew * observed_sr + (kurtosis - 1.0) / 4.0 * observed_sr**2
    if not variance > 0:
        raise DataError(
            f"the Sharpe ratio's variance term is {variance:.3g} (SR={observed_sr:.3g}, "
            f"skew={skew:.3g}, kurtosis={kurtosis:.3g})",
            hint="kurtosis is the non-excess one (normal = 3); SR is per period, not annualised",
        )
    z = (observed_sr - benchmark_sr) * math.sqrt(n_obs - 1) / math.sqrt(variance)
    return _NORMAL.cdf(z)


def expected_max_sharpe(sr_variance: float, n_trials: int) -> float:
    """The expected best per-period Sharpe ratio of ``n_trials`` skill-less trials (SR0)."""
    if isinstance(n_trials, bool) or not isinstance(n_trials, int | np.integer) or n_trials < 1:
        raise ConfigError(f"n_trials={n_trials!r} must be a positive whole number of trials")
    if not (math.isfinite(sr_variance) and sr_variance >= 0):
        raise ConfigError(f"sr_variance={sr_variance} must be a finite variance >= 0")
    if n_trials == 1:
        return 0.0  # nothing was selected: the benchmark is the null itself
    n = float(n_trials)
    z = (1 - EULER_GAMMA) * _NORMAL.inv_cdf(1 - 1 / n) + EULER_GAMMA * _NORMAL.inv_cdf(
        1 - 1 / (n * math.e)
    )
    return float(math.sqrt(sr_variance) * z)


def deflated_sharpe_ratio(
    observed_sr: float,
    sr_variance: float,
    n_trials: int,
    n_obs: int,
    skew: float = 0.0,
    kurtosis: float = 3.0,
) -> float:
    """PSR of the selected trial against the best Sharpe ratio luck alone gives (module doc)."""
    benchmark = expected_max_sharpe(sr_variance, n_trials)
    return probabilistic_sharpe_ratio(observed_sr, benchmark, n_obs, skew, kurtosis)


def return_moments(returns: Any) -> dict[str, float]:
    """``n_obs``, per-period ``sharpe``, ``skew`` and non-excess ``kurtosis`` of one series.

    NaNs are dropped. Skewness and kurtosis are the plain sample moments, as in the papers:
    ``m3 / m2**1.5`` and ``m4 / m2**2`` with ``mk`` the k-th central moment (``scipy.stats``
    ``skew`` and ``kurtosis(fisher=False)`` with their default ``bias=True``). A flat series
    (by :func:`flat_aware_ratio`'s rule: its rounding noise is no shape) gets 0 and 3.
    """
    values = np.asarray(returns, dtype=float)
    values = values[np.isfinite(values)]
    n = int(values.size)
    out = {"n_obs": float(n), "sharpe": math.nan, "skew": math.nan, "kurtosis": math.nan}
    if n < 2:
        return out
    out["sharpe"] = flat_aware_ratio(float(values.mean()), float(values.std(ddof=1)))
    centred = values - values.mean()
    squared = centred * centred  # products, not ``**3``/``**4``: numpy's pow is 10x slower
    m2 = float(np.mean(squared))
    if m2 > 0 and math.isfinite(out["sharpe"]):
        out["skew"] = float(np.mean(squared * centred)) / m2**1.5
        out["kurtosis"] = float(np.mean(squared * squared)) / m2**2
    else:
        out["skew"], out["kurtosis"] = 0.0, 3.0
    return out


@dataclass(frozen=True)
class PBOResult:
    """The outcome of CSCV: ``pbo`` and what it was computed from, one entry per split.

    ``logits`` are the lambdas; ``is_performance`` and ``oos_performance`` the in-sample and
    out-of-sample performance of each split's in-sample winner (for the degradation plot);
    ``degradation_slope`` the least-squares slope of the latter on the former (negative:
    better in sample means worse out of sample); ``probability_of_loss`` the share of splits
    where the winner's out-of-sample performance is below zero.
    """

    pbo: float
    logits: np.ndarray
    is_performance: np.ndarray
    oos_performance: np.ndarray
    n_partitions: int
    n_trials: int
    n_obs: int
    degradation_slope: float
    probability_of_loss: float

    @property
    def n_splits(self) -> int:
        return int(self.logits.size)

    def to_dict(self) -> dict[str, float]:
        return {
            "pbo": self.pbo,
            "n_splits": float(self.n_splits),
            "n_partitions": float(self.n_partitions),
            "n_trials": float(self.n_trials),
            "n_obs": float(self.n_obs),
            "median_logit": float(np.median(self.logits)),
            "degradation_slope": self.degradation_slope,
            "probability_of_loss": self.probability_of_loss,
        }


def probability_of_backtest_overfitting(
    returns: Any,
    n_partitions: int = 16,
    metric: Callable[[np.ndarray], np.ndarray] | None = None,
) -> PBOResult:
    """PBO by CSCV over a T x N matrix of the trials' per-bar returns (module doc).

    ``n_partitions`` (S) is even; when T is not a multiple of S the oldest ``T mod S`` rows
    are dropped so the blocks have equal length. ``metric`` maps a (rows x N) array to N
    scores, higher is better; the default is the per-period Sharpe ratio (the papers'
    choice), computed from each block's sum and sum of squared deviations so the 12,870
    splits of S=16 take milliseconds. A half's ratios depend on that half's returns only:
    trials that made the same returns over it tie exactly (and share the average rank).
    """
    matrix = _returns_matrix(returns)
    t, n = matrix.shape
    s = n_partitions
    if isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 2 or s % 2:
        raise ConfigError(f"n_partitions={s!r} must be an even number >= 2", hint="16 is usual")
    if n < 2:
        raise DataError(f"PBO needs at least 2 trials, got {n}", hint="sweep more than one combo")
    if t < 2 * s:
        raise DataError(
            f"PBO with {s} partitions needs at least {2 * s} returns, got {t}",
            hint="use fewer partitions or a longer sample",
        )
    if metric is None:
        return _cscv(_BlockMoments.of(matrix, s, nan_as_zero=False))
    matrix = np.asarray(matrix, dtype=float)
    if not np.isfinite(matrix).all():
        raise DataError(_NOT_FINITE, hint=_NOT_FINITE_HINT)
    matrix = matrix[t - (t // s) * s :]
    from workbench.research.overfitting_nb import split_ranks_nb

    combos = _combinations(s)
    is_perf, oos_perf = _cscv_generic(matrix, s, combos, metric)
    rank = np.empty(len(combos))
    best = split_ranks_nb(is_perf, oos_perf, rank)
    rows = np.arange(len(combos))
    return _pbo_result(rank, is_perf[rows, best], oos_perf[rows, best], s, n, matrix.shape[0])


def overfitting_report(
    trial_returns: pd.DataFrame,
    selected: Hashable | None = None,
    *,
    n_partitions: int = 16,
) -> dict[str, Any]:
    """The overfitting statistics of a sweep, JSON-ready, from its trials' per-bar returns.

    ``trial_returns`` has one column per trial (every combination tried, so the number of
    trials is its width) and one row per bar; NaN counts as 0 (no position). ``selected``
    is the chosen trial's column (default: the best per-period Sharpe ratio). Returns
    ``n_trials``, ``n_obs``, the selected trial's per-period ``sharpe``, ``skew``,
    ``kurtosis``, ``psr`` (against 0), ``sr_variance`` across trials, ``expected_max_sharpe``
    (SR0), ``dsr`` and ``pbo`` (with ``pbo_partitions``); a statistic the data cannot
    support is None. The matrix is read in place (float32 or float64), once.
    """
    if not isinstance(trial_returns, pd.DataFrame) or trial_returns.shape[1] == 0:
        raise DataError("trial_returns must be a DataFrame with one column per trial")
    if not all(dtype in (np.float32, np.float64) for dtype in trial_returns.dtypes):
        trial_returns = trial_returns.astype(float)
    columns = trial_returns.columns
    if selected is not None and selected not in columns:
        raise ConfigError(f"selected trial {selected!r} is not a column of trial_returns")
    matrix = _returns_matrix(trial_returns)
    n_obs_all, n_trials = matrix.shape
    partitions = _fit_partitions(n_obs_all, n_partitions) if n_trials >= 2 else None
    blocks = _BlockMoments.of(matrix, partitions or 1, nan_as_zero=True)
    sharpes = blocks.sharpes()
    if selected is None:
        selected = columns[int(np.nanargmax(np.where(np.isfinite(sharpes), sharpes, -np.inf)))]
    position = columns.get_loc(selected)
    if not isinstance(position, int | np.integer):
        raise ConfigError(f"trial {selected!r} names several columns: trial names must be unique")
    chosen = np.asarray(matrix[:, position], dtype=float)
    moments = return_moments(np.where(np.isnan(chosen), 0.0, chosen))
    finite = sharpes[np.isfinite(sharpes)]
    out: dict[str, Any] = {
        "n_trials": n_trials,
        "n_obs": int(moments["n_obs"]),
        "selected": _jsonable(selected),
        "sharpe": moments["sharpe"],
        "skew": moments["skew"],
        "kurtosis": moments["kurtosis"],
        "sr_variance": float(np.var(finite, ddof=1)) if finite.size > 1 else 0.0,
        "psr": None,
        "expected_max_sharpe": None,
        "dsr": None,
        "pbo": None,
        "pbo_partitions": None,
    }
    if moments["n_obs"] >= 2 and math.isfinite(moments["sharpe"]):
        sr, skew, kurt = moments["sharpe"], moments["skew"], moments["kurtosis"]
        n_obs = int(moments["n_obs"])
        out["psr"] = _maybe(probabilistic_sharpe_ratio, sr, 0.0, n_obs, skew, kurt)
        out["expected_max_sharpe"] = expected_max_sharpe(out["sr_variance"], n_trials)
        out["dsr"] = _maybe(
            deflated_sharpe_ratio, sr, out["sr_variance"], n_trials, n_obs, skew, kurt
        )
    if partitions:
        out["pbo"] = _cscv(blocks).pbo
        out["pbo_partitions"] = partitions
    return out


def flat_aware_ratio(mean: float, std: float) -> float:
    """``mean / std``; a flat series (std ~ 0) is 0 if its mean is 0, else +-inf (NaN: NaN).

    The one rule for every Sharpe ratio here, also compiled into the numba kernels.
    """
    if std > 1e-15 * max(abs(mean), 1e-300):
        return mean / std
    if mean == 0.0:
        return 0.0
    return mean * math.inf


# -- internals ---------------------------------------------------------------------------

_NOT_FINITE = "trial returns contain NaN or infinite values"
_NOT_FINITE_HINT = "fill bars without a position with 0 (fillna(0))"


@dataclass(frozen=True)
class _BlockMoments:
    """All the statistics need of a T x N matrix of returns, from one walk over it.

    ``sums`` and ``m2`` ((S + 1) x N): per part and trial, the sum and the sum of squared
    deviations from the part's own mean; row 0 for the oldest rows, which CSCV drops, rows
    1..S for its S blocks of ``block`` rows (the newest ``S * block`` rows).
    """

    sums: np.ndarray
    m2: np.ndarray
    block: int
    n_rows: int

    @classmethod
    def of(cls, matrix: np.ndarray, s: int, *, nan_as_zero: bool) -> _BlockMoments:
        """Walk ``matrix`` (float32 or float64, any order) once; NaN/inf is a DataError."""
        from workbench.research.overfitting_nb import block_moments_nb

        t, n = matrix.shape
        block = t // s
        by_trial = matrix.flags.f_contiguous and not matrix.flags.c_contiguous
        data = matrix.T if by_trial else np.ascontiguousarray(matrix)
        data = data.view()
        data.flags.writeable = False  # one compiled variant whether or not the caller's is
        sums, m2 = np.empty((s + 1, n)), np.empty((s + 1, n))
        if not block_moments_nb(data, by_trial, t - block * s, block, nan_as_zero, sums, m2):
            raise DataError(_NOT_FINITE, hint=_NOT_FINITE_HINT)
        return cls(sums, m2, block, t)

    def sharpes(self) -> np.ndarray:
        """Each trial's per-period Sharpe ratio over all T rows (std with ddof=1)."""
        t, first = self.n_rows, self.n_rows - (len(self.sums) - 1) * self.block
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = self.sums.sum(axis=0) / t
            gaps = self.sums[1:] / self.block - mean
            spread = self.m2.sum(axis=0) + self.block * (gaps * gaps).sum(axis=0)
            if first:
                spread += first * (self.sums[0] / first - mean) ** 2
            std = np.sqrt(spread / (t - 1))
        return _ratio(mean, std)


def _cscv(moments: _BlockMoments) -> PBOResult:
    """PBO by CSCV with the per-period Sharpe ratio, from the block moments (no T x N pass)."""
    from workbench.research.overfitting_nb import cscv_nb

    s, n = len(moments.sums) - 1, moments.sums.shape[1]
    combos = _combinations(s)
    rank, winner_is, winner_oos = (np.empty(len(combos)) for _ in range(3))
    blocks, m2 = moments.sums[1:], moments.m2[1:]
    cscv_nb(blocks, m2, combos, moments.block, rank, winner_is, winner_oos)
    return _pbo_result(rank, winner_is, winner_oos, s, n, moments.block * s)


def _pbo_result(
    rank: np.ndarray, winner_is: np.ndarray, winner_oos: np.ndarray, s: int, n: int, n_obs: int
) -> PBOResult:
    """The result of CSCV from each split's winner: its out-of-sample rank (1 = worst)."""
    omega = rank / (n + 1)
    logits = np.log(omega / (1 - omega))
    return PBOResult(
        pbo=float(np.mean(logits <= 0)),
        logits=logits,
        is_performance=winner_is,
        oos_performance=winner_oos,
        n_partitions=int(s),
        n_trials=int(n),
        n_obs=int(n_obs),
        degradation_slope=_slope(winner_is, winner_oos),
        probability_of_loss=float(np.mean(winner_oos < 0)),
    )


@functools.lru_cache(maxsize=8)
def _combinations(s: int) -> np.ndarray:
    """The C(S, S/2) in-sample block sets, one per row (12,870 for S=16: built once)."""
    combos = np.array(list(itertools.combinations(range(s), s // 2)), dtype=np.intp)
    combos.flags.writeable = False
    return combos


def _ratio(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    pairs = zip(mean.tolist(), std.tolist(), strict=True)
    return np.array([flat_aware_ratio(m, sd) for m, sd in pairs], dtype=float)


def _cscv_generic(
    matrix: np.ndarray, s: int, combos: np.ndarray, metric: Callable[[np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    blocks = np.split(matrix, s)
    n = matrix.shape[1]
    is_out = np.empty((len(combos), n))
    oos_out = np.empty((len(combos), n))
    everything = set(range(s))
    for i, combo in enumerate(combos):
        rest = sorted(everything - set(combo.tolist()))
        is_out[i] = np.asarray(metric(np.concatenate([blocks[j] for j in combo])), dtype=float)
        oos_out[i] = np.asarray(metric(np.concatenate([blocks[j] for j in rest])), dtype=float)
    bad = np.isnan(is_out)
    if bad.any():
        is_out[bad] = -np.inf  # a trial the metric cannot score is never the winner
    oos_out[np.isnan(oos_out)] = -np.inf
    return is_out, oos_out


def _returns_matrix(returns: Any) -> np.ndarray:
    """The T x N matrix, float32 or float64 as given (a view, not a copy, when it can be)."""
    matrix = returns.to_numpy() if hasattr(returns, "to_numpy") else np.asarray(returns)
    if matrix.dtype not in (np.float32, np.float64):
        matrix = matrix.astype(float)
    if matrix.ndim != 2:
        raise DataError(
            f"trial returns must be a T x N matrix, got {matrix.ndim} dimension(s)",
            hint="one column per trial, one row per bar",
        )
    return matrix


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of y on x over the finite pairs, in closed form (centred).

    Not ``np.polyfit`` nor ``np.dot``: BLAS may start threads for them, which two fold
    kernels on two cores then fight over.
    """
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2 or np.ptp(x[ok]) == 0:
        return math.nan
    dx = x[ok] - x[ok].mean()
    return float((dx * (y[ok] - y[ok].mean())).sum() / (dx * dx).sum())


def _fit_partitions(n_obs: int, wanted: int) -> int | None:
    """The largest even S <= ``wanted`` with at least 2 returns per block (None if < 2)."""
    s = min(wanted, n_obs // 2)
    s -= s % 2
    return s if s >= 2 else None


def _check_n_obs(n_obs: int) -> None:
    if isinstance(n_obs, bool) or not isinstance(n_obs, int | np.integer) or n_obs < 2:
        raise ConfigError(f"n_obs={n_obs!r} must be a whole number of returns >= 2")


def _maybe(fn: Callable[..., float], *args: Any) -> float | None:
    try:
        return fn(*args)
    except DataError:
        return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value if isinstance(value, int | float | str | bool) or value is None else str(value)
