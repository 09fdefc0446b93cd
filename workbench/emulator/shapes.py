"""Alpaca's JSON shapes, as alpaca-py 0.44 parses them.

alpaca-py's pydantic models are strict where it matters: money and position fields
must be JSON *strings* (a number fails), ids must be UUIDs, account status is
upper-case and order status lower-case, ``extended_hours`` may not be null, and a
trade update carries a *full* order. Every renderer here fills in the whole shape.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.orders import Leg, Order, OrderStatus, Side
from workbench.sim.fills import trailing_stop_price

NEW_YORK = "America/New_York"
#: Regulation T's buying power: twice the equity above the initial margin.
REG_T_MULTIPLIER = 2.0
_NAMESPACE = uuid.UUID("6f1d3b2a-41c8-4f7e-9d55-0c2b8e7a9f10")


class ApiError(Exception):
    """An HTTP error answer: ``status`` and Alpaca's ``{"code", "message"}`` body."""

    def __init__(
        self, status: int, code: int, message: str, *, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.extra}


def stable_uuid(kind: str, name: str) -> str:
    """A UUID that is the same in every run for the same ``kind`` and ``name``."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}/{name}"))


def num(value: float | None) -> str | None:
    """A number as Alpaca writes it: a string, positional, shortest exact form."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if value == 0:
        return "0"
    return np.format_float_positional(float(value), unique=True, trim="-")


def utc(ts: pd.Timestamp | None) -> str | None:
    """RFC 3339 in UTC with a ``Z`` and microseconds (orders, accounts, bars)."""
    if ts is None:
        return None
    return ts.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_york(ts: pd.Timestamp) -> str:
    """RFC 3339 with the New York offset (the clock, as Alpaca writes it)."""
    return ts.tz_convert(NEW_YORK).isoformat()


@dataclass
class OrderRecord:
    """What the emulator knows about an order beyond the simulated broker's :class:`Order`."""

    sim_id: str
    id: str
    client_order_id: str
    created_at: pd.Timestamp
    extended_hours: bool = False
    position_intent: str | None = None
    updated_at: pd.Timestamp | None = None
    filled_at: pd.Timestamp | None = None
    canceled_at: pd.Timestamp | None = None
    expired_at: pd.Timestamp | None = None
    failed_at: pd.Timestamp | None = None
    replaced_at: pd.Timestamp | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    seq: int = 0
    order_class: str = "simple"  # a leg's is its entry's
    time_in_force: str | None = None  # Alpaca's, when the broker's request has another
    expires_at: pd.Timestamp | None = None
    ended_as: str | None = None  # "expired": the venue ended it by its time in force


def position_intent(side: Side, position: float) -> str:
    """Alpaca's ``position_intent`` for an order of ``side`` against ``position``."""
    if side is Side.BUY:
        return "buy_to_close" if position < 0 else "buy_to_open"
    return "sell_to_close" if position > 0 else "sell_to_open"


def order_json(
    order: Order,
    rec: OrderRecord,
    *,
    status: str | None = None,
    legs: list[dict[str, Any]] | None = None,
    hwm: float | None = None,
) -> dict[str, Any]:
    """The full Alpaca order for the simulated broker's ``order`` and its record.

    A simple order's ``order_class`` is ``""``, as Alpaca writes it (recorded answers of
    the paper API, and the Broker API's sample order; alpaca-py reads it as ``simple``).
    A working stop-loss leg reads ``held``, as Alpaca shows it: the venue watches it
    one-cancels-other with the take-profit, which reads ``new``. A trailing stop's
    ``stop_price`` is "derived from hwm and trail parameter, and continuously updates as
    hwm changes" (Alpaca's orders guide), once it has a mark.
    """
    req = order.request
    kind = req.type.value
    stop = req.stop_price
    if hwm is not None and (req.trail_price is not None or req.trail_percent is not None):
        stop = trailing_stop_price(order, hwm)
    if status is None and order.status is OrderStatus.NEW and req.leg is Leg.STOP_LOSS:
        status = OrderStatus.HELD.value
    if status is None and rec.ended_as and order.status is OrderStatus.CANCELED:
        status = rec.ended_as
    return {
        "id": rec.id,
        "client_order_id": rec.client_order_id,
        "created_at": utc(rec.created_at),
        "updated_at": utc(rec.updated_at or rec.created_at),
        "submitted_at": utc(rec.created_at),
        "filled_at": utc(rec.filled_at),
        "expired_at": utc(rec.expired_at),
        "expires_at": utc(rec.expires_at),
        "canceled_at": utc(rec.canceled_at),
        "failed_at": utc(rec.failed_at),
        "replaced_at": utc(rec.replaced_at),
        "replaced_by": rec.replaced_by,
        "replaces": rec.replaces,
        "asset_id": stable_uuid("asset", req.symbol),
        "symbol": req.symbol,
        "asset_class": "us_equity",
        "notional": num(req.notional),
        "qty": num(order.quantity),
        "filled_qty": num(order.filled_quantity) or "0",
        "filled_avg_price": num(order.average_price) if order.filled_quantity > 0 else None,
        "order_class": "" if rec.order_class == "simple" else rec.order_class,
        "order_type": kind,
        "type": kind,
        "side": req.side.value,
        "position_intent": rec.position_intent,
        "time_in_force": rec.time_in_force or req.tif.value,
        "limit_price": num(req.limit_price),
        "stop_price": num(stop),
        "status": status or order.status.value,
        "extended_hours": rec.extended_hours,
        "legs": legs,
        "trail_percent": num(req.trail_percent),
        "trail_price": num(req.trail_price),
        "hwm": num(hwm),
        "commission": num(order.commission),
        "source": None,
        "subtag": None,
    }


