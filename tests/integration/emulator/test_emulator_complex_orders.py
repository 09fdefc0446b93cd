"""Bracket, oco, oto and trailing-stop orders through the real alpaca-py SDK.

Over the hand-made AAA bars (see ``conftest.py``), so every price is checked by hand.
The fills are the simulated broker's (``workbench.sim.fills``); the JSON is Alpaca's:
legs ``held`` until the entry is completely filled (through its partial fills), then the
take-profit ``new`` and the stop-loss still ``held`` (Alpaca watches it one-cancels-other);
an entry that ends before its complete fill cancels them; nested under the entry with
``nested=True``; trailing stops report ``trail_percent``/``trail_price`` and ``hwm``.
"""

from __future__ import annotations

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import OrderClass, OrderStatus, QueryOrderStatus
from alpaca.trading.requests import (
    GetOrderByIdRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    StopLossRequest,
    TakeProfitRequest,
    TrailingStopOrderRequest,
)

from workbench.emulator import Emulator, Fault
from workbench.emulator import testing as emt


@pytest.fixture
def client(bars_emulator: Emulator):
    return emt.trading_client(bars_emulator)


def bracket(tp: float = 103.5, sl: float = 97.0, tif: str = "gtc", **kw) -> MarketOrderRequest:
    return MarketOrderRequest(
        symbol="AAA", qty=10, side="buy", time_in_force=tif, order_class=OrderClass.BRACKET,
        take_profit=TakeProfitRequest(limit_price=tp), stop_loss=StopLossRequest(stop_price=sl),
        **kw,
    )  # fmt: skip


def test_bracket_legs_are_held_then_one_cancels_the_other(bars_emulator, client) -> None:
    bars_emulator.step()  # 2024-01-01 published: the last close is 100
    order = client.submit_order(bracket())
    assert order.order_class is OrderClass.BRACKET and len(order.legs) == 2
    tp, sl = order.legs
    assert (tp.type.value, float(tp.limit_price), tp.side.value) == ("limit", 103.5, "sell")
    assert (sl.type.value, float(sl.stop_price)) == ("stop", 97.0)
    assert tp.status is sl.status is OrderStatus.HELD
    bars_emulator.step()  # 01-02: the entry fills at the open, 101; high 103 < 103.5
    parent = client.get_order_by_id(order.id, GetOrderByIdRequest(nested=True))
    assert parent.status is OrderStatus.FILLED and float(parent.filled_avg_price) == 101
    tp, sl = parent.legs
    assert (tp.status, sl.status) == (OrderStatus.NEW, OrderStatus.HELD)  # as Alpaca shows them
    bars_emulator.step()  # 01-03: high 104 reaches the take-profit, low 98 not the stop
    parent = client.get_order_by_id(order.id, GetOrderByIdRequest(nested=True))
    tp, sl = parent.legs
    assert (tp.status, sl.status) == (OrderStatus.FILLED, OrderStatus.CANCELED)
    assert float(tp.filled_avg_price) == 103.5
    assert client.get_all_positions() == []


def test_legs_stay_held_through_the_entrys_partial_fills(bars_emulator, client) -> None:
    """Alpaca: "The second and third orders won't be active until the first order is
    completely filled" (Orders at Alpaca, bracket orders)."""
    bars_emulator.step()
    order = client.submit_order(bracket(sl=94.0))
    bars_emulator.add_fault(Fault.partial(qty=4, times=2))  # 4 shares a bar, for 2 bars
    bars_emulator.step()  # 01-02: 4 of 10 at 101
    bars_emulator.step()  # 01-03: 4 more at 102; the high, 104, passes the take-profit
    parent = client.get_order_by_id(order.id, GetOrderByIdRequest(nested=True))
    assert (parent.status, parent.filled_qty) == (OrderStatus.PARTIALLY_FILLED, "8")
    assert [(leg.status, leg.qty, leg.filled_qty) for leg in parent.legs] == [
        (OrderStatus.HELD, "10", "0")
    ] * 2
    assert client.get_open_position("AAA").qty == "8"  # no exit sold any
    bars_emulator.step()  # 01-04: the last 2 at 99: the legs go live for 10
    parent = client.get_order_by_id(order.id, GetOrderByIdRequest(nested=True))
    tp, sl = parent.legs
    assert parent.status is OrderStatus.FILLED
    assert (tp.status, sl.status) == (OrderStatus.NEW, OrderStatus.HELD)
    assert tp.qty == sl.qty == "10"
    bars_emulator.step()  # 01-05: the low, 94, reaches the stop: it sells all 10
    stop = client.get_order_by_id(sl.id)
    assert (stop.status, stop.filled_qty, float(stop.filled_avg_price)) == ("filled", "10", 94)
    assert client.get_order_by_id(tp.id).status is OrderStatus.CANCELED
    assert client.get_all_positions() == []


