"""The vectorized form of a strategy: every decision for a whole frame at once.

A strategy may define ``vectorized(self, bars) -> VectorSignals``: boolean series aligned
to ``bars.index`` saying, for each bar, what ``on_bar`` decides at that bar's close. It
must use causal operations only (the value at bar t depends on bars 0..t); the look-ahead
audit checks it and :func:`workbench.research.parity.check_parity` checks that it agrees
with ``on_bar``. The fast path (the numba kernels of :mod:`workbench.backtesting.nb` and
the vectorbt adapter) turns the signals into trades with the event engine's conventions:

**Fill convention.** Signals are decided at bar t's close and executed at bar t+1's open
(a signal on the last bar is never executed), slipped against the trader by the slippage
in basis points, and charged the percent commission on the traded notional.

**Sizing.** An entry from flat targets ``fraction`` of the equity valued at the decision
close, sent as a notional (cash to spend, fees included) resolved at the fill price:
``quantity = notional / (fill_price * (1 + commission))``. An exit closes the whole
position. An entry of the other side closes the position and then opens the new one,
its notional valued at the decision close (the event engine's target convention,
:mod:`workbench.execution.targets`). An entry on the side already held does nothing.
Conflicting signals on one bar (entry and exit of a side, or entries of both sides)
cancel each other (vectorbt's defaults).

**Stops** (``VectorSignals.sl_stop``, ``tp_stop``, ``sl_trail``; vectorbt's names and
units: fractions of the entry's fill price). Each entry arms a stop-loss and/or a
take-profit priced from its fill (slippage included), one-cancels-other, with the
simulated venue's fill rules (:mod:`workbench.sim.fills`): checked from the entry bar on
(the rest of the entry bar starts at the open); a gap through the stop fills at the
open, slipped; a take-profit is a limit (``max(open, tp)`` for a long, never slipped);
when both could fill on one bar, the stop (the pessimistic one); a trailing stop checks
the mark of the bars before (starting at the entry's open, before slippage) and the
bar's open, then takes the bar's high (a short's: low). An exit decided at a close
fills at the next open, before the stops are checked (the open is traded first), and
cancels them. The event engine's form of the same strategy attaches relative exits to
its entries
(``ctx.target(..., stop_loss_percent=, take_profit_percent=, trail_percent=)``, GTC).

Only costs the vectorized path reproduces exactly are accepted: percent commission and
slippage in basis points. Per-share commission, a commission minimum, range-proportional
slippage, volume caps and lot sizes raise :class:`~workbench.errors.ConfigError`: the
event engine supports them.

Indicators computed with :func:`indicator` inside :func:`shared_indicators` are computed
once per distinct indicator and input, so a sweep computes each distinct window once.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import ConfigError, StrategyError
from workbench.sim.costs import Commission, CostSpec, Slippage

__all__ = [
    "VectorCosts",
    "VectorSignals",
    "encode_signals",
    "has_vectorized",
    "indicator",
    "shared_indicators",
    "vector_costs",
    "vectorized_signals",
]

_FIELDS = ("entries", "exits", "short_entries", "short_exits")


@dataclass(frozen=True, eq=False)
class VectorSignals:
    """What a strategy decides at each bar's close, for a whole frame.

    ``entries`` / ``exits`` are the long side, ``short_entries`` / ``short_exits`` the
    short side (None when the strategy is long-only). All are boolean series on the
    bars' index. ``fraction`` is the share of equity an entry targets (0 < fraction <= 1).
    ``sl_stop`` / ``tp_stop`` are exits at that fraction of the entry's fill price below /
    above it (a short's: above / below; 0 = none), ``sl_trail`` makes the stop-loss trail
    the best price since the entry: vectorbt's ``from_signals`` stops, with the event
    engine's fill rules (see the module docstring).
    """

    entries: pd.Series
    exits: pd.Series
    short_entries: pd.Series | None = None
    short_exits: pd.Series | None = None
    fraction: float = 1.0
    sl_stop: float = 0.0
    tp_stop: float = 0.0
    sl_trail: bool = False

    def __post_init__(self) -> None:
        index = None
        for name in _FIELDS:
            series = getattr(self, name)
            if series is None:
                if name in ("entries", "exits"):
                    raise StrategyError(f"VectorSignals.{name} is required (a boolean Series)")
                continue
            if not isinstance(series, pd.Series) or series.dtype != bool:
                kind = type(series).__name__
                dtype = getattr(series, "dtype", "")
                raise StrategyError(
                    f"VectorSignals.{name} must be a boolean pandas Series, got {kind} {dtype}",
                    hint="e.g. pd.Series(array.astype(bool), index=bars.index)",
                )
            if index is None:
                index = series.index
            elif not (series.index is index or series.index.equals(index)):
                raise StrategyError(f"VectorSignals.{name} is not on the same index as entries")
        if (self.short_entries is None) != (self.short_exits is None):
            raise StrategyError(
                "VectorSignals: give both short_entries and short_exits, or neither",
                hint="use an all-False series for the side without signals",
            )
        f = self.fraction
        if isinstance(f, bool) or not (isinstance(f, int | float) and 0 < f <= 1):
            raise StrategyError(f"VectorSignals.fraction must be in (0, 1], got {f!r}")
        for name, high in (("sl_stop", 1.0), ("tp_stop", math.inf)):
            v = getattr(self, name)
            if isinstance(v, bool) or not (isinstance(v, int | float) and 0 <= v < high):
                raise StrategyError(
                    f"VectorSignals.{name} must be a fraction of the entry price in [0, {high:g}),"
                    f" got {v!r}",
                    hint="e.g. sl_stop=0.05 exits 5 % below a long entry's fill; 0 = no stop",
                )
        if not isinstance(self.sl_trail, bool | np.bool_):
            raise StrategyError(
                f"VectorSignals.sl_trail must be True or False, got {self.sl_trail!r}"
            )

    @property
    def has_stops(self) -> bool:
        return bool(self.sl_stop or self.tp_stop)

    def stop_percents(self) -> tuple[float, float, bool]:
        """(stop-loss %, take-profit %, trailing): the kernel's and the event engine's units."""
        return self.sl_stop * 100.0, self.tp_stop * 100.0, bool(self.sl_trail)

    @property
    def index(self) -> pd.DatetimeIndex:
        return self.entries.index  # type: ignore[return-value]

    @property
    def has_short(self) -> bool:
        return self.short_entries is not None

    def frame(self) -> pd.DataFrame:
        """The signals as one DataFrame (long-only strategies have no short columns)."""
        data = {n: getattr(self, n) for n in _FIELDS if getattr(self, n) is not None}
        return pd.DataFrame(data)


def has_vectorized(strategy: Any) -> bool:
    """Whether a strategy (class, instance or spec) defines a vectorized form."""
    from workbench.strategy import Strategy, resolve_strategy

    cls = strategy if isinstance(strategy, type) else type(strategy)
    if isinstance(strategy, str):
        cls = resolve_strategy(strategy)
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        return False
    return callable(getattr(cls, "vectorized", None))


def vectorized_signals(strategy: Any, bars: pd.DataFrame) -> VectorSignals:
    """``strategy.vectorized(bars)``, checked: the right type and aligned to ``bars.index``."""
    if not has_vectorized(strategy):
        raise ConfigError(
            f"strategy {strategy!r} has no vectorized form",
            hint="define vectorized(self, bars) -> VectorSignals, or use the event engine",
        )
    label = strategy.label() if hasattr(strategy, "label") else type(strategy).__name__
    try:
        signals = strategy.vectorized(bars)
    except (ConfigError, StrategyError):
        raise
    except Exception as exc:
        raise StrategyError(f"{label}.vectorized failed: {exc!r}") from exc
    if not isinstance(signals, VectorSignals):
        raise StrategyError(
            f"{label}.vectorized returned {type(signals).__name__}, not VectorSignals"
        )
    if not (signals.index is bars.index or signals.index.equals(bars.index)):
        raise StrategyError(
            f"{label}.vectorized: signals are not aligned to the bars' index",
            hint="build each series with index=bars.index",
        )
    return signals


def encode_signals(signals: VectorSignals, out: np.ndarray | None = None) -> np.ndarray:
    """One byte per bar: bit 0 entry, 1 exit, 2 short entry, 3 short exit (see ``nb.py``)."""
    parts = [signals.entries, signals.exits]
    if signals.short_entries is not None and signals.short_exits is not None:
        parts += [signals.short_entries, signals.short_exits]
    bits = [np.asarray(p.to_numpy(), dtype=bool).view(np.uint8) for p in parts]
    if out is None:
        out = np.empty(len(bits[0]), dtype=np.uint8)
    np.copyto(out, bits[0])
    for shift, b in enumerate(bits[1:], start=1):
        out |= b << shift
    return out


@dataclass(frozen=True)
class VectorCosts:
    """The costs the vectorized path can express: a percent fee and slippage in bps."""

    fee: float = 0.0  # fraction of traded notional
    bps: float = 0.0  # basis points against the trader

    @property
    def slippage(self) -> float:
        """Slippage as vectorbt's fraction of the price."""
        return self.bps * 1e-4


def vector_costs(
    commission: Commission | CostSpec = None,
    slippage: Slippage | CostSpec = None,
    *,
    volume_limit: float | None = None,
    lot_size: float | None = None,
) -> VectorCosts:
    """Translate the event engine's cost settings; refuse what the fast path cannot reproduce."""
    c = Commission.parse(commission)
    s = Slippage.parse(slippage)
    unsupported = [
        (c.per_share, "commission per_share"),
        (c.minimum, "commission minimum"),
        (s.range_fraction, "range-proportional slippage"),
    ]
    for value, name in unsupported:
        if value:
            raise ConfigError(
                f"the vectorized path cannot reproduce {name} exactly",
                hint="use a percent commission and bps slippage, or the event engine (backtest)",
            )
    for value, name in ((volume_limit, "volume_limit"), (lot_size, "lot_size")):
        if value is not None:
            raise ConfigError(
                f"the vectorized path does not support {name}",
                hint="the event engine (backtest) supports it",
            )
    return VectorCosts(fee=float(c.percent), bps=float(s.bps))


# -- indicators shared across the combinations of a sweep ---------------------------------

_SHARED: ContextVar[dict[Any, Any] | None] = ContextVar("workbench_shared_indicators", default=None)


@contextmanager
def shared_indicators() -> Iterator[dict[Any, Any]]:
    """Within this block, :func:`indicator` computes each (indicator, inputs) pair once.

    Inputs are recognised by their memory (address, shape, strides, dtype); the block
    holds a reference to them, so an address cannot be reused by other data meanwhile.
    Inputs must not be modified in place inside the block.
    """
    cache: dict[Any, Any] = {}
    token = _SHARED.set(cache)
    try:
        yield cache
    finally:
        _SHARED.reset(token)


def indicator(ind: Any, *inputs: pd.Series | np.ndarray) -> Any:
    """``ind.batch(*inputs)`` as read-only arrays, computed once per sweep (see above)."""
    arrays = tuple(
        x.to_numpy(dtype=np.float64, na_value=np.nan)
        if isinstance(x, pd.Series)
        else np.asarray(x, dtype=np.float64)
        for x in inputs
    )
    cache = _SHARED.get()
    if cache is None:
        return _readonly(ind.batch(*arrays))
    key = (ind, tuple(_fingerprint(a) for a in arrays))
    hit = cache.get(key)
    if hit is None:
        hit = cache[key] = (_readonly(ind.batch(*arrays)), arrays)
    return hit[0]


def _fingerprint(a: np.ndarray) -> tuple[int, tuple[int, ...], tuple[int, ...], str]:
    return (a.__array_interface__["data"][0], a.shape, a.strides, a.dtype.str)


def _readonly(value: Any) -> Any:
    if isinstance(value, tuple):
        items = [_readonly(v) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    arr = np.asarray(value)
    arr.flags.writeable = False
    return arr
