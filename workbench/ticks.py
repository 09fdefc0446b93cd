"""The price grid of US equity orders: whole cents from $1.00 up, 1/100 of a cent below.

Regulation NMS's sub-penny rule (Rule 612) bars orders priced finer than that, and Alpaca
refuses them: 422 ``42210000`` "invalid limit_price 41.085. sub-penny increment does not
fulfill minimum pricing criteria" (alpaca-trade-api-go #260; $0.6013 is accepted,
alpaca-trade-api-csharp #497). A strategy's computed price (a close times 1.02) is rarely
on the grid: the Alpaca broker puts it on the nearest step before sending, with a warning,
as LEAN rounds to a security's minimum price variation; the emulator refuses what is
still off it, as Alpaca does.
"""

from __future__ import annotations

__all__ = ["SUB_PENNY_BELOW", "decimals", "is_on_grid", "on_grid"]

#: Below this price, steps of $0.0001; from it up, whole cents.
SUB_PENNY_BELOW = 1.0


def decimals(price: float) -> int:
    """The decimals a price may have: 2 from $1.00 up, 4 below."""
    return 2 if price >= SUB_PENNY_BELOW else 4


def on_grid(price: float) -> float:
    """``price`` on the nearest step of the grid (0.99996 becomes 1.0, a whole-cent price)."""
    return round(price, decimals(price))


def is_on_grid(price: float) -> bool:
    """Whether ``price`` is a step of the grid (an order Alpaca takes at that price)."""
    return on_grid(price) == price
