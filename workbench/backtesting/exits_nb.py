"""The stop and take-profit exits of the vectorized path, armed by a fill, checked per bar.

Shared by the one-column and sweep kernels of :mod:`workbench.backtesting.nb`, whose
docstring states the rules (the simulated venue's, :mod:`workbench.sim.fills`); an exit
fills through the same step as any other fill
(:func:`~workbench.backtesting.fill_nb.apply_fill_nb`).

numba's on-disk cache sees a change to a kernel's own file only: every module that builds
kernels from these steps calls :func:`~workbench.backtesting.nb_cache.refresh` with this
one, so editing it recompiles them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from workbench.backtesting import fill_nb
from workbench.backtesting.fill_nb import apply_fill_nb, slipped_price_nb
from workbench.backtesting.nb_cache import refresh

#: Slots of the exits array of one position (see :func:`arm_exits_nb`).
STOP, TAKE, MARK, TRAIL = 0, 1, 2, 3


@njit(cache=True)
def arm_exits_nb(
    exits: np.ndarray,
    opened: float,
    fill_price: float,
    base: float,
    sl_pct: float,
    tp_pct: float,
    trail: bool,
) -> bool:
    """Arm the exits of a fill of ``opened`` (signed); whether there are any.

    ``exits`` receives the stop level, the take-profit level, the trailing mark and the
    trail percent (NaN levels are absent exits; a trailing stop's level comes from the mark).
    """
    sign = 1.0 if opened > 0.0 else -1.0
    exits[:] = np.nan
    exits[TRAIL] = 0.0
    if tp_pct > 0.0:
        exits[TAKE] = fill_price * (1.0 + sign * tp_pct / 100.0)
    if sl_pct > 0.0:
        if trail:
            exits[MARK] = base
            exits[TRAIL] = sl_pct
        else:
            exits[STOP] = fill_price * (1.0 - sign * sl_pct / 100.0)
    return sl_pct > 0.0 or tp_pct > 0.0


@njit(cache=True)
def exit_bar_nb(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    t: int,
    cash: float,
    position: float,
    exits: np.ndarray,
    fee_rate: float,
    bps: float,
) -> tuple[float, float, float, float, float]:
    """The armed ``exits`` of ``position`` against bar ``t`` (see the module docstring).

    Returns (cash, position, exited, price, fee): ``exited`` is the signed quantity filled
    (0 when nothing fired); a trailing mark that survives the bar takes its high (low).
    """
    o = open_[t]
    h = high[t]
    lo = low[t]
    long = position > 0.0
    stop = exits[STOP]
    take = exits[TAKE]
    trail_pct = exits[TRAIL]
    if trail_pct > 0.0:  # the open is traded first: a gap beyond the mark moves it at once
        exits[MARK] = max(exits[MARK], o) if long else min(exits[MARK], o)
        stop = exits[MARK] * (1.0 + (-1.0 if long else 1.0) * trail_pct / 100.0)
    stop_hit = False
    stop_price = 0.0
    if stop == stop:  # not NaN
        if long and lo <= stop:
            stop_hit = True
            stop_price = slipped_price_nb(min(o, stop), False, bps)
        elif not long and h >= stop:
            stop_hit = True
            stop_price = slipped_price_nb(max(o, stop), True, bps)
    take_hit = False
    take_price = 0.0
    if take == take:
        if long and h >= take:
            take_hit = True
            take_price = max(o, take)
        elif not long and lo <= take:
            take_hit = True
            take_price = min(o, take)
    if stop_hit and take_hit:  # one-cancels-other: the worse fill; a tie goes to the take-profit
        if (stop_price < take_price) if long else (stop_price > take_price):
            take_hit = False
        else:
            stop_hit = False
    if not (stop_hit or take_hit):
        if trail_pct > 0.0:
            exits[MARK] = max(exits[MARK], h) if long else min(exits[MARK], lo)
        return cash, position, 0.0, 0.0, 0.0
    price = stop_price if stop_hit else take_price
    exited = -position
    fee = fee_rate * abs(abs(position) * price)
    cash, position = apply_fill_nb(cash, position, exited, price, fee)
    return cash, position, exited, price, fee


refresh(globals(), [fill_nb])  # numba's cache follows the steps: nb_cache
