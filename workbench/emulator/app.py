"""The server's state on its event loop and the request pipeline.

Every request to Alpaca's routes goes through one middleware: authentication (the
configured key pair, 401 ``40110000`` otherwise), the rate limit (``X-RateLimit-*``
headers on every answer, 429 past ``rate_limit`` requests a minute), then the HTTP
faults. Every error body is JSON ``{"code", "message"}``, unknown routes and wrong
methods included; nothing redirects.

During an outage (:mod:`workbench.emulator.outage`) every request to Alpaca's routes
and every stream connection is answered 503 before anything else.

The control API (``/_emulator/...``, :mod:`workbench.emulator.control`) goes through the
same middleware, which answers it for loopback clients only.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import hmac
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from aiohttp import web

from workbench.emulator.faults import Fault, FaultBook
from workbench.emulator.marketdata import DAY, bar_message, session_stamps
from workbench.emulator.outage import OUTAGE_MESSAGE, Outage
from workbench.emulator.publication import Publication, check_delay
from workbench.emulator.rules import MAX_DECIMALS
from workbench.emulator.shapes import ApiError, stable_uuid
from workbench.emulator.streams import StreamHub
from workbench.emulator.venue import Venue
from workbench.errors import WorkbenchError
from workbench.sim.broker import SimulatedBroker
from workbench.sim.costs import Commission, Slippage

log = logging.getLogger(__name__)

#: The stock feeds Alpaca streams at ``/v2/{feed}`` (``delayed_sip``: SIP 15 minutes late).
DATA_FEEDS = ("iex", "sip", "delayed_sip", "test")
STREAM_PATHS = frozenset({"/stream", *(f"/v2/{feed}" for feed in DATA_FEEDS)})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything that shapes the emulated account (see :class:`~workbench.emulator.Emulator`)."""

    cash: float = 100_000.0
    key: str = "emulator-key"
    secret: str = "emulator-secret"
    commission: Any = None
    slippage: Any = None
    volume_limit: float | None = None
    lot_size: float | None = None
    margin: float = 1.0
    allow_short: bool = True
    replay_from: pd.Timestamp | None = None
    connection_limit: int | None = 1
    rate_limit: int | None = None
    wash_trade_check: bool = True
    exchange: str = "NYSE"
    #: The exchange calendar of the data: the clock, the calendar and the daily bars.
    calendar: str = "XNYS"
    quote_spread_bps: float = 2.0  # the synthetic quote's spread around the last close
    faults: tuple[Fault, ...] = field(default_factory=tuple)
    #: A venue outage played on the replay clock (:mod:`workbench.emulator.outage`).
    outage: Outage | None = None
    #: Seconds a step's bars wait before they are published (:mod:`.publication`).
    publication_delay: float = 0.0

    def __repr__(self) -> str:  # never show the secret
        return f"EmulatorConfig(cash={self.cash}, key={self.key!r}, secret='***')"


