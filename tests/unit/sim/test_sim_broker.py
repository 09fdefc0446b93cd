"""The simulated broker: OCO, partial fills, sizing, buying power, expiry, ids, accounting."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from workbench.broker import Broker, UpdateEvent
from workbench.errors import BrokerError, ConfigError, OrderRejected
from workbench.orders import OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from workbench.sim.broker import SimulatedBroker
from workbench.sim.costs import Commission, Slippage

T0 = pd.Timestamp("2024-01-02", tz="UTC")
DAY = pd.Timedelta(days=1)
MINUTE = pd.Timedelta(minutes=1)
BUY, SELL = Side.BUY, Side.SELL


def req(side: Side, quantity: float | None = 1.0, kind: str = "market", **kw) -> OrderRequest:
    return OrderRequest("X", side, quantity=quantity, type=OrderType(kind), **kw)


def bar(broker: SimulatedBroker, i: int, o: float, h: float, low: float, c: float, v: float = 1e6):
    """Process daily bar ``i`` (T0 + i days) of symbol X."""
    return broker.process_bar("X", T0 + i * DAY, o, h, low, c, v)


def submit_at(broker: SimulatedBroker, i: int, *requests: OrderRequest) -> list[str]:
    broker.set_time(T0 + i * DAY)
    return [broker.submit_order(r).id for r in requests]


def test_satisfies_the_broker_protocol() -> None:
    assert isinstance(SimulatedBroker(1.0), Broker)


# -- OCO --------------------------------------------------------------------------
LONG_STOP = req(SELL, 10, "stop", stop_price=95)
LONG_TAKE = req(SELL, 10, "limit", limit_price=105)
SHORT_STOP = req(BUY, 10, "stop", stop_price=105)
SHORT_TAKE = req(BUY, 10, "limit", limit_price=95)
BOTH_TOUCHED = (100, 106, 94, 100)

# position, its exits (one OCO group), the next bar, which exit fills, at what price
OCO_CASES = [
    (10, [LONG_STOP, LONG_TAKE], BOTH_TOUCHED, 0, 95.0),  # same bar: the stop (pessimistic)
    (10, [LONG_TAKE, LONG_STOP], BOTH_TOUCHED, 1, 95.0),  # whatever the submission order
    (-10, [SHORT_TAKE, SHORT_STOP], BOTH_TOUCHED, 1, 105.0),  # a short: the highest buy price
    (10, [LONG_STOP, LONG_TAKE], (100, 106, 99, 100), 1, 105.0),  # only the take-profit touched
]


@pytest.mark.parametrize(("position", "exits", "ohlc", "winner", "price"), OCO_CASES)
def test_oco_group_fills_the_pessimistic_order_and_cancels_the_rest(
    position, exits, ohlc, winner, price
) -> None:
    broker = SimulatedBroker(100_000.0)
    submit_at(broker, 0, req(BUY if position > 0 else SELL, abs(position)))
    bar(broker, 1, 100, 100, 100, 100)
    ids = submit_at(broker, 1, *(dataclasses.replace(r, oco_group="exit") for r in exits))
    updates = bar(broker, 2, *ohlc)
    fills = [u.fill for u in updates if u.fill is not None]
    assert [(f.order_id, f.price) for f in fills] == [(ids[winner], price)]
    loser = ids[1 - winner]
    assert broker.get_order(loser).status is OrderStatus.CANCELED
    assert broker.get_order(loser).status_reason == f"oco: {ids[winner]} filled"
    assert (UpdateEvent.CANCELED, loser) in [(u.event, u.order.id) for u in updates]
    assert broker.portfolio.quantity("X") == 0.0
    assert broker.get_open_orders() == []


# -- volume cap -----------------------------------------------------------------------
def test_volume_cap_fills_in_parts_and_charges_the_minimum_once() -> None:
    broker = SimulatedBroker(
        100_000.0, volume_limit=0.1, commission=Commission(per_share=0.02, minimum=1.0)
    )
    (oid,) = submit_at(broker, 0, req(BUY, 100))
    events, quantities, prices, charges = [], [], [], []
    for i, (o, v) in enumerate([(100, 400), (101, 0), (102, 400), (103, 400), (104, 400)], start=1):
        for u in bar(broker, i, o, o + 1, o - 1, o, v):
            events.append(u.event)
            quantities.append(u.fill.quantity)
            prices.append(u.fill.price)
            charges.append(u.fill.commission)
    assert events == [UpdateEvent.PARTIAL_FILL, UpdateEvent.PARTIAL_FILL, UpdateEvent.FILL]
    assert quantities == pytest.approx([40, 40, 20])  # nothing on the zero-volume bar
    assert prices == [100, 102, 103]  # a market remainder fills at later opens
    assert charges == pytest.approx([1.0, 0.6, 0.4])  # 0.8 -> minimum 1.0, then the increases
    order = broker.get_order(oid)
    assert order.status is OrderStatus.FILLED and order.filled_quantity == pytest.approx(100)
    assert order.average_price == pytest.approx((40 * 100 + 40 * 102 + 20 * 103) / 100)
    assert order.commission == pytest.approx(2.0) == broker.portfolio.commission_paid


def test_a_capped_limit_remainder_waits_for_the_limit_again() -> None:
    broker = SimulatedBroker(100_000.0, volume_limit=0.5)
    submit_at(broker, 0, req(BUY, 10, "limit", limit_price=99))
    bars = [(100, 101, 98, 100), (100, 101, 99.5, 100), (99, 100, 98, 99)]  # volume 12: 6 a bar
    filled = [[u.fill.quantity for u in bar(broker, i, *b, 12)] for i, b in enumerate(bars, 1)]
    assert filled == [[6.0], [], [4.0]]


# -- sizing: notional and lots ----------------------------------------------------------
# (commission, lot size, notional, open) -> (quantity, commission of the fill)
NOTIONAL = [
    (Commission(), None, 1_000.0, 100.0, 10.0, 0.0),
    (Commission(percent=0.001), None, 1_000.0, 100.0, 1_000 / 100.1, 1_000 / 100.1 * 0.1),
    (Commission(percent=0.001, minimum=5.0), None, 1_000.0, 100.0, 9.95, 5.0),  # (1000-5)/100
    (Commission(per_share=0.01), None, 1_000.0, 100.0, 1_000 / 100.01, 1_000 / 100.01 * 0.01),
    (Commission(percent=0.001), 1.0, 1_000.0, 100.0, 9.0, 0.9),  # 9.99 -> whole shares
    (Commission(), 0.1, 1_000.0, 30.0, 33.3, 0.0),
]


@pytest.mark.parametrize(("commission", "lot", "notional", "open_", "quantity", "fee"), NOTIONAL)
def test_notional_is_resolved_at_the_fill_price_fees_included(
    commission, lot, notional, open_, quantity, fee
) -> None:
    broker = SimulatedBroker(10_000.0, commission=commission, lot_size=lot)
    (oid,) = submit_at(broker, 0, req(BUY, None, notional=notional))
    assert broker.get_order(oid).quantity is None
    (update,) = bar(broker, 1, open_, open_ + 1, open_ - 1, open_)
    assert update.fill.quantity == pytest.approx(quantity)
    assert update.fill.commission == pytest.approx(fee)
    assert broker.get_order(oid).quantity == pytest.approx(quantity)
    spent = 10_000.0 - broker.portfolio.cash
    assert spent == pytest.approx(quantity * open_ + fee)
    if lot is None:
        assert spent == pytest.approx(notional)  # exactly the cash given, fees included


def test_notional_uses_the_slipped_price() -> None:
    broker = SimulatedBroker(10_000.0, slippage=Slippage(bps=10))
    submit_at(broker, 0, req(BUY, None, notional=1_001.0))
    (update,) = bar(broker, 1, 100, 101, 99, 100)
    assert update.fill.price == pytest.approx(100.1) and update.fill.quantity == pytest.approx(10.0)
    assert update.fill.slippage == pytest.approx(0.1)


# order, commission, lot size -> why it is rejected (50 / 100 = 0.5 share: none in whole shares)
REJECTED_SIZES = [
    (req(BUY, None, notional=50.0), Commission(minimum=100.0), None, "notional too small"),
    (req(BUY, None, notional=50.0), Commission(), 1.0, "notional too small"),
    (req(BUY, 0.5), Commission(), 1.0, "below the lot size"),
]


@pytest.mark.parametrize(("request_", "commission", "lot", "message"), REJECTED_SIZES)
def test_sizes_that_round_to_nothing_are_rejected(request_, commission, lot, message) -> None:
    broker = SimulatedBroker(10_000.0, commission=commission, lot_size=lot)
    (oid,) = submit_at(broker, 0, request_)
    bar(broker, 1, 100, 101, 99, 100)
    order = broker.get_order(oid)
    assert order.status is OrderStatus.REJECTED and message in order.status_reason
    assert broker.drain_updates()[-1].event is UpdateEvent.REJECTED
    assert broker.fills == [] and broker.portfolio.cash == 10_000.0


def test_lot_size_rounds_a_quantity_down() -> None:
    broker = SimulatedBroker(10_000.0, lot_size=1.0)
    (oid,) = submit_at(broker, 0, req(BUY, 10.7))
    assert broker.get_order(oid).quantity == 10.0


# -- buying power and shorting ------------------------------------------------------------
FEE_1 = {"commission": Commission(minimum=1.0)}
NO_SHORTS = {"allow_short": False}
SHORT = "shorting not allowed"
POWER = "insufficient buying power"

# venue settings, position held before (bought at 100), order, refusal (None: it fills).
# Cash 1,000 and the next open at 100 in every row.
BUYING_POWER = [
    ({}, 0, req(BUY, 10), None),  # costs exactly the cash
    ({}, 0, req(BUY, 11), POWER),
    (FEE_1, 0, req(BUY, 10), POWER),  # the fee tips it over
    ({"margin": 2.0}, 0, req(BUY, 11), None),
    ({"margin": 2.0}, 0, req(BUY, 21), POWER),
    ({}, 0, req(SELL, 10), None),  # a short needs its notional as collateral
    ({}, 0, req(SELL, 11), POWER),
    (NO_SHORTS, 0, req(SELL, 1), SHORT),
    (NO_SHORTS, 5, req(SELL, 5), None),  # closing is fine
    (NO_SHORTS, 5, req(SELL, 6), SHORT),
    ({}, 10, req(SELL, 10), None),  # reducing never needs buying power
]


@pytest.mark.parametrize(("settings", "position", "request_", "refusal"), BUYING_POWER)
def test_buying_power_is_checked_at_fill_time(settings, position, request_, refusal) -> None:
    broker = SimulatedBroker(1_000.0, **settings)
    if position:
        broker.portfolio.cash += position * 100.0  # hand the position over at no cost
        submit_at(broker, 0, req(BUY, position))
        bar(broker, 1, 100, 100, 100, 100)
    (oid,) = submit_at(broker, 1, request_)
    bar(broker, 2, 100, 101, 99, 100)
    order = broker.get_order(oid)
    if refusal is None:
        assert order.status is OrderStatus.FILLED, order.status_reason
    else:
        assert order.status is OrderStatus.REJECTED and refusal in order.status_reason


def test_rejection_names_cost_and_cash() -> None:
    broker = SimulatedBroker(1_000.0, commission=Commission(per_share=1.0))
    submit_at(broker, 0, req(BUY, 10))
    (update,) = bar(broker, 1, 100, 101, 99, 100)
    assert update.event is UpdateEvent.REJECTED
    reason = update.order.status_reason
    assert "costs 1010.00" in reason and "cash is 1000.00" in reason


def test_a_partially_filled_order_that_runs_out_of_cash_is_canceled() -> None:
    broker = SimulatedBroker(1_000.0, volume_limit=0.5)
    (oid,) = submit_at(broker, 0, req(BUY, 8))
    bar(broker, 1, 100, 101, 99, 100, 10)  # 5 filled, 500 left
    (update,) = bar(broker, 2, 200, 201, 199, 200, 10)  # 3 more would cost 600
    assert update.event is UpdateEvent.CANCELED
    assert "insufficient buying power" in update.order.status_reason
    assert broker.get_order(oid).filled_quantity == 5


# -- time in force --------------------------------------------------------------------------
def test_day_order_lives_one_daily_bar() -> None:
    broker = SimulatedBroker(10_000.0)
    day_id, gtc_id = submit_at(
        broker,
        0,
        req(BUY, 1, "limit", limit_price=90, tif=TimeInForce.DAY),
        req(BUY, 1, "limit", limit_price=90),
    )
    assert bar(broker, 1, 100, 101, 95, 100) == []
    updates = bar(broker, 2, 100, 101, 85, 90)
    assert [(u.event, u.order.id) for u in updates] == [
        (UpdateEvent.EXPIRED, day_id),
        (UpdateEvent.FILL, gtc_id),
    ]
    assert broker.get_order(day_id).status is OrderStatus.EXPIRED


def test_day_order_on_minute_bars_lives_to_the_end_of_the_utc_date() -> None:
    broker = SimulatedBroker(10_000.0)
    start = pd.Timestamp("2024-01-02 20:00", tz="UTC")
    broker.set_time(start)
    placed = broker.submit_order(req(BUY, 1, "limit", limit_price=90, tif=TimeInForce.DAY))
    for t in (start + MINUTE, pd.Timestamp("2024-01-02 23:59", tz="UTC")):
        assert broker.process_bar("X", t, 100, 101, 95, 100, 1e6) == []
    (update,) = broker.process_bar(
        "X", pd.Timestamp("2024-01-03 00:00", tz="UTC"), 100, 101, 85, 90, 1e6
    )
    assert update.event is UpdateEvent.EXPIRED and broker.fills == []
    assert broker.get_order(placed.id).status is OrderStatus.EXPIRED


def test_day_order_fills_within_its_date() -> None:
    broker = SimulatedBroker(10_000.0)
    broker.set_time(pd.Timestamp("2024-01-02 20:00", tz="UTC"))
    broker.submit_order(req(BUY, 1, "limit", limit_price=90, tif=TimeInForce.DAY))
    broker.process_bar("X", pd.Timestamp("2024-01-02 20:01", tz="UTC"), 100, 101, 95, 100, 1e6)
    (update,) = broker.process_bar(
        "X", pd.Timestamp("2024-01-02 23:59", tz="UTC"), 91, 92, 89, 90, 1e6
    )
    assert update.event is UpdateEvent.FILL and update.fill.price == 90.0


# -- ids, cancel, lookups -------------------------------------------------------------------------
def test_ids_are_deterministic_and_client_ids_unique() -> None:
    broker = SimulatedBroker(10_000.0, id_prefix="bt")
    first = submit_at(broker, 0, req(BUY, client_order_id="a"), req(BUY, client_order_id="b"))
    assert first == ["bt-1", "bt-2"]
    with pytest.raises(OrderRejected, match="client_order_id must be unique") as info:
        broker.submit_order(req(SELL, client_order_id="a"))
    assert info.value.code == 40010001
    assert broker.get_order_by_client_id("a").id == "bt-1"
    assert broker.get_order_by_client_id("zzz") is None
    assert [u.event for u in broker.drain_updates()] == [UpdateEvent.NEW, UpdateEvent.NEW]
    assert broker.drain_updates() == []


def test_cancel() -> None:
    broker = SimulatedBroker(10_000.0)
    limit_id, market_id = submit_at(broker, 0, req(BUY, 1, "limit", limit_price=90), req(BUY, 1))
    broker.drain_updates()
    broker.cancel_order(limit_id)
    (update,) = broker.drain_updates()
    assert update.event is UpdateEvent.CANCELED and update.order.status is OrderStatus.CANCELED
    assert [o.id for o in broker.get_open_orders()] == [market_id]
    bar(broker, 1, 85, 86, 84, 85)  # the canceled limit would have filled
    assert [f.order_id for f in broker.fills] == [market_id]
    with pytest.raises(OrderRejected, match="is filled and cannot be canceled"):
        broker.cancel_order(market_id)
    with pytest.raises(BrokerError, match="not found"):
        broker.cancel_order("sim-99")
    with pytest.raises(BrokerError, match="not found"):
        broker.get_order("sim-99")


def test_cancel_all_orders() -> None:
    broker = SimulatedBroker(10_000.0)
    submit_at(broker, 0, req(BUY, 1, "limit", limit_price=90), req(SELL, 1, "stop", stop_price=80))
    broker.cancel_all_orders()
    assert broker.get_open_orders() == [] and not broker.has_open_orders("X")
    assert {o.status for o in broker.orders} == {OrderStatus.CANCELED}


def test_submitting_before_the_clock_is_set_is_an_error() -> None:
    with pytest.raises(BrokerError, match="set_time"):
        SimulatedBroker(1.0).submit_order(req(BUY))


# -- accounting -----------------------------------------------------------------------------------
def test_accounting_after_a_sequence_of_fills() -> None:
    fee = Commission(percent=0.001, minimum=1.0)
    broker = SimulatedBroker(10_000.0, commission=fee, slippage=Slippage(bps=10))
    submit_at(broker, 0, req(BUY, 50))
    bar(broker, 1, 100, 102, 99, 101)  # buy 50 at 100.1, fee max(1, 5.005)
    submit_at(broker, 1, req(SELL, 20, "limit", limit_price=103))
    bar(broker, 2, 102, 104, 101, 103)  # sell 20 at 103 (no slippage), fee max(1, 2.06)
    submit_at(broker, 2, req(SELL, 5, "stop", stop_price=100))
    bar(broker, 3, 101, 101, 98, 99)  # sell 5 at 100 * 0.999 = 99.9, fee minimum 1
    expected_cash = 10_000 - 50 * 100.1 - 5.005 + 20 * 103 - 2.06 + 5 * 99.9 - 1.0
    pf = broker.portfolio
    assert pf.cash == pytest.approx(expected_cash)
    assert pf.quantity("X") == 25
    assert pf.equity == pytest.approx(expected_cash + 25 * 99)  # marked at the last close
    assert pf.commission_paid == pytest.approx(5.005 + 2.06 + 1.0)
    assert sum(f.commission for f in broker.fills) == pytest.approx(pf.commission_paid)
    assert sum(o.commission for o in broker.orders) == pytest.approx(pf.commission_paid)
    assert [f.slippage for f in broker.fills] == pytest.approx([0.1, 0.0, 0.1])
    account = broker.get_account()
    assert (account.cash, account.equity) == (pf.cash, pf.equity)
    assert account.buying_power == pytest.approx(pf.cash)  # long only, no margin: the cash
    assert list(broker.get_positions()) == ["X"] and broker.get_positions()["X"].quantity == 25


def test_the_account_and_the_portfolio_value_several_positions_alike() -> None:
    """The risk engine reads the account; the backtester marks the portfolio: the same
    float sums, bit for bit, with longs, shorts and a closed position."""
    broker = SimulatedBroker(100_000.0, commission=Commission(percent=0.001), margin=2.0)
    broker.set_time(T0)
    for sym, side, qty in (("A", BUY, 13.7), ("B", SELL, 21.3), ("C", BUY, 7.0)):
        broker.submit_order(OrderRequest(sym, side, quantity=qty))
    for sym, price in (("A", 101.37), ("B", 57.13), ("C", 333.3)):
        broker.process_bar(sym, T0 + MINUTE, price, price + 1, price - 1, price * 1.0013, 1e6)
    broker.set_time(T0 + MINUTE)
    broker.submit_order(OrderRequest("C", SELL, quantity=7.0))
    broker.process_bar("C", T0 + 2 * MINUTE, 330.1, 331, 329, 330.7, 1e6)
    pf = broker.portfolio
    account = broker.get_account()
    assert pf.quantity("C") == 0.0 and pf.quantity("B") < 0
    assert (account.cash, account.equity) == (pf.cash, pf.equity)
    gross = abs(13.7 * 101.37 * 1.0013) + abs(-21.3 * 57.13 * 1.0013)
    assert account.buying_power == pytest.approx(pf.equity * 2.0 - gross)
    assert broker.get_positions() == {s: pf.view(s) for s in ("A", "B")}


def test_fill_carries_the_reason_and_bars_mark_positions() -> None:
    broker = SimulatedBroker(10_000.0)
    submit_at(broker, 0, req(BUY, 2, reason="MA_CROSS_BUY"))
    bar(broker, 1, 100, 101, 99, 100)
    assert broker.fills[0].reason == "MA_CROSS_BUY"
    assert not broker.has_open_orders("X")
    bar(broker, 2, 110, 111, 109, 110)  # no open orders: only marks
    assert broker.portfolio.equity == pytest.approx(10_000 + 2 * 10)


def test_a_partially_filled_day_order_expires_with_its_fills_kept() -> None:
    broker = SimulatedBroker(10_000.0, volume_limit=0.5)
    (oid,) = submit_at(broker, 0, req(BUY, 10, tif=TimeInForce.DAY))
    bar(broker, 1, 100, 101, 99, 100, 8)  # 4 filled
    (update,) = bar(broker, 2, 100, 101, 99, 100, 8)
    assert update.event is UpdateEvent.EXPIRED and update.order.id == oid
    assert update.order.filled_quantity == 4
    assert broker.portfolio.quantity("X") == 4


def test_buying_power_with_margin_and_shorts() -> None:
    broker = SimulatedBroker(10_000.0, margin=2.0)
    assert broker.get_account().buying_power == 20_000.0
    submit_at(broker, 0, req(SELL, 50))
    bar(broker, 1, 100, 100, 100, 100)  # short 5,000: equity 10,000, gross 5,000
    account = broker.get_account()
    assert (account.cash, account.equity, account.buying_power) == (15_000.0, 10_000.0, 15_000.0)


BAD_BROKERS = [
    ({"cash": -1.0}, "cash"),
    ({"cash": float("nan")}, "cash"),
    ({"volume_limit": 0.0}, "volume_limit"),
    ({"volume_limit": 1.5}, "volume_limit"),
    ({"lot_size": 0.0}, "lot_size"),
    ({"margin": 0.0}, "margin"),
]


@pytest.mark.parametrize(("settings", "field"), BAD_BROKERS)
def test_bad_venue_settings_are_config_errors(settings: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        SimulatedBroker(**{"cash": 1_000.0, **settings})
