"""The running sums under the indicators: rolling windows and Wilder-style smoothing.

Each comes in the two forms of :mod:`workbench.indicators`: a batch form over whole arrays
(:func:`rolling_moments`, :func:`smooth`) and an incremental twin fed one value at a time
(:class:`Window`, :class:`Smoother`), which agree to the tolerance stated below.

Numerics: rolling sums are kept of deviations from a shift that is itself a value in the
window, so they stay small, a constant window has a standard deviation of exactly 0, and
the error is bounded by the window, not by the history. The batch form sums within
blocks of n values (no long cumulative sums); the incremental form keeps compensated
(Neumaier) running sums and recomputes them exactly every n updates. On price data the
two forms agree to ~1e-12 relative; the tests hold them to 1e-9.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pandas as pd

__all__ = ["Smoother", "Window", "rolling_mean_np", "rolling_moments", "smooth"]

_NAN = math.nan


def rolling_moments(x: np.ndarray, n: int, want_m2: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sum of squared deviations of each trailing window of ``n`` finite values.

    The series is cut into blocks of n: a window starting in block k is a suffix of block k
    plus a prefix of block k+1, both summed as deviations from the last value of block k,
    which lies in every such window. The loops are numba's (:mod:`workbench.indicators_nb`);
    the mean alone, while numba is not imported yet, is :func:`rolling_mean_np`, the same
    additions in the same order (a test holds the two equal bit for bit): a backtest of
    moving averages does not pay numba's import (0.6 s and 110 MB of resident memory).
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    if not want_m2 and "numba" not in sys.modules:
        return rolling_mean_np(x, int(n)), np.empty(0)
    from workbench.indicators_nb import rolling_moments_nb

    return rolling_moments_nb(x, int(n), want_m2)


def rolling_mean_np(x: np.ndarray, n: int, chunk_values: int = 1 << 18) -> np.ndarray:
    """:func:`rolling_moments`' mean in numpy: the blocks as the rows of a matrix (a view
    of ``x``; only the block after the last is padded), the suffix and prefix sums as
    running sums along them, in the same order. ``chunk_values`` values at a time are
    turned on their side (a block per column: the suffix sums in one small buffer, the
    prefix sums in the result's own memory, which the chunk's means overwrite after),
    so that each running step is one vectorized addition across the blocks, where
    ``np.cumsum`` along short rows adds one value at a time, each waiting for the one
    before (twice the time). Each block's sums are its own: chunks change no bit."""
    size = x.size
    if size < n:
        return np.full(size, np.nan)
    blocks = size // n  # the blocks where some window starts: (size - n) // n + 1
    rows = x[: blocks * n].reshape(blocks, n)
    shift = rows[:, n - 1].copy()  # the last value of each block
    mean = np.empty(n - 1 + blocks * n)
    mean[: n - 1] = np.nan
    sums = mean[n - 1 :].reshape(blocks, n)  # sums[k, j]: the window starting at k*n+j
    step = min(max(1, chunk_values // n), blocks)
    buffer = np.empty((n, step))
    for lo in range(0, blocks, step):
        hi = min(lo + step, blocks)
        at, out = shift[lo:hi], sums[lo:hi]
        # [j, k]: block k's values from j to its end, summed from the end back
        suffix = np.subtract(rows[lo:hi].T, at, out=buffer[:, : hi - lo])
        for j in range(n - 2, -1, -1):
            np.add(suffix[j + 1], suffix[j], out=suffix[j])
        suffix[0] += 0.0
        if n > 1:
            # [j, k]: block k+1's first j+1 values (past the end: the last), summed in order
            ahead = out.reshape(-1)[: (n - 1) * (hi - lo)].reshape(n - 1, hi - lo)
            whole = min(hi, blocks - 1) - lo  # the blocks here whose next block is whole
            np.subtract(rows[lo + 1 : lo + 1 + whole, : n - 1].T, at[:whole], out=ahead[:, :whole])
            if hi == blocks:
                after = np.full(n - 1, x[size - 1])
                after[: size - blocks * n] = x[blocks * n :]
                np.subtract(after, at[-1], out=ahead[:, -1])
            for j in range(1, n - 1):
                np.add(ahead[j - 1], ahead[j], out=ahead[j])
            np.add(suffix[1:], ahead, out=suffix[1:])  # then the window's whole sum
        np.divide(suffix.T, n, out=out)
        out += at[:, None]  # while the chunk is in the cache
    return mean[:size]


def smooth(x: np.ndarray, n: int, alpha: float) -> np.ndarray:
    """Seed with the mean of the first ``n`` values, then ``y += alpha * (x - y)``."""
    out = np.full(x.size, np.nan)
    if x.size >= n:
        seq = x[n - 1 :].copy()
        seq[0] = math.fsum(x[:n]) / n
        out[n - 1 :] = pd.Series(seq).ewm(alpha=alpha, adjust=False).mean().to_numpy()
    return out


class Window:
    """The last n values with compensated sums of their deviations from an in-window shift."""

    __slots__ = ("buf", "c1", "c2", "count", "n", "pos", "s1", "s2", "shift")

    def __init__(self, n: int) -> None:
        self.n = n
        self.buf = [0.0] * n
        self.pos = self.count = 0
        self.shift = self.s1 = self.c1 = self.s2 = self.c2 = 0.0

    def push(self, x: float) -> None:
        if self.count == 0:
            self.shift = x
        d = x - self.shift
        self._add(d, d * d)
        if self.count == self.n:
            old = self.buf[self.pos] - self.shift
            self._add(-old, -(old * old))
        else:
            self.count += 1
        self.buf[self.pos] = x
        self.pos += 1
        if self.pos == self.n:  # every n values: recentre on the newest one, sum exactly
            self.pos = 0
            self.shift = x
            devs = [v - x for v in self.buf]
            squares = [d * d for d in devs]
            self.s1, self.s2 = math.fsum(devs), math.fsum(squares)
            self.c1, self.c2 = math.fsum([*devs, -self.s1]), math.fsum([*squares, -self.s2])

    def _add(self, a: float, b: float) -> None:
        s = self.s1 + a  # Neumaier: keep the rounding error of each addition
        self.c1 += (self.s1 - s) + a if abs(self.s1) >= abs(a) else (a - s) + self.s1
        self.s1 = s
        s = self.s2 + b
        self.c2 += (self.s2 - s) + b if abs(self.s2) >= abs(b) else (b - s) + self.s2
        self.s2 = s

    def moments(self) -> tuple[float, float]:
        """Mean and sum of squared deviations of a full window."""
        if self.count < self.n:
            return _NAN, _NAN
        s1 = self.s1 + self.c1
        return self.shift + s1 / self.n, max((self.s2 + self.c2) - s1 * s1 / self.n, 0.0)


class Smoother:
    """Incremental twin of :func:`smooth`."""

    __slots__ = ("alpha", "n", "seed", "value")

    def __init__(self, n: int, alpha: float) -> None:
        self.n, self.alpha = n, alpha
        self.seed: list[float] = []
        self.value = _NAN

    def push(self, x: float) -> float:
        if len(self.seed) < self.n:
            self.seed.append(x)
            if len(self.seed) == self.n:
                self.value = math.fsum(self.seed) / self.n
        else:
            self.value += self.alpha * (x - self.value)
        return self.value
