"""The Alpaca broker's open-order book, through alpaca-py against the emulator: a rebalance
lists the open orders once, not once per order, and the book agrees with Alpaca's listing
after fills, cancels, replacements, bracket legs, a stream gap and orders placed by
another client (:mod:`workbench.brokers.alpaca_book`).

Requests are counted on the broker's own HTTP session; the book's age runs on a clock the
test moves, so a refresh happens when the test says, never by waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest

from workbench.broker import OrderUpdate, UpdateEvent
from workbench.brokers.alpaca import AlpacaBroker
from workbench.brokers.alpaca_listing import open_orders
from workbench.brokers.alpaca_orders import order_from_alpaca
from workbench.brokers.alpaca_sdk import tune_client
from workbench.emulator import Emulator, Fault
from workbench.emulator import testing as emt
from workbench.execution.engine import ExecutionEngine
from workbench.intents import TargetIntent
from workbench.orders import Leg, OrderClass, OrderRequest, OrderType, Side, TimeInForce

SYMBOLS = ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH")
DECISION = pd.Timestamp("2024-01-01", tz="UTC")
LISTING = "GET /v2/orders?"


class Venue:
    """The emulator, a broker listening to its trade stream, the requests the broker sent,
    and the clock its book's age runs on."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.now = 0.0
        self.broker = AlpacaBroker(
            emu.key, emu.secret, url=emu.base_url, stream_url=emu.trading_stream_url,
            clock=lambda: self.now,
        )  # fmt: skip
        self.sent: list[str] = []
        self.broker.client._session.hooks["response"].append(
            lambda r, *a, **k: self.sent.append(f"{r.request.method} {r.request.path_url}")
        )
        self.other = tune_client(emt.trading_client(emu), 5.0)  # someone else on the account
        self.handed: list[OrderUpdate] = []

    def listings(self) -> int:
        return sum(s.startswith(LISTING) for s in self.sent)

    def listening(self, connections: int = 1) -> None:
        emt.trade_stream_listening(self.emu, connections)
        self.handed.extend(self.broker.drain_updates())  # it listens, caught up
        self.broker.get_open_orders()  # the listing the book starts from

    def drain_until(self, done: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.handed.extend(self.broker.drain_updates())
            if done():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.02)

    def at_alpaca(self) -> list[tuple[Any, ...]]:
        """Alpaca's open orders, listed by the other client: what the book must show."""
        listed = open_orders(self.other.get_orders)
        return sorted(_key(o) for a in listed for o in order_from_alpaca(a) if o.status.is_open)

    def book(self) -> list[tuple[Any, ...]]:
        """The broker's answer, checked to come from its book (no listing request)."""
        before = self.listings()
        orders = self.broker.get_open_orders()
        assert self.listings() == before, "the open orders were listed, not read from the book"
        return sorted(_key(o) for o in orders)

    def agrees(self) -> None:
        """Once the updates so far are handed out, the book is Alpaca's listing."""
        want = self.at_alpaca()
        self.drain_until(lambda: self.book() == want, what=f"the book to show {want}")


def _key(o: Any) -> tuple[Any, ...]:
    return (o.id, o.symbol, str(o.side), o.quantity, o.request.limit_price, o.parent_id)


@pytest.fixture
def venue(hand_frames: dict[str, pd.DataFrame]) -> Iterator[Venue]:
    frames = {s: hand_frames["AAA"] for s in SYMBOLS}
    with Emulator(frames, key="book-key", secret="book-secret") as emu:
        v = Venue(emu)
        v.broker.start_stream()
        try:
            v.listening()
            yield v
        finally:
            v.broker.close()


def _limit(symbol: str, side: Side = Side.BUY, price: float = 50.0, **kw: Any) -> OrderRequest:
    return OrderRequest(
        symbol, side, quantity=2, type=OrderType.LIMIT, limit_price=price, tif=TimeInForce.GTC,
        **kw,
    )  # fmt: skip


def test_a_rebalance_lists_the_open_orders_once_not_once_per_order(venue: Venue) -> None:
    engine = ExecutionEngine(venue.broker, "book", sleep=lambda s: None, seed=0)
    venue.now += venue.broker.book_age  # the book's listing is due again
    before = venue.listings()
    intents = [TargetIntent(s, DECISION, quantity=3.0, reason="rebalance") for s in SYMBOLS]
    sent = engine.execute(
        intents, decision=DECISION, price=lambda s: 100.0, position=lambda s: 0.0, equity=1e5
    )
    assert len(sent) == len(SYMBOLS)
    venue.emu.step()  # every order fills at the next open; each end asks for the open orders
    venue.drain_until(
        lambda: sum(u.event is UpdateEvent.FILL for u in venue.handed) == len(SYMBOLS),
        what="every fill",
    )
    for update in venue.handed:
        engine.on_update(update)
    assert venue.listings() - before == 1  # 8 submissions and 8 ends: 16 listings before
    assert sum(s.startswith("POST /v2/orders") for s in venue.sent) == len(SYMBOLS)
    assert venue.broker.get_open_orders() == []
    venue.agrees()


def test_the_book_agrees_with_alpaca_after_fills_cancels_and_replacements(venue: Venue) -> None:
    broker = venue.broker
    resting = broker.submit_order(_limit("AAA"))
    canceled = broker.submit_order(_limit("BBB"))
    replaced = broker.submit_order(_limit("CCC"))
    broker.submit_order(OrderRequest("DDD", Side.BUY, quantity=1, tif=TimeInForce.DAY))
    venue.agrees()  # every order in the book from its submission's answer
    broker.cancel_order(canceled.id)
    new = broker.replace_order(replaced.id, _limit("CCC", price=60.0))
    assert new.id != replaced.id
    venue.emu.step()  # the market order fills
    venue.agrees()
    ids = {o.id for o in broker.get_open_orders()}
    assert ids == {resting.id, new.id}
    assert venue.listings() == 1  # the first listing, when the stream began to listen


