"""Numba loops behind :mod:`workbench.research.overfitting`: the trials' block sums, CSCV.

A sweep's trial returns are a T x N matrix (98,280 x 100 float32 in a realistic fold). The
statistics need little of it: per trial the mean over the CSCV rows (the shift), and per
row block the sum and the sum of squares of ``x - shift`` (the numerically stable form);
the full-sample mean and standard deviation follow from those and the sums over the
oldest rows CSCV drops. :func:`trial_sums_nb` reads each trial's column twice while it is
in cache, in the matrix's own dtype and memory order, with no temporary the size of the
matrix (the numpy form made a dozen: float64 copy, ``fillna``, centring, squares ...).
:func:`cscv_nb` then scores every split from the N x S sums and keeps, per split, only
the in-sample winner's rank; the 12,870 x N performance tables are never built.

A trial's sums are computed in the same order whatever the other columns hold, so two
identical trials get bit-identical statistics: ties stay ties, and ranks do not move.

Kept apart so that importing the overfitting module does not import numba.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from workbench.backtesting.nb_cache import refresh
from workbench.research import overfitting
from workbench.research.overfitting import flat_aware_ratio

_ratio_nb = njit(nogil=True)(flat_aware_ratio)


@njit(cache=True, nogil=True)
def _value_nb(v: float, nan_as_zero: bool) -> float:
    return 0.0 if nan_as_zero and v != v else v


# Sums over contiguous slices, indexed from 0 (so numba knows no index is negative) with
# reassociation allowed: LLVM vectorises them, and the order depends on the length only.


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def _sum_nb(x: np.ndarray, nan_as_zero: bool) -> tuple[float, float]:
    """(sum, 0 if every value is finite else NaN)."""
    total = 0.0
    check = 0.0
    for i in range(x.size):
        v = _value_nb(x[i], nan_as_zero)
        total += v
        check += v * 0.0
    return total, check


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def _deviations_nb(x: np.ndarray, shift: float, nan_as_zero: bool) -> tuple[float, float]:
    """Sum of ``x - shift`` and of its square."""
    acc = 0.0
    acc2 = 0.0
    for i in range(x.size):
        d = _value_nb(x[i], nan_as_zero) - shift
        acc += d
        acc2 += d * d
    return acc, acc2


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def trial_sums_nb(
    data: np.ndarray,
    by_trial: bool,
    first: int,
    block: int,
    nan_as_zero: bool,
    shift: np.ndarray,
    head: np.ndarray,
    sums: np.ndarray,
    squares: np.ndarray,
) -> bool:
    """Fill ``shift`` (N), ``head`` (N x 2) and ``sums``/``squares`` (N x S) of T x N returns.

    ``data`` is the matrix (T x N) or, with ``by_trial``, its transpose (N x T, each trial
    contiguous). Rows ``first + k * block ..`` form block k; ``shift`` is each trial's mean
    over the blocks, ``head`` the sum and sum of squares of ``x - shift`` over the rows
    before ``first``. NaN reads as 0 with ``nan_as_zero``. False if a value is NaN or
    infinite (after that replacement): the outputs are then meaningless.
    """
    n, s = sums.shape
    rows = first + s * block
    check = 0.0  # stays 0 while every value is finite (inf * 0 and NaN * 0 are NaN)
    if by_trial:
        for j in range(n):
            x = data[j]
            total, bad = _sum_nb(x[first:rows], nan_as_zero)
            check += bad + _sum_nb(x[:first], nan_as_zero)[1]
            mean = total / (rows - first) if rows > first else 0.0
            shift[j] = mean
            head[j, 0], head[j, 1] = _deviations_nb(x[:first], mean, nan_as_zero)
            for k in range(s):
                part = x[first + k * block : first + (k + 1) * block]
                sums[j, k], squares[j, k] = _deviations_nb(part, mean, nan_as_zero)
        return check == 0.0
    # one row after another, every trial's sums side by side (a C-ordered T x N matrix)
    total = np.zeros(n)
    for i in range(rows):
        for j in range(n):
            v = _value_nb(data[i, j], nan_as_zero)
            check += v * 0.0
            total[j] += v if i >= first else 0.0
    for j in range(n):
        shift[j] = total[j] / (rows - first) if rows > first else 0.0
    acc = np.zeros(n)
    acc2 = np.zeros(n)
    for k in range(-1, s):  # -1: the rows before the blocks
        lo, hi = (0, first) if k < 0 else (first + k * block, first + (k + 1) * block)
        acc[:] = 0.0
        acc2[:] = 0.0
        for i in range(lo, hi):
            for j in range(n):
                d = _value_nb(data[i, j], nan_as_zero) - shift[j]
                acc[j] += d
                acc2[j] += d * d
        for j in range(n):
            if k < 0:
                head[j, 0], head[j, 1] = acc[j], acc2[j]
            else:
                sums[j, k], squares[j, k] = acc[j], acc2[j]
    return check == 0.0


@njit(cache=True, nogil=True)
def _sharpe_nb(part_sum: float, part_sq: float, count: int, shift: float) -> float:
    """Per-period Sharpe ratio of ``count`` returns from their sums around ``shift``."""
    mean = part_sum / count
    var = max(part_sq - count * mean**2, 0.0) / (count - 1)
    return _ratio_nb(mean + shift, math.sqrt(var))


@njit(cache=True, nogil=True)
def split_rank_nb(is_perf: np.ndarray, oos_perf: np.ndarray) -> tuple[int, float]:
    """(in-sample winner, its out-of-sample rank): 1 = worst, the average rank for ties.

    The winner is the first best in-sample score (``np.argmax``: a NaN wins at once).
    """
    best = 0
    for j in range(is_perf.size):
        v = is_perf[j]
        if v != v:
            best = j
            break
        if v > is_perf[best]:
            best = j
    winner = oos_perf[best]
    below = 0
    ties = 0
    for j in range(oos_perf.size):
        if oos_perf[j] < winner:
            below += 1
        elif oos_perf[j] == winner:
            ties += 1
    return best, below + (ties + 1) / 2.0


@njit(cache=True, nogil=True)
def split_ranks_nb(is_perf: np.ndarray, oos_perf: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """:func:`split_rank_nb` of each row (split) of two C x N tables; returns the winners."""
    best = np.empty(is_perf.shape[0], dtype=np.intp)
    for c in range(is_perf.shape[0]):
        best[c], rank[c] = split_rank_nb(is_perf[c], oos_perf[c])
    return best


@njit(cache=True, nogil=True)
def cscv_nb(
    sums: np.ndarray,
    squares: np.ndarray,
    shift: np.ndarray,
    combos: np.ndarray,
    block: int,
    rank: np.ndarray,
    winner_is: np.ndarray,
    winner_oos: np.ndarray,
) -> None:
    """Every CSCV split's winner: its out-of-sample ``rank`` and both Sharpe ratios.

    ``combos`` (C x S/2) lists each split's in-sample blocks in lexicographic order
    (``itertools.combinations``), in which split ``C - 1 - c`` is split ``c`` with the
    halves swapped: each pair's two halves are scored once and serve both. Each half's
    sums are added in block order, straight from its blocks.
    """
    n, s = sums.shape
    half = block * (s // 2)
    n_splits = combos.shape[0]
    inside = np.zeros(s, dtype=np.bool_)
    first = np.empty(n)
    second = np.empty(n)
    for c in range(n_splits // 2):
        inside[:] = False
        for k in combos[c]:
            inside[k] = True
        for j in range(n):
            in_sum = in_sq = out_sum = out_sq = 0.0
            for k in range(s):
                if inside[k]:
                    in_sum += sums[j, k]
                    in_sq += squares[j, k]
                else:
                    out_sum += sums[j, k]
                    out_sq += squares[j, k]
            first[j] = _sharpe_nb(in_sum, in_sq, half, shift[j])
            second[j] = _sharpe_nb(out_sum, out_sq, half, shift[j])
        for split, is_perf, oos_perf in ((c, first, second), (n_splits - 1 - c, second, first)):
            best, rank[split] = split_rank_nb(is_perf, oos_perf)
            winner_is[split] = is_perf[best]
            winner_oos[split] = oos_perf[best]


refresh(globals(), [overfitting])  # numba's cache follows the ratio rule: nb_cache