class RateLimiter:
    """Requests in the last minute; ``limit=None`` reports 200 a minute but never refuses."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._hits: collections.deque[float] = collections.deque()

    def hit(self) -> tuple[dict[str, str], bool]:
        now = time.time()
        while self._hits and self._hits[0] <= now - 60:
            self._hits.popleft()
        self._hits.append(now)
        shown = self.limit or 200
        headers = {
            "X-RateLimit-Limit": str(shown),
            "X-RateLimit-Remaining": str(max(shown - len(self._hits), 0)),
            "X-RateLimit-Reset": str(int(self._hits[0] + 60)),
        }
        return headers, self.limit is not None and len(self._hits) > self.limit


class EmulatorApp:
    """The account, the streams and the faults; lives on the server's event loop."""

    def __init__(self, frames: Mapping[str, pd.DataFrame], config: EmulatorConfig) -> None:
        self.frames = dict(frames)
        self.config = config
        self.faults = FaultBook(config.faults)
        self.hub = StreamHub(
            config.key, config.secret, self.faults, connection_limit=config.connection_limit
        )
        self.limiter = RateLimiter(config.rate_limit)
        self.lock = asyncio.Lock()  # keeps stream order equal to event order
        self.steps = 0
        self.outage = config.outage
        self.publication = Publication(self.hub.publish, config.publication_delay)
        self.venue = self._new_venue()
        self._daily = {s: self.venue.store.intervals[s] >= DAY for s in self.frames}

    def _new_venue(self) -> Venue:
        c = self.config
        broker = SimulatedBroker(
            c.cash,
            commission=Commission.parse(c.commission),
            slippage=Slippage.parse(c.slippage),
            volume_limit=c.volume_limit,
            lot_size=c.lot_size,
            margin=c.margin,
            allow_short=c.allow_short,
            id_prefix="emu",
            quantity_decimals=MAX_DECIMALS,
        )
        return Venue(
            self.frames,
            broker,
            faults=self.faults,
            account_id=stable_uuid("account", c.key),
            replay_from=c.replay_from,
            exchange=c.exchange,
            wash_trade_check=c.wash_trade_check,
            quote_spread_bps=c.quote_spread_bps,
            calendar=c.calendar,
        )

    # -- actions shared by the REST handlers, the control API and the Python API ---------
    async def act(self, fn: Callable[[Venue], tuple[Any, list[dict[str, Any]]]]) -> Any:
        """Run a venue action and send the trade updates it caused, in order."""
        async with self.lock:
            result, messages = fn(self.venue)
            await self.hub.trade_updates(messages)
        return result

    async def step(self, n: int = 1) -> int:
        """Advance the replay ``n`` bar times; returns how many were processed."""
        done = 0
        for _ in range(n):
            async with self.lock:
                await self.publication.release()  # an earlier minute is published first
                await self._outage_before(self.venue.replay.next_begins)
                out = self.venue.step()
                if out is None:
                    break
                messages, published = out
                await self.hub.trade_updates(messages)
                await self.publication.publish(
                    self._bar_messages(published), self.venue.replay, self._release
                )
                self.steps += 1
                done += 1
            for fault in self.faults.periodic(self.steps):
                await self.hub.apply(fault)
        return done

    async def _release(self) -> None:
        async with self.lock:
            await self.publication.release()

    async def set_publication_delay(self, seconds: float) -> None:
        """Withhold each step's bars ``seconds`` from now on (0: publish with the step)."""
        async with self.lock:
            self.publication.delay = check_delay(seconds)
            if not self.publication.delay:
                await self.publication.release()

    # -- outages ------------------------------------------------------------------------
    @property
    def down(self) -> bool:
        """Whether the venue is in an outage now (REST 503, streams refused)."""
        return self.outage is not None and self.outage.active

    async def _outage_before(self, next_bar: pd.Timestamp | None) -> None:
        """Begin or end the outage before ``next_bar`` is published, as it is scheduled."""
        outage = self.outage
        if outage is None or next_bar is None:
            return
        if outage.over(next_bar):
            self._end_outage()
        elif outage.due(next_bar):
            await self._begin_outage(outage, next_bar if outage.at is not None else self.venue.now)

    async def _begin_outage(self, outage: Outage, start: pd.Timestamp) -> None:
        self.outage = outage.begin(start)
        dropped = await self.hub.apply(Fault.drop("both"))
        log.warning(
            "outage begins at %s (%s): REST answers 503, %d stream connection(s) dropped",
            start, "until ended" if outage.duration is None else f"for {outage.duration}",
            dropped,
        )  # fmt: skip

    def _end_outage(self) -> None:
        if self.down:
            log.warning("outage ends at %s", self.venue.now)
        self.outage = None

    async def set_outage(self, outage: Outage | None) -> None:
        """Schedule ``outage`` (one without ``at`` begins at once), or end it (None)."""
        async with self.lock:
            if outage is None:
                self._end_outage()
            elif outage.at is None:
                await self._begin_outage(outage, self.venue.now)
            else:
                self.outage = outage

    def _bar_messages(self, published: list[tuple[str, int]]) -> list[dict[str, Any]]:
        """As Alpaca streams them: minute bars on ``bars``, and after each bar of a
        session its daily bar so far on ``dailyBars`` (Alpaca: "emitted right after each
        minute mark after the market opens", holding the trades until then; the one
        after the close's bar is the whole session); replayed daily bars on
        ``dailyBars`` only."""
        out = []
        for symbol, i in published:
            frame = self.frames[symbol]
            row = frame.iloc[i]
            stamp = frame.index[i]
            if self._daily[symbol]:
                stamp = session_stamps(pd.DatetimeIndex([stamp]), self.venue.store.zone)[0]
                out.append(bar_message(symbol, stamp, row, "d"))
                continue
            out.append(bar_message(symbol, stamp, row, "b"))
            day = self._session_bar(symbol, i)
            if day is not None:
                out.append(bar_message(symbol, *day, "d"))
        return out

    def _session_bar(self, symbol: str, i: int) -> tuple[pd.Timestamp, Any] | None:
        """The session's daily bar until bar ``i`` is over (None: ``i`` is outside the
        sessions)."""
        frame = self.frames[symbol]
        t = frame.index[i]
        cal = self.venue.replay.sessions
        k = cal.index_of(t)
        if k < 0:
            return None
        first = int(frame.index.searchsorted(cal.open_at(k)))
        rows = frame.iloc[first : i + 1]  # a session's bars so far: session_resample's
        day = pd.Series(  # rules (_AGG), without its checks on every step of every symbol
            {"open": rows["open"].iloc[0], "high": rows["high"].max(),
             "low": rows["low"].min(), "close": rows["close"].iloc[-1],
             "volume": rows["volume"].sum()}
        )  # fmt: skip
        date = pd.DatetimeIndex([cal.dates[k]])
        return session_stamps(date, self.venue.store.zone)[0], day

    async def correct(self, symbol: str, time: pd.Timestamp, fields: dict[str, float]) -> None:
        """Correct a published bar (a late trade, say) and send it on ``updatedBars``, as
        Alpaca does; fills already made stay as they were."""
        async with self.lock:
            frame = self.frames.get(symbol)
            if frame is None or time not in frame.index:
                raise ApiError(404, 40410000, f"no bar of {symbol} at {time.isoformat()}")
            if time.value > self.venue.replay.published_ns:
                raise ApiError(422, 40010001, "only a published bar can be corrected")
            unknown = set(fields) - {"open", "high", "low", "close", "volume"}
            if unknown:
                raise ApiError(422, 40010001, f"unknown fields {sorted(unknown)}")
            i = int(frame.index.get_loc(time))
            for name, value in fields.items():
                frame.iloc[i, frame.columns.get_loc(name)] = float(value)
            self.venue.store.invalidate()
            await self.hub.publish([bar_message(symbol, time, frame.iloc[i], "u")])

    async def add_fault(self, fault: Fault) -> None:
        """Install ``fault``; a stream drop or mute without ``every`` acts at once."""
        if fault.kind in ("drop", "silent") and fault.every is None:
            await self.hub.apply(fault)
            return
        self.faults.add(fault)

    async def reset(self) -> None:
        async with self.lock:
            self.faults.clear()
            for fault in self.config.faults:
                self.faults.add(fault)
            self.publication.forget()
            self.venue = self._new_venue()
            self.steps = 0
            self.outage = self.config.outage

    def state(self) -> dict[str, Any]:
        """A JSON dump of the account for tests and the control API."""
        v = self.venue
        self.faults.remove_spent()
        return {
            "clock": v.clock_json(),
            "now": v.now.isoformat(),
            "cursor": v.cursor,
            "bars": len(v.replay.times),
            "finished": v.finished,
            "symbols": v.symbols,
            "account": v.account(),
            "positions": v.positions(),
            "orders": [v.order_doc(o, r, nested=False) for o, r in v.all_orders()],
            "fills": len(v.broker.fills),
            "faults": self.faults.describe(),
            "outage": None if self.outage is None else self.outage.to_dict(),
            "publication": self.publication.to_dict(),
            "connections": self.hub.describe(),
        }

    # -- the request pipeline ------------------------------------------------------------
    def authenticate(self, request: web.Request) -> None:
        key = request.headers.get("APCA-API-KEY-ID", "")
        secret = request.headers.get("APCA-API-SECRET-KEY", "")
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            try:
                key, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                key = secret = ""
        ok = hmac.compare_digest(key, self.config.key) and hmac.compare_digest(
            secret, self.config.secret
        )
        if not ok:
            raise ApiError(401, 40110000, "request is not authorized")

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith("/_emulator/"):
            if not _loopback(request):
                return _error(ApiError(403, 40310000, "the control API answers loopback only"))
            return await _guarded(handler, request)
        if self.down:  # every call and every stream connection, before anything else
            return _error(ApiError(503, alpaca_code(503), OUTAGE_MESSAGE))
        if path in STREAM_PATHS:
            return await _guarded(handler, request)
        headers: dict[str, str] = {}
        try:
            self.authenticate(request)
            headers, limited = self.limiter.hit()
            if limited:
                raise ApiError(429, 42910000, "rate limit exceeded")
            fault = self.faults.for_request(request.method, path)
            response = await self._with_fault(fault, handler, request)
        except ApiError as exc:
            response = _error(exc)
            if exc.status == 429:
                wait = float(headers.get("X-RateLimit-Reset", 0)) - time.time()
                headers.update(_retry_headers(max(wait, 1.0), headers))
        except web.HTTPException as exc:
            response = _http_error(exc)
        except WorkbenchError as exc:  # a domain refusal not caught by Alpaca's rules
            response = _error(ApiError(422, 40010001, exc.message))
        except Exception:
            log.exception("emulator: %s %s failed", request.method, path)
            response = _error(ApiError(500, 50010000, "internal server error"))
        if not response.prepared:
            for name, value in headers.items():
                response.headers.setdefault(name, value)
        return response

    async def _with_fault(
        self, fault: Fault | None, handler: Handler, request: web.Request
    ) -> web.StreamResponse:
        if fault is None:
            return await handler(request)
        log.info("fault %s on %s %s", fault.kind, request.method, request.path)
        if fault.kind == "slow":
            if fault.when == "before":
                await asyncio.sleep(fault.delay)
            response = await handler(request)
            if fault.when == "after":
                await asyncio.sleep(fault.delay)
            return response
        if fault.ambiguous:
            await _guarded(handler, request)  # the request takes effect, then fails
        return _fault_error(fault)


