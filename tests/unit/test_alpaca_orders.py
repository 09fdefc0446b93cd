"""Alpaca's order statuses and trade-update events, read by workbench's Alpaca broker.

Every member of alpaca-py's ``OrderStatus`` has a row here: a status Alpaca adds (and
alpaca-py with it) fails the first test until someone decides what it means for our
lifecycle. Events outside the Broker protocol's (``pending_cancel``, ``pending_replace``,
``order_cancel_rejected`` ...) move our copy of the order and hand nothing out.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
import requests
from alpaca.trading.enums import OrderStatus as AlpacaStatus
from alpaca.trading.models import Order as AlpacaOrder
from alpaca.trading.models import TradeUpdate

from workbench.broker import UpdateEvent
from workbench.brokers.alpaca import LISTENING, AlpacaBroker
from workbench.brokers.alpaca_orders import _status, order_from_alpaca
from workbench.errors import BrokerError
from workbench.orders import OrderStatus

S = OrderStatus
#: Alpaca's status -> ours with nothing filled, 4 of 10 filled, all 10 filled.
EXPECTED: dict[str, tuple[OrderStatus, OrderStatus, OrderStatus]] = {
    "new": (S.NEW, S.NEW, S.NEW),
    "partially_filled": (S.PARTIALLY_FILLED,) * 3,
    "filled": (S.FILLED,) * 3,
    "done_for_day": (S.NEW, S.PARTIALLY_FILLED, S.PARTIALLY_FILLED),
    "canceled": (S.CANCELED,) * 3,
    "expired": (S.EXPIRED,) * 3,
    "replaced": (S.REPLACED,) * 3,
    "pending_cancel": (S.PENDING_CANCEL,) * 3,
    "pending_replace": (S.PENDING_REPLACE,) * 3,
    "pending_review": (S.PENDING_NEW,) * 3,
    "accepted": (S.ACCEPTED,) * 3,
    "pending_new": (S.PENDING_NEW,) * 3,
    "accepted_for_bidding": (S.ACCEPTED,) * 3,
    "stopped": (S.NEW, S.PARTIALLY_FILLED, S.PARTIALLY_FILLED),
    "rejected": (S.REJECTED,) * 3,
    "suspended": (S.NEW, S.PARTIALLY_FILLED, S.PARTIALLY_FILLED),
    "calculated": (S.NEW, S.PARTIALLY_FILLED, S.FILLED),
    "held": (S.HELD,) * 3,
}
#: Alpaca's statuses of an order that is still working (it may yet fill).
WORKING = {
    "new", "partially_filled", "done_for_day", "pending_cancel", "pending_replace",
    "pending_review", "accepted", "pending_new", "accepted_for_bidding", "stopped",
    "suspended", "held",
}  # fmt: skip
OVER = {"filled", "canceled", "expired", "replaced", "rejected"}  # and "calculated": filled or not
ORDER_ID = "61e69015-8549-4bfd-b9c3-01e75843f47d"


def alpaca_order(status: str, filled: float = 0.0, **extra: Any) -> AlpacaOrder:
    doc = {
        "id": ORDER_ID, "client_order_id": "wb-1", "created_at": "2024-01-03T15:04:05Z",
        "updated_at": "2024-01-03T15:04:05Z", "submitted_at": "2024-01-03T15:04:05Z",
        "asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415", "symbol": "AAPL",
        "asset_class": "us_equity", "qty": "10", "filled_qty": f"{filled:g}",
        "filled_avg_price": "100" if filled else None, "order_class": "simple",
        "order_type": "limit", "type": "limit", "side": "buy", "time_in_force": "gtc",
        "limit_price": "100", "status": status, "extended_hours": False,
    }  # fmt: skip
    return AlpacaOrder(**{**doc, **extra})


def test_every_alpaca_status_has_a_row() -> None:
    assert set(EXPECTED) == {s.value for s in AlpacaStatus}
    assert WORKING | OVER | {"calculated"} == set(EXPECTED)


@pytest.mark.parametrize("status", [s.value for s in AlpacaStatus])
def test_each_alpaca_status_maps_onto_our_lifecycle(status: str) -> None:
    for filled, expected in zip((0.0, 4.0, 10.0), EXPECTED[status], strict=True):
        (order,) = order_from_alpaca(alpaca_order(status, filled))
        assert order.status is expected, (status, filled)
        if status in WORKING:  # working as Alpaca says, or over: never the other way round
            assert order.status.is_open, (status, filled)
        if status in OVER:
            assert order.status.is_terminal, (status, filled)


def test_an_unknown_status_fails_loudly() -> None:
    with pytest.raises(BrokerError, match="order status we do not know: 'teleported'"):
        _status("teleported")


def _update(event: str, status: str, filled: float = 0.0, **fields: Any) -> TradeUpdate:
    return TradeUpdate(
        event=event, order=alpaca_order(status, filled), timestamp="2024-01-03T15:05:00Z",
        **fields,
    )  # fmt: skip


@pytest.fixture
def broker() -> AlpacaBroker:
    return AlpacaBroker("key", "secret", url="http://127.0.0.1:9")  # never called here


def test_pending_cancel_then_rejected_leaves_the_order_working(
    broker: AlpacaBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """pending_cancel: still working, nothing handed out; order_cancel_rejected: working
    as before, with a warning; then the fill it raced with is handed out."""
    assert broker._apply(_update("new", "new")).event is UpdateEvent.NEW
    assert broker._apply(_update("pending_cancel", "pending_cancel")) is None
    working = broker._orders[ORDER_ID]
    assert working.status is S.PENDING_CANCEL and working.status.is_open
    caplog.set_level(logging.INFO, logger="workbench.brokers.alpaca")
    assert broker._apply(_update("order_cancel_rejected", "new")) is None
    assert broker._orders[ORDER_ID].status is S.NEW
    (record,) = [r for r in caplog.records if getattr(r, "alpaca_event", "") != ""][-1:]
    assert (record.levelno, record.event, record.alpaca_event) == (
        logging.WARNING, "order_status", "order_cancel_rejected"
    )  # fmt: skip
    fill = broker._apply(_update("fill", "filled", 10, price="99.5", qty="10"))
    assert (fill.event, fill.order.status, fill.fill.quantity) == (UpdateEvent.FILL, S.FILLED, 10)


def test_a_cancel_rejected_after_the_fill_changes_nothing(broker: AlpacaBroker) -> None:
    broker._apply(_update("new", "new"))
    broker._apply(_update("pending_cancel", "pending_cancel"))
    broker._apply(_update("fill", "filled", 10, price="99.5", qty="10"))
    assert broker._apply(_update("order_cancel_rejected", "filled", 10)) is None
    assert broker._orders[ORDER_ID].status is S.FILLED


def test_pending_replace_is_working_until_replaced(broker: AlpacaBroker) -> None:
    broker._apply(_update("new", "new"))
    assert broker._apply(_update("pending_replace", "pending_replace")) is None
    assert broker._orders[ORDER_ID].status is S.PENDING_REPLACE
    assert broker._orders[ORDER_ID].status.is_open
    replaced = broker._apply(_update("replaced", "replaced", replaced_by=str(uuid.uuid4())))
    assert (replaced.event, replaced.order.status) == (UpdateEvent.REPLACED, S.REPLACED)


def test_a_rejected_replace_leaves_the_order_as_it_was(broker: AlpacaBroker) -> None:
    broker._apply(_update("new", "new"))
    broker._apply(_update("partial_fill", "partially_filled", 4, price="100", qty="4"))
    broker._apply(_update("pending_replace", "pending_replace", 4))
    assert broker._apply(_update("order_replace_rejected", "partially_filled", 4)) is None
    order = broker._orders[ORDER_ID]
    assert (order.status, order.filled_quantity) == (S.PARTIALLY_FILLED, 4)


#: Every trade-update event Alpaca documents (and alpaca-py's ``TradeEvent`` names): our
#: status before it, the order's status and filled quantity in it, our status after it,
#: and whether it is handed to the execution engine (the Broker protocol's events).
EVENTS: dict[str, tuple[OrderStatus, str, float, OrderStatus, bool]] = {
    "new": (S.ACCEPTED, "new", 0, S.NEW, True),
    "fill": (S.NEW, "filled", 10, S.FILLED, True),
    "partial_fill": (S.NEW, "partially_filled", 4, S.PARTIALLY_FILLED, True),
    "canceled": (S.NEW, "canceled", 0, S.CANCELED, True),
    "expired": (S.PARTIALLY_FILLED, "expired", 4, S.EXPIRED, True),
    "done_for_day": (S.PARTIALLY_FILLED, "done_for_day", 4, S.PARTIALLY_FILLED, False),
    "replaced": (S.PENDING_REPLACE, "replaced", 0, S.REPLACED, True),
    "rejected": (S.ACCEPTED, "rejected", 0, S.REJECTED, True),
    "pending_new": (S.ACCEPTED, "pending_new", 0, S.PENDING_NEW, False),
    "stopped": (S.NEW, "stopped", 0, S.NEW, False),
    "pending_cancel": (S.NEW, "pending_cancel", 0, S.PENDING_CANCEL, False),
    "pending_replace": (S.PARTIALLY_FILLED, "pending_replace", 4, S.PENDING_REPLACE, False),
    "calculated": (S.FILLED, "calculated", 10, S.FILLED, False),
    "suspended": (S.NEW, "suspended", 0, S.NEW, False),
    "order_replace_rejected": (S.PENDING_REPLACE, "new", 0, S.NEW, False),
    "order_cancel_rejected": (S.PENDING_CANCEL, "partially_filled", 4, S.PARTIALLY_FILLED, False),
    "accepted": (S.PENDING_NEW, "accepted", 0, S.ACCEPTED, False),
    "restated": (S.NEW, "new", 0, S.NEW, False),
}


def test_every_alpaca_trade_event_has_a_row() -> None:
    from alpaca.trading.enums import TradeEvent

    assert {e.value for e in TradeEvent} <= set(EVENTS)


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_each_trade_event_moves_our_copy_through_the_lifecycle(
    name: str, broker: AlpacaBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """Each event moves our copy of the order as the lifecycle table allows (nothing
    logged as not fitting it) and only the Broker protocol's events are handed out."""
    before, status, filled, after, handed = EVENTS[name]
    executes = name in ("fill", "partial_fill")
    (start,) = order_from_alpaca(alpaca_order(before.value, 0 if executes else filled))
    broker._remember(start)
    fill = {"price": "100", "qty": f"{filled:g}"} if executes else {}
    caplog.set_level(logging.INFO, logger="workbench.brokers.alpaca")
    out = broker._apply(_update(name, status, filled, **fill))
    assert (out is not None) is handed
    assert broker._orders[ORDER_ID].status is after
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def _executed(status: str, filled: float, avg: str, price: str, qty: str) -> TradeUpdate:
    """A fill event: its execution (``qty`` at ``price``), the order's totals after it."""
    event = "fill" if status == "filled" else "partial_fill"
    order = alpaca_order(status, filled, filled_avg_price=avg)
    return TradeUpdate(
        event=event, order=order, timestamp="2024-01-03T15:05:00Z", price=price, qty=qty
    )


