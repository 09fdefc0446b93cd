"""Numba loops behind :mod:`workbench.research.overfitting`: the trials' block moments, CSCV.

A sweep's trial returns are a T x N matrix (98,280 x 100 float32 in a realistic fold). The
statistics need little of it: per trial and per row block (CSCV's S blocks, and the
oldest rows it drops) the sum and ``M2``, the sum of squared deviations from the block's
own mean. :func:`block_moments_nb` reads each block twice while it is in cache, in the
matrix's own dtype and memory order, with no temporary the size of the matrix (the numpy
form made a dozen: float64 copy, ``fillna``, centring, squares ...). A set of blocks has
the mean of their sums and ``M2 = sum(M2_k + block * (mean_k - mean)**2)`` (Chan et al.),
with no cancellation. :func:`cscv_nb` scores every split from the N x S moments and keeps,
per split, only the in-sample winner's rank; the 12,870 x N tables are never built.

A half's Sharpe ratio is computed from that half's blocks only, always in block order:
two trials that made the same returns in the out-of-sample half (the same positions over
those bars, common in a sweep) get bit-identical ratios there and share the average rank
the papers prescribe. Centring each trial on its full-sample mean, as the numpy form did,
let the other half's returns decide such ties by rounding noise.

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
def _m2_nb(x: np.ndarray, mean: float, nan_as_zero: bool) -> float:
    """Sum of squared deviations from ``mean``."""
    acc = 0.0
    for i in range(x.size):
        d = _value_nb(x[i], nan_as_zero) - mean
        acc += d * d
    return acc


@njit(cache=True, nogil=True)
def block_moments_nb(
    data: np.ndarray,
    by_trial: bool,
    first: int,
    block: int,
    nan_as_zero: bool,
    sums: np.ndarray,
    m2: np.ndarray,
) -> bool:
    """Fill ``sums`` and ``m2`` ((S + 1) x N): row 0 for the rows before ``first``, row
    ``k + 1`` for block k (rows ``first + k * block ..``).

    ``data`` is the T x N matrix or, with ``by_trial``, its transpose (N x T, each trial
    contiguous). NaN reads as 0 with ``nan_as_zero``. False if a value is NaN or infinite
    (after that replacement): the outputs are then meaningless.
    """
    parts, n = sums.shape
    check = 0.0  # stays 0 while every value is finite (inf * 0 and NaN * 0 are NaN)
    for k in range(parts):
        lo, hi = (0, first) if k == 0 else (first + (k - 1) * block, first + k * block)
        if by_trial:
            for j in range(n):
                x = data[j, lo:hi]
                total, bad = _sum_nb(x, nan_as_zero)
                check += bad
                sums[k, j] = total
                m2[k, j] = _m2_nb(x, total / (hi - lo), nan_as_zero) if hi > lo else 0.0
            continue
        # one row after another, every trial's sums side by side (a C-ordered matrix)
        total = np.zeros(n)
        spread = np.zeros(n)
        for i in range(lo, hi):
            for j in range(n):
                v = _value_nb(data[i, j], nan_as_zero)
                check += v * 0.0
                total[j] += v
        means = total / max(hi - lo, 1)
        for i in range(lo, hi):
            for j in range(n):
                d = _value_nb(data[i, j], nan_as_zero) - means[j]
                spread[j] += d * d
        sums[k] = total
        m2[k] = spread
    return check == 0.0


@njit(cache=True, nogil=True)
def _half_sharpe_nb(
    sums: np.ndarray,
    m2: np.ndarray,
    means: np.ndarray,
    blocks: np.ndarray,
    block: int,
    scratch: np.ndarray,
    out: np.ndarray,
) -> None:
    """Every trial's per-period Sharpe ratio over ``blocks`` (ascending) into ``out``.

    ``sums``, ``m2`` and ``means`` are S x N: the loops run along the trials, so they
    vectorise, and each trial's figures are added in block order all the same.
    """
    count = block * blocks.size
    mean = out  # the means first, then the ratios in their place
    mean[:] = 0.0
    for k in blocks:
        mean += sums[k]
    mean /= count
    spread = scratch
    spread[:] = 0.0
    for k in blocks:
        row_m2, row_mean = m2[k], means[k]
        for j in range(spread.size):
            gap = row_mean[j] - mean[j]
            spread[j] += row_m2[j] + block * gap * gap
    for j in range(out.size):
        out[j] = _ratio_nb(mean[j], math.sqrt(spread[j] / (count - 1)))


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
    m2: np.ndarray,
    combos: np.ndarray,
    block: int,
    rank: np.ndarray,
    winner_is: np.ndarray,
    winner_oos: np.ndarray,
) -> None:
    """Every CSCV split's winner: its out-of-sample ``rank`` and both Sharpe ratios.

    ``sums`` and ``m2`` are S x N (block by trial). ``combos`` (C x S/2) lists each
    split's in-sample blocks in lexicographic order (``itertools.combinations``), in which
    split ``C - 1 - c`` is split ``c`` with the halves swapped: each pair's two halves are
    scored once and serve both.
    """
    n = sums.shape[1]
    n_splits = combos.shape[0]
    means = sums / block
    first = np.empty(n)
    second = np.empty(n)
    scratch = np.empty(n)
    for c in range(n_splits // 2):
        _half_sharpe_nb(sums, m2, means, combos[c], block, scratch, first)
        _half_sharpe_nb(sums, m2, means, combos[n_splits - 1 - c], block, scratch, second)
        for split, is_perf, oos_perf in ((c, first, second), (n_splits - 1 - c, second, first)):
            best, rank[split] = split_rank_nb(is_perf, oos_perf)
            winner_is[split] = is_perf[best]
            winner_oos[split] = oos_perf[best]


refresh(globals(), [overfitting])  # numba's cache follows the ratio rule: nb_cache
