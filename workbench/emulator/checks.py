"""Alpaca's checks at order submission, against the simulated broker's account.

Alpaca refuses at submission (the simulated broker checks again at the fill, with the
fill price):

- a potential wash trade: an opposite order of the account that could trade with
  this one (422 ``42210000``);
- selling more than the long position minus what open sell orders hold, or buying
  more than the short position minus what open buys hold: "insufficient qty available"
  (403 ``40310000``). Alpaca never flips a position in one order: close it first;
- a bracket or oto that closes a position ("bracket orders must be entry orders"), an
  oco that opens one (Alpaca: for oco "currently only exit order is supported");
- a fractional or notional sell that would open a short: "We only support long
  fractional trading positions" (403 ``40310000``);
- an opening order whose value exceeds the buying power left after the open opening
  orders (403 ``40310000`` "insufficient buying power"). Buys are valued at their
  limit price, a stop at its stop price, a market order at the last published close,
  a notional order at its notional. An opening short is valued as Alpaca documents it
  ("Placing Orders", Buying Power): MAX(limit price, 3% above the ask) for a limit,
  3% above the ask otherwise (the ask is the synthetic quote's, :mod:`.quotes`).
"""

from __future__ import annotations

from collections.abc import Mapping

from workbench.emulator import rules
from workbench.emulator.quotes import ask_price
from workbench.emulator.rules import CODE_FORBIDDEN, CODE_RULE
from workbench.emulator.shapes import ApiError, num
from workbench.orders import OrderClass, OrderRequest, OrderStatus, OrderType, Side
from workbench.portfolio import QUANTITY_EPSILON, Portfolio
from workbench.sim.broker import SimulatedBroker

#: Alpaca values an opening short at 3% above the current ask.
SHORT_BUFFER = 1.03
#: Relative slack for "spend all the buying power" (floating-point dust).
TOLERANCE = 1e-12
#: Alpaca's Reg T initial margin of a marginable security (every emulated asset is one).
INITIAL_MARGIN = 0.5


def check_order(
    broker: SimulatedBroker,
    req: OrderRequest,
    last_close: Mapping[str, float],
    *,
    wash_trade_check: bool = True,
    exclude: str | None = None,
    spread_bps: float = 2.0,
) -> None:
    """Raise :class:`ApiError` when Alpaca would refuse ``req`` (``exclude``: an order id
    being replaced, whose reservation does not count)."""
    if wash_trade_check:
        for resting in broker.get_open_orders():
            if resting.symbol != req.symbol or resting.id == exclude:
                continue
            if resting.status is OrderStatus.HELD:
                continue  # a leg waiting for its entry is not at the venue yet
            reason = rules.crosses(req, resting.request)
            if reason is not None:
                raise ApiError(
                    422,
                    CODE_RULE,
                    "potential wash trade detected. use complex orders",
                    extra={"reject_reason": reason},
                )
    position = broker.portfolio.quantity(req.symbol)
    price = estimate(req, last_close)
    qty = req.quantity
    if qty is None:
        qty = (req.notional or 0.0) / price if price else 0.0
    closing = (req.side is Side.SELL and position > QUANTITY_EPSILON) or (
        req.side is Side.BUY and position < -QUANTITY_EPSILON
    )
    if closing and req.order_class in (OrderClass.BRACKET, OrderClass.OTO):
        raise ApiError(422, CODE_RULE, "bracket orders must be entry orders")
    if not closing and req.order_class is OrderClass.OCO:  # "only exit order is supported"
        raise ApiError(422, CODE_RULE, "oco orders must be exit orders")
    rules.check_exit_prices(req, price, last_close.get(req.symbol))
    if closing:
        on_hold = held(broker, req.symbol, req.side, exclude)
        available = max(abs(position) - on_hold, 0.0)
        if qty > available + QUANTITY_EPSILON:
            raise ApiError(
                403,
                CODE_FORBIDDEN,
                f"insufficient qty available for order (requested: {qty:g}, "
                f"available: {available:g})",
                extra={
                    "symbol": req.symbol,
                    "available": num(available),
                    "existing_qty": num(abs(position)),
                    "held_for_orders": num(on_hold),
                },
            )
        return
    fractional = req.notional is not None or not float(req.quantity or 0.0).is_integer()
    if req.side is Side.SELL and fractional:  # Alpaca: long fractional positions only
        raise ApiError(403, CODE_FORBIDDEN, "fractional orders cannot be sold short")
    if req.side is Side.SELL and not broker.allow_short:
        raise ApiError(403, CODE_FORBIDDEN, "account is not allowed to short")
    if not price:
        return  # nothing published yet: the venue checks at the fill
    if req.side is Side.SELL:
        price = short_price(req, last_close, spread_bps)
    cost = req.notional if req.notional is not None else qty * price
    if cost > buying_power(broker, last_close, exclude, spread_bps) * (1 + TOLERANCE) + 1e-9:
        raise ApiError(403, CODE_FORBIDDEN, "insufficient buying power")


