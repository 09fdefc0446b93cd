"""What the Alpaca broker's catch-up after a trade stream reconnection costs: one listing of
the orders sent since the oldest open one (``GET /v2/orders?status=all``, 500 a page), not
one lookup per open order, which spent 100 of Alpaca's 200 requests a minute on a bot with
100 working orders. An open order the listing does not show is still looked up.

Against the emulator, whose orders carry the replay clock: the orders sent between two
bars share one time, so the pages are made small here to page through ties.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from tests.integration.emulator.test_alpaca_open_book import Venue as BookVenue
from workbench.broker import OrderUpdate, UpdateEvent
from workbench.brokers import alpaca_listing
from workbench.brokers.alpaca_catch_up import LISTING_MARGIN
from workbench.emulator import Emulator, Fault
from workbench.emulator import testing as emt
from workbench.orders import Leg, Order, OrderClass, OrderRequest, OrderType, Side, TimeInForce

LISTING = "GET /v2/orders?"
LOOKUP = "GET /v2/orders/"


class Venue(BookVenue):
    """The open-book tests' venue (the emulator, a broker on its trade stream, its clock the
    test's), and the order reads the broker sent, as answered (``status method path``)."""

    def __init__(self, emu: Emulator) -> None:
        super().__init__(emu)
        self.asked: list[str] = []
        self.broker.client._session.hooks["response"].append(self._seen)

    def _seen(self, response: Any, *args: Any, **kwargs: Any) -> None:
        request = response.request
        if request.method == "GET" and request.path_url.startswith("/v2/orders"):
            self.asked.append(f"{response.status_code} {request.method} {request.path_url}")

    def requests(self, kind: str) -> list[str]:
        return [a for a in self.asked if a.split(" ", 1)[1].startswith(kind)]

    def listening(self, connections: int = 1) -> None:
        """Only wait for the connection: the test drains, and no listing starts a book."""
        emt.trade_stream_listening(self.emu, connections)

    def updates(self, until: Callable[[list[OrderUpdate]], bool]) -> list[OrderUpdate]:
        """Drained updates until ``until(updates)`` holds (bounded: 10 s)."""
        out: list[OrderUpdate] = []
        deadline = time.monotonic() + 10
        while not until(out) and time.monotonic() < deadline:
            out.extend(self.broker.drain_updates())
            time.sleep(0.02)
        return out

    def send(self, n: int, tag: str, **kw: Any) -> list[Order]:
        """``n`` buys of one share: resting GTC limits far under the market unless ``kw``
        says otherwise; their new events drained."""
        fields = {"type": OrderType.LIMIT, "limit_price": 50.0, "tif": TimeInForce.GTC, **kw}
        sent = [
            self.broker.submit_order(
                OrderRequest("AAA", Side.BUY, quantity=1, client_order_id=f"{tag}-{i}", **fields)
            )
            for i in range(n)
        ]
        news = self.updates(lambda u: len(u) >= n)
        assert [u.event for u in news] == [UpdateEvent.NEW] * n
        return sent


@pytest.fixture
def venue(bars_emulator: Emulator) -> Iterator[Venue]:
    v = Venue(bars_emulator)
    v.broker.start_stream()
    try:
        v.listening(1)
        yield v
    finally:
        v.broker.close()


def _away(venue: Venue, while_away: Callable[[], None]) -> None:
    """What ``while_away`` does goes out on a muted trade stream, which then drops and
    comes back: the broker must catch up."""
    venue.emu.set_faults(Fault.silent("trading"))
    while_away()
    venue.emu.set_faults(Fault.drop("trading"))
    venue.listening(2)


def test_thirty_working_orders_are_caught_up_by_one_listing(venue: Venue) -> None:
    """30 working orders, 6 of them filled and 4 canceled while the stream was away: their
    fills and cancels are handed out once each, by one request (not 30 lookups)."""
    resting = venue.send(24, "rest")
    market = venue.send(6, "mkt", type=OrderType.MARKET, limit_price=None, tif=TimeInForce.DAY)
    canceled = resting[::6]

    def away() -> None:
        venue.emu.step()  # the market orders fill at the next bar's open
        for order in canceled:
            venue.broker.cancel_order(order.id)

    venue.asked.clear()
    _away(venue, away)
    updates = venue.updates(lambda u: len(u) >= 10)
    assert sorted((u.event.value, u.order.id) for u in updates) == sorted(
        [("fill", o.id) for o in market] + [("canceled", o.id) for o in canceled]
    )
    assert all(u.fill.quantity == 1 for u in updates if u.event is UpdateEvent.FILL)
    assert not venue.broker._behind
    assert len(venue.requests(LISTING)) == 1 and venue.requests(LOOKUP) == []
    (listing,) = venue.requests(LISTING)
    assert "status=all" in listing and "direction=asc" in listing and "limit=500" in listing
    venue.emu.step()  # later: nothing twice, the stream's next update is a new order's own
    venue.send(1, "mark")  # its new event alone (the stream keeps order: a repeat comes first)