@pytest.mark.parametrize("ending", ["canceled", "expired"])
def test_a_partly_filled_entry_that_ends_cancels_its_legs(bars_emulator, client, ending) -> None:
    """Alpaca: "If any one of the orders is canceled, any remaining open order in the group
    is canceled": the 4 shares bought stay, unprotected (a day entry ends at the close)."""
    bars_emulator.step()
    tif = "gtc" if ending == "canceled" else "day"
    order = client.submit_order(bracket(sl=94.0, tif=tif))
    bars_emulator.add_fault(Fault.partial(qty=4, times=1))
    bars_emulator.step()  # 01-02: 4 of 10 at 101 (a day entry expires at this close)
    if ending == "canceled":
        client.cancel_order_by_id(order.id)
    bars_emulator.step(3)  # to 01-05, whose low reaches the stop
    parent = client.get_order_by_id(order.id, GetOrderByIdRequest(nested=True))
    assert (parent.status.value, parent.filled_qty) == (ending, "4")
    assert [leg.status for leg in parent.legs] == [OrderStatus.CANCELED] * 2
    assert client.get_orders() == []
    assert client.get_open_position("AAA").qty == "4"


def test_nested_lists_put_legs_under_their_entry(bars_emulator, client) -> None:
    bars_emulator.step()
    order = client.submit_order(bracket())
    flat = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL))
    assert len(flat) == 3 and all(o.legs is None for o in flat)
    nested = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, nested=True))
    assert [o.id for o in nested] == [order.id]
    assert {leg.id for leg in nested[0].legs} == {leg.id for leg in order.legs}


def test_canceling_the_entry_cancels_its_legs(bars_emulator, client) -> None:
    bars_emulator.step()
    order = client.submit_order(bracket())
    client.cancel_order_by_id(order.id)
    parent = client.get_order_by_id(order.id, GetOrderByIdRequest(nested=True))
    assert [leg.status for leg in parent.legs] == [OrderStatus.CANCELED] * 2
    assert client.get_orders() == []


@pytest.mark.parametrize(
    ("side", "tp", "sl", "entry", "exits"),
    [
        ("buy", 103.5, 97.0, "buy_to_open", "sell_to_close"),
        ("sell", 96.5, 103.0, "sell_to_open", "buy_to_close"),
    ],
)
def test_a_brackets_exits_close_what_its_entry_opens(
    bars_emulator, client, side, tp, sl, entry, exits
) -> None:
    """Alpaca's position_intent (buy_to_open, buy_to_close, sell_to_open, sell_to_close):
    a long's take-profit and stop-loss sell to close it, a short's buy to close it."""
    bars_emulator.step()
    order = client.submit_order(
        MarketOrderRequest(
            symbol="AAA", qty=10, side=side, time_in_force="gtc", order_class=OrderClass.BRACKET,
            take_profit=TakeProfitRequest(limit_price=tp), stop_loss=StopLossRequest(stop_price=sl),
        )
    )  # fmt: skip
    parent = client.get_order_by_id(order.id, GetOrderByIdRequest(nested=True))
    assert parent.position_intent.value == entry
    assert [leg.position_intent.value for leg in parent.legs] == [exits] * 2


def test_a_legs_price_is_replaced(bars_emulator, client) -> None:
    bars_emulator.step()
    order = client.submit_order(bracket(tp=110))
    bars_emulator.step()  # filled at 101
    sl = order.legs[1]
    new = client.replace_order_by_id(sl.id, ReplaceOrderRequest(stop_price=98.5))
    assert float(new.stop_price) == 98.5 and new.replaces == sl.id
    bars_emulator.step()  # 01-03: low 98 reaches the new stop
    parent = client.get_order_by_id(order.id, GetOrderByIdRequest(nested=True))
    assert [leg.id for leg in parent.legs][1] == new.id
    assert client.get_order_by_id(new.id).status is OrderStatus.FILLED
    assert float(client.get_order_by_id(new.id).filled_avg_price) == 98.5
    assert client.get_order_by_id(order.legs[0].id).status is OrderStatus.CANCELED


def test_oto(bars_emulator, client) -> None:
    bars_emulator.step()
    oto = client.submit_order(
        MarketOrderRequest(
            symbol="AAA", qty=5, side="buy", time_in_force="gtc", order_class=OrderClass.OTO,
            stop_loss=StopLossRequest(stop_price=95.5),
        )
    )  # fmt: skip
    assert oto.order_class is OrderClass.OTO and [leg.type.value for leg in oto.legs] == ["stop"]
    bars_emulator.step(2)  # filled at 101 on 01-02; 01-03's low 98 is above the stop
    assert client.get_order_by_id(oto.legs[0].id).status is OrderStatus.HELD  # working
    bars_emulator.step()  # 01-04: low 95 reaches 95.5
    stop = client.get_order_by_id(oto.legs[0].id)
    assert stop.status is OrderStatus.FILLED and float(stop.filled_avg_price) == 95.5
    assert client.get_all_positions() == []