async def _guarded(handler: Handler, request: web.Request) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return _error(exc)
    except web.HTTPException as exc:
        return _http_error(exc)
    except WorkbenchError as exc:
        return _error(ApiError(422, 40010001, exc.message))


def _loopback(request: web.Request) -> bool:
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


def _error(exc: ApiError, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(exc.body(), status=exc.status, headers=headers)


_STATUS_MESSAGES = {
    404: "endpoint not found",
    405: "method not allowed",
    429: "rate limit exceeded",
    500: "internal server error",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
}


def _http_error(exc: web.HTTPException) -> web.Response:
    status = exc.status if exc.status >= 400 else 500
    message = _STATUS_MESSAGES.get(status, exc.reason.lower())
    return _error(ApiError(status, alpaca_code(status), message))


def alpaca_code(status: int) -> int:
    """Alpaca's error code for an HTTP status: 404 -> 40410000, 504 -> 50410000."""
    return status * 100_000 + 10_000


def _retry_headers(retry_after: float, current: Mapping[str, str]) -> dict[str, str]:
    limit = current.get("X-RateLimit-Limit", "200")
    return {
        "X-RateLimit-Limit": limit,
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(int(time.time() + retry_after)),
        "Retry-After": str(max(round(retry_after), 0)),
    }


def _fault_error(fault: Fault) -> web.Response:
    status = fault.status or 500
    message = fault.message or _STATUS_MESSAGES.get(status, "emulated failure")
    code = fault.code or alpaca_code(status)
    headers = _retry_headers(fault.retry_after, {}) if status == 429 else None
    return _error(ApiError(status, code, message), headers)
