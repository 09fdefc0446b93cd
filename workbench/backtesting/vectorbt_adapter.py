"""Run a strategy's :class:`~workbench.backtesting.vectorized.VectorSignals` through vectorbt.

The conventions are those of :mod:`workbench.backtesting.vectorized` (decision at bar t's
close, market fill at bar t+1's open), expressed in vectorbt's terms:

- signals are shifted by one bar and executed at ``price=open``; ``close`` values the
  portfolio, so vectorbt's value equals the event engine's equity at every close;
- commission percent -> ``fees``; slippage bps -> ``slippage = bps / 1e4`` (vectorbt
  moves the price by that fraction against the trader, as the simulated venue does);
- sizing: ``size=fraction, size_type="percent"``. From flat, vectorbt's percent buys
  ``fraction * cash / (price * (1 + fees))``, and at the decision close the equity of a
  flat account is its cash, so this is the event engine's notional ``fraction * equity``
  resolved at the fill price. Exits close the whole position.

vectorbt's ``from_signals`` refuses a percent size when it reverses a position ("SizeType.Percent
does not support position reversal") and sizes reversals only in fixed amounts or values.
Signals that can reverse (entries on both sides) therefore run through vectorbt's flexible
order-function simulation with the same fills: the closing order, then the opening notional
``fraction * equity`` valued at the decision close, refused when it exceeds the buying power
(as the simulated broker refuses it). vectorbt still executes, books and reports every order.

Stops go to vectorbt's own ``sl_stop``, ``tp_stop`` and ``sl_trail`` (fractions of the
entry price), with ``open``/``high``/``low`` so a gap through a stop fills at the open,
``stop_entry_price="fillprice"`` (the fill, slippage included; ``"price"`` for a lone
trailing stop, whose mark starts before slippage) and ``stop_exit_price="stopmarket"``
(slipped) with a stop-loss, ``"stoplimit"`` with only a take-profit. Where vectorbt's
rules are the simulated venue's (a stop or take-profit hit after the entry bar, a gap,
both on one bar: the stop; a trailing mark checked before it takes the bar's high) the
trades are the same. Where they differ, by design of each:

- vectorbt checks stops from the bar *after* the entry; the event engine (and the numba
  kernel) from the entry bar on (the rest of it, after the open): an exit on the entry
  bar comes one bar later in vectorbt, and its trailing mark ignores the entry bar's high;
- a bar that opens beyond a trailing stop's mark moves the mark at once in the event
  engine (the open is traded before the bar's low); vectorbt checks that bar against
  the mark of the bars before, so its trailing stop fills later, or not at all;
- an exit signal and a stop on one bar: vectorbt fills the stop (at its price) and drops
  the signal; the event engine fills the signal's order at the open first (it is traded
  before anything inside the bar), which cancels the stop;
- vectorbt slips both exits or neither; the simulated venue slips the stop (a market
  order once triggered) and not the take-profit (a limit): with both and slippage,
  vectorbt's take-profit fills slipped;
- reversible signals (both sides' entries) run through the order function, which has no
  stops: they are refused (use the numba kernel).

Importing this module imports vectorbt (several seconds): only the vectorized run with
``engine="vectorbt"`` and the parity check do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import vectorbt as vbt
from numba import njit
from vectorbt.portfolio.enums import NoOrder
from vectorbt.portfolio.nb import order_nb

from workbench.backtesting import fill_nb
from workbench.backtesting.fill_nb import NOTHING, OPEN_LONG, decide_bar_nb, open_quantity_nb
from workbench.backtesting.nb_cache import refresh
from workbench.backtesting.trades import COLUMNS as TRADE_COLUMNS
from workbench.backtesting.vectorized import VectorCosts, VectorSignals, encode_signals
from workbench.errors import ConfigError

__all__ = ["run_vectorbt", "vectorbt_fills", "vectorbt_trades"]


@njit(cache=True)
def target_order_func_nb(
    c: Any,
    open_: np.ndarray,
    close: np.ndarray,
    codes: np.ndarray,
    fraction: float,
    fee: float,
    slippage: float,
    margin: float,
    scratch: np.ndarray,
) -> tuple[int, Any]:
    """Flexible order function: the orders that the signals of bar i-1 send at bar i's open."""
    i = c.i
    col = c.from_col
    if i == 0:
        return -1, NoOrder
    code = codes[i - 1]
    if code == 0:
        return -1, NoOrder
    if c.call_idx == 0:
        position = c.last_position[col]
        equity = c.last_cash[c.group] + position * close[i - 1]
        do_close, do_open, notional = decide_bar_nb(code, position, fraction, equity)
        scratch[0] = do_open
        scratch[1] = notional
        if do_close != NOTHING:
            return col, order_nb(size=-position, price=open_[i], fees=fee, slippage=slippage)
    action = int(scratch[0])
    if action == NOTHING:
        return -1, NoOrder
    scratch[0] = NOTHING
    buy = action == OPEN_LONG
    price = open_[i] * (1.0 + slippage) if buy else open_[i] * (1.0 - slippage)
    cash = c.last_cash[c.group]
    signed, _ = open_quantity_nb(scratch[1], buy, price, cash, c.last_position[col], fee, margin)
    if signed == 0.0:
        return -1, NoOrder
    return col, order_nb(size=signed, price=open_[i], fees=fee, slippage=slippage)