def test_a_429_in_the_middle_of_the_listing_resumes_from_the_orders_not_shown(
    venue: Venue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of 3 over 5 orders of three instants: the first page shows the first one's
    cancel, the second is refused 429 (``Retry-After: 30``). Nothing is asked before the
    wait is over; then the listing starts again from the oldest order not shown (not from
    the first), shows the last one's cancel, and ends. Each cancel is handed out once."""
    monkeypatch.setattr(alpaca_listing, "ORDERS_PAGE", 3)
    sent = venue.send(2, "a")
    venue.emu.step()
    sent += venue.send(2, "b")
    venue.emu.step()
    sent += venue.send(1, "c")
    get_orders = venue.broker.client.get_orders

    def first_page_then_429(req: Any) -> Any:  # the next listing page is refused
        page = get_orders(req)
        venue.emu.set_faults(
            Fault.error(429, method="GET", path="/v2/orders", times=1, retry_after=30.0)
        )
        venue.broker.client.get_orders = get_orders
        return page

    venue.broker.client.get_orders = first_page_then_429

    def away() -> None:
        venue.broker.cancel_order(sent[0].id)
        venue.broker.cancel_order(sent[4].id)

    venue.asked.clear()
    _away(venue, away)
    first = venue.updates(lambda u: bool(venue.requests(LISTING)[1:]))
    assert [(u.event, u.order.id) for u in first] == [(UpdateEvent.CANCELED, sent[0].id)]
    assert venue.broker._behind
    for _ in range(10):  # drains before the wait is over ask nothing
        assert venue.broker.drain_updates() == []
    assert [a.split()[0] for a in venue.asked] == ["200", "429"]
    venue.now += 30.1
    rest = venue.broker.drain_updates()
    assert [(u.event, u.order.id) for u in rest] == [(UpdateEvent.CANCELED, sent[4].id)]
    assert not venue.broker._behind
    assert [a.split()[0] for a in venue.asked] == ["200", "429", "200"]
    assert venue.requests(LOOKUP) == []
    starts = [_after(a) for a in venue.requests(LISTING)]
    assert starts[0] == sent[0].created_at - LISTING_MARGIN  # the oldest open order
    assert starts[2] == sent[2].created_at - LISTING_MARGIN  # the oldest not shown yet


def _after(request: str) -> pd.Timestamp:
    """The ``after`` a listing request asked from."""
    (after,) = parse_qs(urlsplit(request.split()[-1]).query)["after"]
    return pd.Timestamp(after)


def test_an_open_order_the_listing_does_not_show_is_looked_up(
    venue: Venue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three orders sent at one instant, pages of 2: the listing cannot page past them by
    time (the second page shows the first two again), so the third, canceled while away,
    is looked up by its id, and its cancel handed out."""
    monkeypatch.setattr(alpaca_listing, "ORDERS_PAGE", 2)
    sent = venue.send(3, "tie")
    venue.asked.clear()
    _away(venue, lambda: venue.broker.cancel_order(sent[2].id))
    updates = venue.updates(lambda u: bool(u))
    assert [(u.event, u.order.id) for u in updates] == [(UpdateEvent.CANCELED, sent[2].id)]
    assert not venue.broker._behind
    assert len(venue.requests(LISTING)) == 1
    assert [a.split()[-1] for a in venue.requests(LOOKUP)] == [f"/v2/orders/{sent[2].id}"]


def test_a_bracket_filled_while_away_is_caught_up_with_its_legs_by_the_listing(
    venue: Venue,
) -> None:
    """The entry of a bracket fills while the stream is away and its legs start to work:
    the listing (flat: each leg an order of its own) shows the three, so the entry's fill
    is handed out once, no order is looked up, and the legs stay under their entry; the
    take-profit's fill at the next bar arrives on the stream as before."""
    broker = venue.broker
    entry = broker.submit_order(
        OrderRequest(
            "AAA", Side.BUY, quantity=4, tif=TimeInForce.GTC, order_class=OrderClass.BRACKET,
            take_profit=102.5, stop_loss=90.0, client_order_id="wb-bracket-away",
        )
    )  # fmt: skip
    venue.updates(lambda u: bool(u))  # its new event
    venue.asked.clear()
    _away(venue, venue.emu.step)  # the entry fills at 100; its legs work
    updates = venue.updates(lambda u: any(x.fill for x in u))
    fills = [(u.order.id, u.fill.quantity, u.fill.price) for u in updates if u.fill]
    assert fills == [(entry.id, 4.0, 100.0)]
    assert len(venue.requests(LISTING)) == 1 and venue.requests(LOOKUP) == []
    legs = {o.request.leg: o for o in broker.get_open_orders()}
    assert set(legs) == {Leg.TAKE_PROFIT, Leg.STOP_LOSS}
    assert {o.parent_id for o in legs.values()} == {entry.id}
    venue.emu.step()  # the bar reaches 103: the take-profit fills, the stop-loss is canceled
    later = venue.updates(lambda u: any(x.event is UpdateEvent.CANCELED for x in u))
    assert [(u.order.id, u.fill.quantity) for u in later if u.fill] == [
        (legs[Leg.TAKE_PROFIT].id, 4.0)
    ]
