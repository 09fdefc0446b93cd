"""The ``alpaca:`` data source: historical bars from Alpaca's market-data API.

``alpaca:SPY,QQQ?timeframe=1Day&adjustment=all&feed=iex`` with ``start``/``end``
fetches through alpaca-py's ``StockHistoricalDataClient`` (which follows the
pagination tokens), converts to the bars format and keeps a copy in the Parquet
cache (:class:`~workbench.data.cache.BarCache`), so the same request is served from
disk next time (``cache=0`` skips it). Keys come from ``APCA_API_KEY_ID`` and
``APCA_API_SECRET_KEY``; ``url=`` points at another server (the project's emulator).

Alpaca stamps daily bars at New York midnight (04:00 or 05:00 UTC); they are
relabelled at 00:00 UTC of the session date, like every daily bar in the workbench.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pandas as pd

from workbench.data.cache import BarCache
from workbench.data.spec import SourceRequest
from workbench.errors import DataSourceError

OPTIONS = ("timeframe", "adjustment", "feed", "url", "cache")
_TIMEFRAME = re.compile(r"^\s*(\d*)\s*(min|minute|t|h|hour|d|day|w|week|m|mo|month)s?\s*$", re.I)
_UNITS = {
    "min": "Minute", "minute": "Minute", "t": "Minute",
    "h": "Hour", "hour": "Hour",
    "d": "Day", "day": "Day",
    "w": "Week", "week": "Week",
    "m": "Month", "mo": "Month", "month": "Month",
}  # fmt: skip


def parse_timeframe(text: str) -> tuple[int, str]:
    """``"5Min"`` -> ``(5, "Minute")``; ``"1Day"``/``"day"`` -> ``(1, "Day")``."""
    match = _TIMEFRAME.match(text)
    if match is None:
        raise DataSourceError(
            f"alpaca: timeframe {text!r} is not understood",
            hint="use e.g. 1Min, 5Min, 1Hour, 1Day, 1Week or 1Month",
        )
    return int(match.group(1) or 1), _UNITS[match.group(2).lower()]


def load_alpaca(request: SourceRequest) -> dict[str, pd.DataFrame]:
    """Bars for each symbol of ``request`` (see the module docstring for the options)."""
    request.check_options(OPTIONS)
    symbols = request.symbols()
    if not symbols:
        raise DataSourceError("alpaca: no symbol given", hint="e.g. alpaca:SPY")
    if request.start is None:
        raise DataSourceError(
            f"{request.spec}: Alpaca needs a start date", hint="pass start= or --start 2024-01-01"
        )
    end = request.end or pd.Timestamp.now(tz="UTC").floor("min")
    amount, unit = parse_timeframe(request.text("timeframe", "1Day") or "1Day")
    timeframe = f"{amount}{unit}"
    use_cache = request.text("cache", "1") not in ("0", "false", "no")
    cache = BarCache() if use_cache else None
    out: dict[str, pd.DataFrame] = {}
    missing = []
    for sym in symbols:
        hit = cache.get("alpaca", sym, timeframe, request.start, end) if cache else None
        if hit is not None:
            out[sym] = hit
        else:
            missing.append(sym)
    if missing:
        fetched = _fetch(request, missing, amount, unit, request.start, end)
        for sym in missing:
            frame = fetched.get(sym)
            if frame is None or frame.empty:
                raise DataSourceError(
                    f"{request.spec}: Alpaca returned no bars for {sym} in "
                    f"{request.start} .. {end}",
                    hint="check the symbol, the dates and the feed (iex has less history)",
                )
            if cache is not None:
                cache.put("alpaca", sym, timeframe, request.start, end, frame)
            out[sym] = frame
    return {sym: out[sym] for sym in symbols}


def _fetch(
    request: SourceRequest,
    symbols: list[str],
    amount: int,
    unit: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> dict[str, pd.DataFrame]:
    from alpaca.common.exceptions import APIError
    from alpaca.data.enums import Adjustment, DataFeed
    from alpaca.data.historical import StockHistoricalDataClient
    from alpaca.data.requests import StockBarsRequest
    from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

    key = os.environ.get("APCA_API_KEY_ID", "")
    secret = os.environ.get("APCA_API_SECRET_KEY", "")
    if not key or not secret:
        raise DataSourceError(
            f"{request.spec}: Alpaca keys are missing",
            hint="set APCA_API_KEY_ID and APCA_API_SECRET_KEY in the environment",
        )
    try:
        adjustment = Adjustment(request.text("adjustment", "all"))
        feed = DataFeed(request.text("feed", "iex"))
    except ValueError as exc:
        raise DataSourceError(
            f"{request.spec}: {exc}", hint="adjustment: raw, split, dividend, all; feed: iex, sip"
        ) from None
    client = StockHistoricalDataClient(key, secret, url_override=request.text("url"))
    query = StockBarsRequest(
        symbol_or_symbols=symbols,
        timeframe=TimeFrame(amount, TimeFrameUnit(unit)),
        start=start.to_pydatetime(),
        end=end.to_pydatetime(),
        adjustment=adjustment,
        feed=feed,
    )
    try:
        barset = client.get_stock_bars(query)
    except APIError as exc:
        status = getattr(exc, "status_code", "?")
        raise DataSourceError(
            f"{request.spec}: Alpaca refused the request ({status})",
            hint="check the keys, the symbols and your data subscription",
        ) from None
    except OSError as exc:
        raise DataSourceError(
            f"{request.spec}: cannot reach Alpaca ({type(exc).__name__})"
        ) from None
    return {sym: _to_bars(rows, sym, unit) for sym, rows in barset.data.items()}


def _to_bars(rows: list[Any], symbol: str, unit: str) -> pd.DataFrame:
    index = pd.DatetimeIndex([pd.Timestamp(r.timestamp) for r in rows])
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    if unit in ("Day", "Week", "Month"):
        # session date in New York, labelled at 00:00 UTC
        index = (
            index.tz_convert("America/New_York").normalize().tz_localize(None).tz_localize("UTC")
        )
    frame = pd.DataFrame(
        {
            "open": [float(r.open) for r in rows],
            "high": [float(r.high) for r in rows],
            "low": [float(r.low) for r in rows],
            "close": [float(r.close) for r in rows],
            "volume": [float(r.volume) for r in rows],
            "trade_count": [
                float(r.trade_count) if r.trade_count is not None else float("nan") for r in rows
            ],
            "vwap": [float(r.vwap) if r.vwap is not None else float("nan") for r in rows],
        },
        index=index.rename("time"),
    )
    frame = frame[~frame.index.duplicated(keep="last")].sort_index()
    frame.attrs = {"symbol": symbol, "source": "alpaca"}
    return frame