def test_bracket_legs_are_in_the_book_under_their_entry_until_they_end(venue: Venue) -> None:
    broker = venue.broker
    entry = broker.submit_order(
        OrderRequest(
            "AAA", Side.BUY, quantity=4, tif=TimeInForce.GTC, order_class=OrderClass.BRACKET,
            take_profit=102.5, stop_loss=90.0, client_order_id="wb-bracket-1",
        )
    )  # fmt: skip
    book = broker.get_open_orders()
    assert {o.parent_id for o in book if o.id in entry.legs} == {entry.id}
    venue.agrees()
    venue.emu.step()  # the entry fills at 101; its legs work
    venue.agrees()
    legs = {o.request.leg: o for o in broker.get_open_orders()}
    assert set(legs) == {Leg.TAKE_PROFIT, Leg.STOP_LOSS}
    assert {o.parent_id for o in legs.values()} == {entry.id}
    old = legs[Leg.STOP_LOSS]
    new = broker.replace_order(
        old.id,
        OrderRequest("AAA", Side.SELL, quantity=4, type=OrderType.STOP, stop_price=95.0,
                     tif=TimeInForce.GTC),
    )  # fmt: skip
    venue.agrees()  # the old leg gone with its replaced update, the new one under the entry
    assert new.parent_id == entry.id and old.id not in {o.id for o in broker.get_open_orders()}
    venue.emu.step()  # the bar reaches 103: the take-profit fills, the stop-loss is canceled
    venue.agrees()
    assert broker.get_open_orders() == []
    assert venue.listings() == 1


def test_after_a_stream_gap_the_book_is_listed_again_once_and_agrees(venue: Venue) -> None:
    broker = venue.broker
    filled = broker.submit_order(OrderRequest("AAA", Side.BUY, quantity=1, tif=TimeInForce.DAY))
    canceled = broker.submit_order(_limit("BBB"))
    kept = broker.submit_order(_limit("CCC"))
    venue.agrees()
    venue.emu.set_faults(Fault.silent("trading"))  # the updates go out on a muted connection
    venue.emu.step()
    broker.cancel_order(canceled.id)
    foreign = _foreign(venue, "DDD")
    mark = len(venue.sent)
    venue.emu.set_faults(Fault.drop("trading"))
    venue.listening(2)  # caught up by one listing of all orders, then one of the open ones
    venue.agrees()
    asked = [s for s in venue.sent[mark:] if s.startswith("GET /v2/orders")]
    assert [("status=all" in s, "status=open" in s) for s in asked] == [(1, 0), (0, 1)]
    assert {u.order.id for u in venue.handed if u.event is UpdateEvent.FILL} == {filled.id}
    assert {o.id for o in broker.get_open_orders()} == {kept.id, foreign}
    assert (UpdateEvent.CANCELED, canceled.id) in {(u.event, u.order.id) for u in venue.handed}


def _foreign(venue: Venue, symbol: str, price: float = 40.0) -> str:
    """A resting buy limit placed on the account by another client: its id."""
    from alpaca.trading.requests import LimitOrderRequest

    made = venue.other.submit_order(
        LimitOrderRequest(symbol=symbol, qty=1, side="buy", time_in_force="gtc", limit_price=price)
    )
    return str(made.id)


def test_an_order_another_client_places_is_in_the_book_from_its_update(venue: Venue) -> None:
    foreign = _foreign(venue, "AAA")
    venue.agrees()  # the stream tells of it: no listing needed
    assert foreign in {o.id for o in venue.broker.get_open_orders()}
    venue.other.cancel_order_by_id(foreign)
    venue.agrees()
    assert venue.listings() == 1


def test_the_periodic_listing_catches_what_the_stream_did_not_tell(venue: Venue) -> None:
    """A muted stream (an unnoticed loss): an order placed meanwhile by another client is
    in the book from the next listing, at the book's age; an order the other client
    canceled, whose end the broker never heard, stays open until two listings in a row
    do not show it, then is looked up and its end handed out."""
    broker = venue.broker
    ours = broker.submit_order(_limit("AAA"))
    venue.drain_until(lambda: [u.order.id for u in venue.handed] == [ours.id], what="its new")
    venue.emu.set_faults(Fault.silent("trading"))
    foreign = _foreign(venue, "BBB")
    venue.other.cancel_order_by_id(ours.id)
    assert {o.id for o in broker.get_open_orders()} == {ours.id}  # as the updates told
    listed = venue.listings()
    venue.now += broker.book_age
    assert {o.id for o in broker.get_open_orders()} == {ours.id, foreign}
    assert venue.listings() == listed + 1
    assert broker.drain_updates() == []  # not heard of: kept, as its end may be on its way
    venue.now += broker.book_age
    broker.get_open_orders()
    updates = broker.drain_updates()  # its end, looked up
    assert [(u.event, u.order.id) for u in updates] == [(UpdateEvent.CANCELED, ours.id)]
    assert {o.id for o in broker.get_open_orders()} == {foreign}
    assert venue.listings() == listed + 2


def test_without_a_listening_stream_every_ask_is_a_listing(hand_frames) -> None:
    """No trade stream (a one-off command, a reconciliation): nothing would keep a book
    current, so each ask lists at Alpaca, as before."""
    with Emulator(hand_frames, key="book-key", secret="book-secret") as emu:
        v = Venue(emu)
        v.broker.submit_order(_limit("AAA"))
        assert len(v.broker.get_open_orders()) == 1
        assert len(v.broker.get_open_orders()) == 1
        assert v.listings() == 2
        v.broker.close()
