"""A symbol's bars as a strategy may see them: revealed one at a time, nothing after.

The context (:mod:`workbench.context`) reads bars and indicators only through these
views; keeping them apart lets the engines and the live feed build and advance them
without the strategy's API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.errors import ConfigError, LookAheadError

__all__ = ["COMPILED", "FIELDS", "PySeriesView", "SeriesView", "SymbolData"]

FIELDS = ("open", "high", "low", "close", "volume")


class _PyReads:
    """The read a strategy makes on every bar, in Python: what the compiled
    ``workbench._reads.Reads`` does (used when it did not compile)."""

    __slots__ = ("_buf", "_sd", "name")

    def __init__(self, buf: list[float] | memoryview, sd: SymbolData, name: str) -> None:
        self._buf = buf
        self._sd = sd
        self.name = name

    def __getitem__(self, k: int | slice) -> Any:
        # the common read first (``[-1]``, ``[-2]`` of a bar that happened): one comparison
        # and one index, as cheap as a list's; everything else takes the checked path
        try:
            if k < 0:
                i = k + self._sd.n
                if i >= 0:
                    return self._buf[i]
        except TypeError:  # a slice
            pass
        return self._checked(k)  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return self._sd.n


try:  # an optional extension (pyproject.toml): absent without a C compiler at install
    from workbench._reads import Reads as _CompiledReads
except ImportError:  # pragma: no cover - depends on the install
    _CompiledReads = None

#: whether views read through the compiled fast path (``workbench._reads``)
COMPILED = _CompiledReads is not None


class _Past:
    """What every view does beyond the fast read: the rules (look-ahead, bounds, slices)
    and its values. Both read classes send every read but the common one here."""

    __slots__ = ()
    _buf: Any
    _sd: SymbolData
    name: str

    def _checked(self, k: int | slice) -> Any:
        n = self._sd.n
        try:
            if k < 0:
                k += n
                if k < 0:
                    raise IndexError(f"{self.name}: only {n} bars so far")
            elif k >= n:
                raise LookAheadError(
                    f"{self.name}[{k}] asked for bar {k}, but only bars 0..{n - 1} have happened",
                    hint="use negative indices ([-1] is the current bar)",
                )
        except TypeError:
            if isinstance(k, slice):
                start, stop, step = k.indices(n)
                return np.array(self._buf[start:stop:step], dtype=float)
            raise TypeError(f"{self.name}: indices must be integers or slices") from None
        return self._buf[k]

    @property
    def values(self) -> np.ndarray:
        """Bars preloaded (a backtest): a read-only view, no copy; streamed: a copy."""
        buf = self._buf[: self._sd.n]
        if isinstance(buf, memoryview):
            return np.asarray(buf)  # read-only, as the memoryview is
        out = np.array(buf, dtype=float)
        out.flags.writeable = False
        return out

    def __repr__(self) -> str:
        n = self._sd.n
        last = self._buf[n - 1] if n else None
        return f"SeriesView({self.name}, bars={n}, last={last})"


_DOC = """A past-only series: ``view[-1]`` is now, ``view[-2]`` the bar before; slices work.

    Non-negative indices count from the first bar; one past the current bar raises
    LookAheadError. Slices are clipped to the current bar. ``view.values`` is a
    read-only numpy copy of everything so far. The common read (a negative index of a
    bar that happened) is compiled where the extension built (:data:`COMPILED`); the
    rules and their errors are :class:`_Past`'s either way.
    """


class PySeriesView(_Past, _PyReads):
    __doc__ = _DOC
    __slots__ = ()


if _CompiledReads is not None:

    class SeriesView(_Past, _CompiledReads):  # type: ignore[misc, valid-type]
        __doc__ = _DOC
        __slots__ = ()

else:  # pragma: no cover - depends on the install
    SeriesView = PySeriesView  # type: ignore[misc]


@dataclass(slots=True)
class _Indicator:
    indicator: Any
    inputs: tuple[str, ...]
    outputs: list[list[float]]


class SymbolData:
    """The bars of one symbol and its indicators; ``n`` of them have been revealed.

    Every accessor is bounded by ``n``. In a backtest the columns are known in advance
    and indicators take their batch form, so revealing a bar is ``n += 1``
    (:meth:`advance`); a live feed appends each bar and updates indicators
    incrementally (:meth:`push`). Strategies see the same views either way.
    """

    def __init__(
        self,
        symbol: str,
        full: dict[str, np.ndarray] | None = None,
        times: Sequence[int] | None = None,
    ) -> None:
        self.symbol = symbol
        self.n = 0
        self._preloaded = full is not None
        # epoch ns, UTC; preloaded columns are read in place (no per-bar Python objects kept)
        self.times: Any
        self.cols: dict[str, Any]
        if full is not None:
            self.times = _frozen(times if times is not None else (), np.int64)
            self.cols = {f: _frozen(full[f], np.float64) for f in FIELDS}
        else:
            self.times = list(times) if times is not None else []
            self.cols = {f: [] for f in FIELDS}
        self.views = {f: SeriesView(self.cols[f], self, f"{symbol}.{f}") for f in FIELDS}
        self.indicators: list[_Indicator] = []

    def add_indicator(
        self, indicator: Any, inputs: Sequence[str]
    ) -> SeriesView | tuple[SeriesView, ...]:
        if self.n:
            raise ConfigError("indicators must be declared in Strategy.init, before the first bar")
        for name in inputs:
            if name not in FIELDS:
                raise ConfigError(
                    f"indicator input {name!r} is not a bar field", hint=f"use one of {FIELDS}"
                )
        label = f"{self.symbol}.{type(indicator).__name__}"
        if self._preloaded:
            result = indicator.batch(*(np.asarray(self.cols[f]) for f in inputs))
            arrays = result if isinstance(result, tuple) else (result,)
            outputs = [_frozen(a, np.float64) for a in arrays]
        else:
            outputs = [[] for _ in range(getattr(indicator, "n_outputs", 1))]
        self.indicators.append(_Indicator(indicator, tuple(inputs), outputs))
        views = tuple(SeriesView(buf, self, label) for buf in outputs)
        return views if len(views) > 1 else views[0]

    def advance(self) -> None:
        """Reveal the next preloaded bar (backtest)."""
        self.n += 1

    def push(self, time_ns: int, o: float, h: float, low: float, c: float, v: float) -> None:
        """Append and reveal one bar (live and replay feeds): indicators update incrementally."""
        if self._preloaded:
            raise ConfigError(f"{self.symbol}: bars are preloaded; use advance()")
        self.times.append(time_ns)
        cols = self.cols
        cols["open"].append(o)
        cols["high"].append(h)
        cols["low"].append(low)
        cols["close"].append(c)
        cols["volume"].append(v)
        for ind in self.indicators:
            value = ind.indicator.update(*(cols[f][-1] for f in ind.inputs))
            values = value if isinstance(value, tuple) else (value,)
            for out, val in zip(ind.outputs, values, strict=True):
                out.append(float(val))
        self.n += 1

    def last(self, field: str) -> float:
        if self.n == 0:
            raise LookAheadError(f"{self.symbol} has no bar yet", hint="wait for its first bar")
        return self.cols[field][self.n - 1]

    def time_ns(self) -> int:
        if self.n == 0:
            raise LookAheadError(f"{self.symbol} has no bar yet", hint="wait for its first bar")
        return self.times[self.n - 1]


def _frozen(values: Any, dtype: type) -> memoryview:
    """A read-only view of ``values`` as one contiguous array: indexing it gives Python
    numbers (as a list would), at 8 bytes a value instead of a list's 32, and no copy of
    an array that already is one."""
    return memoryview(np.ascontiguousarray(values, dtype=dtype)).toreadonly()
