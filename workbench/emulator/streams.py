"""The two WebSockets: trade updates (JSON) and market data (msgpack), with their faults.

Trading stream (``/stream``): ``authenticate`` -> ``authorization``, ``listen`` ->
``listening`` (before authenticating: ``authorization`` ``unauthorized`` with action
``listen``, as Alpaca answers it), then ``trade_updates`` messages, JSON in binary
frames like Alpaca's paper server, or MessagePack when the client sends
``Content-Type: application/msgpack`` ("Alpaca's streaming service supports both JSON
and MessagePack codecs"). One connection per account (``connection_limit``): a further
one is refused at the handshake with HTTP 429, as Alpaca does.

Market-data stream (``/v2/iex``, ``/v2/sip``, ``/v2/delayed_sip``, ``/v2/test``): msgpack
frames, each an array of messages (JSON text when the client does not ask for msgpack).
``connected`` first, then ``auth`` (402 auth failed, 406 connection limit exceeded, 404
auth timeout; or the key pair in the handshake's headers, ``APCA-API-KEY-ID`` /
``APCA-API-SECRET-KEY`` or ``Authorization: Basic``, as Alpaca also takes it:
``authenticated`` follows ``connected`` at once; a pair that does not match is ignored and
the client may still send ``auth``), additive ``subscribe`` and per-channel
``unsubscribe`` answered with the whole subscription. Bars are pushed when the replay
publishes them; ``t`` is a msgpack Timestamp.

Faults: ``drop`` closes connections (abruptly: no close frame, code 1006 at the
client), ``silent`` keeps them open but sends nothing (and with ``pings=False`` stops
answering pings too), ``refuse`` fails the next authentications. Pings are answered
by hand (``autoping=False``) so that a silent connection can stop answering them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import msgpack
from aiohttp import WSMsgType, web

from workbench.emulator.faults import Fault, FaultBook

log = logging.getLogger(__name__)

DATA_CHANNELS = ("trades", "quotes", "bars", "updatedBars", "dailyBars", "statuses", "lulds")
#: Stock channels also taken, though the emulator never sends on them: ``imbalances``
#: (listed in the answer once subscribed), and ``corrections`` / ``cancelErrors``, which
#: come with ``trades`` whatever is asked. Any other channel is refused 410.
QUIET_CHANNELS = ("imbalances",)
IMPLICIT_CHANNELS = ("corrections", "cancelErrors")
DATA_ERRORS = {
    400: "invalid syntax",
    401: "not authenticated",
    402: "auth failed",
    403: "already authenticated",
    404: "auth timeout",
    405: "symbol limit exceeded",
    406: "connection limit exceeded",
    407: "slow client",
    408: "v2 not enabled",
    409: "insufficient subscription",
    410: "invalid subscribe action for this feed",
    411: "insufficient scope",
    500: "internal error",
}
_CLOSING = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)


@dataclass(eq=False)
class Connection:
    """One client connection and what it asked for."""

    ws: web.WebSocketResponse
    request: web.Request
    stream: str  # trading | data
    packed: bool = False  # asked for msgpack (else JSON: text for data, binary for trading)
    authenticated: bool = False
    listening: bool = False
    muted: bool = False
    answer_pings: bool = True
    subs: dict[str, set[str]] = field(default_factory=dict)

    def wants(self, channel: str, symbol: str) -> bool:
        chosen = self.subs.get(channel, ())
        return symbol in chosen or "*" in chosen


class StreamHub:
    """All stream connections of the server; every method runs on the server's loop."""

    def __init__(
        self,
        key: str,
        secret: str,
        faults: FaultBook,
        *,
        connection_limit: int | None = 1,
        auth_timeout: float = 10.0,
        send_timeout: float = 5.0,
    ) -> None:
        self._key, self._secret = key, secret
        self.faults = faults
        self.connection_limit = connection_limit
        self.auth_timeout = auth_timeout
        self.send_timeout = send_timeout
        self.connections: set[Connection] = set()
        self.counts = {"trading": 0, "data": 0}  # connections accepted so far, per stream

    def _keys_match(self, key: Any, secret: Any) -> bool:
        return hmac.compare_digest(str(key or ""), self._key) and hmac.compare_digest(
            str(secret or ""), self._secret
        )

    def _open(self, stream: str, *, authenticated: bool = False) -> list[Connection]:
        return [
            c
            for c in self.connections
            if c.stream == stream and (c.authenticated or not authenticated)
        ]

    def describe(self) -> dict[str, Any]:
        """Open connections, those ready for data (listening / subscribed), and all accepted."""
        conns = list(self.connections)
        return {
            "trading": sum(1 for c in conns if c.stream == "trading"),
            "data": sum(1 for c in conns if c.stream == "data"),
            "trading_ready": sum(1 for c in conns if c.stream == "trading" and c.listening),
            "data_ready": sum(1 for c in conns if c.stream == "data" and any(c.subs.values())),
            "accepted": dict(self.counts),
        }

    # -- handlers ----------------------------------------------------------------------
    async def trading(self, request: web.Request) -> web.StreamResponse:
        if self.connection_limit is not None and (
            len(self._open("trading")) >= self.connection_limit
        ):
            return web.json_response(
                {"code": 42910000, "message": "connection limit exceeded"}, status=429
            )
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        conn = Connection(ws, request, "trading", packed=_asks_msgpack(request))
        await self._serve(conn)
        return ws

    async def data(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        conn = Connection(ws, request, "data", packed=_asks_msgpack(request))
        await self._send(conn, [{"T": "success", "msg": "connected"}])
        pair = _header_credentials(request)
        signed_in = pair is not None and self._keys_match(*pair)
        if signed_in and not await self._data_login(conn, *pair):
            return ws  # refused (a fault, 406): answered and closed
        await self._serve(conn)
        return ws

    async def _serve(self, conn: Connection) -> None:
        self.connections.add(conn)
        self.counts[conn.stream] += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.auth_timeout
        try:
            while not conn.ws.closed:
                timeout = None if conn.authenticated else max(deadline - loop.time(), 0.001)
                try:
                    msg = await conn.ws.receive(timeout=timeout)
                except TimeoutError:
                    await self._auth_timeout(conn)
                    break
                if msg.type is WSMsgType.PING:
                    if conn.answer_pings:
                        await conn.ws.pong(msg.data)
                    continue
                if msg.type in _CLOSING:
                    break
                if msg.type is WSMsgType.PONG or conn.muted:
                    continue
                await self._dispatch(conn, msg)
        except (ConnectionError, RuntimeError) as exc:
            log.debug("%s stream connection ended: %s", conn.stream, exc)
        finally:
            self.connections.discard(conn)
            if not conn.ws.closed:
                with contextlib.suppress(Exception):
                    await conn.ws.close()

    async def _dispatch(self, conn: Connection, msg: Any) -> None:
        try:
            if msg.type is WSMsgType.BINARY and (conn.packed or conn.stream == "data"):
                payload = msgpack.unpackb(msg.data)
            else:
                payload = json.loads(msg.data)
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, TypeError):
            payload = None
        if conn.stream == "trading":
            await self._on_trading(conn, payload)
        else:
            await self._on_data(conn, payload)

    async def _auth_timeout(self, conn: Connection) -> None:
        if conn.stream == "data":
            await self._send(conn, [_data_error(404)])
        else:
            await self._send(conn, _authorization("unauthorized", "authentication timeout"))
        await conn.ws.close()

    # -- trading stream ------------------------------------------------------------------
    async def _on_trading(self, conn: Connection, payload: Any) -> None:
        action = payload.get("action") if isinstance(payload, dict) else None
        data = payload.get("data") if isinstance(payload, dict) else None
        data = data if isinstance(data, dict) else {}
        if action in ("authenticate", "auth"):
            refusal = self.faults.refusal("trading")
            key = data.get("key_id", payload.get("key"))
            secret = data.get("secret_key", payload.get("secret"))
            if refusal is not None or not self._keys_match(key, secret):
                reason = "access key verification failed"
                if refusal is not None:
                    reason = refusal.message or "connection refused (emulator fault)"
                await self._send(conn, _authorization("unauthorized", reason))
                await conn.ws.close()
                return
            conn.authenticated = True
            await self._send(conn, _authorization("authorized"))
        elif action == "listen":
            if not conn.authenticated:  # Alpaca answers on the authorization stream
                await self._send(conn, _authorization("unauthorized", action="listen"))
                return
            streams = data.get("streams") if isinstance(data.get("streams"), list) else []
            conn.listening = "trade_updates" in streams
            known = ["trade_updates"] if conn.listening else []
            await self._send(conn, {"stream": "listening", "data": {"streams": known}})
        else:
            await self._send(conn, {"stream": "listening", "data": {"error": "invalid syntax"}})

    async def trade_updates(self, messages: list[dict[str, Any]]) -> None:
        """Send trade updates to every listening, unmuted trading connection."""
        if not messages:
            return
        for conn in list(self.connections):
            if conn.stream == "trading" and conn.listening and not conn.muted:
                for message in messages:
                    if not await self._send(conn, message):
                        break

    # -- market-data stream -------------------------------------------------------------
    async def _on_data(self, conn: Connection, payload: Any) -> None:
        action = payload.get("action") if isinstance(payload, dict) else None
        if action == "auth":
            await self._data_auth(conn, payload)
        elif action in ("subscribe", "unsubscribe"):
            if not conn.authenticated:
                await self._send(conn, [_data_error(401)])
                return
            changes = {c: v for c, v in payload.items() if c != "action"}
            if not all(
                isinstance(v, list) and all(isinstance(s, str) for s in v) for v in changes.values()
            ):
                await self._send(conn, [_data_error(400)])
                return
            if not set(changes) <= {*DATA_CHANNELS, *QUIET_CHANNELS, *IMPLICIT_CHANNELS}:
                await self._send(conn, [_data_error(410)])  # a channel of another stream
                return
            for channel in IMPLICIT_CHANNELS:
                changes.pop(channel, None)
            for channel, symbols in changes.items():
                chosen = conn.subs.setdefault(channel, set())
                if action == "subscribe":
                    chosen.update(s.upper() if s != "*" else s for s in symbols)
                else:
                    chosen.difference_update(s.upper() if s != "*" else s for s in symbols)
            await self._send(conn, [_subscription(conn)])
        else:
            await self._send(conn, [_data_error(400)])

    async def _data_auth(self, conn: Connection, payload: dict[str, Any]) -> None:
        if conn.authenticated:
            await self._send(conn, [_data_error(403)])
            return
        await self._data_login(conn, payload.get("key"), payload.get("secret"))

    async def _data_login(self, conn: Connection, key: Any, secret: Any) -> bool:
        """Authenticate ``conn`` (an ``auth`` message, or the handshake's headers), or
        refuse it with Alpaca's error and close it; returns whether it is authenticated."""
        refusal = self.faults.refusal("data")
        code = None
        if refusal is not None:
            code = refusal.code or 406
        elif not self._keys_match(key, secret):
            code = 402
        elif self.connection_limit is not None and (
            len(self._open("data", authenticated=True)) >= self.connection_limit
        ):
            code = 406
        if code is not None:
            await self._send(conn, [_data_error(code)])
            await conn.ws.close()
            return False
        conn.authenticated = True
        await self._send(conn, [{"T": "success", "msg": "authenticated"}])
        return True

    async def publish(self, messages: list[dict[str, Any]]) -> None:
        """Send bar messages to every authenticated, unmuted data connection subscribed."""
        if not messages:
            return
        for conn in list(self.connections):
            if conn.stream != "data" or not conn.authenticated or conn.muted:
                continue
            wanted = [m for m in messages if conn.wants(_CHANNEL_OF[m["T"]], m["S"])]
            if wanted:
                await self._send(conn, wanted)

    # -- faults and shutdown --------------------------------------------------------------
    async def apply(self, fault: Fault) -> int:
        """Drop or mute the current connections ``fault`` names; returns how many."""
        hit = [c for c in list(self.connections) if fault.hits_stream(c.stream)]
        for conn in hit:
            if fault.kind == "silent":
                conn.muted = True
                conn.answer_pings = fault.pings
            elif fault.kind == "drop":
                await self._drop(conn, abrupt=fault.abrupt)
        if hit:
            log.info("fault %s on %d %s connection(s)", fault.kind, len(hit), fault.stream)
        return len(hit)

    async def _drop(self, conn: Connection, *, abrupt: bool) -> None:
        self.connections.discard(conn)
        transport = conn.request.transport
        if abrupt and transport is not None:
            transport.abort()
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                conn.ws.close(code=1011, message=b"emulator fault: drop"), self.send_timeout
            )

    async def close_all(self) -> None:
        for conn in list(self.connections):
            self.connections.discard(conn)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.ws.close(code=1001, message=b"server shutdown"), 1.0)

    async def _send(self, conn: Connection, message: Any) -> bool:
        """Send one frame; a failed or too slow send drops the connection."""
        if conn.ws.closed:
            return False
        try:
            if conn.packed:
                coro = conn.ws.send_bytes(msgpack.packb(message))
            elif conn.stream == "data":
                coro = conn.ws.send_str(json.dumps(message, default=_json_default))
            else:
                coro = conn.ws.send_bytes(json.dumps(message).encode())
            await asyncio.wait_for(coro, self.send_timeout)
            return True
        except (ConnectionError, RuntimeError, TimeoutError) as exc:
            log.info(
                "%s stream: dropping a connection that cannot be written: %s", conn.stream, exc
            )
            await self._drop(conn, abrupt=True)
            return False


