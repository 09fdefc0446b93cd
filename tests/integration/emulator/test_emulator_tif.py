"""Alpaca's six times in force at the emulator, through the real alpaca-py client.

Orders at Alpaca, "Time in Force": ``ioc`` fills what it can at once and cancels the
rest, ``fok`` all or nothing, ``opg`` only in the opening auction (refused from 9:28 to
19:00 ET), ``cls`` only in the closing auction (refused from 15:50 to 19:00 ET). On the
emulator's bar clock "at once" is the open of the next bar; the auctions' prices are the
session's first open and last close (``workbench/emulator/tif.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.requests import (
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
    TrailingStopOrderRequest,
)

from workbench.brokers.alpaca import AlpacaBroker
from workbench.data.sources import load_symbols
from workbench.emulator import Emulator
from workbench.emulator import testing as emt
from workbench.emulator.faults import Fault
from workbench.orders import TimeInForce

KEY, SECRET = "tif-key", "tif-secret"
COLUMNS = ["open", "high", "low", "close", "volume"]
BARS = [  # daily AAA bars from Monday 2024-01-01: open, high, low, close, volume
    (100.0, 101.0, 99.0, 100.0, 1000.0),
    (101.0, 103.0, 100.0, 102.0, 1000.0),
    (102.0, 104.0, 98.0, 99.0, 1000.0),
]
OPEN_JAN_2 = pd.Timestamp("2024-01-02 14:30", tz="UTC")  # 09:30 New York
CLOSE_JAN_2 = pd.Timestamp("2024-01-02 21:00", tz="UTC")  # 16:00 New York


@pytest.fixture(scope="module")
def shared() -> Iterator[Emulator]:
    index = pd.bdate_range("2024-01-01", periods=len(BARS), tz="UTC", name="time")
    with Emulator({"AAA": pd.DataFrame(BARS, index=index, columns=COLUMNS)}, key=KEY,
                  secret=SECRET) as emu:  # fmt: skip
        yield emu


@pytest.fixture
def emu(shared: Emulator) -> Emulator:
    shared.reset()
    shared.step()  # 2024-01-01 published; the next bar opens at 101, closes at 102
    return shared


def _buy(tif: str, qty: float = 2, limit: float | None = None) -> MarketOrderRequest:
    if limit is None:
        return MarketOrderRequest(symbol="AAA", qty=qty, side="buy", time_in_force=tif)
    return LimitOrderRequest(symbol="AAA", qty=qty, side="buy", time_in_force=tif,
                             limit_price=limit)  # fmt: skip


def _events(updates: list, order_id: object) -> list[tuple[str, float | None, float | None]]:
    return [(u.event, u.qty, u.price) for u in updates if u.order.id == order_id]


def test_ioc_trades_at_the_open_only_and_cancels_the_rest(emu: Emulator) -> None:
    """A marketable ioc limit fills at the next open; one the open does not reach is
    canceled at once, although the bar's low later touches it (a day limit fills). A stop
    the open is through fills there; one only the bar's high reaches is canceled."""
    c, stream = emt.trading_client(emu), emt.trading_stream(emu)
    try:
        marketable = c.submit_order(_buy("ioc", limit=101.5))
        away = c.submit_order(_buy("ioc", limit=100.5))
        day = c.submit_order(_buy("day", limit=100.5))
        stops = [
            c.submit_order(
                StopOrderRequest(
                    symbol="AAA", qty=1, side="buy", time_in_force="ioc", stop_price=stop
                )
            )
            for stop in (100.5, 102.5)
        ]
        assert marketable.time_in_force == "ioc" and marketable.expires_at == CLOSE_JAN_2
        emu.step()
        updates = stream.take(10)
    finally:
        stream.stop()
    assert _events(updates, marketable.id) == [("new", None, None), ("fill", 2.0, 101.0)]
    assert _events(updates, away.id) == [("new", None, None), ("canceled", None, None)]
    assert _events(updates, day.id) == [("new", None, None), ("fill", 2.0, 100.5)]
    assert _events(updates, stops[0].id) == [("new", None, None), ("fill", 1.0, 101.0)]
    assert _events(updates, stops[1].id) == [("new", None, None), ("canceled", None, None)]
    gone = c.get_order_by_id(away.id)
    # canceled at once, at the session's open (no earlier: it was sent at midnight)
    assert (gone.status, gone.filled_qty, gone.canceled_at) == ("canceled", "0", OPEN_JAN_2)


