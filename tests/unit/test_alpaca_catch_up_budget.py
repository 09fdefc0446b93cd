"""A trade-stream catch-up over more open orders than the venue answers at a stretch
(Alpaca: 200 requests a minute, 429 past them): each attempt goes on from the order the
last one stopped at, so the catch-up ends and hands every missed fill out once."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.models import Order as AlpacaOrder

from tests.unit.test_alpaca_orders import alpaca_order
from workbench.broker import UpdateEvent
from workbench.brokers import alpaca_listing
from workbench.brokers.alpaca import LISTENING, AlpacaBroker
from workbench.brokers.alpaca_orders import order_from_alpaca

IDS = [f"61e69015-8549-4bfd-b9c3-01e75843f4{n:02d}" for n in range(7)]


def _holding(ids: list[str]) -> AlpacaBroker:
    """A broker holding the orders ``ids`` working (its client never called)."""
    broker = AlpacaBroker("key", "secret", url="http://127.0.0.1:9")
    for order_id in ids:
        (working,) = order_from_alpaca(
            alpaca_order("new", id=order_id, client_order_id=f"wb-{order_id[-2:]}")
        )
        broker._remember(working)
    return broker


class _RateLimited:
    """alpaca-py's client where every third lookup is refused with a 429 (the minute's
    budget spent); the orders still working (stop-losses, say), but the last, filled
    while the stream was away."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def get_orders(self, request: Any) -> list[AlpacaOrder]:
        return []  # the catch-up's listing shows none of them: each is looked up

    def get_order_by_id(self, order_id: str) -> AlpacaOrder:
        self.calls.append(str(order_id))
        if len(self.calls) % 3 == 0:
            response = requests.Response()
            response.status_code = 429
            response._content = b'{"code": 42910000, "message": "rate limit exceeded"}'
            raise APIError('{"code": 42910000, "message": "rate limit exceeded"}', response)
        status, filled = ("filled", 10) if order_id == IDS[-1] else ("new", 0)
        return alpaca_order(status, filled, id=order_id, client_order_id=f"wb-{order_id[-2:]}")


def test_a_catch_up_cut_short_by_the_rate_limit_goes_on_where_it_stopped() -> None:
    broker = _holding(IDS)
    broker.client = _RateLimited()  # type: ignore[assignment]
    broker._updates.put(LISTENING)  # the first connection: nothing missed
    broker._updates.put(LISTENING)  # a reconnection: catch up
    fills = []
    for _ in range(10):  # each drain one attempt (and one more at its end)
        fills += broker.drain_updates()
        if not broker._behind:
            break
    assert not broker._behind, f"catch-up never ended: {len(broker.client.calls)} lookups"
    (fill,) = fills
    assert (fill.order.id, fill.event, fill.fill.quantity) == (IDS[-1], UpdateEvent.FILL, 10)
    # every open order looked up once, and once more for each refusal
    refused = len(broker.client.calls) // 3
    assert len(broker.client.calls) == len(IDS) + refused


def test_another_reconnection_looks_every_open_order_up_again() -> None:
    """A second drop while a catch-up is unfinished is a gap of its own: the orders the
    first one looked up may have moved since, so it starts over."""
    broker = _holding(IDS)
    client = broker.client = _RateLimited()  # type: ignore[assignment]
    broker._updates.put(LISTENING)
    broker._updates.put(LISTENING)
    broker.drain_updates()  # two attempts, each cut short: IDS[0:4] looked up
    assert client.calls == [*IDS[:3], *IDS[2:5]]
    broker._updates.put(LISTENING)  # dropped and back again
    client.calls.clear()
    broker.drain_updates()
    assert client.calls[:2] == IDS[:2]


class _BusyAccount:
    """alpaca-py's client on an account busy since its oldest open order: every page of
    the listing full of other orders, each later than the last (weeks of them)."""

    def __init__(self) -> None:
        self.pages = 0
        self.lookups: list[str] = []

    def get_orders(self, request: Any) -> list[AlpacaOrder]:
        self.pages += 1
        assert self.pages < 50, "the listing never stops"
        base = request.after + timedelta(seconds=1)
        return [
            alpaca_order(
                "filled", 10, id=str(uuid.uuid4()), client_order_id=f"other-{self.pages}-{i}",
                submitted_at=(base + timedelta(seconds=i)).isoformat(),
            )
            for i in range(alpaca_listing.ORDERS_PAGE)
        ]  # fmt: skip

    def get_order_by_id(self, order_id: str) -> AlpacaOrder:
        self.lookups.append(str(order_id))
        return alpaca_order("new", id=order_id, client_order_id=f"wb-{order_id[-2:]}")


def test_a_listing_that_does_not_find_the_open_orders_stops_at_their_lookups_cost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three open orders, the oldest weeks old, and pages full of other orders since: the
    listing stops once it has asked as many pages as orders are still sought (three), and
    the three are looked up: never much more than the lookups alone would have cost."""
    monkeypatch.setattr(alpaca_listing, "ORDERS_PAGE", 4)
    broker = _holding(IDS[:3])
    client = broker.client = _BusyAccount()  # type: ignore[assignment]
    broker._updates.put(LISTENING)
    broker._updates.put(LISTENING)
    assert broker.drain_updates() == []
    assert not broker._behind
    assert (client.pages, client.lookups) == (3, IDS[:3])
