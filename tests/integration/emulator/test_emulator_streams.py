"""Both streams through the real SDK: trade updates, bars, drops, silence and reconnects."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import msgpack
import pandas as pd
import pytest
import requests
import websockets
from alpaca.data.models import Bar
from alpaca.trading.models import TradeUpdate
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest

from workbench.emulator import Emulator, Fault
from workbench.emulator import testing as emt


def _event(update: TradeUpdate) -> str:
    return getattr(update.event, "value", update.event)  # alpaca-py types it TradeEvent | str


SPX_2010_01_04 = (1116.560059, 1133.869995, 1116.560059, 1132.98999, 3991400000.0)


def test_trade_updates_reach_the_sdk(emulator: Emulator, trading_client, trading_stream) -> None:
    stream = trading_stream()
    order = trading_client.submit_order(
        MarketOrderRequest(
            symbol="SPX", qty=4, side="buy", time_in_force="day", client_order_id="c1"
        )
    )
    [new] = stream.take(1)
    assert isinstance(new, TradeUpdate) and _event(new) == "new"
    assert new.order.id == order.id and new.order.client_order_id == "c1"
    emulator.step()
    [fill] = stream.take(1)
    assert _event(fill) == "fill"
    assert (fill.price, fill.qty, fill.position_qty) == (SPX_2010_01_04[0], 4.0, 4.0)
    assert fill.order.filled_qty == "4" and fill.order.status.value == "filled"
    assert fill.timestamp == dt.datetime(2010, 1, 4, 14, 30, tzinfo=dt.UTC)  # the open
    assert fill.execution_id is not None


def test_partial_fills_then_fill_on_the_stream(
    emulator: Emulator, trading_client, trading_stream
) -> None:
    stream = trading_stream()
    emulator.set_faults(Fault.partial(qty=4))
    trading_client.submit_order(
        MarketOrderRequest(symbol="SPX", qty=10, side="buy", time_in_force="gtc")
    )
    emulator.step(3)
    events = stream.take(4)
    assert [_event(e) for e in events] == ["new", "partial_fill", "partial_fill", "fill"]
    assert [e.qty for e in events[1:]] == [4.0, 4.0, 2.0]  # this execution's quantity
    assert [e.order.filled_qty for e in events[1:]] == ["4", "8", "10"]  # cumulative
    assert [e.position_qty for e in events[1:]] == [4.0, 8.0, 10.0]


def test_cancel_expiry_and_rejection_events(
    emulator: Emulator, trading_client, trading_stream
) -> None:
    stream = trading_stream()
    limit = trading_client.submit_order(
        LimitOrderRequest(symbol="SPX", qty=1, side="buy", time_in_force="gtc", limit_price=900)
    )
    trading_client.cancel_order_by_id(limit.id)
    # sized on the last close (89.6 x 1115.10 = 99913) but filled at the next open
    # (89.6 x 1116.56 = 100044 > cash): accepted, then refused by the venue at the fill
    big = trading_client.submit_order(
        MarketOrderRequest(symbol="SPX", qty=89.6, side="buy", time_in_force="day")
    )
    day = trading_client.submit_order(
        LimitOrderRequest(symbol="SPX", qty=1, side="buy", time_in_force="day", limit_price=50)
    )
    emulator.step(2)
    events = [(_event(e), e.order.id) for e in stream.take(6)]
    assert events == [
        ("new", limit.id),
        ("canceled", limit.id),
        ("new", big.id),
        ("new", day.id),
        ("rejected", big.id),
        ("expired", day.id),
    ]
    rejected = trading_client.get_order_by_id(big.id)
    assert rejected.status.value == "rejected" and rejected.failed_at is not None
    assert trading_client.get_account().cash == "100000"


def test_bars_reach_the_sdk_and_carry_alpacas_stamps(emulator: Emulator, data_stream) -> None:
    stream = data_stream("SPX")
    emulator.step(2)
    first, second = stream.take(2)
    assert isinstance(first, Bar) and first.symbol == "SPX"
    assert (first.open, first.high, first.low, first.close, first.volume) == SPX_2010_01_04
    # daily bars are stamped at New York midnight, as Alpaca stamps them
    assert first.timestamp == dt.datetime(2010, 1, 4, 5, tzinfo=dt.UTC)
    assert second.timestamp == dt.datetime(2010, 1, 5, 5, tzinfo=dt.UTC)
    assert first.trade_count is None and first.vwap is None


def test_trading_stream_drop_and_recover(
    emulator: Emulator, trading_client, trading_stream
) -> None:
    stream = trading_stream()
    emulator.set_faults(Fault.drop("trading"))  # cut TCP: the client sees 1006
    emt.wait_until(
        lambda: emulator.state()["connections"]["accepted"]["trading"] == 2, what="reconnect"
    )
    stream.wait_ready()
    trading_client.submit_order(
        MarketOrderRequest(symbol="SPX", qty=1, side="buy", time_in_force="day")
    )
    assert [_event(e) for e in stream.take(1)] == ["new"]


def test_data_stream_drop_and_recover(emulator: Emulator, data_stream) -> None:
    stream = data_stream("SPX")
    emulator.step()
    stream.take(1)
    emulator.set_faults(Fault.drop("data", abrupt=False))  # a close frame, code 1011
    emt.wait_until(
        lambda: emulator.state()["connections"]["accepted"]["data"] == 2, what="reconnect"
    )
    stream.wait_ready()
    emulator.step()
    [bar] = stream.take(1)
    assert bar.timestamp == dt.datetime(2010, 1, 5, 5, tzinfo=dt.UTC)


def test_silent_data_stream_is_left_by_the_sdk_data_timeout(
    emulator: Emulator, data_stream
) -> None:
    stream = data_stream("SPX", data_timeout=0.6)
    emulator.step()
    stream.take(1)
    emulator.set_faults(Fault.silent("data"))  # open, answering pings, sending nothing
    emulator.step()  # this bar is lost on the muted connection
    emt.wait_until(
        lambda: emulator.state()["connections"]["accepted"]["data"] == 2, what="reconnect"
    )
    stream.wait_ready()
    emulator.step()
    [bar] = stream.take(1)
    assert bar.timestamp == dt.datetime(2010, 1, 6, 5, tzinfo=dt.UTC)


def test_half_open_trading_stream_fails_the_sdk_ping(
    emulator: Emulator, trading_client, trading_stream
) -> None:
    stream = trading_stream(websocket_params={"ping_interval": 0.2, "ping_timeout": 0.3})
    emulator.set_faults(Fault.silent("trading", pings=False))
    emt.wait_until(
        lambda: emulator.state()["connections"]["accepted"]["trading"] == 2, what="reconnect"
    )
    stream.wait_ready()
    trading_client.submit_order(
        MarketOrderRequest(symbol="SPX", qty=1, side="buy", time_in_force="day")
    )
    assert [_event(e) for e in stream.take(1)] == ["new"]


def test_muted_trading_stream_loses_updates_that_rest_still_shows(
    emulator: Emulator, trading_client, trading_stream
) -> None:
    stream = trading_stream()
    emulator.set_faults(Fault.silent("trading"))
    order = trading_client.submit_order(
        MarketOrderRequest(symbol="SPX", qty=1, side="buy", time_in_force="day")
    )
    emulator.step()
    assert stream.nothing_for(0.3)
    assert trading_client.get_order_by_id(order.id).status.value == "filled"


def test_refused_data_connections_are_retried_by_the_sdk(emulator: Emulator, data_stream) -> None:
    emulator.set_faults(Fault.refuse("data", code=406, times=2))
    stream = data_stream("SPX", ready=False)
    stream.wait_ready()
    assert emulator.state()["connections"]["accepted"]["data"] == 3
    emulator.step()
    assert len(stream.take(1)) == 1


async def _raw_data_session(emu: Emulator) -> list:
    """The wire protocol without the SDK: msgpack frames, each an array of messages."""
    got = []
    headers = {"Content-Type": "application/msgpack"}
    async with websockets.connect(emu.data_stream_url, additional_headers=headers) as ws:
        got.append(msgpack.unpackb(await ws.recv()))
        await ws.send(msgpack.packb({"action": "subscribe", "bars": ["SPX"]}))
        got.append(msgpack.unpackb(await ws.recv()))  # not authenticated yet
        await ws.send(msgpack.packb({"action": "auth", "key": emu.key, "secret": emu.secret}))
        got.append(msgpack.unpackb(await ws.recv()))
        await ws.send(msgpack.packb({"action": "subscribe", "bars": ["SPX"], "trades": ["SPX"]}))
        got.append(msgpack.unpackb(await ws.recv()))
        await ws.send(msgpack.packb({"action": "unsubscribe", "trades": ["SPX"]}))
        got.append(msgpack.unpackb(await ws.recv()))
        await ws.send(b"not msgpack")
        got.append(msgpack.unpackb(await ws.recv()))
    return got


def test_data_stream_wire_protocol(emulator: Emulator) -> None:
    connected, early, auth, sub, unsub, bad = emt.run_async(_raw_data_session(emulator))
    assert connected == [{"T": "success", "msg": "connected"}]
    assert early == [{"T": "error", "code": 401, "msg": "not authenticated"}]
    assert auth == [{"T": "success", "msg": "authenticated"}]
    assert (
        sub[0]["T"] == "subscription" and sub[0]["bars"] == ["SPX"] and sub[0]["trades"] == ["SPX"]
    )
    assert unsub[0]["trades"] == [] and unsub[0]["bars"] == ["SPX"]
    assert bad == [{"T": "error", "code": 400, "msg": "invalid syntax"}]


async def _raw_bar(emu: Emulator) -> dict:
    headers = {"Content-Type": "application/msgpack"}
    async with websockets.connect(emu.data_stream_url, additional_headers=headers) as ws:
        await ws.recv()
        await ws.send(msgpack.packb({"action": "auth", "key": emu.key, "secret": emu.secret}))
        await ws.recv()
        await ws.send(msgpack.packb({"action": "subscribe", "bars": ["*"], "dailyBars": ["SPX"]}))
        await ws.recv()
        await asyncio.get_running_loop().run_in_executor(None, emu.step)
        return msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5))


def test_bar_frames_use_msgpack_timestamps(emulator: Emulator) -> None:
    frame = emt.run_async(_raw_bar(emulator))
    (bar,) = frame  # replayed daily data goes out on dailyBars only, as Alpaca sends it
    assert bar["T"] == "d"
    assert isinstance(bar["t"], msgpack.Timestamp)  # ext type -1, not a string
    assert bar["t"].to_datetime() == dt.datetime(2010, 1, 4, 5, tzinfo=dt.UTC)
    assert {"n", "vw"} <= set(bar) and bar["S"] == "SPX" and bar["o"] == SPX_2010_01_04[0]


async def _auth_twice(emu: Emulator) -> list:
    out = []
    for secret in ("wrong", emu.secret):
        async with websockets.connect(emu.trading_stream_url) as ws:
            auth = {"key_id": emu.key, "secret_key": secret}
            await ws.send(json.dumps({"action": "authenticate", "data": auth}))
            out.append(json.loads(await ws.recv()))
    return out


def test_trading_stream_auth(emulator: Emulator) -> None:
    bad, good = emt.run_async(_auth_twice(emulator))
    assert bad["data"]["status"] == "unauthorized"
    assert good == {
        "stream": "authorization",
        "data": {"action": "authenticate", "status": "authorized"},
    }


async def _second_trading_connection(url: str) -> int:
    async with websockets.connect(url):
        try:
            async with websockets.connect(url):
                return 101
        except websockets.InvalidStatus as exc:
            return exc.response.status_code


def test_one_trading_connection_per_account(emulator: Emulator) -> None:
    assert emt.run_async(_second_trading_connection(emulator.trading_stream_url)) == 429


def test_daily_bars_rest_and_stream_agree(emulator: Emulator, data_client, data_stream) -> None:
    from alpaca.data.requests import StockBarsRequest
    from alpaca.data.timeframe import TimeFrame

    stream = data_stream("SPX")
    emulator.step()
    [streamed] = stream.take(1)
    rest = data_client.get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols="SPX", timeframe=TimeFrame.Day, start=pd.Timestamp("2010-01-04")
        )
    )["SPX"]
    assert [b.timestamp for b in rest] == [streamed.timestamp]
    assert rest[0].close == streamed.close


def test_periodic_drop_every_n_bars(emulator: Emulator, data_stream) -> None:
    stream = data_stream("SPX")
    emulator.set_faults(Fault.drop("data", every=2))
    emulator.step()
    stream.take(1)
    emulator.step()  # the second bar goes out, then the connection is cut
    stream.take(1)
    emt.wait_until(
        lambda: emulator.state()["connections"]["accepted"]["data"] == 2, what="reconnect"
    )
    stream.wait_ready()
    emulator.step()
    assert len(stream.take(1)) == 1
    assert emulator.state()["faults"][0]["every"] == 2  # still installed


async def _json_and_limits(emu: Emulator) -> tuple:
    auth = {"action": "auth", "key": emu.key, "secret": emu.secret}
    async with websockets.connect(emu.data_stream_url) as first:  # no msgpack: JSON text
        hello = json.loads(await first.recv())
        await first.send(json.dumps(auth))
        authed = json.loads(await first.recv())
        async with websockets.connect(emu.data_stream_url) as second:
            await second.recv()
            await second.send(json.dumps(auth))
            limited = json.loads(await second.recv())
    async with websockets.connect(emu.data_stream_url) as idle:
        await idle.recv()
        timeout = json.loads(await asyncio.wait_for(idle.recv(), 5))
    return hello, authed, limited, timeout


def test_json_mode_connection_limit_and_auth_timeout(emulator: Emulator) -> None:
    emulator.core.hub.auth_timeout = 0.3
    hello, authed, limited, timeout = emt.run_async(_json_and_limits(emulator))
    assert hello == [{"T": "success", "msg": "connected"}]
    assert authed == [{"T": "success", "msg": "authenticated"}]
    assert limited == [{"T": "error", "code": 406, "msg": "connection limit exceeded"}]
    assert timeout == [{"T": "error", "code": 404, "msg": "auth timeout"}]


async def _refused_trading(emu: Emulator) -> dict:
    async with websockets.connect(emu.trading_stream_url) as ws:
        auth = {"key_id": emu.key, "secret_key": emu.secret}
        await ws.send(json.dumps({"action": "authenticate", "data": auth}))
        return json.loads(await ws.recv())


def test_refused_trading_connection(emulator: Emulator) -> None:
    emulator.set_faults(Fault.refuse("trading", times=1, message="try later"))
    refused = emt.run_async(_refused_trading(emulator))
    assert refused["data"] == {
        "action": "authenticate",
        "status": "unauthorized",
        "message": "try later",
    }
    assert emt.run_async(_refused_trading(emulator))["data"]["status"] == "authorized"


async def _listen_then_authenticate(emu: Emulator) -> list:
    async with websockets.connect(emu.trading_stream_url) as ws:
        listen = {"action": "listen", "data": {"streams": ["trade_updates"]}}
        await ws.send(json.dumps(listen))
        early = json.loads(await ws.recv())
        auth = {"key_id": emu.key, "secret_key": emu.secret}
        await ws.send(json.dumps({"action": "authenticate", "data": auth}))
        authed = json.loads(await ws.recv())
        await ws.send(json.dumps(listen))
        return [early, authed, json.loads(await ws.recv())]


def test_listen_before_authentication_is_refused_on_the_authorization_stream(
    emulator: Emulator,
) -> None:
    # Alpaca's streaming reference: "In the case that the socket connection is not
    # authorized yet, a new message under the authorization stream is issued in response
    # to the listen request": {"stream": "authorization", "data": {"status":
    # "unauthorized", "action": "listen"}}
    early, authed, listening = emt.run_async(_listen_then_authenticate(emulator))
    assert early == {
        "stream": "authorization",
        "data": {"action": "listen", "status": "unauthorized"},
    }
    assert authed["data"]["status"] == "authorized"
    assert listening == {"stream": "listening", "data": {"streams": ["trade_updates"]}}


async def _refused_data_auth(emu: Emulator) -> list:
    headers = {"Content-Type": "application/msgpack"}
    async with websockets.connect(emu.data_stream_url, additional_headers=headers) as ws:
        await ws.recv()
        await ws.send(msgpack.packb({"action": "auth", "key": emu.key, "secret": emu.secret}))
        return msgpack.unpackb(await ws.recv())


@pytest.mark.parametrize(
    ("code", "msg"),
    [
        (407, "slow client"),
        (408, "v2 not enabled"),
        (410, "invalid subscribe action for this feed"),
        (411, "insufficient scope"),
    ],
)
def test_data_stream_errors_carry_alpacas_messages(emulator: Emulator, code, msg) -> None:
    # Alpaca's real-time stock data reference (407 slow client, 408 v2 not enabled) and
    # alpaca-trade-api-go marketdata/stream/errors.go (410, 411)
    emulator.set_faults(Fault.refuse("data", code=code, times=1))
    assert emt.run_async(_refused_data_auth(emulator)) == [{"T": "error", "code": code, "msg": msg}]


async def _msgpack_trading_session(emu: Emulator) -> list:
    """A trading-stream client that asks for MessagePack, as Alpaca's reference allows."""
    headers = {"Content-Type": "application/msgpack"}
    got = []
    async with websockets.connect(emu.trading_stream_url, additional_headers=headers) as ws:
        auth = {"key_id": emu.key, "secret_key": emu.secret}
        await ws.send(msgpack.packb({"action": "authenticate", "data": auth}))
        got.append(await ws.recv())
        await ws.send(msgpack.packb({"action": "listen", "data": {"streams": ["trade_updates"]}}))
        got.append(await ws.recv())
        order = {"symbol": "SPX", "qty": 1, "side": "buy", "type": "market", "time_in_force": "day"}
        url, auth_headers = f"{emu.base_url}/v2/orders", emt.headers(emu)
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: requests.post(url, json=order, headers=auth_headers, timeout=5)
        )
        got.append(await asyncio.wait_for(ws.recv(), 5))
    return got