_CHANNEL_OF = {"b": "bars", "d": "dailyBars", "u": "updatedBars"}


def _asks_msgpack(request: web.Request) -> bool:
    """Whether the client asked for MessagePack (``Content-Type: application/msgpack``)."""
    return "msgpack" in request.headers.get("Content-Type", "").lower()


def _header_credentials(request: web.Request) -> tuple[str, str] | None:
    """The key pair a data-stream client sent on the handshake (``APCA-API-KEY-ID`` /
    ``APCA-API-SECRET-KEY``, or ``Authorization: Basic``), or None."""
    key = request.headers.get("APCA-API-KEY-ID")
    secret = request.headers.get("APCA-API-SECRET-KEY")
    if key is not None and secret is not None:
        return key, secret
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("basic "):
        with contextlib.suppress(binascii.Error, UnicodeDecodeError, ValueError):
            key, sep, secret = base64.b64decode(auth[6:], validate=True).decode().partition(":")
            if sep:
                return key, secret
    return None


def _authorization(
    status: str, message: str | None = None, *, action: str = "authenticate"
) -> dict[str, Any]:
    data: dict[str, Any] = {"action": action, "status": status}
    if message:
        data["message"] = message
    return {"stream": "authorization", "data": data}


def _data_error(code: int) -> dict[str, Any]:
    return {"T": "error", "code": code, "msg": DATA_ERRORS.get(code, "error")}


def _subscription(conn: Connection) -> dict[str, Any]:
    doc: dict[str, Any] = {"T": "subscription"}
    for channel in DATA_CHANNELS:
        doc[channel] = sorted(conn.subs.get(channel, ()))
    for channel in QUIET_CHANNELS:
        if conn.subs.get(channel):
            doc[channel] = sorted(conn.subs[channel])
    doc["corrections"] = doc["trades"]
    doc["cancelErrors"] = doc["trades"]
    return doc


def _symbol_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(s, str) for s in value)


def _json_default(value: Any) -> Any:
    """msgpack Timestamps in JSON mode: RFC 3339, as Alpaca's JSON stream writes them."""
    if isinstance(value, msgpack.Timestamp):
        return value.to_datetime().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