def run_vectorbt(
    signals: VectorSignals,
    bars: pd.DataFrame,
    *,
    cash: float,
    costs: VectorCosts,
    margin: float = 1.0,
) -> vbt.Portfolio:
    """A vectorbt Portfolio of ``signals`` over ``bars`` (module docstring for the mapping)."""
    close = bars["close"]
    open_ = bars["open"]
    reversible = (
        signals.short_entries is not None
        and bool(signals.entries.any())
        and bool(signals.short_entries.any())
    )
    if not reversible:
        # every call with the same argument types: vectorbt compiles its simulation for
        # each combination of them, in every process (about 20 s each on a busy machine)
        never = pd.Series(False, index=bars.index)
        shifted = {
            name: _shift(never if series is None else series)
            for name, series in (
                ("entries", signals.entries),
                ("exits", signals.exits),
                ("short_entries", signals.short_entries),
                ("short_exits", signals.short_exits),
            )
        }
        return vbt.Portfolio.from_signals(
            close,
            price=open_,
            size=float(signals.fraction),
            size_type="percent",
            fees=costs.fee,
            slippage=costs.slippage,
            init_cash=cash,
            **shifted,
            **_stops(signals, bars),
        )
    if signals.has_stops:
        raise ConfigError(
            "vectorbt's order function (signals that reverse a position) has no stops",
            hint='run the numba kernel (engine="numba") or the event engine',
        )
    codes = encode_signals(signals)
    return vbt.Portfolio.from_order_func(
        close,
        target_order_func_nb,
        open_.to_numpy(dtype=np.float64),
        close.to_numpy(dtype=np.float64),
        codes,
        float(signals.fraction),
        costs.fee,
        costs.slippage,
        float(margin),
        np.zeros(2),
        flexible=True,
        init_cash=cash,
        max_orders=2 * len(bars) + 2,
    )


def _stops(signals: VectorSignals, bars: pd.DataFrame) -> dict[str, Any]:
    """``from_signals``' stop arguments (module docstring); NaN stops are none."""
    lone_trail = signals.sl_trail and not signals.tp_stop
    return {
        "open": bars["open"],
        "high": bars["high"],
        "low": bars["low"],
        "sl_stop": float(signals.sl_stop) if signals.sl_stop else np.nan,
        "tp_stop": float(signals.tp_stop) if signals.tp_stop else np.nan,
        "sl_trail": bool(signals.sl_trail),
        "stop_entry_price": "price" if lone_trail else "fillprice",
        "stop_exit_price": "stopmarket" if signals.sl_stop else "stoplimit",
    }


def _shift(series: pd.Series) -> pd.Series:
    """The signal of bar t moved to bar t+1, where it is executed."""
    return series.shift(1, fill_value=False).astype(bool)


def vectorbt_fills(pf: vbt.Portfolio, index: pd.DatetimeIndex) -> pd.DataFrame:
    """vectorbt's order records as fills: time, side, quantity, price, commission."""
    rec = pf.orders.values
    return pd.DataFrame(
        {
            "time": index[rec["idx"]],
            "side": np.where(rec["side"] == 0, "buy", "sell"),
            "quantity": rec["size"].astype(float),
            "price": rec["price"].astype(float),
            "commission": rec["fees"].astype(float),
        }
    )


def vectorbt_trades(pf: vbt.Portfolio, index: pd.DatetimeIndex, symbol: str) -> pd.DataFrame:
    """vectorbt's exit trades in the columns of the event engine's trade log."""
    rec = pf.trades.values
    closed = rec["status"] == 1
    entry_time = index[rec["entry_idx"]]
    exit_time = pd.Series(index[rec["exit_idx"]]).where(closed)
    frame = pd.DataFrame(
        {
            "symbol": symbol,
            "direction": np.where(rec["direction"] == 0, "long", "short"),
            "status": np.where(closed, "closed", "open"),
            "entry_time": entry_time,
            "exit_time": exit_time,
            "entry_price": rec["entry_price"].astype(float),
            "exit_price": rec["exit_price"].astype(float),
            "quantity": rec["size"].astype(float),
            "pnl": rec["pnl"].astype(float),
            "return": rec["return"].astype(float),
            "fees": (rec["entry_fees"] + rec["exit_fees"]).astype(float),
            "entry_reason": "",
            "exit_reason": "",
            "entry_order_id": "",
            "exit_order_id": "",
            "bars_held": (rec["exit_idx"] - rec["entry_idx"]).astype(float),
        }
    )
    frame = frame.sort_values(["entry_time", "exit_time"], kind="stable", na_position="last")
    return frame[TRADE_COLUMNS].reset_index(drop=True)


refresh(globals(), [fill_nb])  # numba's cache follows the steps: nb_cache