def test_trading_stream_speaks_msgpack_when_asked(emulator: Emulator) -> None:
    # Alpaca's streaming reference: "Alpaca's streaming service supports both JSON and
    # MessagePack codecs ... to request with MessagePack, add the header: Content-Type:
    # application/msgpack"
    frames = emt.run_async(_msgpack_trading_session(emulator))
    assert all(isinstance(f, bytes) for f in frames)
    authorized, listening, update = (msgpack.unpackb(f) for f in frames)
    assert authorized == {
        "stream": "authorization",
        "data": {"action": "authenticate", "status": "authorized"},
    }
    assert listening == {"stream": "listening", "data": {"streams": ["trade_updates"]}}
    assert update["stream"] == "trade_updates" and update["data"]["event"] == "new"
    assert update["data"]["order"]["symbol"] == "SPX"


async def _feed_session(emu: Emulator, feed: str) -> list:
    url = emu.data_stream_url.rsplit("/", 1)[0] + f"/{feed}"
    headers = {"Content-Type": "application/msgpack"}
    async with websockets.connect(url, additional_headers=headers) as ws:
        hello = msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5))
        await ws.send(msgpack.packb({"action": "auth", "key": emu.key, "secret": emu.secret}))
        return [hello, msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5))]


@pytest.mark.parametrize("feed", ["iex", "sip", "delayed_sip", "test"])
def test_every_stock_feed_alpaca_streams_is_served(emulator: Emulator, feed) -> None:
    # Alpaca's real-time stock data reference: "v2/sip ..., v2/iex ..., v2/delayed_sip is
    # a 15-minute delayed SIP feed" (and v2/test, its test stream)
    assert emt.run_async(_feed_session(emulator, feed)) == [
        [{"T": "success", "msg": "connected"}],
        [{"T": "success", "msg": "authenticated"}],
    ]


