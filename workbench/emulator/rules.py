"""Alpaca's order rules: reading an order body and refusing what Alpaca refuses.

Bodies come from alpaca-py (numbers) or from hand-written clients (numeric strings);
both are accepted. Refusals use Alpaca's status codes and messages: 422 ``40010001``
for malformed or unsupported requests (including a duplicate ``client_order_id``),
422 ``42210000`` for business rules (wash trades), 403 ``40310000`` for buying power
and available quantity. Rules checked here, all documented by Alpaca or reported by
its users (see ``alpaca-api.md``):

- ``qty`` xor ``notional`` (both: 400), each with at most 9 decimals; positive prices;
  the prices each order type needs.
- Prices in whole cents from $1.00 up, in hundredths of a cent below (the minimum price
  variance): 422 ``42210000`` "invalid limit_price 41.085. sub-penny increment does not
  fulfill minimum pricing criteria" (alpaca-trade-api-go #260; $0.6013 is accepted,
  alpaca-trade-api-csharp #497). Checked for the order's and its exits' prices.
- Notional and fractional orders are DAY simple orders of type market, limit, stop or
  stop_limit (:func:`check_fractional`: 422 ``42210000`` as Alpaca answers).
- Extended hours only for limit simple orders (not brackets, oco, oto), DAY or GTC:
  "Only works with type `limit` and time_in_force set to either `day` or `gtc`" (API
  reference, Create an Order, 2026; DAY only before, alpaca-py #190), a fractional one
  DAY only (:func:`check_fractional`).
- A ``client_order_id`` of at most 128 characters, unique per account.
- A ``position_intent``, when given, is one of Alpaca's four (wording ours): an
  unknown value echoed back would make alpaca-py fail to read the order.
- Order classes ``simple``, ``bracket`` (``take_profit`` and ``stop_loss``), ``oto``
  (one of them) and ``oco`` (a limit exit: ``take_profit`` and ``stop_loss``, the limit
  price defaulting to the take-profit's); complex orders are whole-share orders.
  ``mleg`` (options) is refused, clearly.
- Types market, limit, stop, stop_limit and trailing_stop (exactly one of
  ``trail_price`` / ``trail_percent``).
- Alpaca's six times in force for US equities: ``day``, ``gtc``, ``opg``, ``cls``,
  ``ioc``, ``fok`` ("Equity trading supports day, gtc, opg, cls, ioc, and fok", Broker
  API changelog 2026-05-05). ``opg`` / ``cls`` "with a market/limit order type" (Orders
  at Alpaca, Time in Force); brackets, oco and oto "day or gtc"; trailing stops "day or
  gtc"; fractional and notional orders: DAY only; extended hours: DAY or GTC. When an
  ``opg`` or ``cls`` order may be sent is the venue's clock's business (:mod:`.tif`).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

from workbench.emulator.shapes import ApiError, num, stable_uuid
from workbench.errors import ConfigError
from workbench.orders import Order, OrderClass, OrderRequest, OrderType, Side, TimeInForce
from workbench.ticks import is_on_grid

CODE_MALFORMED = 40010000
CODE_INVALID = 40010001
CODE_FORBIDDEN = 40310000
CODE_NOT_FOUND = 40410000
CODE_RULE = 42210000
MAX_CLIENT_ID = 128
#: "Both notional and qty fields can take up to 9 decimal point values"; a notional order
#: fills a quantity of at most 9 decimals too.
MAX_DECIMALS = 9
PRICED = {
    OrderType.MARKET: (False, False),
    OrderType.LIMIT: (True, False),
    OrderType.STOP: (False, True),
    OrderType.STOP_LIMIT: (True, True),
    OrderType.TRAILING_STOP: (False, False),
}
CLASSES = {c.value: c for c in OrderClass}
#: Alpaca's time in force values (equities), each with the simulated broker's own that
#: carries it: the venue enforces the rest of ``opg``/``cls``/``ioc``/``fok`` (:mod:`.tif`).
#: An ``extended_hours`` day order rides on a gtc one, which the venue ends when its
#: trading day's after-hours end (the broker's own day would end it sooner).
TIFS = {
    "day": TimeInForce.DAY,
    "gtc": TimeInForce.GTC,
    "opg": TimeInForce.DAY,
    "cls": TimeInForce.DAY,
    "ioc": TimeInForce.DAY,
    "fok": TimeInForce.DAY,
}
AUCTION_TYPES = (OrderType.MARKET, OrderType.LIMIT)
#: The order types Alpaca takes a fractional qty or a notional in (:func:`check_fractional`).
FRACTIONAL_TYPES = (OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT)
#: Alpaca's ``position_intent`` values (alpaca-py's ``PositionIntent``).
INTENTS = ("buy_to_open", "buy_to_close", "sell_to_open", "sell_to_close")


def invalid(message: str) -> ApiError:
    return ApiError(422, CODE_INVALID, message)


@dataclass(frozen=True)
class ParsedOrder:
    """An order body read into the domain request plus Alpaca-only fields."""

    request: OrderRequest
    extended_hours: bool
    position_intent: str | None
    time_in_force: str = "day"  # Alpaca's; the request carries the broker's (TIFS)


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
    symbol = asset_symbol(str(body.get("symbol") or ""), symbols)
    if not body.get("order_class"):
        body = {**body, "order_class": "simple"}
    order_class = _choice(body, "order_class", CLASSES, "mleg")
    side = _choice(body, "side", {"buy": Side.BUY, "sell": Side.SELL}, "")
    kind = _choice(body, "type", {t.value: t for t in OrderType}, "")
    tif_name = _choice(body, "time_in_force", {t: t for t in TIFS}, "")
    tif = TIFS[tif_name]
    qty, notional = number(body, "qty"), number(body, "notional")
    if qty is None and notional is None:
        raise invalid("qty or notional is required")
    if qty is not None and notional is not None:  # "rejected with an error status 400"
        raise ApiError(400, CODE_INVALID, "only one of qty or notional may be given")
    if qty is not None and qty <= 0:
        raise invalid(f"qty must be > 0, got {qty:g}")
    for name, value in (("qty", qty), ("notional", notional)):  # Fractional Trading
        if value is not None and abs(value - round(value, MAX_DECIMALS)) > 1e-12:
            raise invalid(f"{name} can have at most {MAX_DECIMALS} decimal places, got {value!r}")
    if notional is not None and notional < 1:
        raise invalid(f"notional must be >= 1, got {notional:g}")
    if notional is not None or (qty is not None and not float(qty).is_integer()):
        check_fractional(kind, tif_name, order_class)
    exits = _exits(body, order_class)
    limit, stop = number(body, "limit_price"), number(body, "stop_price")
    if order_class is OrderClass.OCO and limit is None:
        limit = exits.get("take_profit")  # alpaca-py sends an oco's limit in take_profit
    needs_limit, needs_stop = PRICED[kind]
    prices = (("limit_price", limit, needs_limit), ("stop_price", stop, needs_stop))
    for name, value, needed in prices:
        if needed and value is None:
            raise invalid(f"{name} is required for {kind.value} orders")
        if not needed and value is not None:
            raise invalid(f"{name} must not be given for {kind.value} orders")
        if value is not None and value <= 0:
            raise invalid(f"{name} must be > 0, got {value:g}")
        if value is not None:
            check_increment(name, value)
    extended = boolean(body.get("extended_hours"), "extended_hours")
    if extended and kind is not OrderType.LIMIT:
        raise invalid('only type="limit" is allowed for extended hours orders')
    if extended and tif_name not in ("day", "gtc"):  # "either `day` or `gtc`" (reference)
        raise invalid("extended hours orders must be DAY or GTC limit orders")
    if extended and order_class is not OrderClass.SIMPLE:  # Alpaca's orders guide, brackets
        raise invalid(f"extended hours are not supported for {order_class.value} orders")
    if extended and tif_name == "day":  # the venue ends it after the after-hours (.tif)
        tif = TimeInForce.GTC
    cid = body.get("client_order_id")
    if cid is not None:
        cid = str(cid)
        if not cid:
            cid = None
        elif len(cid) > MAX_CLIENT_ID:
            raise invalid(f"client_order_id must be no more than {MAX_CLIENT_ID} characters")
    intent = None
    if body.get("position_intent"):  # an enum: anything else breaks alpaca-py's Order
        intent = _choice(body, "position_intent", {i: i for i in INTENTS}, "")
    trail = _trail(body, kind)
    if trail and order_class is not OrderClass.SIMPLE:
        raise invalid("trailing_stop orders must be simple orders")
    _check_tif(tif_name, kind, order_class)
    try:
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
            order_class=order_class,
            **trail,
            **exits,
        )
    except ConfigError as exc:
        raise invalid(exc.message) from None
    return ParsedOrder(request, extended, intent, tif_name)


def check_fractional(kind: OrderType, tif: str, order_class: OrderClass) -> None:
    """What Alpaca takes with a fractional ``qty`` or a ``notional`` today: DAY simple
    market, limit, stop and stop-limit orders, refused 422 ``42210000`` otherwise.

    Market and day only at first (Fractional Trading, 2020); limit orders, also in the
    extended hours, since Alpaca's announcement "Fractional Shares Trading Supports Limit
    Orders and Extended Hours"; stop and stop-limit since the changelog's "Fractional USD
    Stop & Stop Limit Orders" (2024-08-20), with a fractional qty or a notional alike.
    Messages and code as Alpaca's paper API answered in 2026 (recorded by its users):
    "stop/stop_limit fractional GTC orders are not enabled" for a GTC stop, "fractional
    orders must be DAY orders" for any other time in force (checked before the class),
    "fractional orders must be simple orders" for a bracket, oco or oto. The API
    reference's field notes still say "market and day order types" for ``qty``; the
    recorded answers accept a DAY limit and stop. A trailing stop is in none of them:
    refused (wording ours)."""
    if tif == "gtc" and kind in (OrderType.STOP, OrderType.STOP_LIMIT):
        raise ApiError(422, CODE_RULE, "stop/stop_limit fractional GTC orders are not enabled")
    if tif != "day":
        raise ApiError(422, CODE_RULE, "fractional orders must be DAY orders")
    if order_class is not OrderClass.SIMPLE:
        raise ApiError(422, CODE_RULE, "fractional orders must be simple orders")
    if kind not in FRACTIONAL_TYPES:
        raise ApiError(
            422, CODE_RULE, "fractional orders must be market, limit, stop or stop_limit orders"
        )


def check_increment(name: str, price: float) -> None:
    """Alpaca's minimum price variance: whole cents from $1.00 up, 1/100 cent below."""
    if not is_on_grid(price):
        raise ApiError(
            422,
            CODE_RULE,
            f"invalid {name} {num(price)}. sub-penny increment does not fulfill minimum "
            "pricing criteria",
        )