def _fills(broker: AlpacaBroker, *updates: TradeUpdate) -> list[float]:
    """The quantities of the fills handed out for ``updates``."""
    out = [broker._apply(u) for u in updates]
    return [u.fill.quantity for u in out if u is not None and u.fill is not None]


def test_a_repeated_fill_event_is_not_counted_twice(broker: AlpacaBroker) -> None:
    """Alpaca's fill events carry the execution (``qty``) and the order's cumulative
    ``filled_qty``: the same event twice (the stream has no sequence numbers) is one
    execution, and the order never shows more filled than Alpaca says."""
    broker._apply(_update("new", "new"))
    partial = _update("partial_fill", "partially_filled", 4, price="100", qty="4")
    last = _executed("filled", 10, avg="100.6", price="101", qty="6")
    assert _fills(broker, partial, partial, last, last) == [4, 6]
    order = broker._orders[ORDER_ID]
    assert (order.status, order.filled_quantity) == (S.FILLED, 10)
    assert order.average_price == pytest.approx(100.6)


def test_a_fill_a_lookup_saw_first_is_handed_out_once(broker: AlpacaBroker) -> None:
    """A lookup (open orders, an order by id) may show a fill whose event is still
    queued: the event still hands the execution out, and our copy counts it once."""
    broker._apply(_update("new", "new"))
    broker._remember_all(order_from_alpaca(alpaca_order("partially_filled", 4)))
    partial = _update("partial_fill", "partially_filled", 4, price="100", qty="4")
    assert _fills(broker, partial) == [4]
    assert broker._orders[ORDER_ID].filled_quantity == 4
    broker._remember_all(order_from_alpaca(alpaca_order("filled", 10)))
    assert _fills(broker, _update("fill", "filled", 10, price="100", qty="6")) == [6]
    order = broker._orders[ORDER_ID]
    assert (order.status, order.filled_quantity) == (S.FILLED, 10)