def test_ioc_partial_fill_ends_canceled_and_fok_fills_whole_or_not_at_all(emu: Emulator) -> None:
    """With 3 shares to take from the bar: an ioc for 5 fills 3 and the rest is canceled
    (partial_fill then canceled: Alpaca-API #171); a fok for 5 is killed unfilled, a fok
    for 3 fills."""
    c, stream = emt.trading_client(emu), emt.trading_stream(emu)
    try:
        ioc = c.submit_order(_buy("ioc", qty=5))
        killed = c.submit_order(_buy("fok", qty=5))
        whole = c.submit_order(_buy("fok", qty=3))
        emu.add_fault(Fault.partial(qty=3))
        emu.step()
        updates = stream.take(7)
    finally:
        stream.stop()
    assert _events(updates, ioc.id) == [
        ("new", None, None), ("partial_fill", 3.0, 101.0), ("canceled", None, None)
    ]  # fmt: skip
    assert _events(updates, killed.id) == [("new", None, None), ("canceled", None, None)]
    assert _events(updates, whole.id) == [("new", None, None), ("fill", 3.0, 101.0)]
    done = c.get_order_by_id(ioc.id)
    assert (done.status, done.filled_qty, done.time_in_force) == ("canceled", "3", "ioc")
    assert c.get_open_position("AAA").qty == "6"


def test_opg_and_cls_trade_in_the_next_sessions_auctions(emu: Emulator) -> None:
    """On daily bars each step is a session: opg works at the next open, cls at the next
    close (its fill stamped at the session's close); a limit the auction price does not
    reach ends expired; expires_at is the session's close."""
    c, stream = emt.trading_client(emu), emt.trading_stream(emu)
    try:
        moo, loo = c.submit_order(_buy("opg")), c.submit_order(_buy("opg", limit=100.5))
        moc, loc = c.submit_order(_buy("cls")), c.submit_order(_buy("cls", limit=101.5))
        emu.step()
        updates = stream.take(8)
    finally:
        stream.stop()
    assert _events(updates, moo.id) == [("new", None, None), ("fill", 2.0, 101.0)]
    assert _events(updates, loo.id) == [("new", None, None), ("expired", None, None)]
    assert _events(updates, moc.id) == [("new", None, None), ("fill", 2.0, 102.0)]
    assert _events(updates, loc.id) == [("new", None, None), ("expired", None, None)]
    assert [u.timestamp for u in updates if u.order.id == moc.id][-1] == CLOSE_JAN_2
    filled, expired = c.get_order_by_id(moc.id), c.get_order_by_id(loc.id)
    assert (filled.status, filled.filled_at, filled.expires_at) == ("filled", CLOSE_JAN_2,
                                                                   CLOSE_JAN_2)  # fmt: skip
    assert (expired.status, expired.expired_at, expired.time_in_force) == (
        "expired", CLOSE_JAN_2, "cls"
    )  # fmt: skip


def test_which_orders_take_which_time_in_force(emu: Emulator) -> None:
    """opg/cls "with a market/limit order type"; brackets and trailing stops day or gtc;
    fractional orders DAY only, extended hours DAY or GTC (Orders at Alpaca, the API
    reference; wording ours, but a fractional order's, which Alpaca answers 42210000:
    test_emulator_fractional.py)."""
    c = emt.trading_client(emu)
    refused = {
        "opg orders must be market or limit orders": StopOrderRequest(
            symbol="AAA", qty=1, side="buy", time_in_force="opg", stop_price=105
        ),
        "trailing_stop orders must be DAY or GTC orders": TrailingStopOrderRequest(
            symbol="AAA", qty=1, side="buy", time_in_force="ioc", trail_percent=1
        ),
        "bracket orders must be DAY or GTC orders": MarketOrderRequest(
            symbol="AAA",
            qty=1,
            side="buy",
            time_in_force="ioc",
            order_class="bracket",
            take_profit=TakeProfitRequest(limit_price=120),
            stop_loss=StopLossRequest(stop_price=90),
        ),
        "fractional orders must be DAY orders": _buy("opg", qty=0.5),
        "extended hours orders must be DAY or GTC limit orders": LimitOrderRequest(
            symbol="AAA",
            qty=1,
            side="buy",
            time_in_force="opg",
            limit_price=99,
            extended_hours=True,
        ),
    }
    for message, request in refused.items():
        with pytest.raises(APIError) as exc:
            c.submit_order(request)
        code = 42210000 if message.startswith("fractional") else 40010001
        assert (exc.value.status_code, exc.value.code, exc.value.message) == (
            422, code, message
        )  # fmt: skip
    assert c.get_orders() == []
    stop = c.submit_order(
        StopOrderRequest(symbol="AAA", qty=1, side="buy", time_in_force="fok", stop_price=105)
    )
    assert (stop.time_in_force, stop.status) == ("fok", "accepted")