def _check_tif(tif: str, kind: OrderType, order_class: OrderClass) -> None:
    """Which order types and classes take ``tif`` (Orders at Alpaca; wording ours)."""
    if tif in ("day", "gtc"):
        return
    if tif in ("opg", "cls") and kind not in AUCTION_TYPES:
        raise invalid(f"{tif} orders must be market or limit orders")
    if kind is OrderType.TRAILING_STOP:
        raise invalid("trailing_stop orders must be DAY or GTC orders")
    if order_class is not OrderClass.SIMPLE:
        raise invalid(f"{order_class.value} orders must be DAY or GTC orders")


def asset_symbol(text: str, symbols: list[str]) -> str:
    """The ticker an order names: Alpaca takes a ticker or an asset id in ``symbol``."""
    key = text.strip()
    if not key:
        raise invalid("symbol is required")
    if key.upper() in symbols:
        return key.upper()
    for symbol in symbols:
        if stable_uuid("asset", symbol) == key.lower():
            return symbol
    raise invalid(f'asset "{key.upper()}" not found')


def order_id(text: str) -> str:
    """An order id from a URL; Alpaca answers 422 when it is not a UUID (Alpaca-API #135)."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise invalid("order_id is missing") from None


def _trail(body: dict[str, Any], kind: OrderType) -> dict[str, float]:
    """A trailing stop's ``trail_price`` or ``trail_percent`` (exactly one, only for it)."""
    values = {n: number(body, n) for n in ("trail_price", "trail_percent")}
    given = {n: v for n, v in values.items() if v is not None}
    if kind is not OrderType.TRAILING_STOP:
        if given:
            raise invalid(f"{next(iter(given))} must not be given for {kind.value} orders")
        return {}
    if len(given) != 1:
        raise invalid("trailing_stop orders need exactly one of trail_price or trail_percent")
    for name, value in given.items():
        if value <= 0:
            raise invalid(f"{name} must be > 0, got {value:g}")
    return given


