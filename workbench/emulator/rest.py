"""Alpaca's REST routes: trading (``/v2/account`` ... ``/v2/positions``) and stock bars.

Routes have no trailing slash and never redirect. Successful answers have Alpaca's
status codes: 200, 204 for a single cancel, 207 for cancel-all and close-all. Query
booleans arrive Python-style (``nested=True``) and are read case-insensitively.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from workbench.emulator.app import EmulatorApp
from workbench.emulator.marketdata import (
    Timeframe,
    bar_json,
    paginate,
    parse_adjustment,
    parse_data_time,
    parse_limit,
    parse_symbols,
    parse_time,
)
from workbench.emulator.rules import CODE_INVALID, CODE_MALFORMED, CODE_NOT_FOUND, boolean, number
from workbench.emulator.shapes import NEW_YORK, OPEN_STATUSES, ApiError, asset_json

ORDER_LIST_LIMIT = 500
FEEDS = {"iex", "sip", "delayed_sip", "otc", "boats", "overnight"}
ASSET_STATUSES = {"active", "inactive"}
#: alpaca-py's ``AssetClass`` values; the emulated assets are all ``us_equity``.
ASSET_CLASSES = {"us_equity", "us_option", "crypto", "crypto_perp"}


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


async def _body(request: web.Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, CODE_MALFORMED, "request body format is invalid") from None


def _choice(query: Any, name: str, allowed: set[str], default: str) -> str:
    value = query.get(name, default)
    if value not in allowed:
        raise ApiError(422, CODE_INVALID, f"invalid {name}: {value!r}")
    return value


def trading_routes(core: EmulatorApp) -> list[web.RouteDef]:
    async def account(request: web.Request) -> web.Response:
        return _json(core.venue.account())

    async def clock(request: web.Request) -> web.Response:
        return _json(core.venue.clock_json())

    async def calendar(request: web.Request) -> web.Response:
        q = request.query
        date_type = (q.get("date_type") or "TRADING").upper()
        return _json(core.venue.replay.calendar_json(q.get("start"), q.get("end"), date_type))

    async def submit(request: web.Request) -> web.Response:
        body = await _body(request)
        return _json(await core.act(lambda v: v.submit(body)))

    async def list_orders(request: web.Request) -> web.Response:
        return _json(_list_orders(core, request.query))

    async def cancel_all(request: web.Request) -> web.Response:
        return _json(await core.act(lambda v: v.cancel_all()), status=207)

    async def by_client_id(request: web.Request) -> web.Response:
        cid = request.query.get("client_order_id")
        if not cid:
            raise ApiError(422, CODE_INVALID, "client_order_id is required")
        return _json(core.venue.order_by_client_id(cid))

    async def get_order(request: web.Request) -> web.Response:
        nested = boolean(request.query.get("nested"), "nested")
        return _json(core.venue.order(request.match_info["order_id"], nested=nested))

    async def replace(request: web.Request) -> web.Response:
        body = await _body(request)
        order_id = request.match_info["order_id"]
        return _json(await core.act(lambda v: v.replace(order_id, body)))

    async def cancel(request: web.Request) -> web.Response:
        order_id = request.match_info["order_id"]
        await core.act(lambda v: (None, v.cancel(order_id)))
        return web.Response(status=204)

    async def positions(request: web.Request) -> web.Response:
        return _json(core.venue.positions())

    async def position(request: web.Request) -> web.Response:
        return _json(core.venue.position(request.match_info["symbol"]))

    async def close_position(request: web.Request) -> web.Response:
        symbol = request.match_info["symbol"]
        qty = number(dict(request.query), "qty")
        pct = number(dict(request.query), "percentage")
        return _json(await core.act(lambda v: v.close_position(symbol, qty, pct)))

    async def close_all(request: web.Request) -> web.Response:
        cancel_orders = boolean(request.query.get("cancel_orders"), "cancel_orders")
        return _json(await core.act(lambda v: v.close_all(cancel_orders)), status=207)

    async def assets(request: web.Request) -> web.Response:
        return _json(_list_assets(core, request.query))

    async def asset(request: web.Request) -> web.Response:
        key = request.match_info["symbol"]
        venue = core.venue
        for symbol in venue.symbols:
            doc = asset_json(symbol, venue.exchange, shortable=venue.broker.allow_short)
            if key.upper() == symbol or key.lower() == doc["id"]:
                return _json(doc)
        raise ApiError(404, CODE_NOT_FOUND, "asset not found")

    return [
        web.get("/v2/account", account),
        web.get("/v2/clock", clock),
        web.get("/v2/calendar", calendar),
        web.post("/v2/orders", submit),
        web.get("/v2/orders", list_orders),
        web.delete("/v2/orders", cancel_all),
        web.get("/v2/orders:by_client_order_id", by_client_id),
        web.get("/v2/orders/{order_id}", get_order),
        web.patch("/v2/orders/{order_id}", replace),
        web.delete("/v2/orders/{order_id}", cancel),
        web.get("/v2/positions", positions),
        web.delete("/v2/positions", close_all),
        web.get("/v2/positions/{symbol}", position),
        web.delete("/v2/positions/{symbol}", close_position),
        web.get("/v2/assets", assets),
        web.get("/v2/assets/{symbol}", asset),
    ]


def _list_assets(core: EmulatorApp, query: Any) -> list[dict[str, Any]]:
    """``GET /v2/assets``: Alpaca's filters. ``status`` (all by default), ``asset_class``
    (``us_equity`` by default), ``exchange``, and ``attributes`` (assets with any of them;
    the emulated assets have none)."""
    status = query.get("status") or None
    if status is not None:
        status = _choice(query, "status", ASSET_STATUSES, "")
    asset_class = _choice(query, "asset_class", ASSET_CLASSES, "us_equity")
    exchange = (query.get("exchange") or "").upper() or None
    attributes = {a.strip() for a in query.get("attributes", "").split(",") if a.strip()}
    venue = core.venue
    shortable = venue.broker.allow_short
    docs = [asset_json(s, venue.exchange, shortable=shortable) for s in venue.symbols]
    return [
        doc
        for doc in docs
        if (status is None or doc["status"] == status)
        and doc["class"] == asset_class
        and (exchange is None or doc["exchange"] == exchange)
        and (not attributes or attributes & set(doc["attributes"]))
    ]


def _list_orders(core: EmulatorApp, query: Any) -> list[dict[str, Any]]:
    """``GET /v2/orders``: Alpaca's filters and defaults (open, 50, newest first)."""
    status = _choice(query, "status", {"open", "closed", "all"}, "open")
    direction = _choice(query, "direction", {"asc", "desc"}, "desc")
    limit = query.get("limit", "50")
    try:
        count = int(limit)
    except ValueError:
        raise ApiError(422, CODE_INVALID, f"invalid limit: {limit!r}") from None
    if not 1 <= count <= ORDER_LIST_LIMIT:
        raise ApiError(422, CODE_INVALID, f"limit must be 1 to {ORDER_LIST_LIMIT}, got {count}")
    after = parse_time(query.get("after"), "after")
    until = parse_time(query.get("until"), "until")
    nested = boolean(query.get("nested"), "nested")
    side = query.get("side")
    if side not in (None, "buy", "sell"):
        raise ApiError(422, CODE_INVALID, f"invalid side: {side!r}")
    symbols = {s.strip().upper() for s in query.get("symbols", "").split(",") if s.strip()}
    chosen = []
    venue = core.venue
    for order, rec in venue.all_orders():
        if nested and order.parent_id is not None:
            continue  # shown inside its entry
        is_open = (venue.pending.shown(rec.id, order) or order.status.value) in OPEN_STATUSES
        if nested and order.legs:  # an entry is open while one of its legs is
            is_open = is_open or any(venue.broker.get_order(i).status.is_open for i in order.legs)
        if (status == "open" and not is_open) or (status == "closed" and is_open):
            continue
        if after is not None and not rec.created_at > after:
            continue
        if until is not None and not rec.created_at < until:
            continue
        if side is not None and order.side.value != side:
            continue
        if symbols and order.symbol not in symbols:
            continue
        chosen.append((order, rec))
    chosen.sort(
        key=lambda pair: (pair[1].created_at.value, pair[1].seq), reverse=direction == "desc"
    )
    return [core.venue.order_doc(o, r, nested=nested) for o, r in chosen[:count]]


