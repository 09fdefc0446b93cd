"""Causal indicators, each in a batch form and an incremental form that give the same values.

Every indicator is a small frozen dataclass of its parameters with

- ``batch(x) -> np.ndarray``: vectorised over whole arrays (research; the backtest precomputes);
- ``update(x) -> float``: feed one new bar, O(1) amortised (live trading, streamed replays);
- ``value`` (the latest output), ``ready`` (warm-up over), ``warmup`` and ``reset()``.

::

    SMA(50).batch(close)                      ind = SMA(50); ind.update(x)
    ATR(14).batch(high, low, close)           ind = ATR(14); ind.update(high, low, close)
    BBands(20, 2.0).batch(close) -> Bands     ind.update(x) -> Bands(upper, middle, lower)

The functions :func:`sma`, :func:`ema`, :func:`rsi`, :func:`atr`, :func:`stddev` and
:func:`bbands` are the batch form; given pandas Series they return Series on the same index.
``inputs`` names the bar fields an indicator reads and ``n_outputs`` how many series it gives
(:class:`BBands` gives a :class:`Bands` named tuple of three), for the strategy context.

Definitions (output at bar t uses inputs up to t only; NaN during the warm-up):

=============  ======  ==================================================================
indicator      warmup  definition
=============  ======  ==================================================================
SMA(n)         n-1     mean of the last n values
EMA(n)         n-1     seeded with the SMA of the first n values, then y += a*(x - y),
                       a = 2/(n+1) (as TA-Lib)
RSI(n)         n       gains/losses of x[t] - x[t-1]; Wilder averages (a = 1/n) seeded with
                       the means of the first n; 100*G/(G+L), 50 when G+L == 0 (flat)
ATR(n)         n-1     true range max(h-l, |h-c[t-1]|, |l-c[t-1]|), the first TR is h-l;
                       Wilder average seeded with the mean of the first n TRs (TA-Lib
                       drops the first bar's TR, so its ATR starts one bar later)
StdDev(n,ddof) n-1     standard deviation of the last n values (ddof=0: population)
BBands(n,k)    n-1     middle = SMA(n), upper/lower = middle +/- k*StdDev(n, ddof=0)
=============  ======  ==================================================================

Missing values: leading NaNs are skipped, so the warm-up starts at the first finite input
and indicators chain (``ema(rsi(x, 14), 9)``); a later NaN or any infinity is a DataError.

Numerics: the running sums both forms share, and how exact they are, are
:mod:`workbench.indicators_rolling`'s; the two forms agree to ~1e-12 relative on price data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

import numpy as np
import pandas as pd

from workbench.errors import ConfigError, DataError
from workbench.indicators_rolling import Smoother, Window, rolling_moments, smooth

__all__ = [
    "ATR",
    "EMA",
    "RSI",
    "SMA",
    "BBands",
    "Bands",
    "StdDev",
    "atr",
    "bbands",
    "ema",
    "rsi",
    "sma",
    "stddev",
]

ArrayLike = np.ndarray | pd.Series | Sequence[float]
T = TypeVar("T")
_NAN = math.nan


class Bands(NamedTuple, Generic[T]):
    """Bollinger bands: floats (``update``), arrays (``batch``) or Series (:func:`bbands`)."""

    upper: T
    middle: T
    lower: T


def _check_n(owner: str, n: object) -> None:
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
        raise ConfigError(
            f"{owner}: n must be an integer >= 1, got {n!r}", hint="n is the window length in bars"
        )


def _as_array(x: ArrayLike, owner: str) -> np.ndarray:
    arr = (
        x.to_numpy(dtype=np.float64, na_value=np.nan)
        if isinstance(x, pd.Series)
        else np.asarray(x, dtype=np.float64)
    )
    if arr.ndim != 1:
        raise DataError(f"{owner}: expected a 1-D series, got shape {arr.shape}")
    return arr


def _first_valid(owner: str, *arrays: np.ndarray) -> int:
    """Index of the first bar with every input finite; a non-finite value after it is an error."""
    if len({a.size for a in arrays}) > 1:
        sizes = ", ".join(str(a.size) for a in arrays)
        raise DataError(f"{owner}: inputs have different lengths ({sizes})")
    if all(np.isfinite(a).all() for a in arrays):  # the usual case, in one pass each
        return 0
    if any(np.isinf(a).any() for a in arrays):
        raise DataError(f"{owner}: infinite input value", hint="fix or drop the bad bars first")
    valid = np.flatnonzero(~np.logical_or.reduce([np.isnan(a) for a in arrays]))
    first = int(valid[0]) if valid.size else arrays[0].size
    if valid.size and valid.size != arrays[0].size - first:
        gap = first + int(np.argmin(valid - first == np.arange(valid.size)))
        raise DataError(
            f"{owner}: NaN input at position {gap}, after the first valid value",
            hint="fill or drop missing bars before computing indicators",
        )
    return first


def _clean(owner: str, started: bool, x: float) -> float | None:
    """The value to process, None to skip a leading NaN, or a DataError."""
    x = float(x)
    if math.isfinite(x):
        return x
    if math.isnan(x) and not started:
        return None
    raise DataError(f"{owner}: non-finite input {x!r}", hint="fill or drop missing bars")


def _wrap(result: np.ndarray, like: object) -> np.ndarray | pd.Series:
    if isinstance(like, pd.Series):
        return pd.Series(result, index=like.index, name=like.name)
    return result


def _on_valid(owner: str, kernel: Callable[..., np.ndarray], *inputs: np.ndarray) -> np.ndarray:
    """Run ``kernel`` from the first valid bar on; NaN before it."""
    first = _first_valid(owner, *inputs)
    size = inputs[0].size
    if first >= size:
        return np.full(size, np.nan)
    result = kernel(*(a[first:] for a in inputs))
    if first == 0 and _own_float_array(result, inputs):  # every bar valid: no copy
        return result
    out = np.full(size, np.nan)
    out[first:] = result
    return out


def _own_float_array(result: Any, inputs: tuple[np.ndarray, ...]) -> bool:
    """Whether a kernel's result can be returned as it is: float64, one value per input
    value, and no view of an input."""
    return (
        isinstance(result, np.ndarray)
        and result.dtype == np.float64
        and result.shape == inputs[0].shape
        and not any(np.may_share_memory(result, a) for a in inputs)
    )


@dataclass(frozen=True)
class _Indicator:
    """Plumbing shared by every indicator. Parameters are frozen; the running state is not.

    The state is created by the first valid input (None before), so leading NaNs are skipped.
    """

    inputs: ClassVar[tuple[str, ...]] = ("close",)
    n_outputs: ClassVar[int] = 1
    n: int
    _state: Any = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        _check_n(type(self).__name__, self.n)

    @property
    def warmup(self) -> int:
        """Leading outputs that are NaN, counted from the first valid input."""
        return self.n - 1

    @property
    def value(self) -> Any:
        """The latest output (NaN during the warm-up)."""
        return self._read(self._new_state() if self._state is None else self._state)

    @property
    def ready(self) -> bool:
        value = self.value
        return not math.isnan(value.middle if isinstance(value, Bands) else value)

    def update(self, x: float) -> Any:
        """Feed the next value; returns the new output (NaN during the warm-up)."""
        v = _clean(type(self).__name__, self._state is not None, x)
        if v is not None:
            self._push(self._started(), v)
        return self.value

    def batch(self, x: ArrayLike) -> Any:
        """Outputs for a whole series (NaN during the warm-up); leaves the state alone."""
        name = type(self).__name__
        return _on_valid(name, self._kernel, _as_array(x, name))

    def reset(self) -> None:
        """Forget every value seen, as if freshly constructed."""
        object.__setattr__(self, "_state", None)

    def _started(self) -> Any:
        if self._state is None:
            object.__setattr__(self, "_state", self._new_state())
        return self._state

    def _new_state(self) -> Any:
        return Window(self.n)

    def _push(self, state: Any, x: float) -> None:
        state.push(x)

    def _read(self, state: Any) -> Any:
        raise NotImplementedError

    def _kernel(self, *arrays: np.ndarray) -> np.ndarray:
        raise NotImplementedError


@dataclass(frozen=True)
class SMA(_Indicator):
    """Simple moving average of the last ``n`` values."""

    def _read(self, state: Window) -> float:
        return state.moments()[0]

    def _kernel(self, x: np.ndarray) -> np.ndarray:  # type: ignore[override]
        return rolling_moments(x, self.n, want_m2=False)[0]


@dataclass(frozen=True)
class StdDev(_Indicator):
    """Rolling standard deviation of the last ``n`` values (``ddof=0``: population)."""

    ddof: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.ddof, bool) or not isinstance(self.ddof, Integral):
            raise ConfigError(f"StdDev: ddof must be an integer, got {self.ddof!r}")
        if not 0 <= self.ddof < self.n:
            raise ConfigError(
                f"StdDev: ddof must be in 0..n-1, got ddof={self.ddof} with n={self.n}",
                hint="ddof=0 for the population, 1 for the sample standard deviation",
            )

    def _read(self, state: Window) -> float:
        return math.sqrt(state.moments()[1] / (self.n - self.ddof))

    def _kernel(self, x: np.ndarray) -> np.ndarray:  # type: ignore[override]
        return np.sqrt(rolling_moments(x, self.n)[1] / (self.n - self.ddof))


@dataclass(frozen=True)
class BBands(_Indicator):
    """Bollinger bands: SMA(n) and SMA(n) +/- k population standard deviations.

    ``update`` returns and ``value`` is a ``Bands(upper, middle, lower)`` of floats;
    ``batch`` returns one of arrays.
    """

    n_outputs: ClassVar[int] = 3
    k: float = 2.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.k, bool) or not isinstance(self.k, Real) or not 0 < self.k < math.inf:
            raise ConfigError(f"BBands: k must be a positive number, got {self.k!r}", hint="e.g. 2")

    def batch(self, x: ArrayLike) -> Bands[np.ndarray]:
        """``Bands(upper, middle, lower)`` arrays for a whole series."""
        arr = _as_array(x, "BBands")
        middle = SMA(self.n).batch(arr)
        width = self.k * StdDev(self.n).batch(arr)
        return Bands(middle + width, middle, middle - width)

    def _read(self, state: Window) -> Bands[float]:
        mean, m2 = state.moments()
        width = self.k * math.sqrt(m2 / self.n)
        return Bands(mean + width, mean, mean - width)


@dataclass(frozen=True)
class EMA(_Indicator):
    """Exponential moving average, alpha = 2/(n+1), seeded with the SMA of the first ``n``."""

    @property
    def alpha(self) -> float:
        return 2.0 / (self.n + 1)

    def _new_state(self) -> Smoother:
        return Smoother(self.n, self.alpha)

    def _read(self, state: Smoother) -> float:
        return state.value

    def _kernel(self, x: np.ndarray) -> np.ndarray:  # type: ignore[override]
        return smooth(x, self.n, self.alpha)


@dataclass(frozen=True)
class RSI(_Indicator):
    """Wilder's relative strength index over ``n`` changes, in 0..100 (50 for a flat window)."""

    @property
    def warmup(self) -> int:
        return self.n

    def _new_state(self) -> list:
        return [_NAN, Smoother(self.n, 1.0 / self.n), Smoother(self.n, 1.0 / self.n)]

    def _push(self, state: list, x: float) -> None:  # state: previous value, gains, losses
        if not math.isnan(state[0]):
            state[1].push(max(x - state[0], 0.0))
            state[2].push(max(state[0] - x, 0.0))
        state[0] = x

    def _read(self, state: list) -> float:
        gain, loss = state[1].value, state[2].value
        if math.isnan(gain):
            return _NAN
        return 100.0 * gain / (gain + loss) if gain + loss > 0 else 50.0

    def _kernel(self, x: np.ndarray) -> np.ndarray:  # type: ignore[override]
        out = np.full(x.size, np.nan)
        if x.size > self.n:
            gain = smooth(np.maximum(x[1:] - x[:-1], 0.0), self.n, 1.0 / self.n)
            loss = smooth(np.maximum(x[:-1] - x[1:], 0.0), self.n, 1.0 / self.n)
            total = gain + loss
            with np.errstate(invalid="ignore", divide="ignore"):
                out[1:] = np.where(total > 0, 100.0 * gain / total, 50.0)
            out[: self.n] = np.nan
        return out


