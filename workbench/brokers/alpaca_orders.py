"""Orders (and positions) translated between alpaca-py's models and ours.

Alpaca's statuses are mapped onto our lifecycle table (:mod:`workbench.lifecycle`), its
nested orders read with their legs (each leg known by its entry's client order id plus
``-tp`` or ``-sl``), and our requests built as alpaca-py's request models, refusing
here, before anything is sent, what Alpaca would take differently than asked.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import pandas as pd

from workbench.errors import BrokerError, OrderRejected
from workbench.exits import PROTECT_SUFFIX
from workbench.orders import (
    Leg,
    Order,
    OrderClass,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from workbench.portfolio import PositionView
from workbench.ticks import on_grid

log = logging.getLogger(__name__)

#: Alpaca statuses that our lifecycle table names differently: each the status an order
#: in it has in ours. "working" is ``new``, or ``partially_filled`` once some filled;
#: "done" is ``filled`` when all of it filled, else working.
STATUS_MAP: dict[str, str] = {
    # "done executing for the day ... no further updates until the next trading day"
    "done_for_day": "working",
    "pending_review": OrderStatus.PENDING_NEW.value,
    # "received by exchanges, and is evaluated for pricing"
    "accepted_for_bidding": OrderStatus.ACCEPTED.value,
    # "completed for the day (either filled or done_for_day), but remaining settlement
    # calculations are still pending"
    "calculated": "done",
    # "a trade is guaranteed for the order ... but has not yet occurred"
    "stopped": "working",
    # "suspended and is not eligible for trading"
    "suspended": "working",
}


def _status(value: Any, quantity: float | None = None, filled: float = 0.0) -> OrderStatus:
    """Our status for Alpaca's (``quantity`` and ``filled`` tell a working order's)."""
    raw = getattr(value, "value", value)
    try:
        return OrderStatus(raw)
    except ValueError:
        kind = STATUS_MAP.get(raw)
        if kind is None:
            raise BrokerError(
                f"Alpaca sent an order status we do not know: {raw!r}",
                hint="add it to workbench.brokers.alpaca_orders.STATUS_MAP",
            ) from None
        if kind == "done" and quantity is not None and filled >= quantity > 0:
            return OrderStatus.FILLED
        if kind in ("working", "done"):
            return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.NEW
        return OrderStatus(kind)


def _tif(value: Any) -> TimeInForce:
    """Workbench's time in force of an Alpaca order. Alpaca's ``opg``, ``cls``, ``ioc`` and
    ``fok`` (orders another client placed on the account) end within their session: DAY
    orders to workbench, which sends only ``day`` and ``gtc`` itself."""
    raw = _value(value)
    return TimeInForce.GTC if raw == TimeInForce.GTC.value else TimeInForce.DAY


def _float(value: Any) -> float | None:
    return None if value is None or value == "" else float(value)


def _ts(value: Any) -> pd.Timestamp | None:
    if value is None:
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _value(x: Any) -> Any:
    return getattr(x, "value", x)


def leg_role(o: Any) -> Leg:
    """A bracket leg's role from its type: the limit is the take-profit."""
    return Leg.TAKE_PROFIT if _value(o.order_type or o.type) == "limit" else Leg.STOP_LOSS


def order_from_alpaca(
    o: Any, *, parent: Order | None = None, leg: Leg | None = None
) -> list[Order]:
    """Our orders from an alpaca-py ``Order``: the order, then its legs (when nested).

    A complex order's exits are read from its legs; a leg is named by its entry's client
    order id plus ``-tp`` or ``-sl`` and points at it with ``parent_id``. A simple order
    named ``<entry>-px`` is a protective exit (:func:`~workbench.exits.protect_client_id`).
    """
    kind = _value(o.order_type or o.type)
    qty = _float(o.qty)
    notional = _float(o.notional)
    legs = list(o.legs or ())
    klass = OrderClass(_value(o.order_class) or "simple")
    exits: dict[str, Any] = {}
    if leg is None and legs and klass is not OrderClass.SIMPLE:
        exits["order_class"] = klass
        for child in legs:
            if klass is OrderClass.OCO or leg_role(child) is Leg.STOP_LOSS:
                exits["stop_loss"] = _float(child.stop_price)
                if _value(child.order_type or child.type) == "stop_limit":
                    exits["stop_loss_limit"] = _float(child.limit_price)
            else:
                exits["take_profit"] = _float(child.limit_price)
    cid = o.client_order_id
    if parent is not None and parent.client_order_id and leg is not None:
        cid = f"{parent.client_order_id}-{'tp' if leg is Leg.TAKE_PROFIT else 'sl'}"
    if leg is None and not exits and cid and cid.endswith(PROTECT_SUFFIX):
        # the single protective exit of a partly filled entry (workbench.execution.protect):
        # an exit, as it was sent (a group of its own), which Alpaca does not keep
        exits["oco_group"] = cid
    request = OrderRequest(
        symbol=o.symbol,
        side=Side(_value(o.side)),
        quantity=qty if notional is None else None,
        notional=notional,
        type=OrderType(kind),
        limit_price=_float(o.limit_price),
        # a trailing stop's stop_price is Alpaca's, derived from its mark: not a request field
        stop_price=None if kind == OrderType.TRAILING_STOP.value else _float(o.stop_price),
        tif=_tif(o.time_in_force),
        client_order_id=cid,
        trail_price=_float(o.trail_price),
        trail_percent=_float(o.trail_percent),
        leg=leg,
        **exits,
    )
    order = Order(
        id=str(o.id),
        request=request,
        created_at=_ts(o.created_at),
        status=_status(o.status, qty, _float(o.filled_qty) or 0.0),
        quantity=qty,
        filled_quantity=_float(o.filled_qty) or 0.0,
        average_price=_float(o.filled_avg_price) or 0.0,
        updated_at=_ts(o.updated_at),
        parent_id=parent.id if parent is not None else None,
        legs=tuple(str(child.id) for child in legs) if leg is None else (),
    )
    out = [order]
    for child in legs if leg is None else ():
        role = Leg.STOP_LOSS if klass is OrderClass.OCO else leg_role(child)
        out += order_from_alpaca(child, parent=order, leg=role)
    return out


