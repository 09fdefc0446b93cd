"""What a strategy sees on each bar: the past and the present, structurally nothing after.

Bars reach a strategy through :class:`~workbench.series.SymbolData`, which the engine
or feed reveals one bar at a time (the views live in :mod:`workbench.series`). Every
accessor the context offers (views of the bar fields and of indicators, ``bar()``,
``history()``) is bounded by the bars revealed so far: asking for an index after the
current bar raises :class:`~workbench.errors.LookAheadError`, and slices stop at the
current bar. The look-ahead audit re-runs strategies on truncated data to catch what
the API cannot (a strategy reading files, say).

Indicators declared in ``Strategy.init`` are computed causally: when the whole
series is known in advance (a backtest) their batch form is computed once and
revealed bar by bar; when bars stream in (live) their incremental form is updated
on each bar. Both forms give the same values (tested in ``tests/unit/test_indicators.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from workbench.broker import Bar
from workbench.errors import ConfigError, LookAheadError
from workbench.exits import Exits
from workbench.intents import CancelIntent, Intent, OrderIntent, TargetIntent
from workbench.orders import Order, OrderRequest, OrderType, Side, TimeInForce
from workbench.portfolio import PositionView
from workbench.series import FIELDS, SeriesView, SymbolData
from workbench.stamps import utc


class Context:
    """The strategy's window on the world for the current bar.

    Read: ``time``, ``bar()``, ``data(symbol)`` (past-only views of each field),
    ``history()`` (a DataFrame up to now), ``position()``, ``equity``, ``cash``,
    ``open_orders()``. Act: ``target(...)``, ``rebalance({symbol: weight}, band=...)``,
    ``order(...)`` / ``buy`` / ``sell``,
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
        self.time_ns = 0  # now, UTC epoch ns (``time`` is built from it when asked)
        self._time: pd.Timestamp | None = None  # built for the time_ns it carries,
        self._time_of = 0  # kept here: an int compare, where Timestamp.value builds an int
        self.intents: list[Intent] = []
        self.initialized = False

    # -- clock ---------------------------------------------------------------
    def advance_to(self, time_ns: int) -> None:
        """Move the clock to a bar's start time (the bar kernel does, nothing else)."""
        self.time_ns = time_ns

    def take_intents(self) -> list[Intent]:
        """The intents of this bar, handed over once (the list is emptied)."""
        intents, self.intents = self.intents, []
        return intents

    @property
    def time(self) -> pd.Timestamp:
        """Now: the start time of the current bar (UTC). Strategies never read the wall clock.

        Built when asked and kept until the clock moves (a quiet bar that never asks
        builds nothing, and moving the clock is one store)."""
        t = self._time
        if t is None or self._time_of != self.time_ns:
            t = self._time = utc(self.time_ns)
            self._time_of = self.time_ns
        return t

    # -- data ----------------------------------------------------------------
    def _sd(self, symbol: str | None) -> SymbolData:
        if symbol is None:
            return self._default
        try:
            return self._symbols[symbol]
        except KeyError:
            raise ConfigError(
                f"unknown symbol {symbol!r}", hint=f"known: {', '.join(self.symbols)}"
            ) from None

    def data(self, symbol: str | None = None) -> dict[str, SeriesView]:
        """Past-only views of ``open, high, low, close, volume`` for ``symbol``."""
        return self._sd(symbol).views

    @property
    def close(self) -> SeriesView:
        return self._default.views["close"]

    def bar(self, symbol: str | None = None) -> Bar:
        sd = self._sd(symbol)
        i = sd.n - 1
        if i < 0:
            raise LookAheadError(f"{sd.symbol} has no bar yet")
        c = sd.cols
        return Bar(
            sd.symbol,
            pd.Timestamp(sd.times[i], tz="UTC"),
            c["open"][i],
            c["high"][i],
            c["low"][i],
            c["close"][i],
            c["volume"][i],
        )

    def history(self, symbol: str | None = None, n: int | None = None) -> pd.DataFrame:
        """The bars of ``symbol`` up to and including now (the last ``n`` if given)."""
        sd = self._sd(symbol)
        end = sd.n
        start = 0 if n is None else max(end - n, 0)
        stamps = np.asarray(sd.times[start:end], dtype=np.int64).astype("datetime64[ns]")
        return pd.DataFrame(
            {f: np.array(sd.cols[f][start:end], dtype=float) for f in FIELDS},
            index=pd.DatetimeIndex(stamps).tz_localize("UTC"),
        )

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
        take_profit: float | None = None,
        stop_loss: float | None = None,
        trail_price: float | None = None,
        trail_percent: float | None = None,
        take_profit_percent: float | None = None,
        stop_loss_percent: float | None = None,
        exit_tif: TimeInForce | str | None = None,
    ) -> None:
        """Hold this much of ``symbol`` after execution (replaces working target orders).

        ``take_profit`` / ``stop_loss`` (or a trailing ``trail_price`` / ``trail_percent``,
        or ``*_percent`` of the entry's fill) attach exits to the order that opens or adds
        to the position (see :meth:`order`).
        """
        sym = (self._default if symbol is None else self._sd(symbol)).symbol  # _sd, no call
        exits: Exits | None = None
        if not (  # most targets carry no exits: no Exits to build and check
            take_profit is None
            and stop_loss is None
            and trail_price is None
            and trail_percent is None
            and take_profit_percent is None
            and stop_loss_percent is None
            and exit_tif is None
        ):
            exits = Exits(
                take_profit,
                stop_loss,
                None,
                trail_price,
                trail_percent,
                take_profit_percent,
                stop_loss_percent,
                None if exit_tif is None else TimeInForce(exit_tif),
            )
            exits = exits if exits.any else None
        self.intents.append(
            TargetIntent(
                sym,
                self.time,
                quantity,
                notional,
                percent,
                reason,
                stop if stop is not None else stop_loss,
                exits,
            )
        )

    def rebalance(
        self, weights: Mapping[str, float], *, band: float = 0.0, reason: str = "REBALANCE"
    ) -> None:
        """Hold each symbol at its fraction of equity; held symbols not named go to zero.

        A holding whose weight (valued at this bar's close) is within ``band`` of a
        non-zero target gets no order, so small drifts cost nothing; a zero target always
        closes. Reductions are asked first, then increases. Each becomes a
        ``target(percent=...)``, so risk and execution see ordinary targets.

        Weights are used as given, never normalised: a negative weight is a short, and
        weights whose absolute values sum above 1 are leverage, which the broker allows
        up to its ``margin`` (gross exposure at most ``equity * margin``; a fill above it
        is refused). In a backtest a bar's sells fill first (a short sale too, before a
        buy that covers).
        """
        if not math.isfinite(band) or band < 0:
            raise ConfigError(f"rebalance band must be >= 0, got {band!r}")
        equity = self.equity
        wanted = {self._sd(s).symbol: float(w) for s, w in weights.items()}
        bad = {s: w for s, w in wanted.items() if not math.isfinite(w)}
        if bad:
            raise ConfigError(f"rebalance weights must be numbers, got {bad}")
        held = [s for s in self.symbols if s not in wanted and self.position(s).quantity != 0.0]
        moves: list[tuple[float, str, float]] = []
        for sym in [*wanted, *held]:
            target = wanted.get(sym, 0.0)
            quantity = self.position(sym).quantity
            now = quantity * self._sd(sym).last("close") / equity if quantity and equity else 0.0
            if target == 0.0 and quantity == 0.0:
                continue
            if target != 0.0 and abs(target - now) <= band:
                continue
            moves.append((abs(target) - abs(now), sym, target))
        for _, sym, target in sorted(moves, key=lambda m: m[0] > 0):
            self.intents.append(TargetIntent(sym, self.time, None, None, target, reason))

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
        take_profit: float | None = None,
        stop_loss: float | None = None,
        stop_loss_limit: float | None = None,
        trail_price: float | None = None,
        trail_percent: float | None = None,
        take_profit_percent: float | None = None,
        stop_loss_percent: float | None = None,
        exit_tif: TimeInForce | str | None = None,
    ) -> None:
        """Send an explicit order (market, limit, stop, stop-limit or trailing stop; day or GTC).

        Exits attached to the entry: ``take_profit`` (a limit) and ``stop_loss`` (a stop,
        or a stop-limit with ``stop_loss_limit``), or instead of ``stop_loss`` a trailing
        stop by ``trail_price`` / ``trail_percent``. Both make a bracket, one an oto
        order. They wait until the entry fills, cover what has filled, cancel each other,
        and never open or add to a position. With ``type="trailing_stop"`` the trail is
        the order's own (a trailing stop on its own).

        ``take_profit_percent`` / ``stop_loss_percent`` price the exits from the entry's
        fill instead (``stop_loss_percent=5`` is 5 % below a long's fill price), as
        vectorbt's ``tp_stop`` / ``sl_stop`` do; ``exit_tif="gtc"`` keeps the exits of a
        DAY entry working after its day. Simulated venue only: Alpaca's bracket needs
        absolute prices when the entry is sent, and the Alpaca broker refuses these.
        """
        kind = OrderType(type)
        exits = Exits(
            take_profit,
            stop_loss,
            stop_loss_limit,
            trail_price,
            trail_percent,
            take_profit_percent,
            stop_loss_percent,
            None if exit_tif is None else TimeInForce(exit_tif),
        )
        if kind is OrderType.TRAILING_STOP:
            if take_profit is not None or stop_loss is not None or stop_loss_limit is not None:
                raise ConfigError(
                    "a trailing_stop order cannot carry take_profit/stop_loss",
                    hint="attach a trailing exit to an entry with trail_percent= instead",
                )
            own_trail = {"trail_price": trail_price, "trail_percent": trail_percent}
            exits = Exits()
        else:
            own_trail = {}
        request = OrderRequest(
            symbol=self._sd(symbol).symbol,
            side=Side(side),
            quantity=quantity,
            notional=notional,
            type=kind,
            limit_price=limit,
            stop_price=stop,
            tif=TimeInForce(tif),
            reason=reason,
            oco_group=oco_group,
            **own_trail,
            **exits.fields(),
        )
        if protective_stop is None:
            protective_stop = stop_loss
        self.intents.append(OrderIntent(request, self.time, protective_stop))

    def buy(self, quantity: float | None = None, **kwargs: Any) -> None:
        """:meth:`order` on the buy side (``take_profit=``, ``stop_loss=`` attach exits)."""
        self.order(Side.BUY, quantity, **kwargs)

    def sell(self, quantity: float | None = None, **kwargs: Any) -> None:
        """:meth:`order` on the sell side (``take_profit=``, ``stop_loss=`` attach exits)."""
        self.order(Side.SELL, quantity, **kwargs)

    def cancel(
        self, order_id: str | None = None, *, symbol: str | None = None, reason: str = ""
    ) -> None:
        """Cancel one working order, or every working order of ``symbol`` (all if neither)."""
        self.intents.append(CancelIntent(self.time, order_id, symbol, reason))