def test_an_older_fill_event_after_a_newer_one_adds_nothing(broker: AlpacaBroker) -> None:
    broker._apply(_update("new", "new"))
    partial = _update("partial_fill", "partially_filled", 4, price="100", qty="4")
    last = _update("fill", "filled", 10, price="100", qty="6")
    assert _fills(broker, last, partial) == [6]
    order = broker._orders[ORDER_ID]
    assert (order.status, order.filled_quantity) == (S.FILLED, 10)


def test_missed_fill_events_are_handed_out_at_the_average_they_leave(
    broker: AlpacaBroker,
) -> None:
    """A fill event after missed ones (a reconnect): the execution handed out covers what
    was missed too, at the price that makes the fills' average Alpaca's."""
    broker._apply(_update("new", "new"))
    broker._apply(_update("partial_fill", "partially_filled", 2, price="100", qty="2"))
    # the partial fill to 4 was missed; the fill of the last 6 comes at 101, average 100.6
    last = _executed("filled", 10, avg="100.6", price="101", qty="6")
    (update,) = [broker._apply(last)]
    assert update.fill.quantity == 8
    assert 2 * 100 + 8 * update.fill.price == pytest.approx(10 * 100.6)


@pytest.mark.parametrize("before", [S.ACCEPTED, S.PENDING_NEW])
def test_a_fill_whose_new_event_was_missed_fits_the_lifecycle(
    before: OrderStatus, broker: AlpacaBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """Alpaca answers a submission ``accepted`` or ``pending_new``; when the ``new``
    event is lost (a reconnection) the first event is the fill: the venue took it."""
    (start,) = order_from_alpaca(alpaca_order(before.value))
    broker._remember(start)
    caplog.set_level(logging.INFO, logger="workbench.brokers.alpaca")
    partial = _update("partial_fill", "partially_filled", 4, price="100", qty="4")
    assert _fills(broker, partial) == [4]
    assert broker._orders[ORDER_ID].status is S.PARTIALLY_FILLED
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


class _FlakyLookups:
    """alpaca-py's client where looking an order up fails ``failures`` times (the
    connection drops), then finds it filled."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def get_orders(self, request: Any) -> list[AlpacaOrder]:
        return []  # the catch-up's listing does not show it: it is looked up

    def get_order_by_id(self, order_id: str) -> AlpacaOrder:
        self.calls += 1
        if self.calls <= self.failures:
            raise requests.ConnectionError("connection reset")
        return alpaca_order("filled", 10)


def test_a_catch_up_whose_lookup_fails_is_tried_again_at_the_next_drain(
    broker: AlpacaBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """After a reconnection the open orders are looked up (again at the drain's end if that
    failed); a lookup that fails hands out nothing yet and leaves the broker behind: the
    next drain looks again and hands the missed fill out, once, and the drain after it
    looks nothing up."""
    (working,) = order_from_alpaca(alpaca_order("new"))
    broker._remember(working)
    broker.client = _FlakyLookups(failures=2)  # type: ignore[assignment]
    broker._updates.put(LISTENING)  # the first connection: nothing missed
    broker._updates.put(LISTENING)  # a reconnection: catch up
    caplog.set_level(logging.INFO, logger="workbench.brokers.alpaca")
    assert broker.drain_updates() == []
    assert [r.event for r in caplog.records] == ["catch_up_failed"] * 2
    (fill,) = broker.drain_updates()
    assert (fill.event, fill.fill.quantity, fill.fill.price) == (UpdateEvent.FILL, 10, 100)
    assert broker.drain_updates() == []
    assert broker.client.calls == 3
    assert [r.event for r in caplog.records] == ["catch_up_failed", "catch_up_failed", "catch_up"]


def test_a_protective_exit_reads_back_as_an_exit() -> None:
    """Alpaca keeps no mark that a simple stop is the protective exit of a partly filled
    entry (workbench.execution.protect): its client order id ``<entry>-px`` says so, so a
    new entry does not cancel it as a contradiction, nor risk count it as exposure."""
    stop = {"order_type": "stop", "type": "stop", "limit_price": None, "stop_price": "90"}
    (mine,) = order_from_alpaca(alpaca_order("new", client_order_id="wb-1-px", **stop))
    (other,) = order_from_alpaca(alpaca_order("new", client_order_id="wb-1", **stop))
    assert mine.request.protective and mine.request.oco_group == "wb-1-px"
    assert not other.request.protective
