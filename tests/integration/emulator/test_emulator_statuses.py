"""Which status an order has at the emulator, and which trade updates say so, in each
situation Alpaca documents (``workbench/emulator/lifecycle.py``), through the real
alpaca-py: ``get_order_by_id``, ``get_orders`` and the ``TradingStream``.

Minute bars over two sessions: Tuesday 2024-01-02's first two, 15:49 and last minute, then
a pre-market minute (08:00 New York) and Wednesday's first two. Tuesday's last bar ends
at the close (16:00 New York), so the clock then reads the market closed until
Wednesday's first regular bar is processed; the 08:00 bar works only extended-hours
orders (its low, 96, is below every limit below).
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.requests import (
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
)

from workbench.brokers.alpaca import AlpacaBroker
from workbench.emulator import Emulator
from workbench.emulator import testing as emt
from workbench.orders import OrderStatus

KEY, SECRET = "status-key", "status-secret"
MINUTES = [  # AAA minute bars (UTC): open, high, low, close
    ("2024-01-02 14:30", 100.0, 101.0, 99.0, 100.5),  # Tuesday's open
    ("2024-01-02 14:31", 100.5, 101.0, 100.0, 100.8),
    ("2024-01-02 20:49", 100.8, 101.0, 100.6, 100.9),  # 15:49 New York: the cls cut-off after it
    ("2024-01-02 20:59", 101.0, 101.5, 100.5, 101.0),  # the last: the market closes after it
    ("2024-01-03 13:00", 97.5, 98.0, 96.0, 97.0),  # 08:00 New York: before the session
    ("2024-01-03 14:30", 98.0, 99.0, 97.0, 98.5),  # Wednesday's open gaps down
    ("2024-01-03 14:31", 98.5, 99.0, 98.0, 98.8),
]
WEDNESDAY_OPEN = pd.Timestamp("2024-01-03 14:30", tz="UTC")


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[Emulator, emt.StreamThread]]:
    index = pd.DatetimeIndex([pd.Timestamp(t, tz="UTC") for t, *_ in MINUTES], name="time")
    rows = [(*prices, 1000.0) for _, *prices in MINUTES]
    frame = pd.DataFrame(rows, index=index, columns=["open", "high", "low", "close", "volume"])
    with Emulator({"AAA": frame}, key=KEY, secret=SECRET) as emu:
        stream = emt.trading_stream(emu)
        try:
            yield emu, stream
        finally:
            stream.stop()


@pytest.fixture
def emu(shared: tuple[Emulator, emt.StreamThread]) -> Emulator:
    shared[0].reset()
    shared[0].step()  # Tuesday's first bar: the clock reads 14:31, the market is open
    return shared[0]


@pytest.fixture
def stream(shared: tuple[Emulator, emt.StreamThread]) -> emt.StreamThread:
    return shared[1]


def _events(stream: emt.StreamThread, ids: set[str], n: int) -> list[tuple[str, str, str]]:
    """The next ``n`` trade updates of the orders ``ids``: (event, order id, its status)."""
    out: list[tuple[str, str, str]] = []
    while len(out) < n:
        (u,) = stream.take(1)
        if str(u.order.id) in ids:
            out.append((_v(u.event), str(u.order.id), _v(u.order.status)))
    return out


def _limit(price: float, tif: str = "gtc", qty: float = 1) -> LimitOrderRequest:
    return LimitOrderRequest(
        symbol="AAA", qty=qty, side="buy", time_in_force=tif, limit_price=price
    )


def _open_ids(c: object) -> dict[str, str]:
    listed = c.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))  # type: ignore[attr-defined]
    return {str(o.id): _v(o.status) for o in listed}


def _v(x: object) -> str:
    return str(getattr(x, "value", x))


def test_submitted_in_the_session_is_new_at_once(emu: Emulator, stream: emt.StreamThread) -> None:
    """POST answers ``accepted``; the venue takes it at once: ``new``, on the stream and
    over REST."""
    c = emt.trading_client(emu)
    order = c.submit_order(_limit(90))
    assert order.status == "accepted"
    assert c.get_order_by_id(order.id).status == "new"
    assert _events(stream, {str(order.id)}, 1) == [("new", str(order.id), "new")]


def test_submitted_while_closed_is_accepted_until_the_open(
    emu: Emulator, stream: emt.StreamThread
) -> None:
    """Sent after the close: ``accepted`` (REST, the open list) and no event until the
    next session opens; then ``new`` and its fill at that open. Canceled before the open,
    it is canceled at once and never goes out ``new``."""
    c = emt.trading_client(emu)
    emu.step(3)  # to Tuesday's close
    queued = c.submit_order(MarketOrderRequest(symbol="AAA", qty=1, side="buy",
                                               time_in_force="day"))  # fmt: skip
    dropped = c.submit_order(_limit(90))
    assert c.get_order_by_id(queued.id).status == "accepted"
    assert _open_ids(c) == {str(queued.id): "accepted", str(dropped.id): "accepted"}
    c.cancel_order_by_id(dropped.id)  # not routed yet: canceled at once
    assert c.get_order_by_id(dropped.id).status == "canceled"
    ids = {str(queued.id), str(dropped.id)}
    assert _events(stream, ids, 1) == [("canceled", str(dropped.id), "canceled")]
    emu.step(2)  # Wednesday's 08:00 bar and open
    assert _events(stream, ids, 2) == [
        ("new", str(queued.id), "new"),
        ("fill", str(queued.id), "filled"),
    ]
    assert c.get_order_by_id(queued.id).filled_avg_price == "98"


def test_a_cancel_in_the_session_acts_at_once(emu: Emulator, stream: emt.StreamThread) -> None:
    """ "Most cancelations will occur without the order entering this state": 204, then
    ``canceled`` only."""
    c = emt.trading_client(emu)
    order = c.submit_order(_limit(90))
    assert c.cancel_order_by_id(order.id) is None  # 204
    assert c.get_order_by_id(order.id).status == "canceled"
    assert _events(stream, {str(order.id)}, 2) == [
        ("new", str(order.id), "new"),
        ("canceled", str(order.id), "canceled"),
    ]


def test_a_cancel_while_closed_is_pending_until_the_open(
    emu: Emulator, stream: emt.StreamThread
) -> None:
    """A routed gtc order canceled after the close reads ``pending_cancel`` (still open)
    until the next session opens, when it is canceled before the first bar (whose open,
    98, would have filled it). Meanwhile it can be neither canceled again nor replaced."""
    c = emt.trading_client(emu)
    order = c.submit_order(_limit(99.5))
    emu.step(3)  # to Tuesday's close; its bars never reach 99.5
    oid = str(order.id)
    c.cancel_order_by_id(order.id)
    assert c.get_order_by_id(order.id).status == "pending_cancel"
    assert _open_ids(c) == {oid: "pending_cancel"}
    for call in (
        lambda: c.cancel_order_by_id(order.id),
        lambda: c.replace_order_by_id(order.id, ReplaceOrderRequest(limit_price=99)),
    ):
        with pytest.raises(APIError) as exc:
            call()
        assert (exc.value.status_code, exc.value.message) == (
            422, 'order is already in "pending_cancel" state'
        )  # fmt: skip
    emu.step(2)  # Wednesday's 08:00 bar and open
    done = c.get_order_by_id(order.id)
    assert (done.status, done.filled_qty, done.canceled_at) == ("canceled", "0", WEDNESDAY_OPEN)
    assert _open_ids(c) == {}
    assert _events(stream, {oid}, 3) == [
        ("new", oid, "new"),
        ("pending_cancel", oid, "pending_cancel"),
        ("canceled", oid, "canceled"),
    ]


def test_a_replace_in_the_session(emu: Emulator, stream: emt.StreamThread) -> None:
    """The old order's ``pending_replace`` then ``replaced``, then the new one's ``new``."""
    c = emt.trading_client(emu)
    old = c.submit_order(_limit(90))
    new = c.replace_order_by_id(old.id, ReplaceOrderRequest(limit_price=91))
    assert (new.status, str(new.replaces)) == ("accepted", str(old.id))
    moved = c.get_order_by_id(old.id)
    assert (moved.status, str(moved.replaced_by)) == ("replaced", str(new.id))
    assert c.get_order_by_id(new.id).status == "new"
    o, n = str(old.id), str(new.id)
    assert _events(stream, {o, n}, 4) == [
        ("new", o, "new"),
        ("pending_replace", o, "pending_replace"),
        ("replaced", o, "replaced"),
        ("new", n, "new"),
    ]


def test_a_replace_while_closed_is_pending_until_the_open(
    emu: Emulator, stream: emt.StreamThread
) -> None:
    """After the close the old order reads ``pending_replace`` (open) and the new one
    ``accepted``; a cancel of the old one is answered 204 and rejected by the order
    (``order_cancel_rejected``: "The order will reject cancel request while in this
    state"). At the open: ``replaced``, the new order's ``new``, and its fill at 98."""
    c = emt.trading_client(emu)
    old = c.submit_order(_limit(90))
    emu.step(3)  # to Tuesday's close
    new = c.replace_order_by_id(old.id, ReplaceOrderRequest(limit_price=98.2))
    o, n = str(old.id), str(new.id)
    assert c.get_order_by_id(old.id).status == "pending_replace"
    assert c.get_order_by_id(new.id).status == "accepted"
    assert _open_ids(c) == {o: "pending_replace", n: "accepted"}
    assert c.cancel_order_by_id(old.id) is None  # 204: the order rejects it
    with pytest.raises(APIError) as exc:
        c.replace_order_by_id(old.id, ReplaceOrderRequest(limit_price=97))
    assert exc.value.message == 'order is already in "pending_replace" state'
    emu.step(2)  # Wednesday's 08:00 bar and open
    assert c.get_order_by_id(old.id).replaced_at == WEDNESDAY_OPEN
    assert (c.get_order_by_id(new.id).status, c.get_order_by_id(new.id).filled_avg_price) == (
        "filled", "98"
    )  # fmt: skip
    assert _events(stream, {o, n}, 6) == [
        ("new", o, "new"),
        ("pending_replace", o, "pending_replace"),
        ("order_cancel_rejected", o, "pending_replace"),
        ("replaced", o, "replaced"),
        ("new", n, "new"),
        ("fill", n, "filled"),
    ]


def test_a_cancel_the_auction_refuses(emu: Emulator, stream: emt.StreamThread) -> None:
    """A cls order past its 15:50 cut-off cannot be canceled: ``pending_cancel`` until the
    closing auction fills it, then ``order_cancel_rejected`` with the order filled."""
    c = emt.trading_client(emu)
    moc = c.submit_order(MarketOrderRequest(symbol="AAA", qty=1, side="buy",
                                            time_in_force="cls"))  # fmt: skip
    emu.step(2)  # 14:31 and 15:49: the clock reads 15:50 New York, the cut-off
    c.cancel_order_by_id(moc.id)
    assert c.get_order_by_id(moc.id).status == "pending_cancel"
    emu.step()  # the last bar and the closing auction at its close
    assert (c.get_order_by_id(moc.id).status, c.get_order_by_id(moc.id).filled_avg_price) == (
        "filled", "101"
    )  # fmt: skip
    mid = str(moc.id)
    assert _events(stream, {mid}, 4) == [
        ("new", mid, "new"),
        ("pending_cancel", mid, "pending_cancel"),
        ("fill", mid, "filled"),
        ("order_cancel_rejected", mid, "filled"),
    ]


def test_the_alpaca_broker_keeps_pending_orders_working(emu: Emulator) -> None:
    """workbench's Alpaca broker reads ``pending_cancel`` and ``pending_replace`` orders as
    working: among the open orders, with our lifecycle's statuses."""
    c = emt.trading_client(emu)
    canceling = c.submit_order(_limit(90))
    replacing = c.submit_order(_limit(89))
    emu.step(3)  # to Tuesday's close
    c.cancel_order_by_id(canceling.id)
    new = c.replace_order_by_id(replacing.id, ReplaceOrderRequest(limit_price=88))
    broker = AlpacaBroker(KEY, SECRET, url=emu.base_url)
    try:
        working = {o.id: o.status for o in broker.get_open_orders()}
        assert working == {
            str(canceling.id): OrderStatus.PENDING_CANCEL,
            str(replacing.id): OrderStatus.PENDING_REPLACE,
            str(new.id): OrderStatus.ACCEPTED,
        }
        assert all(s.is_open for s in working.values())
        emu.step(2)  # 08:00 and the open: canceled, replaced, new
        assert broker.get_order(str(canceling.id)).status is OrderStatus.CANCELED
        assert broker.get_order(str(replacing.id)).status is OrderStatus.REPLACED
        assert broker.get_order(str(new.id)).status is OrderStatus.NEW
    finally:
        broker.close()


def test_cancel_all_while_closed_and_close_all_positions(emu: Emulator) -> None:
    """``DELETE /v2/orders`` after the close: each routed order ``pending_cancel`` (207,
    each body with it). ``DELETE /v2/positions?cancel_orders=true``: the venue cancels the
    open orders itself, at once, so the closing order is not refused for the shares they
    hold; it is queued (``accepted``) for the open."""
    c = emt.trading_client(emu)
    c.submit_order(MarketOrderRequest(symbol="AAA", qty=5, side="buy", time_in_force="day"))
    emu.step()  # filled at 14:31's open
    exit_ = c.submit_order(
        LimitOrderRequest(symbol="AAA", qty=5, side="sell", time_in_force="gtc", limit_price=150)
    )
    emu.step(2)  # to Tuesday's close
    (answer,) = c.cancel_orders()
    assert (str(answer.id), answer.status, answer.body["status"]) == (
        str(exit_.id), 200, "pending_cancel"
    )  # fmt: skip
    assert c.get_order_by_id(exit_.id).status == "pending_cancel"
    (closed,) = c.close_all_positions(cancel_orders=True)
    assert (closed.status, closed.body.status) == (200, "accepted")
    assert c.get_order_by_id(exit_.id).status == "canceled"
    emu.step(2)  # Wednesday's 08:00 bar and open: the position is sold there
    assert c.get_all_positions() == []


def test_extended_hours_orders_trade_outside_the_session(
    emu: Emulator, stream: emt.StreamThread
) -> None:
    """After the close an ``extended_hours`` limit is routed at once (``new``) and fills on
    the 08:00 bar, where a regular gtc limit at the same price waits for the session. One
    canceled after the close is ``pending_cancel`` and fills at 08:00 before the open: the
    cancel comes too late (``order_cancel_rejected``, the order filled). An extended-hours
    DAY order sent at 16:00 is good until 20:00 New York that evening (its trading day's
    after-hours, ``test_emulator_extended_day.py``): the 08:00 bar comes too late for it."""
    c = emt.trading_client(emu)
    emu.step(3)  # to Tuesday's close

    def limit(price: float, **kw: object) -> object:
        return c.submit_order(LimitOrderRequest(symbol="AAA", qty=1, side="buy",
                                                limit_price=price, **kw))  # fmt: skip

    ext = limit(97, time_in_force="gtc", extended_hours=True)
    late = limit(97.2, time_in_force="gtc", extended_hours=True)
    day = limit(97, time_in_force="day", extended_hours=True)
    regular = limit(97, time_in_force="gtc")
    assert (c.get_order_by_id(ext.id).status, c.get_order_by_id(regular.id).status) == (
        "new", "accepted"
    )  # fmt: skip
    c.cancel_order_by_id(late.id)
    assert c.get_order_by_id(late.id).status == "pending_cancel"
    emu.step()  # 08:00 New York
    assert [c.get_order_by_id(o.id).status for o in (ext, late, day, regular)] == [
        "filled", "filled", "expired", "accepted"
    ]  # fmt: skip
    evening = pd.Timestamp("2024-01-02 20:00", tz="America/New_York")
    assert c.get_order_by_id(day.id).expired_at == evening
    e, la, d = str(ext.id), str(late.id), str(day.id)
    assert _events(stream, {e, la, d}, 8) == [
        ("new", e, "new"),
        ("new", la, "new"),
        ("new", d, "new"),
        ("pending_cancel", la, "pending_cancel"),
        ("expired", d, "expired"),
        ("fill", e, "filled"),
        ("fill", la, "filled"),
        ("order_cancel_rejected", la, "filled"),
    ]
    emu.step()  # the open: the regular one goes out and fills at its limit
    assert c.get_order_by_id(regular.id).filled_avg_price == "97"


def test_a_gtc_extended_hours_limit_is_taken_and_trades_outside_the_session(
    emu: Emulator,
) -> None:
    """``extended_hours`` "Only works with type `limit` and time_in_force set to either
    `day` or `gtc`" (Alpaca's API reference, Create an Order, 2026): a GTC one is taken
    (it was refused 422 "extended hours order must be DAY limit orders", Alpaca's older
    rule), routed at once after the close, works on the 08:00 bar and, unfilled, stays
    open into the session, ending at the gtc aged-order date. Other times in force stay
    refused."""
    c = emt.trading_client(emu)
    emu.step(3)  # to Tuesday's close

    def limit(price: float, tif: str) -> object:
        order = LimitOrderRequest(
            symbol="AAA", qty=1, side="buy", limit_price=price, time_in_force=tif,
            extended_hours=True,
        )  # fmt: skip
        return c.submit_order(order)

    filled, resting = limit(97, "gtc"), limit(95, "gtc")
    assert (resting.time_in_force, resting.extended_hours) == ("gtc", True)
    assert resting.expires_at == pd.Timestamp("2024-04-01 20:15", tz="UTC")  # 90 days, 16:15
    assert {c.get_order_by_id(o.id).status for o in (filled, resting)} == {"new"}
    emu.step(2)  # 08:00 New York (low 96), then Wednesday's open
    assert [c.get_order_by_id(o.id).status for o in (filled, resting)] == ["filled", "new"]
    with pytest.raises(APIError) as exc:
        limit(95, "ioc")
    assert (exc.value.status_code, exc.value.code, exc.value.message) == (
        422, 40010001, "extended hours orders must be DAY or GTC limit orders"
    )  # fmt: skip
