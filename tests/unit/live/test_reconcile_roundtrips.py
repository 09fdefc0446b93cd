"""Round trips for the reconciliation: one entry order with every order that closed it."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.backtesting.trades import build_trades
from workbench.live.reconcile.compare import pnl_parts
from workbench.live.reconcile.roundtrips import (
    fill_spans,
    leg_spans,
    position_episodes,
    round_trips,
)
from workbench.orders import Fill, Side

INDEX = pd.date_range("2024-01-01", periods=10, freq="D", tz="UTC")
LAST = {"SPX": 110.0}


def fill(order: str, side: str, qty: float, price: float, bar: int, fee: float = 0.0) -> Fill:
    return Fill(order, "SPX", Side(side), qty, price, fee, INDEX[bar])


def trips(*fills: Fill) -> pd.DataFrame:
    return round_trips(build_trades(list(fills), LAST, INDEX))


CASES = [
    # fills, expected (entry order, status, quantity, exit orders) per round trip
    pytest.param(
        [fill("e", "buy", 10, 100, 1), fill("x", "sell", 10, 104, 3)],
        [("e", "closed", 10, ("x",))],
        id="one-exit",
    ),
    pytest.param(
        [
            fill("e", "buy", 10, 100, 1),
            fill("x1", "sell", 6, 104, 3),
            fill("x2", "sell", 4, 105, 4),
        ],
        [("e", "closed", 10, ("x1", "x2"))],
        id="closed-by-two-exit-orders",
    ),
    pytest.param(
        [fill("e", "buy", 10, 100, 1), fill("x", "sell", 4, 104, 3)],
        [("e", "partly closed", 10, ("x",))],
        id="partly-closed",
    ),
    pytest.param(
        [fill("e", "buy", 4, 100, 1), fill("e", "buy", 6, 101, 2), fill("x", "sell", 10, 99, 5)],
        [("e", "closed", 10, ("x",))],
        id="entry-in-two-fills",
    ),
    pytest.param(
        [fill("a", "buy", 5, 100, 1), fill("b", "buy", 5, 102, 2), fill("x", "sell", 10, 99, 5)],
        [("a", "closed", 5, ("x",)), ("b", "closed", 5, ("x",))],
        id="two-entries-one-exit",
    ),
    pytest.param(
        [fill("e", "buy", 5, 100, 1), fill("r", "sell", 8, 103, 3), fill("c", "buy", 3, 101, 6)],
        [("e", "closed", 5, ("r",)), ("r", "closed", 3, ("c",))],
        id="reversal",
    ),
]


@pytest.mark.parametrize(("fills", "expected"), CASES)
def test_round_trips(fills, expected) -> None:
    got = trips(*fills)
    assert [
        (r.entry_order_id, r.status, r.quantity, r.exit_orders) for r in got.itertuples()
    ] == expected
    # the P&L is the fills' (FIFO rows summed), and still entry to exit times quantity
    assert got["pnl"].sum() == pytest.approx(build_trades(fills, LAST, INDEX)["pnl"].sum())
    sign = got["direction"].map({"long": 1.0, "short": -1.0})
    move = (got["exit_price"] - got["entry_price"]) * got["quantity"] * sign - got["fees"]
    assert move.to_numpy() == pytest.approx(got["pnl"].to_numpy())


def test_two_exit_orders_average_their_prices_and_list_their_quantities() -> None:
    (t,) = trips(
        fill("e", "buy", 10, 100, 1, fee=1.0),
        fill("x1", "sell", 6, 104, 3, fee=0.6),
        fill("x2", "sell", 4, 109, 4, fee=0.4),
    ).itertuples()
    assert t.exit_price == pytest.approx((6 * 104 + 4 * 109) / 10)
    assert t.exit_quantities == {"x1": 6.0, "x2": 4.0} and t.exits == 2
    assert t.exit_order_id == "x1+x2" and t.exit_time == INDEX[4]
    assert t.pnl == pytest.approx(6 * 4 + 4 * 9 - 2.0)


def test_fill_spans_take_first_and_last_bar_never_before_the_bar_after_the_decision() -> None:
    fills = [("e", INDEX[2]), ("e", INDEX[3]), ("x", INDEX[5]), ("early", INDEX[4])]
    spans = fill_spans(fills, INDEX, {"e": 1, "early": 4})
    assert spans == {"e": (2, 3), "x": (5, 5), "early": (5, 5)}


def test_leg_spans_run_over_every_exit_order() -> None:
    got = trips(fill("e", "buy", 10, 100, 1), fill("x1", "sell", 6, 104, 3),
                fill("x2", "sell", 4, 105, 4))  # fmt: skip
    spans = {"e": (1, 1), "x1": (3, 3), "x2": (4, 4)}
    (t,) = leg_spans(got, spans, {"e": 0, "x1": 2, "x2": 3}).itertuples()
    assert (t.entry_first, t.entry_last, t.exit_first, t.exit_last) == (1, 1, 3, 4)
    assert (t.entry_decision, t.exit_decision) == (0, 2)


@pytest.mark.parametrize("moved", [set(), {"exit"}, {"entry", "exit"}])
def test_pnl_parts_add_up_whichever_legs_moved(moved) -> None:
    a = pd.Series({"quantity": 9.0, "entry_price": 100.5, "exit_price": 103.0, "fees": 1.2})
    b = pd.Series({"quantity": 10.0, "entry_price": 100.0, "exit_price": 104.0, "fees": 1.0})
    parts = pnl_parts(a, b, 1.0, moved)
    live = (103.0 - 100.5) * 9 - 1.2
    bt = (104.0 - 100.0) * 10 - 1.0
    assert sum(parts.values()) == pytest.approx(live - bt)
    exit_part = 9 * (103.0 - 104.0)
    assert parts["pnl_timing"] == pytest.approx(
        (exit_part if "exit" in moved else 0.0) + (-9 * 0.5 if "entry" in moved else 0.0)
    )


T = pd.date_range("2024-01-01", periods=12, freq="D", tz="UTC")
EPISODES = [
    # (order, symbol, signed quantity) in time order, expected entry order -> episode
    pytest.param([("a", "SPX", 10), ("b", "SPX", 5), ("x", "SPX", -15)], {"a": 1, "b": 1},
                 id="entry-and-add-one-episode"),
    pytest.param([("a", "SPX", 10), ("x", "SPX", -4), ("b", "SPX", 4), ("y", "SPX", -10)],
                 {"a": 1, "b": 1}, id="reduced-then-added-still-open"),
    pytest.param([("a", "SPX", 10), ("x", "SPX", -10), ("b", "SPX", 5)], {"a": 1, "b": 2},
                 id="flat-then-again"),
    pytest.param([("a", "SPX", 10), ("r", "SPX", -15), ("c", "SPX", 5)], {"a": 1, "r": 2},
                 id="a-reversal-opens-the-next"),
    pytest.param([("a", "SPX", 10), ("q", "QQQ", -3), ("b", "SPX", 1)],
                 {"a": 1, "q": 1, "b": 1}, id="per-symbol"),
    pytest.param([("a", "SPX", 0.1), ("b", "SPX", 0.2), ("x", "SPX", -0.3), ("c", "SPX", 1)],
                 {"a": 1, "b": 1, "c": 2}, id="fractions-that-sum-to-flat"),
    pytest.param([("a", "SPX", 6), ("a", "SPX", 4), ("x", "SPX", -10)], {"a": 1},
                 id="an-order-in-two-fills"),
]  # fmt: skip


@pytest.mark.parametrize(("fills", "expected"), EPISODES)
def test_position_episodes(fills, expected) -> None:
    timed = [(oid, symbol, qty, T[n]) for n, (oid, symbol, qty) in enumerate(fills)]
    assert position_episodes(timed) == expected


def test_round_trips_carry_their_first_entrys_episode() -> None:
    trades = build_trades([fill("a", "buy", 10, 100, 1), fill("b", "buy", 5, 101, 2),
                           fill("x", "sell", 15, 104, 3), fill("c", "buy", 2, 103, 5)],
                          LAST, INDEX)  # fmt: skip
    got = round_trips(trades, episodes={"a": 1, "b": 1, "c": 2})
    assert got["episode"].tolist() == [1, 1, 2]
    assert round_trips(trades)["episode"].tolist() == [0, 0, 0]  # not known
