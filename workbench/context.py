"""What a strategy sees on each bar: the past and the present, structurally nothing after.

Bars reach a strategy through :class:`SymbolData` buffers that the engine fills one
bar at a time, in a backtest exactly as live: a buffer holds only the bars revealed
so far, so no reference a strategy can obtain points at later data. Asking for an
index after the current bar raises :class:`~workbench.errors.LookAheadError`.

Indicators declared in ``Strategy.init`` are computed causally: when the whole
series is known in advance (a backtest) their batch form is computed once and
revealed bar by bar; when bars stream in (live) their incremental form is updated
on each bar. Both forms give the same values (tested in ``tests/unit/test_indicators.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import ConfigError, LookAheadError
from workbench.intents import CancelIntent, Intent, OrderIntent, TargetIntent
from workbench.orders import Order, OrderRequest, OrderType, Side, TimeInForce
from workbench.portfolio import PositionView

FIELDS = ("open", "high", "low", "close", "volume")


class SeriesView:
    """A past-only series: ``view[-1]`` is now, ``view[-2]`` the bar before; slices work.

    Non-negative indices count from the first bar; one past the current bar raises
    LookAheadError. ``view.values`` is a read-only numpy copy of everything so far.
    """

    __slots__ = ("_buf", "name")

    def __init__(self, buf: list[float], name: str) -> None:
        self._buf = buf
        self.name = name

    def __getitem__(self, k: int | slice) -> Any:
        if type(k) is int:
            try:
                return self._buf[k]
            except IndexError:
                if k >= 0:
                    raise LookAheadError(
                        f"{self.name}[{k}] asked for bar {k}, but only bars 0..{len(self._buf) - 1}"
                        " have happened",
                        hint="use negative indices ([-1] is the current bar)",
                    ) from None
                raise
        if isinstance(k, slice):
            if k.stop is not None and k.stop > len(self._buf):
                raise LookAheadError(f"{self.name}[{k}] reaches past the current bar")
            return np.array(self._buf[k], dtype=float)
        raise TypeError(f"{self.name}: indices must be integers or slices")

    def __len__(self) -> int:
        return len(self._buf)

    @property
    def values(self) -> np.ndarray:
        out = np.array(self._buf, dtype=float)
        out.flags.writeable = False
        return out

    def __repr__(self) -> str:
        last = self._buf[-1] if self._buf else None
        return f"SeriesView({self.name}, bars={len(self._buf)}, last={last})"


@dataclass(slots=True)
class _Indicator:
    indicator: Any
    inputs: tuple[str, ...]
    outputs: list[list[float]]
    precomputed: list[list[float]] | None = None


class SymbolData:
    """The revealed bars of one symbol and its indicators. Filled only by the engine or feed."""

    def __init__(self, symbol: str, full: dict[str, np.ndarray] | None = None) -> None:
        self.symbol = symbol
        self.times: list[int] = []  # epoch nanoseconds, UTC
        self.cols: dict[str, list[float]] = {f: [] for f in FIELDS}
        self.views = {f: SeriesView(self.cols[f], f"{symbol}.{f}") for f in FIELDS}
        self.indicators: list[_Indicator] = []
        self._full = full  # known in advance (backtest): indicators use their batch form

    def add_indicator(self, indicator: Any, inputs: Sequence[str]) -> SeriesView | tuple[SeriesView, ...]:
        if self.times:
            raise ConfigError("indicators must be declared in Strategy.init, before the first bar")
        for name in inputs:
            if name not in FIELDS:
                raise ConfigError(f"indicator input {name!r} is not a bar field", hint=f"use one of {FIELDS}")
        label = f"{self.symbol}.{type(indicator).__name__}"
        precomputed = None
        if self._full is not None:
            result = indicator.batch(*(self._full[f] for f in inputs))
            arrays = result if isinstance(result, tuple) else (result,)
            precomputed = [np.asarray(a, dtype=float).tolist() for a in arrays]
            n_out = len(arrays)
        else:
            n_out = getattr(indicator, "n_outputs", 1)
        outputs: list[list[float]] = [[] for _ in range(n_out)]
        self.indicators.append(_Indicator(indicator, tuple(inputs), outputs, precomputed))
        views = tuple(SeriesView(buf, label) for buf in outputs)
        return views if n_out > 1 else views[0]

    def push(self, time_ns: int, o: float, h: float, low: float, c: float, v: float) -> None:
        """Reveal one bar (live and replay feeds): indicators update incrementally."""
        self.times.append(time_ns)
        cols = self.cols
        cols["open"].append(o)
        cols["high"].append(h)
        cols["low"].append(low)
        cols["close"].append(c)
        cols["volume"].append(v)
        i = len(self.times) - 1
        for ind in self.indicators:
            if ind.precomputed is not None:
                for out, pre in zip(ind.outputs, ind.precomputed, strict=True):
                    out.append(pre[i])
                continue
            value = ind.indicator.update(*(cols[f][-1] for f in ind.inputs))
            values = value if isinstance(value, tuple) else (value,)
            for out, val in zip(ind.outputs, values, strict=True):
                out.append(float(val))

    @property
    def n(self) -> int:
        return len(self.times)


@dataclass(frozen=True, slots=True)
class Bar:
    """The current bar of one symbol as the strategy sees it."""

    symbol: str
    time: pd.Timestamp
    open: float
    high: float
    low: float
    close: float
    volume: float


class Context:
    """The strategy's window on the world for the current bar.

    Read: ``time``, ``bar()``, ``data(symbol)`` (past-only views of each field),
    ``history()`` (a DataFrame up to now), ``position()``, ``equity``, ``cash``,
    ``open_orders()``. Act: ``target(...)``, ``order(...)`` / ``buy`` / ``sell``,
    ``cancel(...)``. Every action carries a ``reason`` that reaches the trade log.
    """

    def __init__(
        self,
        symbols: dict[str, SymbolData],
        portfolio_view: Callable[[], tuple[float, float]],
        position_view: Callable[[str], PositionView],
        open_orders: Callable[[str | None], list[Order]],
    ) -> None:
        self._symbols = symbols
        self.symbols = tuple(symbols)
        self.symbol = self.symbols[0]
        self._default = symbols[self.symbol]
        self._portfolio_view = portfolio_view
        self._position_view = position_view
        self._open_orders = open_orders
        self._time_ns = 0
        self._time: pd.Timestamp | None = None
        self.intents: list[Intent] = []
        self.initialized = False

    # -- clock ---------------------------------------------------------------
    def _advance(self, time_ns: int) -> None:
        self._time_ns = time_ns
        self._time = None

    @property
    def time(self) -> pd.Timestamp:
        """Now: the start time of the current bar (UTC). Strategies never read the wall clock."""
        if self._time is None:
            self._time = pd.Timestamp(self._time_ns, tz="UTC")
        return self._time

    # -- data ----------------------------------------------------------------
    def _sd(self, symbol: str | None) -> SymbolData:
        if symbol is None:
            return self._default
        try:
            return self._symbols[symbol]
        except KeyError:
            raise ConfigError(f"unknown symbol {symbol!r}", hint=f"known: {', '.join(self.symbols)}") from None

    def data(self, symbol: str | None = None) -> dict[str, SeriesView]:
        """Past-only views of ``open, high, low, close, volume`` for ``symbol``."""
        return self._sd(symbol).views

    @property
    def close(self) -> SeriesView:
        return self._default.views["close"]

    def bar(self, symbol: str | None = None) -> Bar:
        sd = self._sd(symbol)
        if not sd.times:
            raise LookAheadError(f"{sd.symbol} has no bar yet")
        c = sd.cols
        return Bar(
            sd.symbol,
            pd.Timestamp(sd.times[-1], tz="UTC"),
            c["open"][-1],
            c["high"][-1],
            c["low"][-1],
            c["close"][-1],
            c["volume"][-1],
        )

    def history(self, symbol: str | None = None, n: int | None = None) -> pd.DataFrame:
        """The bars of ``symbol`` up to and including now (the last ``n`` if given)."""
        sd = self._sd(symbol)
        start = 0 if n is None else max(len(sd.times) - n, 0)
        index = pd.DatetimeIndex(np.array(sd.times[start:], dtype="datetime64[ns]"), tz="UTC")
        return pd.DataFrame({f: sd.cols[f][start:] for f in FIELDS}, index=index)

    def indicator(
        self, indicator: Any, symbol: str | None = None, inputs: str | Sequence[str] | None = None
    ) -> SeriesView | tuple[SeriesView, ...]:
        """Declare a causal indicator (in ``init``); returns a past-only view of its values."""
        if self.initialized:
            raise ConfigError("declare indicators in Strategy.init, not in on_bar")
        if inputs is None:
            inputs = getattr(indicator, "inputs", ("close",))
        if isinstance(inputs, str):
            inputs = (inputs,)
        return self._sd(symbol).add_indicator(indicator, tuple(inputs))

    # -- portfolio (read-only) -----------------------------------------------
    @property
    def equity(self) -> float:
        return self._portfolio_view()[1]

    @property
    def cash(self) -> float:
        return self._portfolio_view()[0]

    def position(self, symbol: str | None = None) -> PositionView:
        return self._position_view(self._sd(symbol).symbol)

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return self._open_orders(symbol)

    # -- actions ---------------------------------------------------------------
    def target(
        self,
        symbol: str | None = None,
        *,
        quantity: float | None = None,
        notional: float | None = None,
        percent: float | None = None,
        reason: str = "",
        stop: float | None = None,
    ) -> None:
        """Hold this much of ``symbol`` after execution (replaces working target orders)."""
        sym = self._sd(symbol).symbol
        self.intents.append(
            TargetIntent(sym, self.time, quantity, notional, percent, reason, stop)
        )

    def order(
        self,
        side: Side | str,
        quantity: float | None = None,
        *,
        symbol: str | None = None,
        notional: float | None = None,
        type: OrderType | str = OrderType.MARKET,
        limit: float | None = None,
        stop: float | None = None,
        tif: TimeInForce | str = TimeInForce.GTC,
        reason: str = "",
        oco_group: str | None = None,
        protective_stop: float | None = None,
    ) -> None:
        """Send an explicit order (market, limit, stop or stop-limit; day or GTC)."""
        request = OrderRequest(
            symbol=self._sd(symbol).symbol,
            side=Side(side),
            quantity=quantity,
            notional=notional,
            type=OrderType(type),
            limit_price=limit,
            stop_price=stop,
            tif=TimeInForce(tif),
            reason=reason,
            oco_group=oco_group,
        )
        self.intents.append(OrderIntent(request, self.time, protective_stop))

    def buy(self, quantity: float | None = None, **kwargs: Any) -> None:
        self.order(Side.BUY, quantity, **kwargs)

    def sell(self, quantity: float | None = None, **kwargs: Any) -> None:
        self.order(Side.SELL, quantity, **kwargs)

    def cancel(self, order_id: str | None = None, *, symbol: str | None = None, reason: str = "") -> None:
        """Cancel one working order, or every working order of ``symbol`` (all if neither)."""
        self.intents.append(CancelIntent(self.time, order_id, symbol, reason))
