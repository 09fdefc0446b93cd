"""The account's records beyond orders: portfolio history, activities, configurations.

- ``GET /v2/account/portfolio/history``: the emulated account's equity after each
  replayed bar (time-stamped with the bar's start, Alpaca's left label), with
  ``profit_loss`` and ``profit_loss_pct`` against ``base_value``, the equity at the
  start of the window. ``timeframe`` ``1D`` takes each day's last value, labelled 00:00
  UTC of its date, on the days of the calendar's clock (New York's for ``XNYS``: "the 1D
  chart only contains data for days when the market was open", so a winter evening past
  midnight UTC is not the next day's, nor a Friday's a Saturday's); finer timeframes
  (``1Min``, ``5Min``, ``15Min``, ``1H``; any other value is refused, as Alpaca refuses
  it) take each window's last value, for windows of 30 days or less, and cannot be
  finer than the replayed bars. ``period`` (``3D``, ``2W``, ``1M``, ``1A``; Alpaca's
  default ``1M``), ``start``, ``end`` and ``date_end`` choose the window, two of them at
  most. Without ``timeframe``, Alpaca's default for the window: 1Min under 7 days, 15Min
  under 30, else 1D (here never finer than the replayed bars: daily data gives 1D).
  An intraday history reports the regular sessions' points (``intraday_reporting``
  ``market_hours``, Alpaca's default), 04:00 to 20:00 of their days
  (``extended_hours``) or all (``continuous``).
- ``GET /v2/account/activities`` (and ``/{activity_type}``): ``FILL`` activities
  (one per fill, with ``cum_qty``, ``leaves_qty`` and ``order_status``), newest first
  unless ``direction=asc``; ``after``/``until`` or ``date`` (not both), ``page_size``
  (100 by default and at most, but without a limit of its own for a ``date``, as Alpaca
  pages) and ``page_token`` (an activity id). Other activity types exist in no emulated
  account, so they list nothing; a name that is no activity type is refused (422).
- ``GET``/``PATCH /v2/account/configurations``: stored (without ``dtbp_check`` and
  ``pdt_check``, which Alpaca removed on 2026-07-06), values outside Alpaca's refused
  (``trade_confirm_email`` all or none, ``max_options_trading_level`` 0 to 3, flags
  booleans: stored, they would break alpaca-py's reading of them); ``no_shorting`` and
  ``max_margin_multiplier`` change what the simulated venue allows, and
  ``suspend_trade`` refuses new orders (403).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from aiohttp import web

from workbench.data.sessions import local_dates
from workbench.emulator.marketdata import DAY, parse_time
from workbench.emulator.rules import CODE_INVALID, boolean, number
from workbench.emulator.shapes import ApiError, num, utc

if TYPE_CHECKING:
    from workbench.emulator.app import EmulatorApp
    from workbench.emulator.venue import Venue

PERIOD_UNITS = {"D": "days", "W": "weeks", "M": "months", "A": "years"}
NOMINAL_DAYS = {"D": 1, "W": 7, "M": 30, "A": 365}
DEFAULT_PERIOD = "1M"
#: Alpaca's portfolio history timeframes (anything else is refused), with their lengths
#: (1D: the calendar's days).
TIMEFRAMES: dict[str, pd.Timedelta | None] = {
    "1Min": pd.Timedelta(minutes=1),
    "5Min": pd.Timedelta(minutes=5),
    "15Min": pd.Timedelta(minutes=15),
    "1H": pd.Timedelta(hours=1),
    "1D": None,
}
#: The longest window an intraday timeframe may cover.
INTRADAY_DAYS = 30
#: ``intraday_reporting``'s values; extended hours are 04:00 to 20:00 (minutes of the day).
REPORTING = ("market_hours", "extended_hours", "continuous")
EXTENDED_MINUTES = (4 * 60, 20 * 60)
CONFIG_DEFAULTS: dict[str, Any] = {
    "fractional_trading": True,
    "max_margin_multiplier": "1",
    "no_shorting": False,
    "suspend_trade": False,
    "trade_confirm_email": "all",
    "ptp_no_exception_entry": False,
    "max_options_trading_level": 0,
    "disable_overnight_trading": False,
}
#: The values Alpaca takes (and alpaca-py's ``AccountConfiguration`` reads back).
CONFIRM_EMAILS = ("all", "none")
OPTIONS_LEVELS = (0, 1, 2, 3)
FLAGS = (
    "no_shorting",
    "suspend_trade",
    "fractional_trading",
    "ptp_no_exception_entry",
    "disable_overnight_trading",
)
ACTIVITY_PAGE = 100
#: Alpaca's activity types: alpaca-py's ``ActivityType``, the filter-only groups (TRANS,
#: MISC, SWP, TRD) and the rest of Alpaca's lists (its activities guide and changelog).
#: Only FILL activities happen in the emulated account; the others list nothing.
ACTIVITY_TYPES = frozenset((
    "FILL", "ACATC", "ACATS", "CFEE", "CIL", "CSD", "CSW", "DIV", "DIVCGL", "DIVCGS", "DIVNRA",
    "DIVROC", "DIVTXEX", "DIVWH", "EXTRD", "FEE", "FXTRD", "INT", "INTPNL", "JNLC", "JNLS",
    "MA", "MEM", "NC", "OCT", "OPASN", "OPCSH", "OPEXC", "OPEXP", "OPTRD", "PTC", "REORG",
    "SPIN", "SPLIT", "SWP", "VOF", "WH", "TRANS", "MISC", "TRD", "DIVFEE", "DIVFT", "DIVTW",
    "INTNRA", "INTTW", "JNL", "OPXRC", "PTR", "SC", "SSO", "SSP", "ALLOC", "CORR", "CSR",
    "DTCS", "DVF", "ECEXP", "FIMAT", "FXCNV", "INVPNL", "SEG", "SUB", "OPCA",
))  # fmt: skip


def configurations(venue: Venue) -> dict[str, Any]:
    config = {**CONFIG_DEFAULTS, **venue.configuration}
    config["no_shorting"] = not venue.broker.allow_short
    config["max_margin_multiplier"] = f"{venue.broker.margin:g}"
    return config


def configure(venue: Venue, body: Any) -> dict[str, Any]:
    """``PATCH``: set the fields given (unknown ones are refused), apply the venue's."""
    if not isinstance(body, dict):
        raise ApiError(422, CODE_INVALID, "request body format is invalid")
    # alpaca-py sends every field, the removed dtbp_check / pdt_check as null
    unknown = sorted(k for k, v in body.items() if k not in CONFIG_DEFAULTS and v is not None)
    if unknown:
        raise ApiError(422, CODE_INVALID, f"unknown configuration: {', '.join(unknown)}")
    changes = {k: v for k, v in body.items() if v is not None}
    for name in FLAGS:
        if name in changes:
            changes[name] = boolean(changes[name], name)
    if changes.get("trade_confirm_email", "all") not in CONFIRM_EMAILS:
        raise ApiError(422, CODE_INVALID, "trade_confirm_email must be all or none")
    if "max_options_trading_level" in changes:
        level = number(changes, "max_options_trading_level")
        if level not in OPTIONS_LEVELS:
            raise ApiError(422, CODE_INVALID, "max_options_trading_level must be 0, 1, 2 or 3")
        changes["max_options_trading_level"] = int(level)
    if "max_margin_multiplier" in changes:
        margin = number(changes, "max_margin_multiplier")
        if margin not in (1.0, 2.0, 4.0):
            raise ApiError(422, CODE_INVALID, "max_margin_multiplier must be 1, 2 or 4")
        venue.broker.margin = float(margin)
        changes["max_margin_multiplier"] = f"{margin:g}"
    if "no_shorting" in changes:
        venue.broker.allow_short = not changes["no_shorting"]
    venue.configuration.update(changes)
    return configurations(venue)


