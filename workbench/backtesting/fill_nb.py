"""The fill step of the vectorized path: signals decided at a close, filled at the next open.

One owner for the steps every fast path runs (the one-column and sweep kernels of
:mod:`workbench.backtesting.nb`, and vectorbt's order function in
:mod:`workbench.backtesting.vectorbt_adapter`), so their fills cannot drift apart; the
rules are stated once, in :mod:`workbench.backtesting.nb`'s docstring. The tolerances are
their owners' (the portfolio, the execution targets, the simulated broker), imported.

numba's on-disk cache sees a change to a kernel's own file only: every module that builds
kernels from these steps calls :func:`~workbench.backtesting.nb_cache.refresh` with this
one, so editing it recompiles them.
"""

from __future__ import annotations

from numba import njit

from workbench import portfolio
from workbench.backtesting.nb_cache import refresh
from workbench.execution import targets as execution_targets
from workbench.execution.targets import MIN_CHANGE
from workbench.portfolio import QUANTITY_EPSILON
from workbench.sim import broker as sim_broker
from workbench.sim.buying_power import BUYING_POWER_TOLERANCE

LONG_ENTRY = 1
LONG_EXIT = 2
SHORT_ENTRY = 4
SHORT_EXIT = 8

#: Pending actions decided at a close, executed at the next open.
NOTHING = 0
CLOSE = 1
OPEN_LONG = 2
OPEN_SHORT = 3


@njit(cache=True)
def decide_nb(code: int, position: float) -> tuple[int, int]:
    """(close?, open action) for the signals ``code`` of one bar, given the position held."""
    long_entry = (code & LONG_ENTRY) != 0
    long_exit = (code & LONG_EXIT) != 0
    short_entry = (code & SHORT_ENTRY) != 0
    short_exit = (code & SHORT_EXIT) != 0
    if long_entry and long_exit:
        long_entry = False
        long_exit = False
    if short_entry and short_exit:
        short_entry = False
        short_exit = False
    if long_entry and short_entry:
        long_entry = False
        short_entry = False
    if position > 0.0:
        if short_entry:
            return CLOSE, OPEN_SHORT
        if long_exit:
            return CLOSE, NOTHING
    elif position < 0.0:
        if long_entry:
            return CLOSE, OPEN_LONG
        if short_exit:
            return CLOSE, NOTHING
    else:
        if long_entry:
            return NOTHING, OPEN_LONG
        if short_entry:
            return NOTHING, OPEN_SHORT
    return NOTHING, NOTHING


@njit(cache=True)
def slipped_price_nb(price: float, buy: bool, bps: float) -> float:
    """``Slippage.apply`` with basis points only."""
    move = price * bps * 1e-4
    if buy:
        return price + move
    return max(price - move, 0.0)


@njit(cache=True)
def apply_fill_nb(
    cash: float, position: float, signed: float, price: float, fee: float
) -> tuple[float, float]:
    """``Portfolio.apply_fill``: the new (cash, position)."""
    cash -= signed * price + fee
    new = position + signed
    if abs(new) <= QUANTITY_EPSILON:
        new = 0.0
    return cash, new


@njit(cache=True)
def open_quantity_nb(
    notional: float,
    buy: bool,
    price: float,
    cash: float,
    position: float,
    fee_rate: float,
    margin: float,
) -> tuple[float, float]:
    """(signed quantity, fee) the opening notional buys at ``price``; (0, 0) when refused."""
    if price <= 0.0:
        return 0.0, 0.0
    quantity = notional / (price * (1.0 + fee_rate) + 0.0)
    if quantity <= 0.0:
        return 0.0, 0.0
    fee = fee_rate * abs(quantity * price)
    sign = 1.0 if buy else -1.0
    new = position + sign * quantity
    if not (abs(new) <= abs(position) and position * new >= 0.0):
        cash_after = cash - sign * quantity * price - fee
        equity_after = cash_after + 0.0 + new * price
        gross_after = 0.0 + abs(new) * price
        slack = BUYING_POWER_TOLERANCE * max(gross_after, 1.0)
        if not gross_after <= equity_after * margin + slack:
            return 0.0, 0.0
    return sign * quantity, fee


@njit(cache=True)
def target_notional_nb(fraction: float, equity: float) -> float:
    """The opening notional of a ``fraction`` target; 0 when the change is below MIN_CHANGE."""
    desired = fraction * equity
    if abs(desired) <= MIN_CHANGE * max(abs(equity), 1.0):
        return 0.0
    return abs(desired)


@njit(cache=True)
def decide_bar_nb(
    code: int, position: float, fraction: float, equity: float
) -> tuple[int, int, float]:
    """(close action, open action, opening notional) decided at a close with ``equity``."""
    do_close, do_open = decide_nb(code, position)
    notional = 0.0
    if do_open != NOTHING:
        notional = target_notional_nb(fraction, equity)
        if notional == 0.0:
            do_open = NOTHING
    return do_close, do_open, notional


@njit(cache=True)
def fill_bar_nb(
    o: float,
    do_close: int,
    do_open: int,
    notional: float,
    cash: float,
    position: float,
    fee_rate: float,
    bps: float,
    margin: float,
) -> tuple[float, float, float, float, float, float, float, float, bool]:
    """The orders decided at the last close, filled at this bar's open ``o``.

    Returns (cash, position, closed, close price, close fee, opened, open price, open fee,
    refused): ``closed`` and ``opened`` are the signed quantities filled (0 when none);
    ``refused`` says the opening order exceeded the buying power.
    """
    closed = 0.0
    close_price = 0.0
    close_fee = 0.0
    if do_close != NOTHING and position != 0.0:
        buy = position < 0.0
        close_price = slipped_price_nb(o, buy, bps)
        quantity = abs(position)
        close_fee = fee_rate * abs(quantity * close_price)
        closed = quantity if buy else -quantity
        cash, position = apply_fill_nb(cash, position, closed, close_price, close_fee)
    opened = 0.0
    open_price = 0.0
    open_fee = 0.0
    refused = False
    if do_open != NOTHING:
        buy = do_open == OPEN_LONG
        open_price = slipped_price_nb(o, buy, bps)
        opened, open_fee = open_quantity_nb(
            notional, buy, open_price, cash, position, fee_rate, margin
        )
        if opened == 0.0:
            refused = True
        else:
            cash, position = apply_fill_nb(cash, position, opened, open_price, open_fee)
    return cash, position, closed, close_price, close_fee, opened, open_price, open_fee, refused


refresh(
    globals(), [execution_targets, portfolio, sim_broker]
)  # numba's cache follows the steps: nb_cache
