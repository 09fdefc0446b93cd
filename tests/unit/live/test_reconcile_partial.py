"""A partial fill whose rest never came, told apart from a size or exit difference."""

from __future__ import annotations

import pandas as pd

from workbench.backtesting.trades import build_trades
from workbench.live.reconcile.compare import SideTrades, annotate, compare, pair
from workbench.live.reconcile.model import Tolerances
from workbench.live.reconcile.resent import ShortOrder
from workbench.live.reconcile.roundtrips import fill_spans, round_trips
from workbench.orders import Fill, Side
from workbench.sim.costs import Commission

INDEX = pd.date_range("2024-01-01", periods=10, freq="D", tz="UTC")
BARS = {"SPX": pd.DataFrame({"open": 100.0, "close": 100.0}, index=INDEX)}
EQUITY = pd.Series(10_000.0, index=INDEX)
DECISIONS = {"e": 1, "x": 4}


def side(fills: list[Fill], short: dict[str, ShortOrder]) -> SideTrades:
    trips = round_trips(build_trades(fills, {"SPX": 100.0}, INDEX))
    spans = fill_spans(((f.order_id, f.time) for f in fills), INDEX, DECISIONS)
    return SideTrades(annotate(trips, DECISIONS, spans, INDEX, EQUITY), BARS, INDEX, short)


def differences(live: SideTrades, bt: SideTrades) -> list[tuple[str, str, str]]:
    pairs = pair(live.trades, bt.trades, 5)
    _, diffs = compare(live, bt, pairs, {}, {}, Commission(), Tolerances())
    return [(d["category"], d["leg"], d["detail"]) for d in diffs]


def fill(order: str, side: str, qty: float, bar: int) -> Fill:
    return Fill(order, "SPX", Side(side), qty, 100.0, 0.0, INDEX[bar])


WHOLE = [fill("e", "buy", 30, 2), fill("x", "sell", 30, 5)]


def test_an_exit_that_filled_part_and_ended_is_a_partial_fill_of_the_exit() -> None:
    live = side([fill("e", "buy", 30, 2), fill("x", "sell", 20, 5)],
                {"x": ShortOrder(30.0, 20.0, "expired")})  # fmt: skip
    assert differences(live, side(WHOLE, {})) == [
        ("partial_fill", "exit", "closed 20 live vs 30 in the backtest, 10 left open live: "
         "live order x filled 20 of 30, its rest expired"),
    ]  # fmt: skip


def test_the_backtest_side_can_be_the_one_that_filled_part() -> None:
    bt = side([fill("e", "buy", 20, 2), fill("x", "sell", 20, 5)],
              {"e": ShortOrder(30.0, 20.0, "canceled")})  # fmt: skip
    ((category, leg, detail),) = differences(side(WHOLE, {}), bt)
    assert (category, leg) == ("partial_fill", "entry")
    assert detail == ("entered 30 live vs 20 in the backtest (size +50.00%): backtest order e "
                      "filled 20 of 30, its rest canceled")  # fmt: skip


def test_without_an_order_that_ended_short_it_stays_a_size_or_exit_difference() -> None:
    small = side([fill("e", "buy", 20, 2), fill("x", "sell", 20, 5)], {})
    assert [d[0] for d in differences(small, side(WHOLE, {}))] == ["size"]
    # an exit order that ended short on the side that closed more explains nothing
    partly = side([fill("e", "buy", 30, 2), fill("x", "sell", 20, 5)], {})
    closed = side(WHOLE, {"x": ShortOrder(40.0, 30.0, "canceled")})
    assert [d[:2] for d in differences(partly, closed)] == [("exit", "exit")]
