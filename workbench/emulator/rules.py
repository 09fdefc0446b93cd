"""Alpaca's order rules: reading an order body and refusing what Alpaca refuses.

Bodies come from alpaca-py (numbers) or from hand-written clients (numeric strings);
both are accepted. Refusals use Alpaca's status codes and messages: 422 ``40010001``
for malformed or unsupported requests (including a duplicate ``client_order_id``),
422 ``42210000`` for business rules (wash trades), 403 ``40310000`` for buying power
and available quantity. Rules checked here, all documented by Alpaca or reported by
its users (see ``alpaca-api.md``):

- ``qty`` xor ``notional``; positive prices; the prices each order type needs.
- Notional and fractional orders are market orders, and DAY orders.
- Extended hours only for DAY limit orders.
- A ``client_order_id`` of at most 128 characters, unique per account.
- Simple orders only (``order_class`` bracket, oco and oto are refused, clearly), and
  the time in force ``day`` or ``gtc`` (the simulated venue's), types market, limit,
  stop and stop_limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from workbench.emulator.shapes import ApiError
from workbench.orders import OrderRequest, OrderType, Side, TimeInForce

CODE_MALFORMED = 40010000
CODE_INVALID = 40010001
CODE_FORBIDDEN = 40310000
CODE_NOT_FOUND = 40410000
CODE_RULE = 42210000
MAX_CLIENT_ID = 128
PRICED = {
    OrderType.MARKET: (False, False),
    OrderType.LIMIT: (True, False),
    OrderType.STOP: (False, True),
    OrderType.STOP_LIMIT: (True, True),
}


def invalid(message: str) -> ApiError:
    return ApiError(422, CODE_INVALID, message)


@dataclass(frozen=True)
class ParsedOrder:
    """An order body read into the domain request plus Alpaca-only fields."""

    request: OrderRequest
    extended_hours: bool
    position_intent: str | None


def number(body: dict[str, Any], name: str) -> float | None:
    """A JSON number or numeric string; None when absent; 422 when not a number."""
    value = body.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise invalid(f"invalid {name}: {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise invalid(f"invalid {name}: {value!r}") from None
    if not math.isfinite(out):
        raise invalid(f"invalid {name}: {value!r}")
    return out


def boolean(value: Any, name: str) -> bool:
    """JSON booleans and Python-style query strings (``True``), case-insensitively."""
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise invalid(f"invalid {name}: {value!r}")


def _choice(body: dict[str, Any], name: str, allowed: dict[str, Any], unsupported: str) -> Any:
    raw = body.get(name)
    if raw is None or raw == "":
        raise invalid(f"{name} is required")
    text = str(raw).lower()
    if text in allowed:
        return allowed[text]
    if text in unsupported.split():
        raise invalid(f"{name} {text!r} is not supported by the emulator")
    raise invalid(f"invalid {name}: {raw!r}")


def parse_order(body: Any, symbols: list[str]) -> ParsedOrder:
    """Read a ``POST /v2/orders`` body; raise :class:`ApiError` like Alpaca would."""
    if not isinstance(body, dict):
        raise ApiError(400, CODE_MALFORMED, "request body format is invalid")
    symbol = str(body.get("symbol") or "").strip().upper()
    if not symbol:
        raise invalid("symbol is required")
    if symbol not in symbols:
        raise invalid(f'asset "{symbol}" not found')
    order_class = str(body.get("order_class") or "simple").lower()
    if order_class != "simple":
        raise invalid(f"order_class {order_class!r} is not supported by the emulator")
    side = _choice(body, "side", {"buy": Side.BUY, "sell": Side.SELL}, "")
    kind = _choice(body, "type", {t.value: t for t in OrderType}, "trailing_stop")
    tif = _choice(body, "time_in_force", {t.value: t for t in TimeInForce}, "opg cls ioc fok")
    qty, notional = number(body, "qty"), number(body, "notional")
    if qty is None and notional is None:
        raise invalid("qty or notional is required")
    if qty is not None and notional is not None:
        raise invalid("only one of qty or notional may be given")
    if qty is not None and qty <= 0:
        raise invalid(f"qty must be > 0, got {qty:g}")
    if notional is not None:
        if notional < 1:
            raise invalid(f"notional must be >= 1, got {notional:g}")
        if kind is not OrderType.MARKET:
            raise invalid("notional orders must be market orders")
    fractional = notional is not None or (qty is not None and not float(qty).is_integer())
    if fractional and tif is not TimeInForce.DAY:
        raise invalid("fractional orders must be DAY orders")
    if fractional and kind is not OrderType.MARKET:
        raise invalid("fractional orders must be market orders")
    limit, stop = number(body, "limit_price"), number(body, "stop_price")
    needs_limit, needs_stop = PRICED[kind]
    prices = (("limit_price", limit, needs_limit), ("stop_price", stop, needs_stop))
    for name, value, needed in prices:
        if needed and value is None:
            raise invalid(f"{name} is required for {kind.value} orders")
        if not needed and value is not None:
            raise invalid(f"{name} must not be given for {kind.value} orders")
        if value is not None and value <= 0:
            raise invalid(f"{name} must be > 0, got {value:g}")
    extended = boolean(body.get("extended_hours"), "extended_hours")
    if extended and kind is not OrderType.LIMIT:
        raise invalid('only type="limit" is allowed for extended hours orders')
    if extended and tif is not TimeInForce.DAY:
        raise invalid("extended hours order must be DAY limit orders")
    cid = body.get("client_order_id")
    if cid is not None:
        cid = str(cid)
        if not cid:
            cid = None
        elif len(cid) > MAX_CLIENT_ID:
            raise invalid(f"client_order_id must be no more than {MAX_CLIENT_ID} characters")
    intent = body.get("position_intent")
    request = OrderRequest(
        symbol,
        side,
        quantity=qty,
        notional=notional,
        type=kind,
        limit_price=limit,
        stop_price=stop,
        tif=tif,
        client_order_id=cid,
    )
    return ParsedOrder(request, extended, str(intent) if intent else None)


def status_for_code(code: int) -> int:
    """The HTTP status of an Alpaca error code (``40310000`` -> 403; ``40010001`` -> 422,
    as Alpaca answers validation errors)."""
    status = code // 100_000
    return status if 400 < status <= 599 else 422


def crosses(new: OrderRequest, resting: OrderRequest) -> str | None:
    """Why ``new`` could trade against the account's own opposite ``resting`` order, or None.

    Alpaca refuses such an order as a potential wash trade (422 42210000): any opposite
    market or stop order, or opposite limit prices that cross.
    """
    if new.side is resting.side:
        return None
    unpriced = (OrderType.MARKET, OrderType.STOP)
    if resting.type in unpriced:
        return "opposite side market/stop order exists"
    if new.type in unpriced:
        return "opposite side limit order exists"
    buy, sell = (new, resting) if new.side is Side.BUY else (resting, new)
    if buy.limit_price is None or sell.limit_price is None:
        return None
    return "opposite side limit order exists" if buy.limit_price >= sell.limit_price else None