def market_data_routes(core: EmulatorApp) -> list[web.RouteDef]:
    async def bars(request: web.Request) -> web.Response:
        page, token = _bars(core, request.query, parse_symbols(request.query))
        return _json({"bars": page, "next_page_token": token})

    async def symbol_bars(request: web.Request) -> web.Response:
        symbol = request.match_info["symbol"].upper()
        page, token = _bars(core, request.query, [symbol])
        return _json({"bars": page.get(symbol, []), "symbol": symbol, "next_page_token": token})

    async def latest(request: web.Request) -> web.Response:
        venue = core.venue
        out = {}
        for symbol in parse_symbols(request.query):
            if symbol not in venue.symbols:
                continue
            last = venue.store.latest(symbol, venue.replay.published_ns)
            if last is not None:
                out[symbol] = bar_json(*last)
        return _json({"bars": out})

    return [
        web.get("/v2/stocks/bars", bars),
        web.get("/v2/stocks/bars/latest", latest),
        web.get("/v2/stocks/{symbol}/bars", symbol_bars),
    ]


def _bars(
    core: EmulatorApp, query: Any, symbols: list[str]
) -> tuple[dict[str, list[dict[str, Any]]], str | None]:
    venue = core.venue
    tf = Timeframe.parse(query.get("timeframe"))
    _choice(query, "feed", FEEDS, "iex")
    parse_adjustment(query)
    _choice(query, "sort", {"asc", "desc"}, "asc")
    now = venue.now
    start = parse_data_time(query.get("start"), "start")
    if start is None:  # Alpaca: the beginning of the current day
        start = now.tz_convert(NEW_YORK).normalize().tz_convert("UTC")
    end = parse_data_time(query.get("end"), "end") or now
    if start > end:
        raise ApiError(400, CODE_INVALID, "end should not be before start")
    groups = venue.store.query(
        symbols,
        tf,
        start=start,
        end=min(end, now),
        upto_ns=venue.replay.published_ns,
        descending=query.get("sort") == "desc",
    )
    return paginate(groups, limit=parse_limit(query.get("limit")), token=query.get("page_token"))