def portfolio_history(venue: Venue, query: Any) -> dict[str, Any]:
    points = pd.Series(dict(venue.equity_history), dtype=float).sort_index()
    end = parse_time(query.get("end"), "end")
    if end is None and query.get("date_end"):
        end = pd.Timestamp(query["date_end"], tz="UTC") + pd.Timedelta(days=1)
    start = parse_time(query.get("start"), "start")
    period = query.get("period") or None
    if start is not None and end is not None and period:
        raise ApiError(
            422, CODE_INVALID, "only two of start, end (or date_end) and period can be specified"
        )
    offset = None if start is not None else _period(period or DEFAULT_PERIOD)
    if offset is None:
        span = (end if end is not None else venue.now) - start
    else:  # a period's nominal length: the timeframe rules never turn with the calendar
        span = _nominal(period or DEFAULT_PERIOD)
    tf_text = _timeframe(venue, query.get("timeframe"), span)
    reporting = query.get("intraday_reporting") or "market_hours"
    if reporting not in REPORTING:
        raise ApiError(
            422, CODE_INVALID, f"invalid intraday_reporting: {reporting!r} ({', '.join(REPORTING)})"
        )
    if tf_text == "1D":  # the calendar's days, as the account's (daily bars: their dates)
        zone = venue.store.zone if venue.replay.intraday else "UTC"
        days = local_dates(points.index.as_unit("ns").asi8, zone)
        points = points.groupby(days).last()
        points.index = pd.DatetimeIndex(points.index.to_numpy() * DAY.value, tz="UTC")
    else:
        points = _reported(venue, points, reporting)
        length = TIMEFRAMES[tf_text]
        points = points.resample(length, label="left", closed="left").last().dropna()
    if end is not None:
        points = points[points.index < end]
    if offset is not None and len(points):
        start = points.index[-1] - offset
    if start is not None:
        points = points[points.index >= start]
    base = float(points.iloc[0]) if len(points) else venue.initial_equity
    pl = points - base
    return {
        "timestamp": [int(t.value // 1_000_000_000) for t in points.index],
        "equity": [float(v) for v in points],
        "profit_loss": [float(v) for v in pl],
        "profit_loss_pct": [float(v) / base if base else None for v in pl],
        "base_value": base,
        "base_value_asof": points.index[0].strftime("%Y-%m-%d") if len(points) else None,
        "timeframe": tf_text,
    }


def _period(text: str) -> pd.DateOffset:
    """``period``: a number and a unit, D, W, M or A (``1M``, Alpaca's default)."""
    count, unit = text[:-1], text[-1:].upper()
    if not count.isdigit() or unit not in PERIOD_UNITS:
        raise ApiError(422, CODE_INVALID, f"invalid period: {text!r}")
    return pd.DateOffset(**{PERIOD_UNITS[unit]: int(count)})


def _nominal(period: str) -> pd.Timedelta:
    """A period's length for Alpaca's timeframe rules ("less than 7 days", "30 days or
    less"): a month counts 30 days, a year 365 (1M is 30 days in February too)."""
    return pd.Timedelta(days=int(period[:-1]) * NOMINAL_DAYS[period[-1:].upper()])


def _reported(venue: Venue, points: pd.Series, reporting: str) -> pd.Series:
    """The points an intraday history reports: ``market_hours`` (Alpaca's default) the
    regular sessions', ``extended_hours`` 04:00 to 20:00 of a session's day on the
    calendar's clock, ``continuous`` all."""
    if reporting == "continuous" or not len(points):
        return points
    sessions = venue.replay.sessions
    if reporting == "market_hours":
        return points[[sessions.index_of(t) >= 0 for t in points.index]]
    zone = venue.store.zone
    local = points.index.tz_convert(zone)
    minute = local.hour * 60 + local.minute
    session_days = sessions.dates.as_unit("ns").asi8 // DAY.value
    day = np.isin(local_dates(points.index.as_unit("ns").asi8, zone), session_days)
    return points[day & (minute >= EXTENDED_MINUTES[0]) & (minute < EXTENDED_MINUTES[1])]


def _timeframe(venue: Venue, text: str | None, span: pd.Timedelta) -> str:
    """Alpaca's ``timeframe``: one of :data:`TIMEFRAMES`; when omitted, 1Min for a window
    under 7 days, 15Min under 30, else 1D (and no coarser than the replayed bars: finer
    points would only repeat them); an intraday one only for 30 days or less."""
    finest = min(venue.store.intervals.values())
    if not text:
        if span >= pd.Timedelta(days=INTRADAY_DAYS):
            return "1D"
        wanted = pd.Timedelta(minutes=1 if span < pd.Timedelta(days=7) else 15)
        return next(
            name
            for name, length in TIMEFRAMES.items()
            if length is None or (length >= wanted and length >= finest)
        )
    if text not in TIMEFRAMES:
        raise ApiError(
            422, CODE_INVALID, f"invalid timeframe: {text!r} (1Min, 5Min, 15Min, 1H or 1D)"
        )
    length = TIMEFRAMES[text]
    if length is not None and span > pd.Timedelta(days=INTRADAY_DAYS):
        raise ApiError(
            422,
            CODE_INVALID,
            f"timeframe {text} needs a window of {INTRADAY_DAYS} days or less: only 1D is "
            "accepted for longer ones",
        )
    if length is not None and length < finest:
        raise ApiError(422, CODE_INVALID, f"timeframe {text} is finer than the replayed bars")
    return text


def fill_activity(order_id: str, order: Any, fill: Any, when: pd.Timestamp, n: int) -> dict:
    """One ``FILL`` activity, as ``GET /v2/account/activities`` lists it."""
    leaves = max((order.quantity or 0.0) - order.filled_quantity, 0.0)
    return {
        "id": f"{when.strftime('%Y%m%d%H%M%S%f')}{n:03d}::{order_id}",
        "activity_type": "FILL",
        "transaction_time": utc(when),
        "type": "fill" if order.status.value == "filled" else "partial_fill",
        "price": num(fill.price),
        "qty": num(fill.quantity),
        "side": fill.side.value,
        "symbol": fill.symbol,
        "leaves_qty": num(leaves) or "0",
        "order_id": order_id,
        "cum_qty": num(order.filled_quantity),
        "order_status": order.status.value,
    }


def activities(venue: Venue, query: Any, kind: str | None) -> list[dict[str, Any]]:
    types = {kind.upper()} if kind else None
    if types is None and query.get("activity_types"):
        types = {t.strip().upper() for t in query["activity_types"].split(",") if t.strip()}
    for name in sorted(types or ()):
        if name not in ACTIVITY_TYPES:  # as Alpaca answers /v2/account/activities/FFFFF
            raise ApiError(422, CODE_INVALID, f"invalid activity type: {name}")
    direction = query.get("direction", "desc")
    if direction not in ("asc", "desc"):
        raise ApiError(422, CODE_INVALID, f"invalid direction: {direction!r}")
    after, until = parse_time(query.get("after"), "after"), parse_time(query.get("until"), "until")
    day = query.get("date")
    if day and (after is not None or until is not None):
        raise ApiError(422, CODE_INVALID, "date cannot be used with after or until")
    # "If date is not specified, the default and maximum value is 100. If date is
    # specified, the default behavior is to return all results, and there is no maximum"
    page = number(dict(query), "page_size")
    size = int(page) if page is not None else (None if day else ACTIVITY_PAGE)
    if size is not None and size < 1:
        raise ApiError(422, CODE_INVALID, f"page_size must be at least 1, got {size}")
    if size is not None and not day and size > ACTIVITY_PAGE:  # Alpaca's words
        raise ApiError(
            422,
            CODE_INVALID,
            f"tried to set the page size to {size}, but the maximum is {ACTIVITY_PAGE}",
        )
    items = [a for a in venue.activities if types is None or a["activity_type"] in types]
    out = []
    for item in items:
        t = pd.Timestamp(item["transaction_time"])
        if (after is not None and t <= after) or (until is not None and t >= until):
            continue
        if day and t.strftime("%Y-%m-%d") != day[:10]:
            continue
        out.append(item)
    out.sort(key=lambda a: a["id"], reverse=direction == "desc")
    token = query.get("page_token")
    if token:
        ids = [a["id"] for a in out]
        out = out[ids.index(token) + 1 :] if token in ids else []
    return out if size is None else out[:size]


def ledger_routes(core: EmulatorApp) -> list[web.RouteDef]:
    async def history(request: web.Request) -> web.Response:
        return web.json_response(portfolio_history(core.venue, request.query))

    async def get_config(request: web.Request) -> web.Response:
        return web.json_response(configurations(core.venue))

    async def patch_config(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, CODE_INVALID, "request body format is invalid") from None
        return web.json_response(await core.act(lambda v: (configure(v, body), [])))

    async def list_activities(request: web.Request) -> web.Response:
        kind = request.match_info.get("activity_type")
        return web.json_response(activities(core.venue, request.query, kind))

    return [
        web.get("/v2/account/portfolio/history", history),
        web.get("/v2/account/configurations", get_config),
        web.patch("/v2/account/configurations", patch_config),
        web.get("/v2/account/activities", list_activities),
        web.get("/v2/account/activities/{activity_type}", list_activities),
    ]
