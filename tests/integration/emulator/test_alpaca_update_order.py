"""The Alpaca broker follows Alpaca's order lifecycle over the real alpaca-py trade stream:
each status change Alpaca documents is taken, an update older than what the broker has
told already (the stream keeps no order) is dropped quietly, and a move the lifecycle
has not is flagged (one ERROR line, no traceback).

The emulator never sends ``pending_new`` (its venue takes an order at once) nor ends an
order it has not routed ``expired``: those updates are sent here on its trade stream, the
order as the emulator shows it with Alpaca's status, as Alpaca would send them. Minute
bars: Tuesday 2024-01-02's first minute and its last, then Wednesday's first; an order sent
after Tuesday's close stays ``accepted`` (not routed) until Wednesday's open.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pandas as pd
import pytest
import requests

from tests.integration.emulator.test_protect_alpaca import drain_until
from workbench.broker import OrderUpdate, UpdateEvent
from workbench.brokers.alpaca import AlpacaBroker
from workbench.emulator import Emulator
from workbench.emulator import testing as emt
from workbench.emulator.shapes import trade_update
from workbench.orders import Order, OrderRequest, OrderStatus, OrderType, Side, TimeInForce

MINUTES = [  # AAA minute bars (UTC): open, high, low, close
    ("2024-01-02 14:30", 100.0, 101.0, 99.0, 100.5),  # Tuesday's open
    ("2024-01-02 20:59", 101.0, 101.5, 100.5, 101.0),  # its last minute: then closed
    ("2024-01-03 14:30", 98.0, 99.0, 97.0, 98.5),  # Wednesday's open
]
LOGGER = "workbench.brokers.alpaca"


@pytest.fixture
def venue() -> Iterator[tuple[Emulator, AlpacaBroker]]:
    index = pd.DatetimeIndex([pd.Timestamp(t, tz="UTC") for t, *_ in MINUTES], name="time")
    rows = [(*prices, 1000.0) for _, *prices in MINUTES]
    frame = pd.DataFrame(rows, index=index, columns=["open", "high", "low", "close", "volume"])
    with Emulator({"AAA": frame}, key="order-key", secret="order-secret") as emu:
        url, stream_url = emu.base_url, emu.trading_stream_url
        broker = AlpacaBroker(emu.key, emu.secret, url=url, stream_url=stream_url)
        broker.start_stream()
        try:
            emt.wait_until(
                lambda: emu.state()["connections"]["trading_ready"] >= 1, 30, "trade stream"
            )
            emu.step()  # Tuesday's open: the market is open
            yield emu, broker
        finally:
            broker.close()


def _limit(broker: AlpacaBroker, cid: str, price: float = 50.0) -> Order:
    """A gtc buy limit far under the market: it rests."""
    return broker.submit_order(
        OrderRequest(
            "AAA", Side.BUY, quantity=2, type=OrderType.LIMIT, limit_price=price,
            tif=TimeInForce.GTC, client_order_id=cid,
        )
    )  # fmt: skip


def _send(emu: Emulator, order_id: str, event: str, status: str, **execution: float) -> None:
    """Alpaca's ``event`` for the order as the emulator shows it, in ``status``; a fill
    event's ``qty`` and ``price`` (``execution``) are also the order's filled quantity and
    average price."""
    doc = requests.get(f"{emu.base_url}/v2/orders/{order_id}", headers=emt.headers(emu), timeout=10)
    order = {**doc.json(), "status": status}
    if execution:
        order.update(filled_qty=str(execution["qty"]), filled_avg_price=str(execution["price"]))
    message = trade_update(event, order, pd.Timestamp(order["updated_at"]), **execution)

    async def send() -> None:
        await emu.core.hub.trade_updates([message])

    emu.call(send)


def _drain(
    broker: AlpacaBroker, until: Callable[[AlpacaBroker, list[OrderUpdate]], bool]
) -> list[OrderUpdate]:
    """Drained updates until ``until(broker, updates)`` holds (AssertionError after 10 s)."""
    return drain_until(broker, lambda updates: until(broker, updates))


def _status(order_id: str, status: OrderStatus) -> Callable[[AlpacaBroker, list], bool]:
    return lambda broker, _: broker._orders[order_id].status is status


def _errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER and r.levelno >= logging.ERROR]


def _stale(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == "stale_update"]


def test_a_late_pending_new_after_new_is_dropped_quietly(venue, caplog) -> None:
    emu, broker = venue
    order = _limit(broker, "wb-late-pn")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert [u.event for u in _drain(broker, lambda _, u: u)] == [UpdateEvent.NEW]
        _send(emu, order.id, "pending_new", "pending_new")  # overtaken by its new
        _drain(broker, lambda _, __: _stale(caplog))
        assert broker._orders[order.id].status is OrderStatus.NEW
        broker.cancel_order(order.id)  # the order is followed on as before
        ended = _drain(broker, lambda _, u: u)
    assert [(u.event, u.order.status) for u in ended] == [
        (UpdateEvent.CANCELED, OrderStatus.CANCELED)
    ]
    assert _errors(caplog) == []
    (stale,) = _stale(caplog)
    assert stale.levelno == logging.INFO and stale.exc_info is None
    message = stale.getMessage()
    assert "late pending_new update" in message and "after it was new" in message


def test_a_routed_order_not_taken_yet_waits_pending_cancel(venue, caplog) -> None:
    """Sent after the close (``accepted``), routed (``pending_new``), a cancel asked
    (``pending_cancel``), then canceled: every step taken, none flagged."""
    emu, broker = venue
    emu.step()  # Tuesday's last minute: the market is closed after it
    order = _limit(broker, "wb-pn-cancel")
    assert order.status is OrderStatus.ACCEPTED
    with caplog.at_level(logging.INFO, logger=LOGGER):
        _send(emu, order.id, "pending_new", "pending_new")
        _drain(broker, _status(order.id, OrderStatus.PENDING_NEW))
        _send(emu, order.id, "pending_cancel", "pending_cancel")
        _drain(broker, _status(order.id, OrderStatus.PENDING_CANCEL))
        broker.cancel_order(order.id)  # not routed at the emulator: canceled at once
        updates = _drain(broker, lambda _, u: u)
    assert [(u.event, u.order.status) for u in updates] == [
        (UpdateEvent.CANCELED, OrderStatus.CANCELED)
    ]
    assert _errors(caplog) == [] and _stale(caplog) == []


def test_an_accepted_order_may_expire(venue, caplog) -> None:
    """An order not routed yet ends ``expired`` (its time in force): handed out as such;
    the emulator's own ``new`` at the next open, now older than that end, is dropped."""
    emu, broker = venue
    emu.step()  # the close
    order = _limit(broker, "wb-acc-exp")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        _send(emu, order.id, "expired", "expired")
        updates = _drain(broker, lambda _, u: u)
        assert [(u.event, u.order.status) for u in updates] == [
            (UpdateEvent.EXPIRED, OrderStatus.EXPIRED)
        ]
        emu.step()  # Wednesday's open: the emulator routes it, new
        _drain(broker, lambda _, __: _stale(caplog))
    assert broker._orders[order.id].status is OrderStatus.EXPIRED
    assert _errors(caplog) == []


