"""Fill rules of trailing stops and attached exits (bracket, oto, oco), as tables.

Rows are sequences: an order submitted at T0, then bars from T0 + 1 day, and the fill
prices expected on each bar (a list per bar: the entry's fill first, then an exit's).
The rules themselves are stated in :mod:`workbench.sim.fills`.
"""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.orders import (
    Leg,
    OrderClass,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from workbench.sim.broker import SimulatedBroker
from workbench.sim.costs import Slippage

T0 = pd.Timestamp("2024-01-02", tz="UTC")
DAY = pd.Timedelta(days=1)
BUY, SELL = Side.BUY, Side.SELL
Bar = tuple[float, float, float, float]


def trailing(side: Side, *, price: float | None = None, percent: float | None = None):
    return OrderRequest(
        "X",
        side,
        quantity=1.0,
        type=OrderType.TRAILING_STOP,
        trail_price=price,
        trail_percent=percent,
    )


def bracket(side: Side, kind: str = "market", *, limit: float | None = None, **exits):
    both = "take_profit" in exits and ("stop_loss" in exits or "trail_price" in exits)
    return OrderRequest(
        "X",
        side,
        quantity=1.0,
        type=OrderType(kind),
        limit_price=limit,
        order_class=OrderClass.BRACKET if both else OrderClass.OTO,
        **exits,
    )


def run(
    requests: list[OrderRequest],
    bars: list[Bar],
    *,
    hold: float = 0.0,
    slippage: Slippage | None = None,
    volume: float = 1_000.0,
    volume_limit: float | None = None,
) -> tuple[SimulatedBroker, list[list[float]]]:
    """Submit ``requests`` at T0 (after buying ``hold`` at 100 if given), feed ``bars``."""
    broker = SimulatedBroker(
        1_000_000.0, slippage=slippage or Slippage(), volume_limit=volume_limit
    )
    start = T0
    if hold:
        broker.set_time(T0 - DAY)
        side = BUY if hold > 0 else SELL
        broker.submit_order(OrderRequest("X", side, quantity=abs(hold)))
        broker.process_bar("X", T0, 100, 100, 100, 100, 1_000_000)
    broker.set_time(start)
    for request in requests:
        broker.submit_order(request)
    prices: list[list[float]] = []
    for i, (o, h, low, c) in enumerate(bars, start=1):
        updates = broker.process_bar("X", start + i * DAY, o, h, low, c, volume)
        prices.append([u.fill.price for u in updates if u.fill is not None])
    return broker, prices


TRAILING = [
    # sell, trail 2: the mark starts at the first open (100), then takes each high
    (trailing(SELL, price=2), [(100, 101, 99, 100), (101, 104, 100, 103), (103, 103.5, 101, 102)],
     [[], [], [102.0]]),
    # a gap below the trailing stop (102) fills at the open
    (trailing(SELL, price=2), [(100, 101, 99, 100), (101, 104, 100, 103), (100, 100.5, 99, 100)],
     [[], [], [100.0]]),
    # percent: mark 110 after bar 1, stop 104.5
    (trailing(SELL, percent=5), [(100, 110, 99, 108), (108, 109, 104, 105)], [[], [104.5]]),
    # the bar's own high never raises the stop its low is checked against (stop 98, not 103)
    (trailing(SELL, price=2), [(100, 105, 99, 104), (104, 104, 102.5, 103)], [[], [103.0]]),
    # buy: a low-water mark (99 after bar 1), stop 101
    (trailing(BUY, price=2), [(100, 101, 99, 100), (99.5, 101.5, 97, 98)], [[], [101.0]]),
    # buy: a gap up through the stop fills at the open
    (trailing(BUY, price=2), [(100, 101, 99, 100), (104, 105, 103, 104)], [[], [104.0]]),
    # a gap above the mark: the open is traded first, so the mark is 110, the stop 108
    # (not 99 from the bars before), and the low (107) reaches it
    (trailing(SELL, price=2), [(100, 101, 99, 100), (110, 111, 107, 108)], [[], [108.0]]),
    # buy: a gap below the low-water mark (99): the mark is the open (90), the stop 92
    (trailing(BUY, price=2), [(100, 101, 99, 100), (90, 93, 89, 92)], [[], [92.0]]),
]  # fmt: skip


@pytest.mark.parametrize(("request_", "bars", "expected"), TRAILING)
def test_trailing_stop(request_, bars, expected) -> None:
    _, prices = run([request_], bars)
    assert prices == [pytest.approx(p) for p in expected]


def test_trailing_stop_mark_is_reported_bar_by_bar() -> None:
    broker = SimulatedBroker(1_000_000.0)
    broker.set_time(T0)
    order = broker.submit_order(trailing(SELL, percent=10))
    marks = []
    for i, bar in enumerate([(100, 101, 99, 100), (100, 107, 99, 106), (106, 106, 100, 101)], 1):
        broker.process_bar("X", T0 + i * DAY, *bar, 1_000)
        marks.append(broker.trailing_mark(order.id))
    assert marks == [101, 107, 107]


def test_trailing_stop_is_slipped_like_a_stop() -> None:
    _, prices = run(
        [trailing(SELL, price=2)],
        [(100, 101, 99, 100), (101, 104, 100, 103), (103, 103.5, 101, 102)],
        slippage=Slippage(bps=10),
    )
    assert prices[2] == [pytest.approx(102 * 0.999)]


BRACKETS = [
    # market entry at the open 100; nothing else touched
    (bracket(BUY, take_profit=110, stop_loss=95), [(100, 101, 99, 100)], [[100.0]]),
    # same bar: the low reaches the stop after the entry at the open
    (bracket(BUY, take_profit=110, stop_loss=95), [(100, 101, 94, 96)], [[100.0, 95.0]]),
    # same bar, both touched: the pessimistic leg (the stop) fills, the take-profit is canceled
    (bracket(BUY, take_profit=110, stop_loss=95), [(100, 111, 94, 100)], [[100.0, 95.0]]),
    # same bar, only the take-profit: the entry was at the open, so the high came after it
    (bracket(BUY, take_profit=110, stop_loss=95), [(100, 111, 99, 110)], [[100.0, 110.0]]),
    # next bars: a gap through the stop fills at the open
    (bracket(BUY, take_profit=110, stop_loss=95), [(100, 101, 99, 100), (90, 92, 89, 91)],
     [[100.0], [90.0]]),
    # a gap through the take-profit fills at the better open
    (bracket(BUY, take_profit=110, stop_loss=95), [(100, 101, 99, 100), (115, 116, 114, 115)],
     [[100.0], [115.0]]),
    # a limit entry filled inside the bar: its take-profit waits for the next bar
    (bracket(BUY, "limit", limit=99, take_profit=105, stop_loss=97),
     [(100, 106, 98, 104), (104, 106, 103, 105)], [[99.0], [105.0]]),
    # ... but its stop-loss may fill on the entry bar, at the stop
    (bracket(BUY, "limit", limit=99, take_profit=105, stop_loss=97), [(100, 101, 96, 97)],
     [[99.0, 97.0]]),
    # a short's bracket mirrors: the buy stop above
    (bracket(SELL, take_profit=90, stop_loss=105), [(100, 106, 99, 100)], [[100.0, 105.0]]),
    (bracket(SELL, take_profit=90, stop_loss=105), [(100, 101, 99, 100), (88, 89, 87, 88)],
     [[100.0], [88.0]]),
    # a stop-limit stop-loss: triggered intrabar at 95 within the limit 94
    (bracket(BUY, take_profit=110, stop_loss=95, stop_loss_limit=94),
     [(100, 101, 99, 100), (99, 99, 94.5, 95)], [[100.0], [95.0]]),
    # a trailing stop-loss: mark from the entry (100), then the entry bar's high (104)
    (bracket(BUY, take_profit=120, trail_price=3), [(100, 104, 99, 103), (103, 103, 100, 101)],
     [[100.0], [101.0]]),
    # a trailing stop-loss on the entry bar: stop 97 from the entry price
    (bracket(BUY, take_profit=120, trail_price=3), [(100, 104, 96, 103)], [[100.0, 97.0]]),
    # oto: only a stop-loss
    (bracket(BUY, stop_loss=95), [(100, 101, 99, 100), (96, 97, 94, 95)], [[100.0], [95.0]]),
    # oto: only a take-profit
    (bracket(BUY, take_profit=105), [(100, 101, 99, 100), (104, 106, 103, 105)],
     [[100.0], [105.0]]),
]  # fmt: skip


@pytest.mark.parametrize(("request_", "bars", "expected"), BRACKETS)
def test_attached_exits(request_, bars, expected) -> None:
    broker, prices = run([request_], bars)
    assert prices == [pytest.approx(p) for p in expected]
    exits = sum(len(p) for p in expected) - 1
    assert broker.portfolio.quantity("X") == pytest.approx(0.0 if exits else request_.side.sign)


def capped_bracket(tif: TimeInForce = TimeInForce.GTC) -> OrderRequest:
    """A market bracket for 10 (take-profit 120, stop 90), for a broker with a volume cap."""
    return OrderRequest(
        "X", BUY, quantity=10, tif=tif, order_class=OrderClass.BRACKET, take_profit=120,
        stop_loss=90,
    )  # fmt: skip


def test_legs_are_held_until_the_entry_is_completely_filled() -> None:
    # Alpaca (Orders at Alpaca, bracket orders): "The second and third orders won't be
    # active until the first order is completely filled."
    broker = SimulatedBroker(1_000_000.0, volume_limit=0.5)
    broker.set_time(T0)
    entry = broker.submit_order(capped_bracket())
    tp, sl = (broker.get_order(i) for i in entry.legs)
    assert tp.status is sl.status is OrderStatus.HELD
    assert tp.parent_id == sl.parent_id == entry.id
    broker.process_bar("X", T0 + DAY, 100, 101, 99, 100, 8)  # the entry fills 4 of 10
    # 4 more at the open; the bar then passes both the take-profit and the stop
    broker.process_bar("X", T0 + 2 * DAY, 95, 125, 85, 88, 8)
    assert broker.portfolio.quantity("X") == 8  # no exit filled: the legs still wait
    tp, sl = (broker.get_order(i) for i in entry.legs)
    assert tp.status is sl.status is OrderStatus.HELD
    assert tp.quantity == sl.quantity == 10 and tp.filled_quantity == sl.filled_quantity == 0
    broker.process_bar("X", T0 + 3 * DAY, 100, 101, 99, 100, 8)  # the last 2: filled
    tp, sl = (broker.get_order(i) for i in entry.legs)
    assert broker.get_order(entry.id).status is OrderStatus.FILLED
    assert (tp.status, sl.status) == (OrderStatus.NEW, OrderStatus.NEW)
    assert tp.quantity == sl.quantity == 10
    # the stop triggers and sells the whole position; the take-profit is canceled
    broker.process_bar("X", T0 + 4 * DAY, 95, 96, 89, 90, 40)
    assert broker.portfolio.quantity("X") == 0
    assert broker.get_order(sl.id).status is OrderStatus.FILLED
    assert broker.get_order(tp.id).status is OrderStatus.CANCELED


def test_canceling_a_partly_filled_entry_cancels_its_held_legs() -> None:
    # Alpaca: "If any one of the orders is canceled, any remaining open order in the group
    # is canceled": what the entry bought stays, unprotected.
    broker = SimulatedBroker(1_000_000.0, volume_limit=0.5)
    broker.set_time(T0)
    entry = broker.submit_order(capped_bracket())
    broker.process_bar("X", T0 + DAY, 100, 101, 99, 100, 8)  # 4 of 10
    broker.set_time(T0 + DAY)
    broker.cancel_order(entry.id)
    legs = [broker.get_order(i) for i in entry.legs]
    assert [leg.status for leg in legs] == [OrderStatus.CANCELED] * 2
    assert {leg.status_reason for leg in legs} == {f"entry {entry.id} canceled"}
    assert broker.get_open_orders() == []
    assert broker.portfolio.quantity("X") == 4


def test_a_partly_filled_day_entry_expiring_takes_its_held_legs_along() -> None:
    broker = SimulatedBroker(1_000_000.0, volume_limit=0.5)
    broker.set_time(T0)
    entry = broker.submit_order(capped_bracket(TimeInForce.DAY))
    broker.process_bar("X", T0 + DAY, 100, 101, 99, 100, 8)  # 4 of 10, then the session ends
    broker.process_bar("X", T0 + 2 * DAY, 95, 96, 85, 88, 8)  # below the stop: nothing fills
    assert broker.get_order(entry.id).status is OrderStatus.EXPIRED
    legs = [broker.get_order(i) for i in entry.legs]
    assert [leg.status for leg in legs] == [OrderStatus.CANCELED] * 2
    assert {leg.status_reason for leg in legs} == {f"entry {entry.id} expired"}
    assert broker.portfolio.quantity("X") == 4 and broker.get_open_orders() == []


def test_canceling_the_entry_cancels_its_held_legs() -> None:
    broker = SimulatedBroker(1_000_000.0)
    broker.set_time(T0)
    entry = broker.submit_order(bracket(BUY, "limit", limit=90, take_profit=110, stop_loss=85))
    broker.cancel_order(entry.id)
    assert [broker.get_order(i).status for i in entry.legs] == [OrderStatus.CANCELED] * 2
    assert broker.get_open_orders() == []


@pytest.mark.parametrize("which", [0, 1])
def test_canceling_one_exit_of_a_bracket_cancels_the_other(which) -> None:
    # Alpaca (Orders at Alpaca, bracket orders): "If any one of the orders is canceled,
    # any remaining open order in the group is canceled."
    broker, _ = run([bracket(BUY, take_profit=110, stop_loss=95)], [(100, 101, 99, 100)])
    entry = broker.orders[0]
    broker.set_time(T0 + DAY)
    broker.cancel_order(entry.legs[which])
    other = broker.get_order(entry.legs[1 - which])
    assert other.status is OrderStatus.CANCELED
    assert other.status_reason == f"oco: {entry.legs[which]} canceled"
    assert broker.get_open_orders() == []
    assert broker.portfolio.quantity("X") == 1.0  # the position stays, unprotected


def test_canceling_an_oco_take_profit_cancels_its_stop() -> None:
    oco = OrderRequest(
        "X", SELL, quantity=1.0, type=OrderType.LIMIT, limit_price=110,
        order_class=OrderClass.OCO, stop_loss=95,
    )  # fmt: skip
    broker, _ = run([oco], [(100, 101, 99, 100)], hold=1.0)
    (take,) = [o for o in broker.orders if o.request.order_class is OrderClass.OCO]
    broker.set_time(T0 + DAY)
    broker.cancel_order(take.id)
    assert broker.get_order(take.legs[0]).status is OrderStatus.CANCELED
    assert broker.get_open_orders() == []


def test_a_position_closed_by_another_order_cancels_its_exits() -> None:
    broker, _ = run([bracket(BUY, take_profit=110, stop_loss=95)], [(100, 101, 99, 100)])
    broker.set_time(T0 + DAY)
    broker.submit_order(OrderRequest("X", SELL, quantity=1.0, reason="strategy exit"))
    broker.process_bar("X", T0 + 2 * DAY, 101, 102, 100, 101, 1_000)
    assert broker.portfolio.quantity("X") == 0
    assert broker.get_open_orders() == []
    entry = broker.orders[0]
    reasons = {broker.get_order(i).status_reason for i in entry.legs}
    assert reasons == {"position closed by sim-4"}


def test_oco_pair_exits_a_held_position() -> None:
    oco = OrderRequest(
        "X",
        SELL,
        quantity=1.0,
        type=OrderType.LIMIT,
        limit_price=110,
        order_class=OrderClass.OCO,
        stop_loss=95,
    )
    broker, prices = run([oco], [(100, 101, 99, 100), (100, 101, 94, 95)], hold=1.0)
    assert prices == [[], [95.0]]
    assert broker.portfolio.quantity("X") == 0
    parent = broker.orders[1]
    assert parent.status is OrderStatus.CANCELED and parent.legs
    # the same pair with no position never sells short: it waits
    broker, prices = run([oco], [(100, 111, 94, 95)])
    assert prices == [[]] and broker.portfolio.quantity("X") == 0


def test_a_leg_price_can_be_replaced_and_stays_a_leg() -> None:
    broker = SimulatedBroker(1_000_000.0)
    broker.set_time(T0)
    entry = broker.submit_order(bracket(BUY, take_profit=110, stop_loss=95))
    broker.process_bar("X", T0 + DAY, 100, 101, 99, 100, 1_000)
    broker.set_time(T0 + DAY)
    old_sl = broker.get_order(entry.legs[1])
    new_sl = broker.replace_order(
        old_sl.id, OrderRequest("X", SELL, quantity=1.0, type=OrderType.STOP, stop_price=98)
    )
    assert broker.get_order(old_sl.id).status is OrderStatus.REPLACED
    assert new_sl.parent_id == entry.id and broker.get_order(entry.id).legs[1] == new_sl.id
    broker.process_bar("X", T0 + 2 * DAY, 100, 111, 97, 99, 1_000)  # both touched: the stop
    assert broker.fills[-1].price == 98.0
    assert broker.get_order(entry.legs[0]).status is OrderStatus.CANCELED


def test_a_notional_entry_gets_its_exits_at_its_first_fill() -> None:
    broker = SimulatedBroker(10_000.0)
    broker.set_time(T0)
    entry = broker.submit_order(
        OrderRequest(
            "X", BUY, notional=1e3, order_class=OrderClass.BRACKET, take_profit=120, stop_loss=90
        )
    )
    assert entry.legs == ()
    broker.process_bar("X", T0 + DAY, 100, 101, 99, 100, 1_000)
    entry = broker.get_order(entry.id)
    assert [broker.get_order(i).quantity for i in entry.legs] == [10.0, 10.0]


def relative(side: Side, **exits) -> OrderRequest:
    both = "take_profit_percent" in exits and (
        "stop_loss_percent" in exits or "trail_percent" in exits
    )
    return OrderRequest(
        "X",
        side,
        quantity=1.0,
        order_class=OrderClass.BRACKET if both else OrderClass.OTO,
        **exits,
    )


RELATIVE = [
    # priced from the entry's fill (100): take-profit 110, stop 95; the entry bar's low
    (relative(BUY, take_profit_percent=10, stop_loss_percent=5), [(100, 101, 94, 96)],
     [[100.0, 95.0]]),
    (relative(BUY, take_profit_percent=10, stop_loss_percent=5),
     [(100, 101, 99, 100), (104, 111, 103, 105)], [[100.0], [110.0]]),
    # a gap through the relative stop fills at the open
    (relative(BUY, stop_loss_percent=5), [(100, 101, 99, 100), (90, 92, 89, 91)],
     [[100.0], [90.0]]),
    # a short's: the stop above the fill, the take-profit below
    (relative(SELL, take_profit_percent=10, stop_loss_percent=5),
     [(100, 101, 99, 100), (101, 106, 100, 104)], [[100.0], [105.0]]),
    (relative(SELL, take_profit_percent=10, stop_loss_percent=5),
     [(100, 101, 99, 100), (95, 96, 89, 92)], [[100.0], [90.0]]),
]  # fmt: skip


@pytest.mark.parametrize(("request_", "bars", "expected"), RELATIVE)
def test_exits_relative_to_the_fill(request_, bars, expected) -> None:
    broker, prices = run([request_], bars)
    assert prices == [pytest.approx(p) for p in expected]
    assert broker.portfolio.quantity("X") == 0.0


def test_relative_exits_exist_from_the_fill_priced_from_its_slipped_price() -> None:
    broker = SimulatedBroker(1_000_000.0, slippage=Slippage(bps=100))
    broker.set_time(T0)
    request = relative(BUY, take_profit_percent=10, stop_loss_percent=5)
    entry = broker.submit_order(request)
    assert entry.legs == ()  # no price to give them yet
    broker.process_bar("X", T0 + DAY, 100, 101, 99, 100, 1_000)
    entry = broker.get_order(entry.id)
    tp, sl = (broker.get_order(i).request for i in entry.legs)
    assert entry.average_price == pytest.approx(101.0)  # 100 slipped by 1 %
    assert tp.limit_price == pytest.approx(101.0 * 1.1)
    assert sl.stop_price == pytest.approx(101.0 * 0.95)
    assert (tp.leg, sl.leg) == (Leg.TAKE_PROFIT, Leg.STOP_LOSS)


def test_exit_tif_keeps_a_day_entrys_exits_working() -> None:
    """A DAY notional entry's exits are DAY too (Alpaca's rule), unless ``exit_tif`` says GTC."""
    bars = [(100, 101, 99, 100), (100, 101, 99, 100), (100, 101, 99, 100), (96, 97, 94, 95)]
    for exit_tif, fills in ((None, 1), (TimeInForce.GTC, 2)):
        request = OrderRequest(
            "X",
            BUY,
            notional=1_000.0,
            tif=TimeInForce.DAY,
            order_class=OrderClass.OTO,
            stop_loss_percent=5,
            exit_tif=exit_tif,
        )
        _, prices = run([request], bars)
        assert sum(len(p) for p in prices) == fills


def test_canceling_an_unfilled_entry_with_relative_exits_leaves_nothing() -> None:
    broker = SimulatedBroker(1_000_000.0)
    broker.set_time(T0)
    entry = broker.submit_order(
        OrderRequest(
            "X",
            BUY,
            quantity=1.0,
            type=OrderType.LIMIT,
            limit_price=90,
            order_class=OrderClass.OTO,
            stop_loss_percent=5,
        )
    )
    broker.cancel_order(entry.id)
    assert broker.get_open_orders() == [] and broker.get_order(entry.id).legs == ()


def test_an_exit_at_the_open_comes_before_a_stop_inside_the_bar() -> None:
    """A closing market order fills at the open and cancels the stop the bar then reaches."""
    broker, _ = run([bracket(BUY, take_profit=110, stop_loss=95)], [(100, 101, 99, 100)])
    broker.set_time(T0 + DAY)
    broker.submit_order(OrderRequest("X", SELL, quantity=1.0, reason="strategy exit"))
    broker.process_bar("X", T0 + 2 * DAY, 97, 98, 90, 91, 1_000)
    assert [f.price for f in broker.fills] == [100.0, 97.0]
    assert broker.portfolio.quantity("X") == 0  # not short: the stop did not also sell