def _exits(body: dict[str, Any], order_class: OrderClass) -> dict[str, float | None]:
    """``take_profit`` / ``stop_loss`` objects into request fields, as the class needs them."""
    tp, sl = body.get("take_profit"), body.get("stop_loss")
    if order_class is OrderClass.SIMPLE:
        if tp or sl:
            raise invalid("take_profit and stop_loss need order_class bracket, oco or oto")
        return {}
    for name, part in (("take_profit", tp), ("stop_loss", sl)):
        if part is not None and not isinstance(part, dict):
            raise invalid(f"invalid {name}: {part!r}")
    if order_class in (OrderClass.BRACKET, OrderClass.OCO) and not (tp and sl):
        raise invalid(f"{order_class.value} orders need take_profit and stop_loss")
    if order_class is OrderClass.OTO and bool(tp) == bool(sl):
        raise invalid("oto orders need exactly one of take_profit or stop_loss")
    out: dict[str, float | None] = {}
    if tp:
        out["take_profit"] = number(tp, "limit_price")
        if out["take_profit"] is None:
            raise invalid("take_profit.limit_price is required")
    if sl:
        out["stop_loss"] = number(sl, "stop_price")
        out["stop_loss_limit"] = number(sl, "limit_price")
        if out["stop_loss"] is None:
            raise invalid("stop_loss.stop_price is required")
    names = {"take_profit": "take_profit.limit_price", "stop_loss": "stop_loss.stop_price"}
    for key, value in out.items():
        if value is not None and value > 0:
            check_increment(names.get(key, "stop_loss.limit_price"), value)
    return out


