"""Why a trade is on one side only, from the other side's orders near its entry decision."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.live.reconcile.lone import Decided, decided_orders, why_lone


def order(oid: str, bar: int, filled: bool, side: str = "buy", symbol: str = "SPX") -> Decided:
    return Decided(oid, symbol, side, bar, "filled" if filled else "expired", filled)


def trade(decision: int | None, direction: str = "long") -> pd.Series:
    return pd.Series({"symbol": "SPX", "direction": direction,
                      "entry_decision": pd.NA if decision is None else decision})  # fmt: skip


REFUSED = "the live run's buy order {}, decided at bar {}, filled nothing (expired)"
NONE = "the live run decided no {} of SPX within 5 bars of it"
CASES = [
    # the other side's orders, the trade's entry decision, direction, expected
    ([order("a", 10, False)], 10, "long", REFUSED.format("a", 10)),
    ([order("a", 7, True), order("b", 10, False)], 10, "long", REFUSED.format("b", 10)),
    ([order("a", 10, True), order("b", 10, False)], 10, "long", REFUSED.format("b", 10)),
    ([order("a", 9, True), order("b", 12, False)], 10, "long", ""),  # nearest filled
    ([order("a", 16, False)], 10, "long", NONE.format("buy")),  # beyond the window
    ([order("a", 10, False, side="sell")], 10, "long", NONE.format("buy")),
    ([order("a", 10, False, symbol="QQQ")], 10, "long", NONE.format("buy")),
    ([order("a", 10, False, side="sell")], 10, "short", REFUSED.format("a", 10).replace(
        "buy", "sell")),
    ([], 10, "short", NONE.format("sell")),
    ([order("a", 10, False)], None, "long", ""),  # no decision known: nothing to say
]  # fmt: skip


@pytest.mark.parametrize(("others", "decision", "direction", "expected"), CASES)
def test_why_lone(others, decision, direction, expected) -> None:
    got = why_lone(trade(decision, direction), others, "the live run", 5, lambda b: f"bar {b}")
    assert got == expected


def test_decided_orders_keeps_those_with_a_decision_and_whether_they_filled() -> None:
    orders = pd.DataFrame({"symbol": ["SPX", "SPX", "SPX"], "side": ["buy", "sell", "sell"],
                           "status": ["rejected", "filled", "new"],
                           "filled_quantity": [0.0, 3.0, None]})  # fmt: skip
    got = decided_orders(orders, ["r", "f", "stop"], {"r": 4, "f": 6})
    assert got == [Decided("r", "SPX", "buy", 4, "rejected", False),
                   Decided("f", "SPX", "sell", 6, "filled", True)]  # fmt: skip