def buying_power(
    broker: SimulatedBroker,
    last_close: Mapping[str, float],
    exclude: str | None = None,
    spread_bps: float = 2.0,
) -> float:
    """The simulated broker's buying power less what open opening orders reserve."""
    reserved = 0.0
    for order in broker.get_open_orders():
        if order.id == exclude or order.request.protective:
            continue  # exits never open a position: they hold no cash
        position = broker.portfolio.quantity(order.symbol)
        if (order.side is Side.BUY and position < 0) or (order.side is Side.SELL and position > 0):
            continue  # closing orders hold quantity, not cash
        if order.quantity is None:
            reserved += order.request.notional or 0.0
        else:
            opening_short = order.side is Side.SELL
            price = (
                short_price(order.request, last_close, spread_bps)
                if opening_short
                else estimate(order.request, last_close)
            )
            reserved += (order.remaining or 0.0) * price
    return max(broker.get_account().buying_power - reserved, 0.0)


def estimate(req: OrderRequest, last_close: Mapping[str, float]) -> float:
    """The price an order is valued at: its limit, its stop, else the last close (0: unknown)."""
    if req.type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        return req.limit_price or 0.0
    if req.type is OrderType.STOP:
        return req.stop_price or 0.0
    return last_close.get(req.symbol, 0.0)


def short_price(req: OrderRequest, last_close: Mapping[str, float], spread_bps: float) -> float:
    """What an opening short is valued at: MAX(limit, 3% above the ask), or 3% above the ask."""
    close = last_close.get(req.symbol, 0.0)
    if not close:
        return estimate(req, last_close)
    buffered = SHORT_BUFFER * ask_price(close, spread_bps)
    if req.type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        return max(req.limit_price or 0.0, buffered)
    return buffered


def held(broker: SimulatedBroker, symbol: str, side: Side, exclude: str | None = None) -> float:
    """Quantity that open ``side`` orders in ``symbol`` hold.

    The exits of one entry (or one oco pair) are one-cancels-other: they hold the
    quantity once; legs still held for an unfilled entry hold nothing.
    """
    total = 0.0
    pairs: dict[str, float] = {}
    for o in broker.get_open_orders():
        if o.symbol != symbol or o.side is not side or o.id == exclude:
            continue
        if o.status is OrderStatus.HELD:
            continue
        pair = o.parent_id or (o.id if o.request.order_class is OrderClass.OCO else None)
        if pair is None:
            total += o.remaining or 0.0
        else:
            pairs[pair] = max(pairs.get(pair, 0.0), o.remaining or 0.0)
    return total + sum(pairs.values())


def maintenance_margin(portfolio: Portfolio) -> float:
    """Alpaca's maintenance margin requirement of the positions at their last prices
    ("Margin and Short Selling"): a long 30% of its market value, 100% under $2.50 a
    share; a short the greater of $5.00 a share and 30%, under $5.00 the greater of
    $2.50 a share and 100%."""
    total = 0.0
    for p in portfolio.positions.values():
        qty, price = p.quantity, p.last_price
        if qty > 0:
            total += qty * price * (1.0 if price < 2.5 else 0.3)
        elif qty < 0:
            floor, rate = (2.5, 1.0) if price < 5.0 else (5.0, 0.3)
            total += -qty * max(floor, price * rate)
    return total
