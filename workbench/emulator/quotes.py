"""Latest quotes, trades and snapshots, derived from the replayed bars (synthetic).

The emulator has bars, not ticks, so these are made up honestly from the last
published bar of each symbol and documented as synthetic:

- the **latest trade** is the last bar's close, at the replay clock (the bar's end),
  for one round lot (100 shares), on IEX (``V``);
- the **latest quote** straddles that close with a configurable spread
  (``quote_spread_bps``, 2 bps by default): ``bid = close * (1 - s/2)``,
  ``ask = close * (1 + s/2)``, rounded to the cent away from the close, 100 shares
  each side;
- a **snapshot** has those two, the last bar as ``minuteBar``, and the last two daily
  bars (aggregated by session date) as ``dailyBar`` and ``prevDailyBar``, stamped at
  the calendar's midnight (New York's: 04:00 or 05:00 UTC) as Alpaca stamps them; over
  daily data the last bar is a daily bar, and ``minuteBar`` and the latest bar carry
  that stamp too.

Routes (Alpaca's paths and bodies): ``/v2/stocks/quotes/latest``,
``/v2/stocks/trades/latest``, ``/v2/stocks/snapshots`` (``?symbols=A,B``), and the
one-symbol forms ``/v2/stocks/{symbol}/quotes/latest``, ``.../trades/latest``,
``.../bars/latest`` and ``/v2/stocks/{symbol}/snapshot``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from aiohttp import web

from workbench.emulator.marketdata import Timeframe, bar_json, parse_symbols
from workbench.emulator.rules import CODE_NOT_FOUND
from workbench.emulator.shapes import ApiError, utc

if TYPE_CHECKING:
    from workbench.emulator.app import EmulatorApp
    from workbench.emulator.venue import Venue

LOT = 100
EXCHANGE = "V"  # IEX, the free feed
DAILY = Timeframe.parse("1Day")


def _last(venue: Venue, symbol: str) -> tuple[Any, Any] | None:
    """The last published bar of ``symbol`` (stamp, row), or None; a daily bar stamped as
    Alpaca stamps it (:meth:`~workbench.emulator.marketdata.BarStore.latest`)."""
    if symbol not in venue.symbols:
        return None
    return venue.store.latest(symbol, venue.replay.published_ns)


def trade_json(venue: Venue, symbol: str) -> dict[str, Any] | None:
    last = _last(venue, symbol)
    if last is None:
        return None
    stamp, row = last
    return {
        "t": utc(venue.now),
        "x": EXCHANGE,
        "p": float(row["close"]),
        "s": LOT,
        "c": ["@"],
        "i": int(stamp.value // 1_000_000_000),
        "z": "C",
    }


def ask_price(close: float, spread_bps: float) -> float:
    """The synthetic ask: ``spread_bps / 2`` above ``close``, rounded up to the cent."""
    return math.ceil((close + close * spread_bps / 20_000.0) * 100 - 1e-9) / 100


def quote_json(venue: Venue, symbol: str, spread_bps: float) -> dict[str, Any] | None:
    last = _last(venue, symbol)
    if last is None:
        return None
    close = float(last[1]["close"])
    half = close * spread_bps / 20_000.0
    return {
        "t": utc(venue.now),
        "bx": EXCHANGE,
        "bp": math.floor((close - half) * 100 + 1e-9) / 100,
        "bs": LOT,
        "ax": EXCHANGE,
        "ap": ask_price(close, spread_bps),
        "as": LOT,
        "c": ["R"],
        "z": "C",
    }


def snapshot_json(venue: Venue, symbol: str, spread_bps: float) -> dict[str, Any] | None:
    last = _last(venue, symbol)
    if last is None:
        return None
    daily = venue.store.view(symbol, DAILY, venue.replay.published_ns)
    return {
        "latestTrade": trade_json(venue, symbol),
        "latestQuote": quote_json(venue, symbol, spread_bps),
        "minuteBar": bar_json(*last),
        "dailyBar": bar_json(daily.index[-1], daily.iloc[-1]) if len(daily) else None,
        "prevDailyBar": bar_json(daily.index[-2], daily.iloc[-2]) if len(daily) > 1 else None,
    }


def quote_routes(core: EmulatorApp) -> list[web.RouteDef]:
    spread = core.config.quote_spread_bps

    def many(key: str, make: Any) -> Any:
        async def handler(request: web.Request) -> web.Response:
            venue = core.venue
            symbols = parse_symbols(request.query)
            out = {s: doc for s in symbols if (doc := make(venue, s)) is not None}
            return web.json_response({key: out} if key else out)

        return handler

    def one(key: str, make: Any) -> Any:
        async def handler(request: web.Request) -> web.Response:
            symbol = request.match_info["symbol"].upper()
            doc = make(core.venue, symbol)
            if doc is None:
                raise ApiError(404, CODE_NOT_FOUND, f"no data for {symbol}")
            body = {"symbol": symbol, **doc} if key == "" else {"symbol": symbol, key: doc}
            return web.json_response(body)

        return handler

    def bar(venue: Venue, symbol: str) -> dict[str, Any] | None:
        last = _last(venue, symbol)
        return None if last is None else bar_json(*last)

    def quote(venue: Venue, symbol: str) -> dict[str, Any] | None:
        return quote_json(venue, symbol, spread)

    def snapshot(venue: Venue, symbol: str) -> dict[str, Any] | None:
        return snapshot_json(venue, symbol, spread)

    return [
        web.get("/v2/stocks/quotes/latest", many("quotes", quote)),
        web.get("/v2/stocks/trades/latest", many("trades", trade_json)),
        web.get("/v2/stocks/snapshots", many("", snapshot)),
        web.get("/v2/stocks/{symbol}/quotes/latest", one("quote", quote)),
        web.get("/v2/stocks/{symbol}/trades/latest", one("trade", trade_json)),
        web.get("/v2/stocks/{symbol}/bars/latest", one("bar", bar)),
        web.get("/v2/stocks/{symbol}/snapshot", one("", snapshot)),
    ]
