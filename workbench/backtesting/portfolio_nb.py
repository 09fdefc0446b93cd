"""The vectorized portfolio path: target weights of many symbols, simulated in one numba pass.

A strategy's decisions over a universe arrive as a bars x symbols matrix of target
weights (fractions of equity; NaN: nothing decided for that symbol on that bar), each
decided on the bar's close, as ``ctx.rebalance(weights, band=...)`` or
``ctx.target(symbol, percent=w)`` decide in the event engine. :func:`rebalance_nb`
replays, float operation for float operation, what the engine, the execution engine and
the simulated broker do with them, so the two paths give the same fills:

- at bar t the symbols are processed in column order, those with a working sell first
  (:meth:`~workbench.sim.broker.SimulatedBroker.sells_first`): pending orders fill at the
  bar's open (slipped by ``bps`` against the trader), the position is marked at the close;
- the equity is ``cash + sum(quantity * close)``; a weight within ``band`` of the held
  weight (valued at the close) is skipped unless it is zero (a zero target closes);
- the orders of a target (:func:`workbench.execution.targets.orders_for_target`): a
  change of side closes the whole position first; an increase is a notional order (cash,
  fees included: ``quantity = notional / (price * (1 + fee))``), a decrease a quantity;
- a fill that would take gross exposure above ``equity * margin`` is refused, as the
  simulated broker refuses it.

Universes must be aligned (one index for every symbol): :func:`aligned_closes` says so.
Costs supported here: a percent commission and slippage in basis points.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numba import njit

from workbench.data.bars import check_order, check_values
from workbench.errors import ConfigError
from workbench.orders import Fill, Side

QUANTITY_EPSILON = 1e-9  # workbench.portfolio.QUANTITY_EPSILON
MIN_CHANGE = 1e-9  # workbench.execution.targets.MIN_CHANGE
BUYING_POWER_TOLERANCE = 1e-9  # workbench.sim.buying_power.BUYING_POWER_TOLERANCE

#: Kinds of pending order.
QUANTITY = 1
NOTIONAL = 2
#: Columns of the fills matrix: bar, symbol column, signed quantity, price, commission.
FILL_FIELDS = ("bar", "column", "quantity", "price", "commission")


@njit(cache=True)
def _refused(q, last, j, signed, price, fee, cash, margin):  # pragma: no cover - numba
    old = q[j]
    new = old + signed
    if abs(new) <= abs(old) and old * new >= 0.0:
        return False
    others_value = 0.0
    others_gross = 0.0
    for i in range(q.shape[0]):
        if i != j and q[i] != 0.0:
            value = q[i] * last[i]
            others_value += value
            others_gross += abs(value)
    cash_after = cash - signed * price - fee
    equity_after = cash_after + others_value + new * price
    gross_after = others_gross + abs(new) * price
    slack = BUYING_POWER_TOLERANCE * max(gross_after, 1.0)
    return not gross_after <= equity_after * margin + slack


@njit(cache=True)
def rebalance_nb(
    open_, close, weights, band, cash0, fee, bps, margin, fills
):  # pragma: no cover - numba
    """Simulate ``weights`` (T x N): returns equity, cash, the bars in the market (a
    position not zero: a long and a short of equal value net to zero in the equity), the
    number of fills, refusals.

    ``fills`` (rows >= 2 * decisions, :data:`FILL_FIELDS`) receives the fills in order.
    """
    n_bars, n_sym = close.shape
    q = np.zeros(n_sym)
    last = np.full(n_sym, np.nan)
    kind = np.zeros((n_sym, 2), dtype=np.int8)
    side = np.zeros((n_sym, 2))
    amount = np.zeros((n_sym, 2))
    pending = np.zeros(n_sym, dtype=np.int64)
    order = np.empty(n_sym, dtype=np.int64)
    equity = np.empty(n_bars)
    cash_out = np.empty(n_bars)
    in_market = np.zeros(n_bars, dtype=np.bool_)
    cash = cash0
    n_fills = 0
    rejected = 0
    for t in range(n_bars):
        # symbols with a working sell first, each group in column order
        m = 0
        for j in range(n_sym):
            for k in range(pending[j]):
                if side[j, k] < 0.0:
                    order[m] = j
                    m += 1
                    break
        first = m
        for j in range(n_sym):
            selling = False
            for i in range(first):
                if order[i] == j:
                    selling = True
                    break
            if not selling:
                order[m] = j
                m += 1
        for i in range(n_sym):
            j = order[i]
            for k in range(pending[j]):
                sgn = side[j, k]
                base = open_[t, j]
                move = base * bps * 1e-4 + 0.0  # Slippage.apply, same operations
                price = base + move if sgn > 0 else max(base - move, 0.0)
                if kind[j, k] == NOTIONAL:
                    qty = amount[j, k] / (price * (1.0 + fee) + 0.0)
                    if qty <= 0.0:
                        rejected += 1
                        continue
                else:
                    qty = amount[j, k]
                commission = fee * abs(qty * price)
                if _refused(q, last, j, sgn * qty, price, commission, cash, margin):
                    rejected += 1
                    continue
                cash -= sgn * qty * price + commission
                new = q[j] + sgn * qty
                if q[j] != 0.0 and (q[j] > 0.0) != (sgn > 0.0) and abs(new) <= QUANTITY_EPSILON:
                    new = 0.0
                q[j] = new
                if np.isnan(last[j]):
                    last[j] = price
                fills[n_fills, 0] = t
                fills[n_fills, 1] = j
                fills[n_fills, 2] = sgn * qty
                fills[n_fills, 3] = price
                fills[n_fills, 4] = commission
                n_fills += 1
            pending[j] = 0
            last[j] = close[t, j]
        value = 0.0
        for j in range(n_sym):
            if q[j] != 0.0:
                value += q[j] * last[j]
                in_market[t] = True
        eq = cash + value
        equity[t] = eq
        cash_out[t] = cash
        if t == n_bars - 1:
            break
        for j in range(n_sym):
            w = weights[t, j]
            if np.isnan(w):
                continue
            price = close[t, j]
            held = q[j]
            now = held * price / eq if held != 0.0 and eq != 0.0 else 0.0
            if w == 0.0 and held == 0.0:
                continue
            if w != 0.0 and abs(w - now) <= band:
                continue
            desired = w * eq
            current = held * price
            if abs(desired - current) <= MIN_CHANGE * max(abs(eq), 1.0):
                continue
            n = 0
            if desired == 0.0 or (held != 0.0 and (desired > 0.0) != (held > 0.0)):
                if held != 0.0:
                    kind[j, n] = QUANTITY
                    side[j, n] = -1.0 if held > 0.0 else 1.0
                    amount[j, n] = abs(held)
                    n += 1
                current = 0.0
            if desired != 0.0:
                sgn = 1.0 if desired > 0.0 else -1.0
                if abs(desired) > abs(current):
                    kind[j, n] = NOTIONAL
                    side[j, n] = sgn
                    amount[j, n] = abs(desired) - abs(current)
                    n += 1
                else:
                    qty = (abs(current) - abs(desired)) / price
                    if qty > 0.0:
                        kind[j, n] = QUANTITY
                        side[j, n] = -sgn
                        amount[j, n] = qty
                        n += 1
            pending[j] = n
    return equity, cash_out, in_market, n_fills, rejected


@dataclass(frozen=True)
class PortfolioRun:
    """What :func:`run_weights` returns: the curves, the fills and the refused orders."""

    equity: pd.Series
    cash: pd.Series
    fills: pd.DataFrame  # time, symbol, side, quantity (unsigned), price, commission
    rejected: int
    in_market: pd.Series  # the bars with a position


def aligned_closes(bars: Mapping[str, pd.DataFrame]) -> tuple[pd.DatetimeIndex, list[str]]:
    """The common index of an aligned universe, or a ConfigError saying how to align it.

    Bars out of order, with a price at or below zero or with inconsistent OHLC are a
    DataError here, as the event engine and the single-symbol vectorized path refuse them
    (:func:`~workbench.data.bars.check_order`, :func:`~workbench.data.bars.check_values`):
    the kernel traded at them. Every run goes through here once (a :class:`Universe` when
    it is built), not once a bar."""
    symbols = list(bars)
    if not symbols:
        raise ConfigError("no symbols to simulate")
    index = bars[symbols[0]].index
    for s in symbols[1:]:
        if not bars[s].index.equals(index):
            raise ConfigError(
                f"the vectorized portfolio path needs one index for every symbol; {s} differs "
                f"from {symbols[0]}",
                hint="cut the universe to the dates all symbols share, or use the event engine",
            )
    check_order(bars[symbols[0]], name=symbols[0])  # the index every symbol shares
    for s in symbols:
        check_values(bars[s], name=s)
    return index, symbols


class Universe(Mapping[str, pd.DataFrame]):
    """An aligned universe whose open and close matrices (bars x symbols) are built once:
    a sweep simulates it once per combination."""

    def __init__(self, bars: Mapping[str, pd.DataFrame]) -> None:
        self._bars = dict(bars)
        self.index, self.symbols = aligned_closes(self._bars)
        self.matrices = {
            f: np.column_stack([self._bars[s][f].to_numpy(np.float64) for s in self.symbols])
            for f in ("open", "close")
        }

    def __getitem__(self, symbol: str) -> pd.DataFrame:
        return self._bars[symbol]

    def __iter__(self) -> Any:
        return iter(self._bars)

    def __len__(self) -> int:
        return len(self._bars)


def field_matrix(bars: Mapping[str, pd.DataFrame], field: str) -> np.ndarray:
    """``field`` of every symbol as a bars x symbols matrix (cached by :class:`Universe`)."""
    if isinstance(bars, Universe) and field in bars.matrices:
        return bars.matrices[field]
    return np.column_stack([bars[s][field].to_numpy(np.float64) for s in bars])


def run_weights(
    bars: Mapping[str, pd.DataFrame],
    weights: pd.DataFrame,
    *,
    cash: float = 100_000.0,
    commission: float = 0.0,
    slippage_bps: float = 0.0,
    margin: float = 1.0,
    band: float = 0.0,
) -> PortfolioRun:
    """Simulate target ``weights`` (bars x symbols, NaN: no decision) over ``bars``."""
    index, symbols = (
        (bars.index, bars.symbols) if isinstance(bars, Universe) else aligned_closes(bars)
    )
    w = weights.reindex(index=index, columns=symbols).to_numpy(np.float64)
    open_ = field_matrix(bars, "open")
    close = field_matrix(bars, "close")
    fills = np.empty((2 * int(np.isfinite(w).sum()) + 1, len(FILL_FIELDS)))
    equity, cash_s, held, n, rejected = rebalance_nb(
        open_,
        close,
        w,
        float(band),
        float(cash),
        float(commission),
        float(slippage_bps),
        float(margin),
        fills,
    )
    f = fills[:n]
    bar = f[:, 0].astype(np.int64)
    frame = pd.DataFrame(
        {
            "time": index[bar],
            "symbol": np.asarray(symbols, dtype=object)[f[:, 1].astype(np.int64)],
            "side": np.where(f[:, 2] > 0, "buy", "sell"),
            "quantity": np.abs(f[:, 2]),
            "price": f[:, 3],
            "commission": f[:, 4],
        }
    )
    return PortfolioRun(
        pd.Series(equity, index=index, name="equity"),
        pd.Series(cash_s, index=index, name="cash"),
        frame,
        int(rejected),
        pd.Series(held, index=index, name="in_market"),
    )


def to_fills(frame: pd.DataFrame) -> list[Fill]:
    """The kernel's fills as :class:`~workbench.orders.Fill` objects (one order each), for
    :func:`~workbench.backtesting.trades.build_trades`."""
    return [
        Fill(f"v{k}", sym, Side(side), qty, price, fee, time)
        for k, (time, sym, side, qty, price, fee) in enumerate(
            frame[["time", "symbol", "side", "quantity", "price", "commission"]].itertuples(
                index=False, name=None
            )
        )
    ]
