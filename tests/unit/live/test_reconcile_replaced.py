"""A replacement of an order that filled nothing carries that order's decision."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.live.reconcile.replaced import (
    SentOrder,
    backtest_cancels,
    carried_decisions,
    plan_cancels,
)


def sent(oid: str, qty: float = 30.0, filled: float = 0.0, side: str = "buy",
         symbol: str = "SPX") -> SentOrder:  # fmt: skip
    return SentOrder(oid, symbol, side, qty, filled)


CASES = [
    # orders, canceled (order -> bar), decisions, expected decisions of the later orders
    ([sent("a"), sent("b", filled=30)], {"a": 5}, {"a": 4, "b": 5}, {"b": 4}),
    # a chain: a replaced by b, b by c
    ([sent("a"), sent("b"), sent("c", filled=30)], {"a": 5, "b": 6}, {"a": 4, "b": 5, "c": 6},
     {"b": 4, "c": 4}),
    # a filled part: the rest's rule (resent), not this one
    ([sent("a", filled=10), sent("b", 20, 20)], {"a": 5}, {"a": 4, "b": 5}, {"b": 5}),
    # canceled on another bar than b's decision: b is a decision of its own
    ([sent("a"), sent("b", filled=30)], {"a": 3}, {"a": 2, "b": 5}, {"b": 5}),
    # b asks more: it carries an add, its own decision (and the part it carries: below)
    ([sent("a"), sent("b", 60, 60)], {"a": 5}, {"a": 4, "b": 5}, {"b": 5}),
    # b asks less (a lowered target): still a's order sent again
    ([sent("a"), sent("b", 20, 20)], {"a": 5}, {"a": 4, "b": 5}, {"b": 4}),
    # another side or symbol is another order
    ([sent("a"), sent("b", filled=30, side="sell")], {"a": 5}, {"a": 4, "b": 5}, {"b": 5}),
    ([sent("a"), sent("b", filled=30, symbol="QQQ")], {"a": 5}, {"a": 4, "b": 5}, {"b": 5}),
    # a notional order's quantity is unknown: taken as within
    ([sent("a", float("nan")), sent("b", filled=30)], {"a": 5}, {"a": 4, "b": 5}, {"b": 4}),
]  # fmt: skip


@pytest.mark.parametrize(("orders", "canceled", "decisions", "expected"), CASES)
def test_carried_decisions(orders, canceled, decisions, expected) -> None:
    got = carried_decisions(orders, canceled, decisions).decisions
    assert {k: got[k] for k in expected} == expected
    assert {k: got[k] for k in decisions if k not in expected} == {
        k: v for k, v in decisions.items() if k not in expected
    }  # the replaced orders keep theirs


def test_a_replacement_asking_more_carries_the_part_the_replaced_order_asked() -> None:
    orders = [sent("a"), sent("b", 60, 60), sent("c", 30, 30)]
    got = carried_decisions(orders, {"a": 5}, {"a": 4, "b": 5, "c": 9})
    assert got.more == {"b": ("a", 30.0)} and got.decisions == {"a": 4, "b": 5, "c": 9}
    assert got.replaced == {"b": "a"}
    chain = carried_decisions([sent("a"), sent("b"), sent("c", filled=30)], {"a": 5, "b": 6},
                              {"a": 4, "b": 5, "c": 6})  # fmt: skip
    assert chain.replaced == {"b": "a", "c": "b"} and chain.more == {}


def test_cancels_from_written_plans_and_from_the_backtests_orders() -> None:
    plans = [(100, [{"kind": "submit", "client_order_id": "c1"}]),
             (200, [{"kind": "cancel", "order_id": "o1"}, {"kind": "submit"}]),
             (300, [{"kind": "cancel", "order_id": "o1"}])]  # fmt: skip
    assert plan_cancels(plans) == {"o1": 200}
    index = pd.date_range("2024-01-01", periods=5, freq="D", tz="UTC")
    orders = pd.DataFrame({"status": ["canceled", "filled", "replaced", "canceled"],
                           "updated_at": [index[2], index[3], index[4], None]})  # fmt: skip
    assert backtest_cancels(orders, ["a", "b", "c", "d"], index) == {"a": 2, "c": 4}
