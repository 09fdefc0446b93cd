"""Orders sent again whole: the decision a replacement carries.

An order that filled nothing can be canceled and sent again by the next decision: a
strategy that states its target on every bar has the engine cancel its working order and
send a new one (``replaced by a new target``) when the venue has not filled it yet (no
volume on the bar, a limit not touched, an outage). The new order is decided a bar later
than the first, yet it carries the same decision: read with its own decision bar, a live
entry filled a bar after the backtest's showed as decided a bar later and its price, the
market's move between the bars, as slippage.

The rule, the same on both sides: order B takes the decision of order A when A is of the
same symbol and side, filled nothing, was canceled on the bar B was decided (live: a
cancel step of B's written plan; in the backtest: A's end at B's creation), and B asks no
more than A did. A chain (A replaced by B, B by C) takes the first one's. A larger B
(a target raised while A was working) carries A and an add: the part A asked is a trade
decided with A, the rest a trade of its own (:mod:`~workbench.live.reconcile.resent`
splits it as it splits a rest sent again with an add).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

EPS = 1e-9


@dataclass(frozen=True)
class SentOrder:
    """What the rule reads of an order."""

    order_id: str
    symbol: str
    side: str
    quantity: float  # NaN when unknown (a notional order's)
    filled: float


def sent_orders(orders: pd.DataFrame, ids: Iterable[str]) -> list[SentOrder]:
    """The orders (``ids``: one per row of ``orders``) as the rule reads them."""
    rows = zip(ids, orders["symbol"], orders["side"], orders["quantity"],
               orders["filled_quantity"], strict=True)  # fmt: skip
    return [
        SentOrder(str(oid), str(symbol), str(side), float(q) if pd.notna(q) else float("nan"),
                  float(f) if pd.notna(f) else 0.0)
        for oid, symbol, side, q, f in rows
    ]  # fmt: skip


@dataclass(frozen=True)
class Carried:
    """What :func:`carried_decisions` finds."""

    decisions: dict[str, int]  # every order's, a replacement's the order's it replaced
    more: dict[str, tuple[str, float]]  # a replacement asking more -> (replaced, its ask)
    replaced: dict[str, str]  # a replacement -> the order it replaced


def carried_decisions(
    orders: list[SentOrder], canceled: Mapping[str, int], decisions: Mapping[str, int]
) -> Carried:
    """``decisions`` (order id -> decision bar) with each replacement's taken from the order
    it replaced (module docstring; ``canceled``: order id -> the bar a decision canceled
    it); the replacements that ask more, with the order each replaced and what that one
    asked (the part of it sent again); and each replacement's replaced order."""
    out = dict(decisions)
    more: dict[str, tuple[str, float]] = {}
    replaced: dict[str, str] = {}
    unfilled: dict[tuple[str, str, int], list[SentOrder]] = {}
    for o in orders:
        if o.order_id in canceled and o.filled <= EPS and o.order_id in decisions:
            unfilled.setdefault((o.symbol, o.side, canceled[o.order_id]), []).append(o)
    for o in sorted(orders, key=lambda o: decisions.get(o.order_id, -1)):
        bar = decisions.get(o.order_id)
        if bar is None:
            continue
        for a in unfilled.get((o.symbol, o.side, bar), []):
            if a is o or decisions[a.order_id] > bar:
                continue
            if _within(o.quantity, a.quantity):
                out[o.order_id] = out[a.order_id]
            else:
                more[o.order_id] = (a.order_id, a.quantity)
            replaced[o.order_id] = a.order_id
            break
    return Carried(out, more, replaced)


def _within(quantity: float, asked: float) -> bool:
    """Whether ``quantity`` is no more than ``asked`` (either unknown: taken as so)."""
    if pd.isna(quantity) or pd.isna(asked):
        return True
    return quantity <= asked + EPS * max(1.0, asked)


def plan_cancels(plans: Iterable[tuple[int, list[dict[str, Any]]]]) -> dict[str, int]:
    """Order id -> the time (ns) of the first written plan that canceled it."""
    out: dict[str, int] = {}
    for time_ns, intents in plans:
        for step in intents:
            if step.get("kind") == "cancel" and step.get("order_id"):
                out.setdefault(str(step["order_id"]), int(time_ns))
    return out


def backtest_cancels(
    orders: pd.DataFrame, ids: Iterable[str], index: pd.DatetimeIndex
) -> dict[str, int]:
    """Order id -> the bar a backtest order ended canceled (its end time's)."""
    rows = zip(ids, orders["status"], orders["updated_at"], strict=True)
    return {
        str(oid): int(index.searchsorted(pd.Timestamp(at)))
        for oid, status, at in rows
        if str(status) in ("canceled", "replaced") and pd.notna(at)
    }
