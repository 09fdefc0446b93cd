"""Fractional and notional orders at the emulator, held to what Alpaca takes today.

Alpaca's first rule (2020, "Fractional Trading": "market and day order types" only) has
grown: limit orders with a fractional ``qty`` or a ``notional``, in the regular and the
extended hours (Alpaca's announcement "Fractional Shares Trading Supports Limit Orders
and Extended Hours"), then stop and stop-limit orders with either (changelog, 2024-08-20,
"Fractional USD Stop & Stop Limit Orders"). They are still DAY and simple orders: the
answers recorded from Alpaca's paper API in 2026 are 422 ``42210000`` "fractional orders
must be DAY orders", "fractional orders must be simple orders" and, for a GTC stop,
"stop/stop_limit fractional GTC orders are not enabled", while a DAY limit or stop with a
fractional ``qty`` is accepted. Through the real alpaca-py client.
"""

from __future__ import annotations

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.requests import (
    LimitOrderRequest,
    MarketOrderRequest,
    OrderRequest,
    StopLimitOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
    TrailingStopOrderRequest,
)

from workbench.emulator import Emulator
from workbench.emulator import testing as emt


@pytest.fixture
def emu(bars_emulator: Emulator) -> Emulator:
    bars_emulator.step()  # 2024-01-01 published (close 100); the next bar opens at 101
    return bars_emulator


def _bracket(tif: str) -> MarketOrderRequest:
    """A bracket buy of 1.5 shares."""
    exits = {"take_profit": TakeProfitRequest(limit_price=120)}
    exits["stop_loss"] = StopLossRequest(stop_price=90)
    return MarketOrderRequest(
        symbol="AAA", qty=1.5, side="buy", time_in_force=tif, order_class="bracket", **exits
    )


def test_fractional_and_notional_limit_and_stop_day_orders_are_taken_and_fill(
    emu: Emulator,
) -> None:
    """A DAY limit, stop or stop-limit order with a fractional qty or a notional is
    accepted (was 422 "fractional/notional orders must be market orders") and fills on
    the next bar by the venue's rules; a notional order's quantity is what its cash buys
    at the fill price, to 9 decimals."""
    c = emt.trading_client(emu)
    sent = [
        LimitOrderRequest(symbol="AAA", qty=0.5, side="buy", time_in_force="day", limit_price=101),
        LimitOrderRequest(
            symbol="AAA", notional=150.5, side="buy", time_in_force="day", limit_price=101
        ),
        StopOrderRequest(symbol="AAA", qty=0.25, side="buy", time_in_force="day", stop_price=101),
        StopOrderRequest(
            symbol="AAA", notional=20, side="buy", time_in_force="day", stop_price=102.5
        ),
        StopLimitOrderRequest(
            symbol="AAA",
            qty=0.125,
            side="buy",
            time_in_force="day",
            stop_price=102.5,
            limit_price=103,
        ),
    ]
    orders = [c.submit_order(req) for req in sent]
    assert [(o.status, o.qty, o.notional) for o in orders] == [
        ("accepted", "0.5", None),
        ("accepted", None, "150.5"),
        ("accepted", "0.25", None),
        ("accepted", None, "20"),
        ("accepted", "0.125", None),
    ]
    emu.step()  # 2024-01-02: open 101, high 103
    got = [c.get_order_by_id(o.id) for o in orders]
    assert [o.status for o in got] == ["filled"] * 5
    assert [float(o.filled_avg_price) for o in got] == [101.0, 101.0, 101.0, 102.5, 102.5]
    assert [float(o.filled_qty) for o in got[::2]] == [0.5, 0.25, 0.125]
    assert float(got[1].filled_qty) == 1.490099009  # 150.5 / 101, down to 9 decimals
    assert float(got[3].filled_qty) == 0.195121951  # 20 / 102.5


def test_a_fractional_extended_hours_limit_day_order_is_taken(emu: Emulator) -> None:
    """Fractional limit orders come "with pre-market ... and post-market support"
    (Alpaca's announcement): an extended-hours DAY limit with a fractional qty or a
    notional is accepted (it was refused as not a market order)."""
    c = emt.trading_client(emu)
    for size in ({"qty": 0.5}, {"notional": 50}):
        order = c.submit_order(
            LimitOrderRequest(
                symbol="AAA",
                side="buy",
                time_in_force="day",
                limit_price=99,
                extended_hours=True,
                **size,
            )
        )
        assert order.extended_hours is True and order.status == "accepted"


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (
            MarketOrderRequest(symbol="AAA", qty=0.5, side="buy", time_in_force="gtc"),
            "fractional orders must be DAY orders",
        ),
        (
            LimitOrderRequest(
                symbol="AAA", notional=50, side="buy", time_in_force="gtc", limit_price=99
            ),
            "fractional orders must be DAY orders",
        ),
        (
            LimitOrderRequest(
                symbol="AAA", qty=0.5, side="buy", time_in_force="ioc", limit_price=99
            ),
            "fractional orders must be DAY orders",
        ),
        (
            StopOrderRequest(
                symbol="AAA", qty=0.5, side="buy", time_in_force="gtc", stop_price=105
            ),
            "stop/stop_limit fractional GTC orders are not enabled",
        ),
        (
            StopLimitOrderRequest(
                symbol="AAA",
                notional=50,
                side="buy",
                time_in_force="gtc",
                stop_price=105,
                limit_price=106,
            ),
            "stop/stop_limit fractional GTC orders are not enabled",
        ),
        (_bracket("day"), "fractional orders must be simple orders"),
        (_bracket("gtc"), "fractional orders must be DAY orders"),
        (
            TrailingStopOrderRequest(
                symbol="AAA", qty=0.5, side="buy", time_in_force="day", trail_percent=1
            ),
            "fractional orders must be market, limit, stop or stop_limit orders",
        ),
    ],
)
def test_what_alpaca_refuses_of_a_fractional_order(
    emu: Emulator, request_: OrderRequest, message: str
) -> None:
    """422 ``42210000`` with Alpaca's recorded messages (they were 40010001; a GTC stop was
    told "must be DAY orders" and a fractional limit "must be market orders"). A
    fractional trailing stop is not in what Alpaca announced: refused, wording ours."""
    c = emt.trading_client(emu)
    with pytest.raises(APIError) as exc:
        c.submit_order(request_)
    assert (exc.value.status_code, exc.value.code, exc.value.message) == (422, 42210000, message)
    assert c.get_orders() == []