async def _header_authenticated(emu: Emulator, headers: dict) -> list:
    """A data-stream client that authenticates with HTTP headers on the handshake."""
    headers = {"Content-Type": "application/msgpack", **headers}
    got = []
    async with websockets.connect(emu.data_stream_url, additional_headers=headers) as ws:
        got.append(msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5)))
        got.append(msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5)))
        await ws.send(msgpack.packb({"action": "subscribe", "dailyBars": ["SPX"]}))
        got.append(msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5))[0]["dailyBars"])
        await asyncio.get_running_loop().run_in_executor(None, emu.step)
        got.append(msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5))[0]["T"])
        await ws.send(msgpack.packb({"action": "auth", "key": emu.key, "secret": emu.secret}))
        got.append(msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5)))
    return got


@pytest.mark.parametrize("scheme", ["apca", "basic"])
def test_data_stream_authenticates_with_http_headers(emulator: Emulator, scheme) -> None:
    # Alpaca's WebSocket Stream reference: "You can authenticate during the WebSocket
    # opening handshake" with APCA-API-KEY-ID / APCA-API-SECRET-KEY, or "Authorization:
    # Basic {BASE64_CREDENTIALS}"; "After successful authentication, the server responds
    # [{"T":"success","msg":"authenticated"}]"
    import base64

    emulator.core.hub.auth_timeout = 1.0  # without header auth: a quick 404 auth timeout
    pair = f"{emulator.key}:{emulator.secret}".encode()
    headers = (
        emt.headers(emulator)
        if scheme == "apca"
        else {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    )
    connected, authed, subscribed, data, again = emt.run_async(
        _header_authenticated(emulator, headers)
    )
    assert connected == [{"T": "success", "msg": "connected"}]
    assert authed == [{"T": "success", "msg": "authenticated"}]
    assert subscribed == ["SPX"] and data == "d"
    assert again == [{"T": "error", "code": 403, "msg": "already authenticated"}]


async def _subscribe_each(emu: Emulator, messages: list[dict]) -> list:
    headers = {"Content-Type": "application/msgpack"}
    got = []
    async with websockets.connect(emu.data_stream_url, additional_headers=headers) as ws:
        await ws.recv()
        await ws.send(msgpack.packb({"action": "auth", "key": emu.key, "secret": emu.secret}))
        await ws.recv()
        for message in messages:
            await ws.send(msgpack.packb(message))
            got.append(msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5))[0])
    return got


def test_a_channel_the_stock_stream_does_not_offer_is_410(emulator: Emulator) -> None:
    # Alpaca's WebSocket Stream reference: 410 "invalid subscribe action for this feed: You
    # tried to subscribe to channels not available in the stream, for example to bars in
    # the option stream or to trades in the news stream"; the stock stream's channels
    # include imbalances ("You have to subscribe to these messages using the imbalances
    # JSON key")
    news, books, mixed, unsub, imbalances = emt.run_async(
        _subscribe_each(
            emulator,
            [
                {"action": "subscribe", "news": ["*"]},
                {"action": "subscribe", "orderbooks": ["SPX"]},
                {"action": "subscribe", "bars": ["SPX"], "news": ["*"]},
                {"action": "unsubscribe", "orderbooks": ["SPX"]},
                {"action": "subscribe", "imbalances": ["SPX"]},
            ],
        )
    )
    invalid = {"T": "error", "code": 410, "msg": "invalid subscribe action for this feed"}
    assert news == books == mixed == unsub == invalid
    assert imbalances["T"] == "subscription" and imbalances["imbalances"] == ["SPX"]
    assert imbalances["bars"] == []  # the refused message changed nothing
