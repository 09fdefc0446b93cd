"""Numba loops behind the batch indicators: rolling moments (``SMA``, ``StdDev``), crossings.

:func:`rolling_moments_nb` is the block algorithm ``workbench.indicators`` documents (a
window = a suffix of block k plus a prefix of block k+1, both summed as deviations from
the last value of block k), streamed block by block with the same additions in the same
order, so its results are bit for bit those of the numpy form it replaced (numpy's
cumulative sums are sequential too), without that form's nine full-length temporaries:
a sweep's twenty 1M-bar averages went from 4 s to a few hundredths.
:func:`crossings_nb` is ``workbench.strategies.ma_crossover.crossings`` in one pass.

Kept apart so that ``import workbench`` does not import numba; the indicators import it
when a batch is computed.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _running_sums_nb(
    x: np.ndarray, first: int, step: int, n: int, shift: float, out1: np.ndarray, out2: np.ndarray
) -> None:
    """Running sums of ``x[i] - shift`` (and of their squares into ``out2`` when it has room)
    over the n indexes ``first + j * step``, added as numpy's cumulative sum adds them, into
    ``out[j]``; indexes past the end read the last value (the padding of the last block)."""
    size = x.size
    acc1 = 0.0
    acc2 = 0.0
    for j in range(n):
        i = first + j * step
        d = (x[i] if i < size else x[size - 1]) - shift
        acc1 = d if j == 0 else acc1 + d
        out1[j] = acc1
        if out2.size:
            acc2 = d * d if j == 0 else acc2 + d * d
            out2[j] = acc2


@njit(cache=True)
def rolling_moments_nb(x: np.ndarray, n: int, want_m2: bool) -> tuple[np.ndarray, np.ndarray]:
    """(mean, m2) of each trailing window of ``n`` finite values; NaN before the first full one.

    ``m2`` (sum of squared deviations) is computed only with ``want_m2`` (else it is empty).
    """
    size = x.size
    mean = np.full(size, np.nan)
    m2 = np.full(size if want_m2 else 0, np.nan)
    if size < n:
        return mean, m2
    r1 = np.empty(n)  # suffix sums of block k, around its shift (its last value), reversed
    l1 = np.empty(n)  # prefix sums of block k+1, around block k's shift
    r2 = np.empty(n if want_m2 else 0)
    l2 = np.empty(n if want_m2 else 0)
    for k in range((size - n) // n + 1):  # the blocks where some window starts
        top = k * n + n - 1
        shift = x[top]
        _running_sums_nb(x, top, -1, n, shift, r1, r2)  # r1[n-1-j]: from index k*n+j on
        _running_sums_nb(x, top + 1, 1, n, shift, l1, l2)
        for j in range(min(n, size - n + 1 - k * n)):
            end = top + j
            s1 = r1[n - 1] + 0.0 if j == 0 else r1[n - 1 - j] + l1[j - 1]
            mean[end] = shift + s1 / n
            if want_m2:
                s2 = r2[n - 1] + 0.0 if j == 0 else r2[n - 1 - j] + l2[j - 1]
                m2[end] = max(s2 - s1 * s1 / n, 0.0)
    return mean, m2


@njit(cache=True)
def crossings_nb(fast: np.ndarray, slow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(above, below): ``fast[t] > slow[t] and fast[t-1] <= slow[t-1]``, and the mirror."""
    size = fast.size
    above = np.empty(size, dtype=np.bool_)
    below = np.empty(size, dtype=np.bool_)
    if size == 0:
        return above, below
    above[0] = False
    below[0] = False
    for t in range(1, size):  # branch-free: comparisons with NaN are False
        f, s, fp, sp = fast[t], slow[t], fast[t - 1], slow[t - 1]
        above[t] = (f > s) & (fp <= sp)
        below[t] = (f < s) & (fp >= sp)
    return above, below
