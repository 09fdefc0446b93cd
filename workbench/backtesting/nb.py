"""Numba kernels of the vectorized path (vectorbt's conventions: one ``nb.py``, ``_nb`` suffixes).

Signals arrive encoded one byte per bar and column (:data:`LONG_ENTRY` | :data:`LONG_EXIT`
| :data:`SHORT_ENTRY` | :data:`SHORT_EXIT`), decided at each bar's close. The kernels
replay, float operation for float operation, what the event engine does with the same
decisions (:mod:`workbench.execution.targets`, :mod:`workbench.sim.fills`,
:mod:`workbench.portfolio`), so the two agree to the last bits:

- at bar t's close the equity ``E = cash + position * close`` is marked, then the signals
  of bar t are read; conflicting signals on one bar (entry and exit of one side, or entries
  of both sides) cancel each other, as in vectorbt's ``from_signals`` defaults;
- flat + entry: an opening order of notional ``fraction * E`` (cash to spend, fees
  included); long + long exit, or short + short exit: a closing order of the whole
  position; long + short entry (or short + long entry): the closing order, then the
  opening notional. An entry on the side already held does nothing;
- orders fill at bar t+1's open, slipped against the trader by ``bps`` basis points; the
  opening quantity is ``notional / (price * (1 + fee))``; the fee is ``fee * quantity *
  price``; an opening fill that would take gross exposure above ``equity * margin`` is
  refused (counted in ``rejected``), as the simulated broker refuses it.

Stops (``sl_pct``, ``tp_pct`` in percent of the entry's fill price, 0 = none; ``trail``
makes the stop-loss trail), the simulated venue's rules for exits relative to a fill
(:mod:`workbench.sim.fills`), step by step:

- an opening fill arms them (:func:`arm_exits_nb`): a long's take-profit at
  ``fill * (1 + tp / 100)`` and stop at ``fill * (1 - sl / 100)`` (a short's mirrored);
  a trailing stop's mark starts at the fill's open before slippage;
- on every bar a position is held, from the entry bar on, after the orders at the open
  (a closing order at the open cancels the exits first), :func:`exit_bar_nb` checks
  them: the stop triggers when the low reaches it (a short's: the high) and fills at the
  worse of the open and the stop (a gap fills at the open), slipped; the take-profit
  fills at the better of the open and its limit, not slipped; both on one bar: the stop
  (pessimistic: the lower sell, the higher buy); the exit closes the whole position;
- a trailing stop is checked against the mark of the bars before and the bar's open (a
  gap beyond the mark moves it at once), then the mark takes the bar's high (a short's:
  low).

Both kernels (one column with its curves and fills, many columns with their statistics)
and vectorbt's order function run these rules through the same steps:
:func:`decide_bar_nb` at a close, :func:`fill_bar_nb` at the next open, and the stops'
:func:`arm_exits_nb` / :func:`exit_bar_nb`. The tolerances are their owners' (the
portfolio, the execution targets, the simulated broker), imported.

:mod:`~workbench.backtesting.fill_nb` owns the signal codes and the fill step,
:mod:`~workbench.backtesting.exits_nb` the stops; this module, the kernels built from them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from workbench.backtesting import exits_nb, fill_nb
from workbench.backtesting.exits_nb import arm_exits_nb, exit_bar_nb
from workbench.backtesting.fill_nb import NOTHING, decide_bar_nb, fill_bar_nb
from workbench.backtesting.nb_cache import refresh

#: Columns of the statistics matrix returned by :func:`sweep_signals_nb`.
STAT_NAMES = (
    "start_equity",
    "final_equity",
    "sum_return",
    "sum_return_sq",
    "downside_sq",
    "max_drawdown",
    "dd_bars",
    "dd_days",
    "exposed_bars",
    "sum_equity",
    "traded_notional",
    "fees",
    "closed_trades",
    "winning_trades",
    "gross_win",
    "gross_loss",
    "sum_pnl",
    "sum_trade_return",
    "open_trades",
    "rejected",
)
N_STATS = len(STAT_NAMES)
_NS_PER_DAY = 86_400_000_000_000.0


@njit(cache=True)
def simulate_signals_nb(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    signals: np.ndarray,
    fraction: float,
    cash: float,
    fee_rate: float,
    bps: float,
    margin: float,
    sl_pct: float,
    tp_pct: float,
    trail: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """One column: (equity, cash, fills, rejected); fills rows are (bar, signed qty, price, fee)."""
    n = close.shape[0]
    equity_out = np.empty(n)
    cash_out = np.empty(n)
    max_fills = 2
    for t in range(n):
        if signals[t] != 0:
            max_fills += 3
    fills = np.empty((max_fills, 4))
    n_fills = 0
    rejected = 0
    position = 0.0
    do_close = NOTHING
    do_open = NOTHING
    notional = 0.0
    armed = False
    exits = np.zeros(4)
    for t in range(n):
        exited = xp = xf = 0.0
        if do_close != NOTHING or do_open != NOTHING:
            cash, position, closed, cp, cf, opened, op, of, refused = fill_bar_nb(
                open_[t], do_close, do_open, notional, cash, position, fee_rate, bps, margin
            )
            if closed != 0.0:
                armed = False
            if opened != 0.0:
                armed = arm_exits_nb(exits, opened, op, open_[t], sl_pct, tp_pct, trail)
            rejected += refused
            do_close = NOTHING
            do_open = NOTHING
        else:
            closed = cp = cf = opened = op = of = 0.0
        if armed and position != 0.0:
            cash, position, exited, xp, xf = exit_bar_nb(
                open_, high, low, t, cash, position, exits, fee_rate, bps
            )
            if exited != 0.0:
                armed = False
        for signed, price, fee in ((closed, cp, cf), (opened, op, of), (exited, xp, xf)):
            if signed != 0.0:
                fills[n_fills, 0] = t
                fills[n_fills, 1] = signed
                fills[n_fills, 2] = price
                fills[n_fills, 3] = fee
                n_fills += 1
        equity = cash + position * close[t]
        equity_out[t] = equity
        cash_out[t] = cash
        if signals[t] != 0:
            do_close, do_open, notional = decide_bar_nb(signals[t], position, fraction, equity)
    return equity_out, cash_out, fills[:n_fills], rejected


@njit(cache=True)
def book_close_nb(
    book: np.ndarray, closed: float, price: float, fee: float, entry_price: float, entry_fee: float
) -> None:
    """Add a closing fill to ``book`` (traded, fees, closed trades, wins, gross win,
    gross loss, sum of pnl, sum of trade returns)."""
    quantity = abs(closed)
    direction = -1.0 if closed > 0.0 else 1.0
    book[0] += quantity * price
    book[1] += fee
    pnl = (price - entry_price) * quantity * direction - (entry_fee + fee)
    book[2] += 1.0
    book[6] += pnl
    if pnl > 0.0:
        book[3] += 1.0
        book[4] += pnl
    elif pnl < 0.0:
        book[5] -= pnl
    cost = entry_price * quantity
    if cost != 0.0:
        book[7] += pnl / cost
    else:
        book[7] += np.nan


@njit(cache=True)
def sweep_signals_nb(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    times_ns: np.ndarray,
    signals: np.ndarray,
    fractions: np.ndarray,
    stops: np.ndarray,
    cash0: float,
    fee_rate: float,
    bps: float,
    margin: float,
    rf: float,
    returns_out: np.ndarray,
    keep_returns: bool,
) -> np.ndarray:
    """Every column of ``signals`` (T x N) in one call; per-column statistics (N x N_STATS).

    The same steps as :func:`simulate_signals_nb`, with the metrics accumulated on the way
    (sums of the per-bar returns and their squares, the drawdown and its longest span,
    trade statistics) instead of stored curves. Per-bar returns are small (|mean| much
    below the standard deviation), so the plain sums lose no precision that matters.
    With ``keep_returns`` the per-bar returns ``E[t] / E[t-1] - 1`` are written to
    ``returns_out[t - 1, column]`` (float32). ``stops`` (N x 3) holds each column's
    stop-loss %, take-profit % and trailing flag (1.0 = trailing).

    Where it saves time: a flat stretch without signals (equity constant, every return 0)
    is stepped over in one go, and the longest drawdown is measured when the equity
    recovers (or at the end) rather than on every bar under water.
    """
    n, n_cols = signals.shape
    stats = np.zeros((n_cols, N_STATS))
    for col in range(n_cols):
        fraction = fractions[col]
        sl_pct = stops[col, 0]
        tp_pct = stops[col, 1]
        trail = stops[col, 2] != 0.0
        armed = False
        exits = np.zeros(4)
        book = np.zeros(8)  # traded, fees, closed, wins, gross win, gross loss, pnl, returns
        cash = cash0
        position = 0.0
        do_close = NOTHING
        do_open = NOTHING
        notional = 0.0
        entry_price = 0.0
        entry_quantity = 0.0
        entry_fee = 0.0
        previous = 0.0
        peak = 0.0
        peak_t = 0
        dd_limit = 0.0  # equity below this may set a new max drawdown (checked exactly)
        underwater = False
        sum_r = 0.0
        sum_r2 = 0.0
        downside = 0.0
        max_dd = 0.0
        dd_bars = 0
        dd_ns = 0
        exposed = 0.0
        sum_equity = 0.0
        rejected = 0.0
        t = 0
        while t < n:
            if do_close != NOTHING or do_open != NOTHING:
                cash, position, closed, cp, cf, opened, op, of, refused = fill_bar_nb(
                    open_[t], do_close, do_open, notional, cash, position, fee_rate, bps, margin
                )
                if closed != 0.0:
                    armed = False
                    book_close_nb(book, closed, cp, cf, entry_price, entry_fee)
                if opened != 0.0:
                    book[0] += abs(opened) * op
                    book[1] += of
                    entry_price = op
                    entry_quantity = abs(opened)
                    entry_fee = of
                    armed = arm_exits_nb(exits, opened, op, open_[t], sl_pct, tp_pct, trail)
                rejected += refused
                do_close = NOTHING
                do_open = NOTHING
            if armed and position != 0.0:
                cash, position, exited, xp, xf = exit_bar_nb(
                    open_, high, low, t, cash, position, exits, fee_rate, bps
                )
                if exited != 0.0:
                    armed = False
                    book_close_nb(book, exited, xp, xf, entry_price, entry_fee)
            equity = cash + position * close[t]
            sum_equity += equity
            if t == 0:
                stats[col, 0] = equity
                peak = equity
                dd_limit = equity
            else:
                if equity == previous:
                    r = 0.0  # flat: equity / previous - 1 is exactly 0, without the division
                else:
                    r = equity / previous - 1.0
                    sum_r += r
                    sum_r2 += r * r
                shortfall = min(r - rf, 0.0)  # branch-free: adds an exact 0 above rf
                downside += shortfall * shortfall
                if keep_returns:
                    returns_out[t - 1, col] = r
                if equity < peak:
                    underwater = True
                    if equity <= dd_limit:
                        dd = equity / peak - 1.0
                        if dd < max_dd:
                            max_dd = dd
                            dd_limit = peak * (1.0 + max_dd) * (1.0 + 1e-12)
                else:
                    if underwater:
                        dd_bars = max(dd_bars, t - peak_t)
                        dd_ns = max(dd_ns, times_ns[t] - times_ns[peak_t])
                        underwater = False
                    peak = equity
                    peak_t = t
                    dd_limit = peak * (1.0 + max_dd) * (1.0 + 1e-12)
            if abs(equity - cash) > 1e-12:
                exposed += 1.0
            previous = equity
            code = signals[t, col]
            if code != 0:
                do_close, do_open, notional = decide_bar_nb(code, position, fraction, equity)
            elif position == 0.0 and do_open == NOTHING:
                # Flat and nothing pending: up to the next signal the equity stays ``cash``.
                u = t + 1
                while u < n and signals[u, col] == 0:
                    u += 1
                skipped = u - 1 - t  # bars t+1 .. u-1: return 0, no signal
                if skipped > 0:
                    sum_equity += equity * skipped
                    if -rf < 0.0:
                        downside += (rf * rf) * skipped
                    if keep_returns:
                        returns_out[t : u - 1, col] = 0.0
                    if not equity < peak:
                        peak_t = u - 1
                    t = u - 1
            t += 1
        if underwater:
            dd_bars = max(dd_bars, n - 1 - peak_t)
            dd_ns = max(dd_ns, times_ns[n - 1] - times_ns[peak_t])
        stats[col, 1] = previous
        stats[col, 2] = sum_r
        stats[col, 3] = sum_r2
        stats[col, 4] = downside
        stats[col, 5] = max_dd
        stats[col, 6] = dd_bars
        stats[col, 7] = dd_ns / _NS_PER_DAY
        stats[col, 8] = exposed
        stats[col, 9] = sum_equity
        stats[col, 10:18] = book
        stats[col, 18] = 1.0 if position != 0.0 and entry_quantity > 0.0 else 0.0
        stats[col, 19] = rejected
    return stats


refresh(globals(), [exits_nb, fill_nb])  # numba's cache follows the steps: nb_cache