def account_json(
    *,
    account_id: str,
    cash: float,
    equity: float,
    buying_power: float,
    long_value: float,
    short_value: float,
    last_equity: float,
    initial_margin: float,
    maintenance_margin: float,
    last_maintenance_margin: float,
    margin: float,
    allow_short: bool,
    created_at: pd.Timestamp,
) -> dict[str, Any]:
    """Alpaca's account, without the pattern-day-trading fields (``pattern_day_trader``,
    ``daytrade_count``, ``daytrading_buying_power``) that Alpaca removed on 2026-07-06.

    ``regt_buying_power`` is Reg T's: twice the equity above the initial margin, as in
    Alpaca's examples (a 4x account's 80680.36 = 2 x (103820.56 - 63480.38)); never more
    than ``buying_power`` (a 1x account's is its cash)."""
    money = num
    regt = min(buying_power, REG_T_MULTIPLIER * max(equity - initial_margin, 0.0))
    return {
        "id": account_id,
        "account_number": "PA" + account_id.replace("-", "")[:10].upper(),
        "status": "ACTIVE",
        "crypto_status": "ACTIVE",
        "currency": "USD",
        "cash": money(cash),
        "buying_power": money(buying_power),
        "regt_buying_power": money(regt),
        "non_marginable_buying_power": money(max(min(cash, buying_power), 0.0)),
        "options_buying_power": money(max(min(cash, buying_power), 0.0)),
        "portfolio_value": money(equity),
        "equity": money(equity),
        "last_equity": money(last_equity),
        "long_market_value": money(long_value),
        "short_market_value": money(short_value),
        "initial_margin": money(initial_margin),
        "maintenance_margin": money(maintenance_margin),
        "last_maintenance_margin": money(last_maintenance_margin),
        "sma": money(0.0),
        "multiplier": money(margin),
        "shorting_enabled": allow_short,
        "trading_blocked": False,
        "transfers_blocked": False,
        "account_blocked": False,
        "trade_suspended_by_user": False,
        "created_at": utc(created_at),
        "accrued_fees": "0",
        "pending_transfer_in": "0",
        "pending_transfer_out": "0",
        "options_approved_level": 0,
        "options_trading_level": 0,
    }


def position_json(
    *,
    symbol: str,
    quantity: float,
    average_price: float,
    last_price: float,
    lastday_price: float,
    available: float,
    exchange: str,
    opened_today: bool = False,
) -> dict[str, Any]:
    """Alpaca's position. The day's P/L of a position held at the last close is from the
    last close; of one opened since, from its entry, as Alpaca shows it (positions bought
    that day: ``unrealized_intraday_pl`` equal to ``unrealized_pl``, Alpaca-API #37)."""
    market_value = quantity * last_price
    cost_basis = quantity * average_price
    unrealized = market_value - cost_basis
    day_base = average_price if opened_today else lastday_price
    intraday = (last_price - day_base) * quantity
    base_today = abs(quantity * day_base)
    return {
        "asset_id": stable_uuid("asset", symbol),
        "symbol": symbol,
        "exchange": exchange,
        "asset_class": "us_equity",
        "asset_marginable": True,
        "qty": num(quantity),
        "qty_available": num(available),
        "avg_entry_price": num(average_price),
        "side": "long" if quantity > 0 else "short",
        "market_value": num(market_value),
        "cost_basis": num(cost_basis),
        "unrealized_pl": num(unrealized),
        "unrealized_plpc": num(unrealized / abs(cost_basis) if cost_basis else 0.0),
        "unrealized_intraday_pl": num(intraday),
        "unrealized_intraday_plpc": num(intraday / base_today if base_today else 0.0),
        "current_price": num(last_price),
        "lastday_price": num(lastday_price),
        "change_today": num((last_price - lastday_price) / lastday_price if lastday_price else 0.0),
    }


def asset_json(symbol: str, exchange: str, *, shortable: bool) -> dict[str, Any]:
    return {
        "id": stable_uuid("asset", symbol),
        "class": "us_equity",
        "exchange": exchange,
        "symbol": symbol,
        "name": f"{symbol} (workbench emulator)",
        "status": "active",
        "tradable": True,
        "marginable": True,
        "shortable": shortable,
        "easy_to_borrow": shortable,
        "fractionable": True,
        "maintenance_margin_requirement": 30,  # Alpaca's for a marginable stock
        "attributes": [],
    }


def trade_update(
    event: str,
    order: dict[str, Any],
    at: pd.Timestamp,
    *,
    price: float | None = None,
    qty: float | None = None,
    position_qty: float | None = None,
) -> dict[str, Any]:
    """A ``trade_updates`` message; fills carry this execution's price and quantity."""
    data: dict[str, Any] = {"event": event, "order": order, "timestamp": utc(at)}
    if event in ("fill", "partial_fill"):
        data.update(
            execution_id=str(uuid.uuid4()),
            price=num(price),
            qty=num(qty),
            position_qty=num(position_qty) or "0",
        )
    return {"stream": "trade_updates", "data": data}


#: Order statuses that ``status=open`` lists (Alpaca's open set).
OPEN_STATUSES = frozenset(s.value for s in OrderStatus if s.is_open)