def test_oco_exits_a_held_position(bars_emulator, client) -> None:
    bars_emulator.step()
    client.submit_order(MarketOrderRequest(symbol="AAA", qty=5, side="buy", time_in_force="gtc"))
    bars_emulator.step()  # bought at 101
    oco = client.submit_order(
        LimitOrderRequest(
            symbol="AAA", qty=5, side="sell", time_in_force="gtc", order_class=OrderClass.OCO,
            take_profit=TakeProfitRequest(limit_price=103.5),
            stop_loss=StopLossRequest(stop_price=90),
        )
    )  # fmt: skip
    assert oco.order_class is OrderClass.OCO and float(oco.limit_price) == 103.5
    assert len(oco.legs) == 1 and oco.legs[0].type.value == "stop"
    # both close the long they exit
    assert [oco.position_intent.value, oco.legs[0].position_intent.value] == ["sell_to_close"] * 2
    bars_emulator.step()  # 01-03: high 104: the oco's limit sells at 103.5
    assert client.get_order_by_id(oco.id).status is OrderStatus.FILLED
    assert client.get_order_by_id(oco.legs[0].id).status is OrderStatus.CANCELED
    assert client.get_all_positions() == []


def test_trailing_stop_reports_its_mark(bars_emulator, client) -> None:
    bars_emulator.step()
    client.submit_order(MarketOrderRequest(symbol="AAA", qty=3, side="buy", time_in_force="gtc"))
    bars_emulator.step()  # bought at 101
    order = client.submit_order(
        TrailingStopOrderRequest(symbol="AAA", qty=3, side="sell", time_in_force="gtc",
                                 trail_price=4.0)
    )  # fmt: skip
    assert order.type.value == "trailing_stop" and order.trail_price == "4"
    assert order.hwm is None
    bars_emulator.step()  # 01-03: live from the open 102: stop 98 vs low 98: fills at 98
    done = client.get_order_by_id(order.id)
    assert done.status is OrderStatus.FILLED and float(done.filled_avg_price) == 98
    pct = client.submit_order(
        MarketOrderRequest(symbol="AAA", qty=1, side="buy", time_in_force="gtc")
    )
    bars_emulator.step()  # 01-04: bought at 99
    assert client.get_order_by_id(pct.id).status is OrderStatus.FILLED
    trail = client.submit_order(
        TrailingStopOrderRequest(symbol="AAA", qty=1, side="sell", time_in_force="gtc",
                                 trail_percent=10)
    )  # fmt: skip
    bars_emulator.step()  # 01-05: mark 96 (open), stop 86.4, then the mark takes the high 99
    working = client.get_order_by_id(trail.id)
    assert working.trail_percent == "10" and float(working.hwm) == 99.0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"order_class": "bracket", "take_profit": {"limit_price": 110}}, "take_profit and stop"),
        ({"order_class": "oto"}, "exactly one of take_profit or stop_loss"),
        ({"order_class": "mleg"}, "not supported"),
        ({"type": "trailing_stop"}, "exactly one of trail_price or trail_percent"),
        ({"order_class": "bracket", "take_profit": {"limit_price": 100},
          "stop_loss": {"stop_price": 90}}, "take_profit.limit_price must be >= base_price"),
        ({"order_class": "bracket", "take_profit": {"limit_price": 110},
          "stop_loss": {"stop_price": 100}}, "stop_loss.stop_price must be <= base_price"),
        ({"order_class": "bracket", "qty": 1.5, "time_in_force": "day",
          "take_profit": {"limit_price": 110}, "stop_loss": {"stop_price": 90}},
         "fractional orders must be simple orders"),
    ],
)  # fmt: skip
def test_complex_order_validation(bars_emulator, body, message) -> None:
    bars_emulator.step()
    base = {"symbol": "AAA", "qty": 1, "side": "buy", "type": "market", "time_in_force": "gtc"}
    answer = requests.post(
        f"{bars_emulator.base_url}/v2/orders", json={**base, **body},
        headers=emt.headers(bars_emulator), timeout=10,
    )  # fmt: skip
    assert answer.status_code == 422, answer.text
    assert message in answer.json()["message"]


def test_a_bracket_must_be_an_entry(bars_emulator, client) -> None:
    bars_emulator.step()
    client.submit_order(MarketOrderRequest(symbol="AAA", qty=2, side="buy", time_in_force="gtc"))
    bars_emulator.step()
    with pytest.raises(APIError) as exc:
        client.submit_order(
            MarketOrderRequest(
                symbol="AAA", qty=2, side="sell", time_in_force="gtc",
                order_class=OrderClass.BRACKET, take_profit=TakeProfitRequest(limit_price=90),
                stop_loss=StopLossRequest(stop_price=110),
            )
        )  # fmt: skip
    assert exc.value.status_code == 422 and "bracket orders must be entry orders" in str(exc.value)