def test_expires_at_and_replace(emu: Emulator) -> None:
    """A day order expires at the session's close; a gtc one at 16:15 New York 90 days on
    (Alpaca's aged-order policy). An ioc order cannot be replaced; a day limit can become
    an opg one."""
    c = emt.trading_client(emu)
    day = c.submit_order(_buy("day", limit=90))
    gtc = c.submit_order(_buy("gtc", limit=80))
    ioc = c.submit_order(_buy("ioc", limit=70))
    sent = pd.Timestamp("2024-01-02", tz="America/New_York")  # Jan 1's day is over
    assert gtc.created_at == sent
    aged = pd.Timestamp(f"{sent.date() + pd.Timedelta(days=90)} 16:15", tz="America/New_York")
    assert (day.expires_at, gtc.expires_at) == (CLOSE_JAN_2, aged)
    raw = requests.get(f"{emu.base_url}/v2/orders/{gtc.id}", headers=emt.headers(emu), timeout=5)
    assert raw.json()["expires_at"] == "2024-04-01T20:15:00.000000Z"  # Monday 16:15
    with pytest.raises(APIError) as exc:
        c.replace_order_by_id(ioc.id, ReplaceOrderRequest(limit_price=71))
    assert (exc.value.status_code, exc.value.message) == (422, "ioc orders cannot be replaced")
    moved = c.replace_order_by_id(day.id, ReplaceOrderRequest(time_in_force="opg"))
    assert (moved.time_in_force, moved.replaces, moved.limit_price) == ("opg", day.id, "90")
    emu.step()  # opens at 101: the limit at 90 is not reached
    assert c.get_order_by_id(moved.id).status == "expired"


def test_the_alpaca_broker_reads_orders_of_every_time_in_force(emu: Emulator) -> None:
    """Orders another client placed on the account (alpaca-py here) read as DAY orders in
    workbench when they are bound to their session (opg, cls, ioc, fok)."""
    c = emt.trading_client(emu)
    placed = {c.submit_order(_buy(tif)).id: tif for tif in ("opg", "cls", "ioc", "fok", "gtc")}
    broker = AlpacaBroker(KEY, SECRET, url=emu.base_url)
    read = {o.id: o.request.tif for o in broker.get_open_orders()}
    assert read == {
        str(i): TimeInForce.GTC if tif == "gtc" else TimeInForce.DAY for i, tif in placed.items()
    }


MINUTES = [  # AAA minute bars (UTC) around the session of Tuesday 2024-01-02 (EST)
    ("2024-01-02 13:00", 90.0, 91.0, 89.0, 90.0),  # 08:00 New York, before the session
    ("2024-01-02 14:30", 100.0, 101.0, 99.0, 100.5),  # the open
    ("2024-01-02 14:31", 100.5, 102.0, 100.0, 101.0),
    ("2024-01-02 20:49", 101.0, 101.5, 100.5, 101.0),  # 15:49; the cls cut-off after it
    ("2024-01-02 20:59", 101.1, 101.5, 101.0, 101.4),  # the session's last bar
    ("2024-01-03 00:00", 101.4, 101.6, 101.2, 101.5),  # 19:00 New York
    ("2024-01-03 14:30", 103.0, 104.0, 102.0, 103.5),  # Wednesday's open
]


