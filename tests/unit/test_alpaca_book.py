"""The Alpaca broker's open-order book, by itself: what enters it, what leaves it, when it is
complete, and when an order it holds is looked up (:mod:`workbench.brokers.alpaca_book`)."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from workbench.brokers.alpaca_book import OpenBook
from workbench.orders import Order, OrderRequest, OrderStatus, Side

T0 = pd.Timestamp("2024-01-02 15:00", tz="UTC")


def order(order_id: str, status: OrderStatus = OrderStatus.NEW) -> Order:
    return Order(order_id, OrderRequest("AAA", Side.BUY, quantity=1.0), T0, status=status)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def book(clock: Clock) -> OpenBook:
    return OpenBook(30.0, clock)


def ids(book: OpenBook) -> list[str]:
    return [o.id for o in book.orders()]


def test_the_book_is_complete_from_a_listing_until_its_age_or_a_gap(book, clock) -> None:
    assert not book.fresh()  # never listed: the broker lists at Alpaca
    book.refill([order("a")])
    assert book.fresh()
    clock.now = 29.9
    assert book.fresh()
    clock.now = 30.0
    assert not book.fresh()
    book.refill([order("a")])
    book.gap()
    assert not book.fresh() and not book.complete


def test_working_orders_enter_and_only_a_handed_out_end_removes_one(book) -> None:
    book.refill([])
    book.seen([order("a"), order("b", OrderStatus.HELD), order("c", OrderStatus.FILLED)])
    assert ids(book) == ["a", "b"]  # a filled copy (a lookup's) removes nothing
    book.seen([order("a", OrderStatus.PARTIALLY_FILLED)])  # a newer copy replaces ours
    assert book.orders()[0].status is OrderStatus.PARTIALLY_FILLED
    book.ended("a")
    book.seen([order("a")])  # a late copy of an ended order (Alpaca's lagging listing)
    book.refill([order("a"), order("b")])
    assert ids(book) == ["b"]


def test_the_first_listing_is_the_book_later_ones_keep_what_they_do_not_list(book) -> None:
    book.seen([order("before")])  # sent before the stream listened: its end may be lost
    book.refill([order("a")])
    assert ids(book) == ["a"]
    book.seen([order("b")])
    book.refill([order("a")])
    assert ids(book) == ["a", "b"]  # b's end is on its way
    assert book.due == set()


def test_an_order_two_listings_in_a_row_do_not_show_is_due_for_a_lookup(
    book, caplog: pytest.LogCaptureFixture
) -> None:
    book.refill([])
    book.seen([order("gone"), order("open")])
    book.refill([])
    assert book.due == set()  # once: its end may just not have come yet
    book.refill([])
    assert book.due == {"gone", "open"}
    with caplog.at_level(logging.WARNING, logger="workbench.brokers.alpaca_book"):
        book.looked_up("gone", order("gone", OrderStatus.CANCELED))
        book.looked_up("open", order("open"))  # still working there: stays
    assert ids(book) == ["open"] and book.due == set()
    assert [r.event for r in caplog.records] == ["order_unheard"]
    book.refill([])
    assert book.due == set()  # looked up: two listings more before the next lookup
    book.refill([])
    assert book.due == {"open"}


def test_an_order_alpaca_does_not_know_leaves_the_book(book) -> None:
    book.refill([])
    book.seen([order("x")])
    book.refill([])
    book.refill([])
    book.looked_up("x", None)
    assert ids(book) == [] and book.due == set()


def test_an_end_handed_out_clears_a_due_lookup(book) -> None:
    book.refill([])
    book.seen([order("x")])
    book.refill([])
    book.refill([])
    book.ended("x")
    assert book.due == set() and ids(book) == []


def test_an_ended_order_is_remembered_while_a_late_listing_may_show_it(book) -> None:
    """Alpaca's listing may lag the stream: a listing just after an end still shows the
    order working, and the book keeps it out. Two listings that do not show it after its
    end, and its id is let go (the book grows no list of every order a bot ever ended)."""
    book.refill([])
    book.seen([order("a")])
    book.ended("a")
    book.refill([order("a")])  # lagging: still listed
    assert ids(book) == []
    book.refill([])
    book.seen([order("a")])  # a copy older than its end
    assert ids(book) == []
    book.refill([])  # a second listing without it: forgotten
    book.seen([order("a")])  # (no copy of it comes now: were one to, it would be taken)
    assert ids(book) == ["a"]


def test_what_the_book_remembers_of_ended_orders_stays_bounded(book) -> None:
    book.refill([])
    for n in range(5_000):  # months of orders, a listing every 50 ends
        book.seen([order(f"o{n}")])
        book.ended(f"o{n}")
        if n % 50 == 49:
            book.refill([])
    assert ids(book) == [] and len(book._ended) <= 100
