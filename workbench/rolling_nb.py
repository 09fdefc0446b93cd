"""The numba form of the batch rolling moments behind ``SMA`` and ``StdDev`` (one pass each).

:func:`rolling_moments_nb` is the block algorithm ``workbench.indicators`` documents (a
window = a suffix of block k plus a prefix of block k+1, both summed as deviations from
the last value of block k), written as loops with the same additions in the same order,
so its results are bit for bit those of the numpy form it replaced (cumulative sums are
sequential in numpy too), without its nine temporary arrays: a sweep's twenty 1M-bar
averages went from 4 s to a few hundredths. Kept apart so that ``import workbench`` does
not import numba; the indicators import it when a batch is computed.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _running_sums_nb(
    x: np.ndarray, first: int, step: int, n: int, shift: float, out1: np.ndarray, out2: np.ndarray
) -> None:
    """Running sums of ``x[i] - shift`` (and their squares) over n indexes from ``first`` by
    ``step``, as numpy's cumulative sum adds them; indexes past the end read the last value."""
    size = x.size
    acc1 = 0.0
    acc2 = 0.0
    for j in range(n):
        i = first + j * step
        d = (x[i] if i < size else x[size - 1]) - shift
        acc1 = d if j == 0 else acc1 + d
        out1[i] = acc1
        if out2.size:
            acc2 = d * d if j == 0 else acc2 + d * d
            out2[i] = acc2


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
    blocks = (size + n - 1) // n
    r1 = np.empty(blocks * n)  # suffix sums of block k's deviations from its shift
    l1 = np.zeros(blocks * n)  # prefix sums of block k's deviations from block k-1's shift
    r2 = np.empty(blocks * n if want_m2 else 0)
    l2 = np.zeros(blocks * n if want_m2 else 0)
    shifts = np.empty(blocks)
    for k in range(blocks):
        top = k * n + n - 1
        shifts[k] = x[min(top, size - 1)]
        _running_sums_nb(x, top, -1, n, shifts[k], r1, r2)
        if k > 0:
            _running_sums_nb(x, k * n, 1, n, shifts[k - 1], l1, l2)
    for start in range(size - n + 1):
        end = start + n - 1
        split = start % n != 0
        s1 = r1[start] + (l1[end] if split else 0.0)
        mean[end] = shifts[start // n] + s1 / n
        if want_m2:
            s2 = r2[start] + (l2[end] if split else 0.0)
            m2[end] = max(s2 - s1 * s1 / n, 0.0)
    return mean, m2