@dataclass(frozen=True)
class ATR(_Indicator):
    """Average true range over ``n`` bars (Wilder), from high, low and close."""

    inputs: ClassVar[tuple[str, ...]] = ("high", "low", "close")

    def update(self, high: float, low: float, close: float) -> float:  # type: ignore[override]
        """Feed the next bar; returns the new ATR (NaN during the warm-up)."""
        started = self._state is not None
        h, lo, c = (_clean("ATR", started, v) for v in (high, low, close))
        if h is not None and lo is not None and c is not None:  # else a leading NaN: skip
            state = self._started()
            prev = state[0]
            tr = h - lo if math.isnan(prev) else max(h - lo, abs(h - prev), abs(lo - prev))
            state[0] = c
            state[1].push(tr)
        return self.value

    def batch(self, high: ArrayLike, low: ArrayLike, close: ArrayLike) -> np.ndarray:  # type: ignore[override]
        """ATR for whole high, low and close series of equal length."""
        arrays = [_as_array(a, "ATR") for a in (high, low, close)]
        return _on_valid("ATR", self._kernel, *arrays)

    def _new_state(self) -> list:  # previous close, smoothed true range
        return [_NAN, Smoother(self.n, 1.0 / self.n)]

    def _read(self, state: list) -> float:
        return state[1].value

    def _kernel(self, h: np.ndarray, lo: np.ndarray, c: np.ndarray) -> np.ndarray:  # type: ignore[override]
        tr = h - lo
        tr[1:] = np.maximum.reduce([tr[1:], np.abs(h[1:] - c[:-1]), np.abs(lo[1:] - c[:-1])])
        return smooth(tr, self.n, 1.0 / self.n)


