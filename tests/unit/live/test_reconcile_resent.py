"""An entry's rest sent again as a second entry order is the same trade; an add is not."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.backtesting.trades import build_trades
from workbench.live.reconcile.resent import (
    PlacedFill,
    ended_short,
    resent_entries,
    short_rests,
)
from workbench.live.reconcile.roundtrips import leg_spans, round_trips
from workbench.orders import Fill, Side

INDEX = pd.date_range("2024-01-01", periods=12, freq="D", tz="UTC")


def fill(order: str, side: str, qty: float, price: float, bar: int, symbol: str = "SPX") -> Fill:
    return Fill(order, symbol, Side(side), qty, price, 0.01 * qty, INDEX[bar])


def trips(
    fills: list[Fill], short: set[str] | dict[str, float], decisions: dict[str, int]
) -> pd.DataFrame:
    trades = build_trades(fills, {"SPX": 110.0, "QQQ": 50.0}, INDEX)
    placed = [PlacedFill(f.order_id, f.symbol, f.side.sign, INDEX.get_loc(f.time)) for f in fills]
    return round_trips(trades, resent_entries(trades, placed, short, decisions))


CASES = [
    # fills, orders that ended short, decision bars, expected entry orders per round trip
    pytest.param(
        [fill("e1", "buy", 4, 100, 2), fill("e2", "buy", 6, 102, 3), fill("x", "sell", 10, 105, 6)],
        {"e1"}, {"e1": 1, "e2": 2, "x": 5}, [("e1", "e2")],
        id="rest-sent-again",
    ),
    pytest.param(
        [fill("e1", "buy", 4, 100, 2), fill("e2", "buy", 6, 102, 3), fill("x", "sell", 10, 105, 6)],
        set(), {"e1": 1, "e2": 2, "x": 5}, [("e1",), ("e2",)],
        id="add-to-a-filled-entry",
    ),
    pytest.param(
        [fill("e1", "buy", 4, 100, 2), fill("x1", "sell", 2, 101, 3),
         fill("e2", "buy", 6, 102, 4), fill("x2", "sell", 8, 105, 6)],
        {"e1"}, {"e1": 1, "x1": 2, "e2": 3, "x2": 5}, [("e1",), ("e2",)],
        id="reduced-in-between",
    ),
    pytest.param(
        [fill("e1", "buy", 4, 100, 2), fill("x1", "sell", 2, 101, 3),
         fill("e2", "buy", 6, 102, 4), fill("x2", "sell", 8, 105, 6)],
        {"e1"}, {"e1": 1, "x1": 3, "e2": 3, "x2": 5}, [("e1",), ("e2",)],
        id="reduced-on-the-decision-bar",
    ),
    pytest.param(
        [fill("e1", "buy", 4, 100, 2), fill("e2", "buy", 3, 101, 3),
         fill("e3", "buy", 3, 102, 5), fill("x", "sell", 10, 105, 7)],
        {"e1", "e2"}, {"e1": 1, "e2": 2, "e3": 4, "x": 6}, [("e1", "e2", "e3")],
        id="a-chain-of-rests",
    ),
    pytest.param(
        [fill("e1", "buy", 4, 100, 2), fill("e2", "buy", 3, 101, 3),
         fill("e3", "buy", 3, 102, 5), fill("x", "sell", 10, 105, 7)],
        {"e1"}, {"e1": 1, "e2": 2, "e3": 4, "x": 6}, [("e1", "e2"), ("e3",)],
        id="the-rest-filled-whole-then-an-add",
    ),
    pytest.param(
        [fill("s1", "sell", 4, 100, 2), fill("s2", "sell", 6, 99, 3), fill("c", "buy", 10, 95, 6)],
        {"s1"}, {"s1": 1, "s2": 2, "c": 5}, [("s1", "s2")],
        id="short-rest-sent-again",
    ),
    pytest.param(
        [fill("e1", "buy", 4, 100, 2), fill("q", "buy", 6, 50, 3, "QQQ")],
        {"e1"}, {"e1": 1, "q": 2}, [("e1",), ("q",)],
        id="another-symbol",
    ),
    pytest.param(
        [fill("e1", "buy", 4, 100, 2), fill("e2", "buy", 6, 102, 3)],
        {"e1"}, {"e1": 1}, [("e1",), ("e2",)],
        id="later-order-never-decided",
    ),
    pytest.param(
        [fill("e1", "buy", 4, 100, 4), fill("e2", "buy", 6, 102, 5)],
        {"e1"}, {"e1": 1, "e2": 2}, [("e1",), ("e2",)],
        id="decided-before-the-earlier-filled",
    ),
    pytest.param(
        [fill("e1", "buy", 4, 100, 2), fill("x", "sell", 4, 104, 4), fill("e2", "buy", 6, 102, 6)],
        {"e1"}, {"e1": 1, "x": 3, "e2": 5}, [("e1",), ("e2",)],
        id="closed-then-entered-again",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("fills", "short", "decisions", "expected"), CASES)
def test_entry_orders_per_round_trip(fills, short, decisions, expected) -> None:
    got = trips(fills, short, decisions)
    assert [r.entry_orders for r in got.itertuples()] == expected
    assert [r.entry_order_id for r in got.itertuples()] == ["+".join(e) for e in expected]
    # merged or not, the P&L is the fills' and still entry to exit times quantity
    assert got["pnl"].sum() == pytest.approx(build_trades(fills, {"SPX": 110.0, "QQQ": 50.0},
                                                          INDEX)["pnl"].sum())  # fmt: skip
    sign = got["direction"].map({"long": 1.0, "short": -1.0})
    move = (got["exit_price"] - got["entry_price"]) * got["quantity"] * sign - got["fees"]
    assert move.to_numpy() == pytest.approx(got["pnl"].to_numpy())


def test_a_rest_sent_again_sums_and_averages_its_entries() -> None:
    fills = [fill("e1", "buy", 4, 100, 2), fill("e2", "buy", 6, 102, 3),
             fill("x", "sell", 10, 105, 6)]  # fmt: skip
    decisions = {"e1": 1, "e2": 2, "x": 5}
    (t,) = trips(fills, {"e1"}, decisions).itertuples()
    assert t.quantity == 10 and t.entries == 2 and t.entry_quantities == {"e1": 4.0, "e2": 6.0}
    assert t.entry_price == pytest.approx((4 * 100 + 6 * 102) / 10)
    assert t.entry_time == INDEX[2] and t.fees == pytest.approx(0.2)
    assert t.pnl == pytest.approx(4 * 5 + 6 * 3 - 0.2)
    spans = {"e1": (2, 2), "e2": (3, 3), "x": (6, 6)}
    (s,) = leg_spans(trips(fills, {"e1"}, decisions), spans, decisions).itertuples()
    # decided with the first entry, filled from its bar to the rest's
    assert (s.entry_decision, s.entry_first, s.entry_last) == (1, 2, 3)


def test_an_order_carrying_the_rest_and_an_add_is_split_between_the_trades() -> None:
    # e1 filled 4 of 10 (6 left); e2, 16: the rest 6 and an add of 10
    fills = [fill("e1", "buy", 4, 100, 2), fill("e2", "buy", 16, 102, 3),
             fill("x", "sell", 20, 105, 6)]  # fmt: skip
    decisions = {"e1": 1, "e2": 2, "x": 5}
    first, add = trips(fills, {"e1": 6.0}, decisions).itertuples()
    assert (first.entry_orders, first.quantity) == (("e1", "e2"), 10.0)
    assert first.entry_quantities == {"e1": 4.0, "e2": 6.0}
    assert first.entry_price == pytest.approx((4 * 100 + 6 * 102) / 10)
    assert (add.entry_orders, add.quantity, add.entry_price) == (("e2",), 10.0, 102.0)
    assert first.fees + add.fees == pytest.approx(0.4)
    assert add.fees == pytest.approx(0.16 * 10 / 16 + 0.2 * 10 / 20)  # its parts' shares
    assert first.pnl + add.pnl == pytest.approx(4 * 5 + 16 * 3 - 0.04 - 0.16 - 0.2)
    assert add.exit_quantities == {"x": 10.0} and first.exit_quantities == {"x": 10.0}
    # without the quantities (a set) the later order joins whole, as before
    (whole,) = trips(fills, {"e1"}, decisions).itertuples()
    assert whole.quantity == 20.0 and whole.entry_orders == ("e1", "e2")


@pytest.mark.parametrize(
    ("rests", "expected", "quantities"),
    [
        # e1 left 6: e2 gave 3 and left 3 itself, e3 gave them
        ({"e1": 6.0, "e2": 3.0}, [("e1", "e2", "e3")], [10.0]),
        # e2 (asked 4: a lowered target) left 1: e3 gives 1, its other 2 are an add
        ({"e1": 6.0, "e2": 1.0}, [("e1", "e2", "e3"), ("e3",)], [8.0, 2.0]),
        # e2 filled whole: the trade is done being sent again, e3 is an add
        ({"e1": 6.0}, [("e1", "e2"), ("e3",)], [7.0, 3.0]),
    ],
    ids=["rest-short-again", "rest-lowered", "rest-filled-then-an-add"],
)
def test_a_rest_owed_is_given_by_later_orders_up_to_what_is_left(
    rests, expected, quantities
) -> None:
    fills = [fill("e1", "buy", 4, 100, 2), fill("e2", "buy", 3, 101, 3),
             fill("e3", "buy", 3, 102, 5), fill("x", "sell", 10, 105, 7)]  # fmt: skip
    got = trips(fills, rests, {"e1": 1, "e2": 2, "e3": 4, "x": 6})
    assert [r.entry_orders for r in got.itertuples()] == expected
    assert got["quantity"].tolist() == pytest.approx(quantities)


def test_a_replacement_carrying_an_unfilled_order_and_an_add_is_split_under_its_key() -> None:
    # "a" (30) filled nothing and was replaced by "b" (60): 30 of "b" is a's trade, whose
    # decision is a's (its head), the other 30 the add
    fills = [fill("b", "buy", 60, 100, 3), fill("x", "sell", 60, 105, 6)]
    trades = build_trades(fills, {"SPX": 110.0}, INDEX)
    placed = [PlacedFill(f.order_id, f.symbol, f.side.sign, INDEX.get_loc(f.time)) for f in fills]
    decisions = {"a": 1, "b": 2, "x": 5}
    same = resent_entries(trades, placed, {}, decisions, {"b": ("a", 30.0)})
    assert same["b"] == (("a", 0.5), ("b", 0.5))
    got = leg_spans(round_trips(trades, same), {"b": (3, 3), "x": (6, 6)}, decisions)
    assert got["head"].tolist() == ["a", "b"] and got["quantity"].tolist() == [30.0, 30.0]
    assert got["entry_decision"].tolist() == [1, 2]  # the replaced order's, the add's
    assert got["entry_orders"].tolist() == [("b",), ("b",)]


def test_ended_short_is_a_final_status_with_part_of_the_quantity_filled() -> None:
    orders = pd.DataFrame(
        {
            "status": ["canceled", "expired", "filled", "canceled", "expired", "partially_filled",
                       "replaced", "rejected"],
            "quantity": [10.0, 10.0, 10.0, 10.0, None, 10.0, 10.0, 10.0],
            "filled_quantity": [4.0, 9.0, 10.0, 0.0, 3.5, 4.0, 2.0, 0.0],
        }
    )  # fmt: skip
    ids = ["canceled", "expired", "filled", "none", "notional", "working", "replaced", "rejected"]
    assert ended_short(orders, ids) == {"canceled", "expired", "notional", "replaced"}
    rests = short_rests(orders, ids)
    assert rests == {"canceled": 6.0, "expired": 1.0, "notional": float("inf"), "replaced": 8.0}
