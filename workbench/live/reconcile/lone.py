"""Why a trade is on one side only: what the other side decided near its entry.

A missing trade (backtest only) or an extra one (live only) says more than "not in the
other run" when the other side's orders show why: an order of the trade's symbol and
entry side decided within ``window_bars`` of its entry decision, the nearest, that filled
nothing (rejected by the venue, canceled, expired, a limit never touched, still working
when the run ended), or no such order at all (the strategy decided otherwise there, which
the ``risk_event`` rows may explain). When the nearest order there filled, the trade it
made was paired elsewhere: nothing is added.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

EPS = 1e-9


@dataclass(frozen=True)
class Decided:
    """An order with its decision bar and whether it filled anything."""

    order_id: str
    symbol: str
    side: str  # "buy" or "sell"
    bar: int
    status: str
    filled: bool


def decided_orders(orders: pd.DataFrame, ids: Iterable[str], bars: dict[str, int]) -> list[Decided]:
    """The orders (``ids``: one per row of ``orders``) that have a decision bar in ``bars``."""
    out = []
    rows = zip(ids, orders["symbol"], orders["side"], orders["status"], orders["filled_quantity"],
               strict=True)  # fmt: skip
    for oid, symbol, side, status, filled in rows:
        if oid in bars:
            done = pd.notna(filled) and float(filled) > EPS
            out.append(Decided(oid, str(symbol), str(side), bars[oid], str(status), done))
    return out


def why_lone(
    trade: pd.Series, others: list[Decided], other: str, window: int, when: Callable[[Any], Any]
) -> str:
    """Why ``trade`` has no counterpart in the run called ``other`` ("the live run", "the
    backtest"), from that run's decided orders; "" when they do not tell."""
    decision = trade["entry_decision"]
    if pd.isna(decision):
        return ""
    side = "buy" if trade["direction"] == "long" else "sell"
    near = [o for o in others if o.symbol == trade["symbol"] and o.side == side
            and abs(o.bar - int(decision)) <= window]  # fmt: skip
    if not near:
        return f"{other} decided no {side} of {trade['symbol']} within {window} bars of it"
    o = min(near, key=lambda o: (abs(o.bar - int(decision)), o.filled, o.bar))
    if o.filled:  # its nearest order there filled: the trade it made was paired elsewhere
        return ""
    return (
        f"{other}'s {side} order {o.order_id}, decided at {when(o.bar)}, filled nothing "
        f"({o.status})"
    )
