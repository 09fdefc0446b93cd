"""Turn a target holding into the orders that reach it.

Sizing convention, shared by the event engine and the vectorized path:
a target given as a value (``percent`` of equity or ``notional``) is valued with the
decision bar's close. Increasing a position is sent as a *notional* order (cash to
spend, fees included) that the broker resolves into a quantity at the fill price, so
"all in" spends exactly the available cash whatever the next open is. Reducing or
closing is sent as a quantity (the whole position when the target is zero). Going
from long to short (or back) is a closing order followed by an opening one.

Notional orders, and quantity orders for a fractional quantity, are DAY orders: Alpaca
accepts fractional and notional orders only as DAY orders (so a position opened by a
notional order can be closed at all). Whole quantities keep the default, GTC, so the
rest of a volume-capped order fills on later bars.
"""

from __future__ import annotations

from dataclasses import replace

from workbench.intents import TargetIntent
from workbench.orders import OrderRequest, Side, TimeInForce, market_order

#: Targets closer than this to the current holding (as a fraction of equity) send nothing.
MIN_CHANGE = 1e-9

#: Enum members read on every order, as module globals (why: :mod:`workbench.orders`).
_BUY, _SELL, _GTC, _DAY = Side.BUY, Side.SELL, TimeInForce.GTC, TimeInForce.DAY


#: The last resolution: (intent, position, price, equity, lot size, its orders).
_last: tuple = (None, None, None, None, None, ())


def orders_for_target(
    intent: TargetIntent,
    *,
    position: float,
    price: float,
    equity: float,
    lot_size: float | None = None,
) -> list[OrderRequest]:
    """The orders that move ``position`` (signed quantity) to ``intent``'s target.

    A pure function of its arguments; the risk check and then the execution plan ask it
    about the same intent with the same numbers, so the last answer is kept and given
    again (a new list of the same immutable requests) instead of being built twice.
    """
    global _last
    last = _last  # one read: another thread's update replaces the whole tuple
    if (
        last[0] is intent
        and last[1] == position
        and last[2] == price
        and last[3] == equity
        and last[4] == lot_size
    ):
        return list(last[5])
    orders = _resolve(intent, position, price, equity, lot_size)
    _last = (intent, position, price, equity, lot_size, tuple(orders))
    return orders


def _resolve(
    intent: TargetIntent, position: float, price: float, equity: float, lot_size: float | None
) -> list[OrderRequest]:
    sym, reason = intent.symbol, intent.reason
    if intent.quantity is not None:
        delta = intent.quantity - position
        if lot_size:
            delta = round(delta / lot_size) * lot_size
        size = abs(equity)  # max(size, 1.0) below, written out: the builtin costs ~8x (3.11)
        if abs(delta) * price <= MIN_CHANGE * (1.0 if size < 1.0 else size):
            return []
        side = _BUY if delta > 0 else _SELL
        order = _quantity_order(sym, side, abs(delta), reason)
        if intent.exits is None:  # most targets: no exits to attach
            return [order]
        if abs(intent.quantity) > abs(position) and position * intent.quantity >= 0:
            order = _with_exits(order, intent)
        elif position * intent.quantity < 0:
            # reversing with exits: close, then open a bracket for the new side only
            close = _quantity_order(sym, side, abs(position), reason)
            opening = _quantity_order(sym, side, abs(intent.quantity), reason)
            return [close, _with_exits(opening, intent)]
        return [order]

    desired = intent.notional if intent.notional is not None else intent.percent * equity
    current = position * price
    tiny = MIN_CHANGE * max(abs(equity), 1.0)
    if abs(desired - current) <= tiny:
        return []
    orders: list[OrderRequest] = []
    if desired == 0 or (position != 0 and (desired > 0) != (position > 0)):
        # close what is held (the whole quantity, so nothing is left over)
        side = Side.SELL if position > 0 else Side.BUY
        if position != 0:
            orders.append(_quantity_order(sym, side, abs(position), reason))
        current = 0.0
    if desired == 0:
        return orders
    side = Side.BUY if desired > 0 else Side.SELL
    if abs(desired) > abs(current):
        opening = OrderRequest(
            sym, side, notional=abs(desired) - abs(current), tif=TimeInForce.DAY, reason=reason
        )
        orders.append(_with_exits(opening, intent))
    else:
        qty = (abs(current) - abs(desired)) / price
        if lot_size:
            qty = (qty // lot_size) * lot_size
        if qty > 0:
            opposite = Side.SELL if side is Side.BUY else Side.BUY
            orders.append(_quantity_order(sym, opposite, qty, reason))
    return orders


def _with_exits(request: OrderRequest, intent: TargetIntent) -> OrderRequest:
    """``request`` carrying the target's exits (a bracket or oto order), if it has any."""
    if intent.exits is None:
        return request
    return replace(request, **intent.exits.fields())  # type: ignore[arg-type]


def _quantity_order(symbol: str, side: Side, quantity: float, reason: str) -> OrderRequest:
    """A market order for ``quantity``: DAY if the quantity is fractional (Alpaca's rule)."""
    whole = float(quantity).is_integer()
    return market_order(symbol, side, quantity, _GTC if whole else _DAY, reason)