def position_from_alpaca(p: Any) -> PositionView:
    """Our view of alpaca-py's ``Position`` (a short one's quantity negative)."""
    qty = abs(float(p.qty)) * (-1 if _value(p.side) == "short" else 1)
    price = _float(p.current_price) or float("nan")
    return PositionView(
        symbol=p.symbol,
        quantity=qty,
        average_price=float(p.avg_entry_price),
        last_price=price,
        market_value=_float(p.market_value) or qty * price,
        unrealized_pnl=_float(p.unrealized_pl) or 0.0,
        realized_pnl=0.0,
    )


#: The prices of a request Alpaca takes only on its grid (:mod:`workbench.ticks`).
GRID_PRICES = ("limit_price", "stop_price", "take_profit", "stop_loss", "stop_loss_limit")


def on_price_grid(r: OrderRequest) -> OrderRequest:
    """``r`` with its prices on Alpaca's grid (whole cents from $1.00 up): Alpaca refuses a
    sub-penny price rather than rounding it. Each price moved is logged, asked and sent."""
    moved = {}
    for name in GRID_PRICES:
        asked = getattr(r, name)
        if asked is None:
            continue
        sent = on_grid(asked)
        if sent != asked:
            moved[name] = sent
            log.warning(
                "%s %s: %s %s sent as %s (Alpaca takes whole cents from $1.00 up)",
                r.side, r.symbol, name, asked, sent,
                extra={
                    "event": "price_rounded", "symbol": r.symbol,
                    "client_order_id": r.client_order_id, "side": str(r.side),
                    "quantity": r.quantity, "price": sent,
                    "reason": f"{name} {asked} -> {sent} (sub-penny increment)",
                },
            )  # fmt: skip
    return dataclasses.replace(r, **moved) if moved else r


def _order_request(r: OrderRequest) -> Any:
    from alpaca.trading.enums import OrderClass as AlpacaClass
    from alpaca.trading.enums import OrderSide
    from alpaca.trading.enums import TimeInForce as Tif
    from alpaca.trading.requests import (
        LimitOrderRequest,
        MarketOrderRequest,
        StopLimitOrderRequest,
        StopLossRequest,
        StopOrderRequest,
        TakeProfitRequest,
        TrailingStopOrderRequest,
    )

    common: dict[str, Any] = {
        "symbol": r.symbol,
        "side": OrderSide(r.side.value),
        "time_in_force": Tif(r.tif.value),
        "client_order_id": r.client_order_id,
    }
    if r.notional is not None:
        # Alpaca takes whole cents; rounding up could ask for more than the buying power
        # (an all-in entry spends exactly the cash), so round down
        common["notional"] = math.floor(round(r.notional * 100, 6)) / 100
    else:
        common["qty"] = r.quantity
    if r.has_exits:
        if r.stop_loss is None and (r.trail_price or r.trail_percent):
            raise OrderRejected(
                f"{r.order_class} order for {r.symbol}: Alpaca takes no trailing stop as a leg",
                hint="attach stop_loss=PRICE, or send a trailing_stop order once the entry fills",
            )
        if r.relative_exits:
            raise OrderRejected(
                f"{r.order_class} order for {r.symbol}: Alpaca's bracket takes absolute exit "
                "prices when the entry is sent, not a percent of its fill",
                hint="attach take_profit=PRICE / stop_loss=PRICE computed from the decision "
                "close, or send the exits once the entry fills",
            )
        if r.exit_tif is not None and r.exit_tif is not r.tif:
            raise OrderRejected(
                f"{r.order_class} order for {r.symbol}: Alpaca gives an order's legs its own "
                f"time in force ({r.tif}), not {r.exit_tif}",
                hint="send the entry with the time in force the exits need",
            )
        common["order_class"] = AlpacaClass(r.order_class.value)
        if r.take_profit is not None or r.order_class is OrderClass.OCO:
            tp = r.take_profit if r.take_profit is not None else r.limit_price
            common["take_profit"] = TakeProfitRequest(limit_price=tp)
        if r.stop_loss is not None:
            common["stop_loss"] = StopLossRequest(
                stop_price=r.stop_loss, limit_price=r.stop_loss_limit
            )
    if r.type is OrderType.TRAILING_STOP:
        return TrailingStopOrderRequest(
            trail_price=r.trail_price, trail_percent=r.trail_percent, **common
        )
    if r.type is OrderType.MARKET:
        return MarketOrderRequest(**common)
    if r.type is OrderType.LIMIT:
        return LimitOrderRequest(limit_price=r.limit_price, **common)
    if r.type is OrderType.STOP:
        return StopOrderRequest(stop_price=r.stop_price, **common)
    return StopLimitOrderRequest(stop_price=r.stop_price, limit_price=r.limit_price, **common)


def _leg_of(client_order_id: str) -> tuple[str, Leg | None]:
    """The entry's client order id and the leg's role, for a leg's derived id."""
    for suffix, role in (("-tp", Leg.TAKE_PROFIT), ("-sl", Leg.STOP_LOSS)):
        if client_order_id.endswith(suffix):
            return client_order_id[: -len(suffix)], role
    return client_order_id, None
