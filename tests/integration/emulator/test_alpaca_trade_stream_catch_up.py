"""The Alpaca broker's trade stream after a reconnection: Alpaca does not replay the
trade updates a dropped connection missed (alpaca-py reconnects and sends ``listen``
again, nothing more), so the broker lists the orders sent since its oldest open one and
hands out what changed (:mod:`tests.integration.emulator.test_alpaca_catch_up_listing`:
what the listing costs).
"""

from __future__ import annotations

import time

import pytest

from workbench.broker import OrderUpdate, UpdateEvent
from workbench.brokers.alpaca import AlpacaBroker
from workbench.emulator import Emulator, Fault
from workbench.emulator import testing as emt
from workbench.orders import OrderRequest, OrderStatus, OrderType, Side, TimeInForce


@pytest.fixture
def venue(streaming_broker: tuple[Emulator, AlpacaBroker]) -> tuple[Emulator, AlpacaBroker]:
    return streaming_broker  # conftest's: the hand-made bars, the trade stream listening


def _listening(emu: Emulator, connections: int = 1) -> None:
    emt.trade_stream_listening(emu, connections)


def _updates(broker: AlpacaBroker, until, timeout: float = 5.0) -> list[OrderUpdate]:
    """Drained updates until ``until(updates)`` holds (or ``timeout``)."""
    out: list[OrderUpdate] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not until(out):
        out.extend(broker.drain_updates())
        time.sleep(0.02)
    return out


def _reconnect_muted(emu: Emulator) -> None:
    """What the bar in between did goes out on a muted connection, then it drops."""
    emu.set_faults(Fault.silent("trading"))
    emu.step()
    emu.set_faults(Fault.drop("trading"))
    _listening(emu, 2)


def test_a_fill_missed_while_the_trade_stream_was_away_is_handed_out(venue) -> None:
    emu, broker = venue
    order = broker.submit_order(
        OrderRequest(
            "AAA", Side.BUY, quantity=10, tif=TimeInForce.DAY, reason="TEST",
            client_order_id="wb-catch-up-1",
        )
    )  # fmt: skip
    assert [u.event for u in _updates(broker, lambda u: u)] == [UpdateEvent.NEW]
    _reconnect_muted(emu)
    updates = _updates(broker, lambda u: any(x.fill for x in u))
    assert [(u.event, u.fill.quantity, u.fill.price) for u in updates if u.fill] == [
        (UpdateEvent.FILL, 10.0, 100.0)
    ]
    assert updates[-1].order.id == order.id and updates[-1].order.status is OrderStatus.FILLED
    assert updates[-1].fill.reason == "TEST"
    emu.step()  # later updates still arrive, nothing twice
    assert _updates(broker, lambda u: False, timeout=0.3) == []


def test_a_cancel_missed_while_the_trade_stream_was_away_is_handed_out(venue) -> None:
    emu, broker = venue
    order = broker.submit_order(
        OrderRequest(
            "AAA", Side.BUY, quantity=5, type=OrderType.LIMIT, limit_price=50.0,
            tif=TimeInForce.GTC,
        )
    )  # fmt: skip
    _updates(broker, lambda u: u)
    emu.set_faults(Fault.silent("trading"))
    broker.cancel_order(order.id)
    emu.set_faults(Fault.drop("trading"))
    _listening(emu, 2)
    updates = _updates(broker, lambda u: any(x.event is UpdateEvent.CANCELED for x in u))
    assert [(u.event, u.order.status) for u in updates] == [
        (UpdateEvent.CANCELED, OrderStatus.CANCELED)
    ]


def test_a_part_filled_then_canceled_order_is_caught_up_in_order(venue) -> None:
    """Filled in part and canceled while away: the part filled, then the cancel."""
    emu, broker = venue
    emu.set_faults(Fault.partial(qty=4))
    order = broker.submit_order(
        OrderRequest("AAA", Side.BUY, quantity=10, tif=TimeInForce.GTC, client_order_id="wb-c2")
    )
    _updates(broker, lambda u: u)
    emu.set_faults(Fault.partial(qty=4), Fault.silent("trading"))
    emu.step()
    broker.cancel_order(order.id)
    emu.set_faults(Fault.drop("trading"))
    _listening(emu, 2)
    updates = _updates(broker, lambda u: any(x.event is UpdateEvent.CANCELED for x in u))
    assert [(u.event, u.order.filled_quantity) for u in updates] == [
        (UpdateEvent.PARTIAL_FILL, 4.0),
        (UpdateEvent.CANCELED, 4.0),
    ]
    assert updates[0].fill.quantity == 4.0 and updates[-1].order.status is OrderStatus.CANCELED


def test_a_catch_up_refused_429_waits_the_retry_after_alpaca_asked_for(bars_emulator) -> None:
    """The catch-up's listing after a reconnection is refused 429 with ``Retry-After:
    30``: no drain asks again before 30 s have passed on the broker's clock (each would
    only spend the limit again), the first one after does, and the catch-up ends: one
    listing shows the three orders, none is looked up."""
    emu = bars_emulator
    now = [0.0]
    broker = AlpacaBroker(
        emu.key, emu.secret, url=emu.base_url, stream_url=emu.trading_stream_url,
        clock=lambda: now[0],
    )  # fmt: skip
    asked: list[str] = []

    def counted(response, *args, **kwargs):  # every request the SDK sends, as answered
        path = response.request.path_url
        if response.request.method == "GET" and path.startswith("/v2/orders"):
            asked.append(f"{response.status_code} {path}")

    broker.client._session.hooks["response"].append(counted)
    broker.start_stream()
    try:
        _listening(emu)
        for i in range(3):
            broker.submit_order(
                OrderRequest(
                    "AAA", Side.BUY, quantity=1, type=OrderType.LIMIT, limit_price=50.0,
                    tif=TimeInForce.GTC, client_order_id=f"wb-wait-{i}",
                )
            )  # fmt: skip
        _updates(broker, lambda u: len(u) == 3)  # their new events
        emu.set_faults(
            Fault.error(429, method="GET", path="/v2/orders", times=1, retry_after=30.0),
            Fault.drop("trading"),
        )
        _listening(emu, 2)
        emt.wait_until(lambda: broker.drain_updates() or asked, 10, "the first listing")
        assert [x.split()[0] for x in asked] == ["429"] and broker._behind
        for _ in range(20):  # drains before the wait is over ask nothing
            assert broker.drain_updates() == []
        now[0] += 29.9
        assert broker.drain_updates() == [] and len(asked) == 1
        now[0] += 0.2
        assert broker.drain_updates() == []  # nothing missed: the orders still rest
        assert not broker._behind
        assert [x.split()[0] for x in asked] == ["429", "200"]
        assert all(x.split()[1].startswith("/v2/orders?status=all") for x in asked)
    finally:
        broker.close()
