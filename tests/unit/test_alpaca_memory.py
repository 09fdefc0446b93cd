"""What the Alpaca broker remembers of its orders over a months-long run: thousands of
orders sent, filled and listed through alpaca-py's models on a broker double, and its maps
stay bounded; a late update of an order it let go is dropped quietly, its fill never
handed out twice (:mod:`workbench.brokers.alpaca_memory`)."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import pytest
from alpaca.trading.models import Order as AlpacaOrder
from alpaca.trading.models import TradeUpdate

from tests.unit.test_alpaca_orders import alpaca_order
from workbench.broker import UpdateEvent
from workbench.brokers.alpaca import LISTENING, AlpacaBroker
from workbench.brokers.alpaca_orders import order_from_alpaca
from workbench.orders import OrderRequest, OrderType, Side

T0 = pd.Timestamp("2024-01-03 15:00", tz="UTC")
PER_LISTING = 50  # orders between two listings of the open orders
LISTING_EVERY = 120.0  # seconds on the broker's clock between them


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def order_id(n: int) -> str:
    return f"61e69015-8549-4bfd-b9c3-{n:012d}"


def stamp(n: int) -> str:
    return (T0 + pd.Timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ")


def alpaca(n: int, status: str, filled: float = 0.0, **extra: Any) -> AlpacaOrder:
    fields = {"id": order_id(n), "client_order_id": f"wb-{n}", "updated_at": stamp(n)}
    return alpaca_order(status, filled, **{**fields, **extra})


def update(n: int, event: str, status: str, filled: float = 0.0, **fields: Any) -> TradeUpdate:
    return TradeUpdate(event=event, order=alpaca(n, status, filled), timestamp=stamp(n), **fields)


class Venue:
    """alpaca-py's client as the broker calls it: submissions answered ``new``, and a
    listing of the orders the test says are open."""

    _base_url = "http://127.0.0.1:9"  # never called: shown by the broker's repr

    def __init__(self) -> None:
        self.open: list[AlpacaOrder] = []

    def submit_order(self, body: Any) -> AlpacaOrder:
        n = int(body.client_order_id.removeprefix("wb-"))
        return alpaca(n, "new")

    def get_orders(self, request: Any) -> list[AlpacaOrder]:
        return list(self.open)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def broker(clock: Clock) -> AlpacaBroker:
    b = AlpacaBroker("key", "secret", url="http://127.0.0.1:9", clock=clock)
    b.client = Venue()  # type: ignore[assignment]
    b._updates.put(LISTENING)  # the trade stream listens: listings fill the book
    assert b.drain_updates() == []
    return b


def send(broker: AlpacaBroker, n: int) -> None:
    request = OrderRequest(
        "AAPL", Side.BUY, quantity=10, type=OrderType.LIMIT, limit_price=100.0,
        client_order_id=f"wb-{n}", reason="entry",
    )  # fmt: skip
    broker.submit_order(request)


def listing(broker: AlpacaBroker, clock: Clock) -> None:
    clock.now += LISTING_EVERY  # the book is stale: the next ask lists at Alpaca
    broker.get_open_orders()


def fills(updates: list[Any]) -> list[float]:
    return [u.fill.quantity for u in updates if u.fill is not None]


def trade(broker: AlpacaBroker, clock: Clock, count: int) -> list[float]:
    """``count`` orders sent and filled (two executions each), a listing every
    :data:`PER_LISTING`: the fills handed out."""
    out: list[float] = []
    for n in range(count):
        send(broker, n)
        broker._updates.put(update(n, "new", "new"))
        broker._updates.put(update(n, "partial_fill", "partially_filled", 4, price="100", qty="4"))
        broker._updates.put(update(n, "fill", "filled", 10, price="100", qty="6"))
        out += fills(broker.drain_updates())
        if n % PER_LISTING == PER_LISTING - 1:
            listing(broker, clock)
    return out


def test_what_the_broker_keeps_of_its_orders_stays_bounded(
    broker, clock, caplog: pytest.LogCaptureFixture
) -> None:
    """3000 orders (a universe's minute bars for days): each filled, handed out once, and
    what the broker keeps of them is the last few minutes' orders, not all 3000."""
    with caplog.at_level(logging.WARNING):
        assert trade(broker, clock, 3000) == [4.0, 6.0] * 3000
    assert caplog.records == []
    assert len(broker._orders) <= 4 * PER_LISTING
    assert len(broker._handed) <= 4 * PER_LISTING
    assert len(broker._reasons) <= 3 * 4 * PER_LISTING  # the entry's, and its exits'
    assert len(broker._ends) <= 4 * PER_LISTING
    assert broker.get_open_orders() == []


def test_a_late_update_of_an_order_let_go_is_dropped_quietly(
    broker, clock, caplog: pytest.LogCaptureFixture
) -> None:
    """The fill event repeated, or a late partial fill, of an order let go: nothing handed
    out, an INFO stale_update line, no error; another client's order, stamped later, is
    taken as before."""
    trade(broker, clock, 200)
    assert order_id(0) not in broker._orders and order_id(0) not in broker._handed
    with caplog.at_level(logging.INFO, logger="workbench.brokers.alpaca"):
        broker._updates.put(update(0, "fill", "filled", 10, price="100", qty="6"))
        broker._updates.put(update(0, "partial_fill", "partially_filled", 4, price="100", qty="4"))
        broker._updates.put(update(0, "new", "new"))
        assert broker.drain_updates() == []
    assert [r.event for r in caplog.records] == ["stale_update"] * 3
    assert order_id(0) not in broker._orders  # not taken back as working
    assert broker.get_open_orders() == []
    theirs = update(10_000, "fill", "filled", 10, price="100", qty="10")  # never seen
    out = broker._apply(theirs)
    assert out is not None and out.event is UpdateEvent.FILL and out.fill.quantity == 10


def test_an_order_whose_end_came_before_its_fill_is_kept_until_the_fill(broker, clock) -> None:
    """The stream keeps no order: a cancel that tells 4 filled may come before the partial
    fill that filled them. The order is remembered past the listings and the time that
    let other orders go, the fill is handed out once when it comes, and then it goes."""
    send(broker, 0)
    broker._updates.put(update(0, "new", "new"))
    broker._updates.put(update(0, "canceled", "canceled", 4))
    assert fills(broker.drain_updates()) == []
    for _ in range(10):
        listing(broker, clock)
    assert order_id(0) in broker._orders
    broker._updates.put(update(0, "partial_fill", "partially_filled", 4, price="100", qty="4"))
    assert fills(broker.drain_updates()) == [4.0]
    for _ in range(10):
        listing(broker, clock)
    assert order_id(0) not in broker._orders
    broker._updates.put(update(0, "partial_fill", "partially_filled", 4, price="100", qty="4"))
    assert fills(broker.drain_updates()) == []


def test_an_ended_entry_is_kept_while_a_leg_works(broker, clock) -> None:
    """A bracket's entry fills and ends; its exits work on: the entry stays (a leg's
    replacement needs it), and goes once its legs have ended."""
    legs = [
        alpaca(1, "new", order_type="limit", type="limit", side="sell", client_order_id="x1"),
        alpaca(2, "held", order_type="stop", type="stop", side="sell", stop_price="90",
               limit_price=None, client_order_id="x2"),
    ]  # fmt: skip
    entry = alpaca(0, "filled", 10, order_class="bracket", legs=legs)
    broker._remember_all(order_from_alpaca(entry))  # a nested lookup's answer
    broker._updates.put(update(0, "fill", "filled", 10, price="100", qty="10"))
    assert fills(broker.drain_updates()) == [10.0]
    broker.client.open = legs  # the legs are listed open
    for _ in range(5):
        listing(broker, clock)
    assert order_id(0) in broker._orders
    broker.client.open = []
    for n, event in ((1, "canceled"), (2, "canceled")):
        leg = alpaca(n, event, client_order_id="x")
        broker._updates.put(TradeUpdate(event=event, order=leg, timestamp=stamp(n)))
    broker.drain_updates()
    for _ in range(5):
        listing(broker, clock)
    assert not {order_id(n) for n in range(3)} & set(broker._orders)


def test_nothing_is_let_go_while_the_stream_is_away(broker, clock) -> None:
    """Listings made while the trade stream is not caught up are not counted: an update
    lost then is looked up by the catch-up against what the broker kept."""
    trade(broker, clock, 10)
    broker._listening = False  # the stream closed
    for _ in range(10):
        listing(broker, clock)
    assert len(broker._orders) == 10