def test_the_auction_windows_on_minute_bars() -> None:
    """opg: accepted before 9:28 (queued: ``accepted``, then ``new`` at the open) and
    filled at the session's first regular bar's open, not at the 8:00 bar; refused from
    9:28 to 19:00; accepted after 19:00 for the next session. cls: accepted during the
    session, filled at the last bar's close stamped 16:00; refused from 15:50 to 19:00,
    when it can no longer be replaced, and a cancel waits (pending_cancel) for the auction,
    which fills it."""
    index = pd.DatetimeIndex([pd.Timestamp(t, tz="UTC") for t, *_ in MINUTES], name="time")
    rows = [(*prices, 1000.0) for _, *prices in MINUTES]
    frame = pd.DataFrame(rows, index=index, columns=COLUMNS)
    with Emulator({"AAA": frame}, key=KEY, secret=SECRET) as emu:
        c = emt.trading_client(emu)
        moo = c.submit_order(_buy("opg", qty=3))
        assert (moo.status, moo.expires_at) == ("accepted", CLOSE_JAN_2)
        emu.step(2)  # 08:00 and the open
        assert (c.get_order_by_id(moo.id).filled_avg_price, c.get_order_by_id(moo.id).filled_at
                ) == ("100", pd.Timestamp("2024-01-02 14:30", tz="UTC"))  # fmt: skip
        with pytest.raises(APIError) as exc:
            c.submit_order(_buy("opg"))
        assert exc.value.status_code == 422 and "between 09:28 and 19:00 ET" in exc.value.message
        moc = c.submit_order(MarketOrderRequest(symbol="AAA", qty=1, side="sell",
                                                time_in_force="cls"))  # fmt: skip
        day = c.submit_order(LimitOrderRequest(symbol="AAA", qty=1, side="sell",
                                               time_in_force="day", limit_price=200))  # fmt: skip
        emu.step(2)  # 14:31 and 15:49: the clock reads 15:50
        with pytest.raises(APIError) as exc:
            c.submit_order(MarketOrderRequest(symbol="AAA", qty=1, side="sell",
                                              time_in_force="cls"))  # fmt: skip
        assert "between 15:50 and 19:00 ET" in exc.value.message
        with pytest.raises(APIError) as exc:
            c.replace_order_by_id(moc.id, ReplaceOrderRequest(qty=2))
        assert exc.value.message == "cls orders cannot be replaced after 15:50 ET"
        c.cancel_order_by_id(moc.id)  # 204, but the auction keeps it: pending_cancel
        assert c.get_order_by_id(moc.id).status == "pending_cancel"
        emu.step()  # the last bar, then the closing auction
        closed = c.get_order_by_id(moc.id)
        assert (closed.status, closed.filled_avg_price, closed.filled_at) == (
            "filled", "101.4", CLOSE_JAN_2
        )  # fmt: skip
        over = c.get_order_by_id(day.id)  # a day order ends at its session's close
        assert (over.status, over.expired_at, over.expires_at) == ("expired", CLOSE_JAN_2,
                                                                  CLOSE_JAN_2)  # fmt: skip
        emu.step()  # 19:00 New York
        late = c.submit_order(_buy("opg"))
        assert late.status == "accepted"
        emu.step()
        assert c.get_order_by_id(late.id).filled_avg_price == "103"


def test_a_gtc_order_ends_expired_after_90_days() -> None:
    """Alpaca's aged-order policy: a gtc order is canceled 90 days after it was sent, at
    16:15 New York, the date its ``expires_at`` shows (the event name is ours)."""
    index = pd.bdate_range("2024-01-01", periods=70, tz="UTC", name="time")
    frame = pd.DataFrame([(100.0, 101.0, 99.0, 100.0, 1000.0)] * 70, index=index,
                         columns=COLUMNS)  # fmt: skip
    with Emulator({"AAA": frame}, key=KEY, secret=SECRET) as emu:
        emu.step()  # Jan 1's day is over: the clock is 2024-01-02 00:00 New York
        c = emt.trading_client(emu)
        gtc = c.submit_order(_buy("gtc", limit=50))
        aged = pd.Timestamp("2024-04-01 16:15", tz="America/New_York")  # Jan 2 + 90 days
        assert gtc.expires_at == aged
        monday = int(index.get_loc(pd.Timestamp("2024-04-01", tz="UTC")))
        emu.step(monday - 1)  # the bars up to Friday 2024-03-29
        assert c.get_order_by_id(gtc.id).status == "new"
        emu.step()  # Monday 2024-04-01: its day, ended at 16:15 New York
        over = c.get_order_by_id(gtc.id)
        assert (over.status, over.expired_at) == ("expired", aged)


def test_the_close_cut_off_follows_an_early_close() -> None:
    """On Black Friday (13:00 close) the cls cut-off is 12:50 and the closing auction is the
    12:59 bar's close, stamped 13:00 New York."""
    spec = "synthetic:AAA?freq=1min&session=XNYS&start=2023-11-24&end=2023-11-27&seed=11"
    frames = load_symbols(spec)
    close = pd.Timestamp("2023-11-24 13:00", tz="America/New_York")
    with Emulator(frames, key=KEY, secret=SECRET) as emu:
        emu.step(199)  # the clock reads 12:49
        c = emt.trading_client(emu)
        moc = c.submit_order(_buy("cls", qty=1))
        assert moc.expires_at == close
        emu.step()  # 12:50
        with pytest.raises(APIError) as exc:
            c.submit_order(_buy("cls", qty=1))
        assert "between 12:50 and 19:00 ET" in exc.value.message
        emu.step(10)  # the session's last bar, then its closing auction
        filled = c.get_order_by_id(moc.id)
        last = frames["AAA"].loc[: close - pd.Timedelta(minutes=1)].iloc[-1]
        assert (filled.status, filled.filled_at) == ("filled", close)
        assert float(filled.filled_avg_price) == pytest.approx(last["close"])