def check_exit_prices(req: OrderRequest, base: float | None, market: float | None = None) -> None:
    """Alpaca's rule for a bracket's (or oto's) exits against the entry's base price.

    The base is the entry's limit (or stop) price, or the last trade for a market
    order: a buy's take-profit must be at least a cent above it and its stop-loss a
    cent below (a sell's mirrored). An oco's stop-loss is held to both its take-profit's
    limit and the market price (Alpaca's orders guide, "Threshold on stop price").
    """
    if req.order_class is OrderClass.OCO:
        _check_oco_stop(req, market)
        return
    if req.order_class not in (OrderClass.BRACKET, OrderClass.OTO) or not base:
        return
    buy = req.side is Side.BUY
    tp, sl = req.take_profit, req.stop_loss
    if tp is not None and (tp < base + 0.01 if buy else tp > base - 0.01):
        sign = ">= base_price + 0.01" if buy else "<= base_price - 0.01"
        raise invalid(f"take_profit.limit_price must be {sign}")
    if sl is not None and (sl > base - 0.01 if buy else sl < base + 0.01):
        sign = "<= base_price - 0.01" if buy else ">= base_price + 0.01"
        raise invalid(f"stop_loss.stop_price must be {sign}")


def _check_oco_stop(req: OrderRequest, market: float | None) -> None:
    sl, sell = req.stop_loss, req.side is Side.SELL
    if sl is None:
        return
    for base in (req.take_profit or req.limit_price, market):
        if base and (sl > base - 0.01 + 1e-9 if sell else sl < base + 0.01 - 1e-9):
            sign = "<= base_price - 0.01" if sell else ">= base_price + 0.01"
            raise invalid(f"stop_loss.stop_price must be {sign}")


def check_replace(old: Order, body: dict[str, Any], *, queued: bool, tif: str) -> None:
    """Alpaca's limits on ``PATCH /v2/orders/{id}`` (its "Replace Order by ID" reference).

    An order not yet at the venue (``accepted``: sent while the market was closed)
    cannot be replaced; nor can a notional order; only whole shares may be patched, and
    a fractional order's quantity not at all. A patch that changes nothing is refused
    403 ``order parameters are not changed``, as Alpaca answers it. ``tif`` is the
    order's (Alpaca's) time in force: an ``ioc``/``fok`` order is over at once at Alpaca,
    so there is nothing to replace (wording ours).
    """
    req = old.request
    if tif in ("ioc", "fok"):
        raise ApiError(422, CODE_RULE, f"{tif} orders cannot be replaced")
    if queued:
        raise ApiError(422, CODE_RULE, "unable to replace order, order isn't sent to exchange yet")
    if req.notional is not None:
        raise ApiError(422, CODE_RULE, "notional orders cannot be replaced")
    qty = number(body, "qty")
    if qty is not None and not float(old.quantity or 0.0).is_integer():
        raise invalid("qty of a fractional order cannot be changed")
    if qty is not None and not qty.is_integer():
        raise invalid(f"qty must be a whole number of shares, got {qty:g}")
    trail = req.trail_price if req.trail_price is not None else req.trail_percent
    current = {
        "qty": old.quantity,
        "limit_price": req.limit_price,
        "stop_price": req.stop_price,
        "trail": trail,
    }
    changed = (
        any(number(body, name) not in (None, value) for name, value in current.items())
        or str(body.get("time_in_force") or tif).lower() != tif
    )
    if not changed:
        raise ApiError(403, CODE_FORBIDDEN, "order parameters are not changed")


def part_of(position: float, percentage: float) -> float:
    """``percentage`` of ``position`` shares, as Alpaca closes a position by percentage: it
    "would only sell fractional if position is originally fractional" (whole shares,
    rounded down, otherwise; at most 9 decimals)."""
    raw = position * percentage / 100.0
    if float(position).is_integer():
        size = float(math.floor(raw + 1e-9))
    else:
        size = math.floor(raw * 1e9 + 1e-6) / 1e9
    if size <= 0:
        raise invalid(f"{percentage:g}% of {position:g} shares is less than one share")
    return size


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
    unpriced = (OrderType.MARKET, OrderType.STOP, OrderType.TRAILING_STOP)
    if resting.type in unpriced:
        return "opposite side market/stop order exists"
    if new.type in unpriced:
        return "opposite side limit order exists"
    buy, sell = (new, resting) if new.side is Side.BUY else (resting, new)
    if buy.limit_price is None or sell.limit_price is None:
        return None
    return "opposite side limit order exists" if buy.limit_price >= sell.limit_price else None