def sma(x: ArrayLike, n: int) -> np.ndarray | pd.Series:
    """Simple moving average (see :class:`SMA`)."""
    return _wrap(SMA(n).batch(x), x)


def ema(x: ArrayLike, n: int) -> np.ndarray | pd.Series:
    """Exponential moving average (see :class:`EMA`)."""
    return _wrap(EMA(n).batch(x), x)


def rsi(x: ArrayLike, n: int = 14) -> np.ndarray | pd.Series:
    """Wilder's RSI (see :class:`RSI`)."""
    return _wrap(RSI(n).batch(x), x)


def stddev(x: ArrayLike, n: int, ddof: int = 0) -> np.ndarray | pd.Series:
    """Rolling standard deviation (see :class:`StdDev`)."""
    return _wrap(StdDev(n, ddof).batch(x), x)


def atr(high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int = 14) -> np.ndarray | pd.Series:
    """Average true range (see :class:`ATR`); a Series on ``close``'s index if given Series."""
    return _wrap(ATR(n).batch(high, low, close), close)


def bbands(x: ArrayLike, n: int = 20, k: float = 2.0) -> Bands:
    """Bollinger bands ``Bands(upper, middle, lower)`` (see :class:`BBands`)."""
    bands = BBands(n, k).batch(x)
    return Bands(*(_wrap(b, x) for b in bands))
