"""The simulated venue's buying-power check: may a fill open, grow or reverse a position?

A fill that reduces or closes a position always may. One that opens, grows or reverses it
must fit: the gross exposure after it (every position at its last price, this one at the
fill's) at most the equity after it (commission paid) times the margin (1.0: no leverage),
with a relative slack of :data:`BUYING_POWER_TOLERANCE` for floating-point dust ("spend all
the cash"); without shorting, a sell may not take the position below zero. The numba
kernels (:mod:`workbench.backtesting.fill_nb`, :mod:`workbench.backtesting.portfolio_nb`)
apply the same check with the same slack.
"""

from __future__ import annotations

from workbench.orders import Side
from workbench.portfolio import QUANTITY_EPSILON, Portfolio

__all__ = ["BUYING_POWER_TOLERANCE", "refusal"]

#: Relative slack of the buying-power check (floating-point dust of "spend all cash").
BUYING_POWER_TOLERANCE = 1e-9


def refusal(
    portfolio: Portfolio,
    symbol: str,
    side: Side,
    quantity: float,
    price: float,
    commission: float,
    old: float,
    *,
    margin: float,
    allow_short: bool,
) -> str | None:
    """Why this fill may not happen (shorting, buying power), or None; ``old`` is the
    position held before it."""
    new = old + side.sign * quantity
    if abs(new) <= abs(old) and old * new >= 0:
        return None  # reduces or closes: always allowed
    if not allow_short and new < -QUANTITY_EPSILON:
        return (
            f"shorting not allowed: selling {quantity:g} {symbol} would take the position "
            f"from {old:g} to {new:g}"
        )
    others_value = others_gross = 0.0
    for sym, pos in portfolio.positions.items():
        if sym != symbol and pos.quantity != 0.0:
            value = pos.quantity * pos.last_price
            others_value += value
            others_gross += abs(value)
    cash_after = portfolio.cash - side.sign * quantity * price - commission
    equity_after = cash_after + others_value + new * price
    gross_after = others_gross + abs(new) * price
    slack = BUYING_POWER_TOLERANCE * max(gross_after, 1.0)
    if gross_after <= equity_after * margin + slack:
        return None
    equity_before = portfolio.cash + others_value + old * price
    power = max(equity_before * margin - others_gross - abs(old) * price, 0.0)
    cost = quantity * price + commission
    return (
        f"insufficient buying power: {side} {quantity:g} {symbol} at {price:g} costs "
        f"{cost:.2f} (commission {commission:.2f} included), cash is {portfolio.cash:.2f}, "
        f"buying power {power:.2f} (margin {margin:g})"
    )