def test_a_move_the_lifecycle_has_not_is_flagged_without_a_traceback(venue, caplog) -> None:
    """A filled order said canceled: not an older update but an inconsistency, one ERROR
    line naming the move; Alpaca's word is taken."""
    emu, broker = venue
    order = _limit(broker, "wb-filled", price=110.0)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        emu.step()  # Tuesday's last minute fills it
        _drain(broker, _status(order.id, OrderStatus.FILLED))
        _send(emu, order.id, "canceled", "canceled")
        updates = _drain(broker, lambda _, u: u)
    assert [(u.event, u.order.status) for u in updates] == [
        (UpdateEvent.CANCELED, OrderStatus.CANCELED)
    ]
    (error,) = _errors(caplog)
    assert error.event == "invalid_transition" and error.exc_info is None
    assert "filled -> canceled is not allowed" in error.getMessage()


def test_a_fill_after_its_orders_end_is_handed_out_and_the_order_stays_ended(venue, caplog) -> None:
    """Part filled, then canceled, the two events delivered the other way round: the
    cancel, then the fill, which still counts; the order does not open again."""
    emu, broker = venue
    order = _limit(broker, "wb-fill-late")
    _drain(broker, lambda _, u: u)  # new
    with caplog.at_level(logging.INFO, logger=LOGGER):
        _send(emu, order.id, "canceled", "canceled", qty=1.0, price=50.0)
        _drain(broker, _status(order.id, OrderStatus.CANCELED))
        _send(emu, order.id, "partial_fill", "partially_filled", qty=1.0, price=50.0)
        (late,) = _drain(broker, lambda _, u: u)
    assert (late.event, late.fill.quantity, late.fill.price) == (UpdateEvent.PARTIAL_FILL, 1, 50)
    assert (late.order.status, late.order.filled_quantity) == (OrderStatus.CANCELED, 1.0)
    assert broker._orders[order.id].status is OrderStatus.CANCELED
    assert _errors(caplog) == []
