"""The common vectorized shortcut, ``position * returns``, with its lag made explicit.

Used to *show* look-ahead, not to trade: with ``lag=0`` a position decided on bar t's
close earns bar t's own return (close t-1 to close t), which no one could have
captured; ``lag=1`` earns from bar t+1 on. Compare both with the event-driven engine.
"""

from __future__ import annotations

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
