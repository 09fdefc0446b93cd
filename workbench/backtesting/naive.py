"""The common vectorized shortcut, ``position * returns``, with its lag made explicit.

:func:`equal_weight_rebalance` is the plain reference for the portfolio engine.

Used to *show* look-ahead, not to trade: with ``lag=0`` a position decided on bar t's
close earns bar t's own return (close t-1 to close t), which no one could have
captured; ``lag=1`` earns from bar t+1 on. Compare both with the event-driven engine.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd


def position_from_signals(entries: np.ndarray, exits: np.ndarray) -> np.ndarray:
    """1 from an entry bar until the next exit bar (exclusive of the exit), else 0."""
    state = np.full(len(entries), np.nan)
    state[np.asarray(entries, dtype=bool)] = 1.0
    state[np.asarray(exits, dtype=bool)] = 0.0
    return pd.Series(state).ffill().fillna(0.0).to_numpy()


def vectorized_equity(
    bars: pd.DataFrame, position: np.ndarray, *, lag: int, cash: float
) -> pd.Series:
    """Equity of holding ``position`` (shifted by ``lag`` bars) over close-to-close returns."""
    returns = bars["close"].pct_change().fillna(0.0).to_numpy()
    held = pd.Series(position).shift(lag).fillna(0.0).to_numpy()
    return pd.Series(cash * np.cumprod(1.0 + held * returns), index=bars.index, name=f"lag{lag}")


def equal_weight_rebalance(
    bars: Mapping[str, pd.DataFrame], cash: float, weight: float
) -> pd.Series:
    """Equity of a monthly equal-weight rebalance, written plainly with pandas and numpy
    (the reference of the portfolio test and ``benchmarks/portfolio.py``) for close-only
    data (fills at the next close). The rule: on the last trading day of each month (the
    data's own last date of the month), move each holding to ``weight`` of the equity
    valued at that close:
    a buy spends ``weight * E - value`` in cash at the next close, a sale sells
    ``(value - weight * E) / close`` shares at the next close. No costs."""
    close = pd.DataFrame({s: f["close"] for s, f in bars.items()})
    month = close.index.year * 12 + close.index.month
    last_of_month = pd.Series(month, index=close.index).shift(-1) != month
    last_of_month.iloc[-1] = False  # a decision on the last bar never fills
    shares = np.zeros(close.shape[1])
    pending_buy = np.zeros(close.shape[1])  # cash to spend at the next close
    pending_sell = np.zeros(close.shape[1])  # shares to sell at the next close
    equity = []
    prices = close.to_numpy()
    for t in range(len(close)):
        p = prices[t]
        shares = shares + pending_buy / p - pending_sell
        cash += (pending_sell * p).sum() - pending_buy.sum()
        pending_buy[:] = 0.0
        pending_sell[:] = 0.0
        e = cash + (shares * p).sum()
        equity.append(e)
        if last_of_month.iloc[t]:
            gap = weight * e - shares * p
            pending_buy = np.where(gap > 0, gap, 0.0)
            pending_sell = np.where(gap < 0, -gap / p, 0.0)
    return pd.Series(equity, index=close.index)
