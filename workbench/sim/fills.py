"""Fill rules of the simulated venue: the one reference for how orders meet bars.

Orders are matched against bars (open, high, low, close, volume) by
:class:`workbench.sim.broker.SimulatedBroker`; this module holds the pure price rules.

Timing (no look-ahead)
    An order submitted while bar t is current (its ``created_at`` is bar t's time;
    decisions are taken on bar t's close) is matched only against bars strictly
    after its ``created_at``: it fills at bar t+1 at the earliest.

Prices
    - **Market**: the bar's open, plus slippage.
    - **Limit**: a buy fills when ``low <= limit``, at ``min(open, limit)`` (a gap down
      through the limit fills at the better open); a sell fills when ``high >= limit``,
      at ``max(open, limit)``. Limit fills are never slipped: a limit is a price guarantee.
    - **Stop**: a buy triggers when ``high >= stop`` and fills at ``max(open, stop)``
      (a gap up through the stop fills at the worse open), plus slippage; a sell triggers
      when ``low <= stop`` and fills at ``min(open, stop)``, minus slippage. A triggered
      stop is a market order: a remainder left by the volume cap fills at later opens.
    - **Stop-limit**: triggers like the stop, then is a limit order (no slippage). On the
      trigger bar, if it triggered at the open (a gap), it fills at the open when the open
      is within the limit, else at the limit if the bar reaches it (``low <= limit`` for a
      buy). If it triggered intrabar at the stop, it fills at the stop when the stop is
      within the limit (``stop <= limit`` for a buy); otherwise, as the order of highs and
      lows inside a bar is unknown, it pessimistically does not fill on the trigger bar
      and rests as a limit order from the next bar. The triggered state persists.
    - **Trailing stop**: a stop whose price follows the market: for a sell,
      ``hwm - trail_price`` or ``hwm * (1 - trail_percent / 100)``, where ``hwm`` is the
      high-water mark (for a buy, the low-water mark plus the trail). It triggers and
      fills like a stop, so a gap through it fills at the worse open.

Close-only data (``attrs["close_only"]``, e.g. ``sample:SP500``) carry open = high = low =
close, so a market order decided on bar t fills at bar t+1's *close*, and a stop or limit
fills only if that close reaches it (at the close). Their volume is 0: a volume cap
(``volume_limit``) would block every fill, so do not set one on such data.

Trailing stops: the high-water mark
    The mark starts at the price at which the order becomes active: the open of its
    first bar (the order is live from that open), or, for an attached exit, its
    entry's fill price. On each bar the stop is checked against the mark of the bars
    *before* and the bar's open (the open is traded before anything else in the bar, so
    a bar that gaps above the mark moves it at once: mark 101, open 110, trail 2 gives a
    stop of 108 on that bar), then the mark takes the bar's **high** (a buy's low-water
    mark: the open and the low). Highs, not closes, because Alpaca's ``hwm`` is the best
    trade price since the order became active, and a high is a traded price. Checking
    before taking the high is the pessimistic half: the order of the high and the low
    inside a bar is unknown, so the bar's own high never raises the stop that the same
    bar's low is checked against.

Attached exits (bracket, oto and oco orders; ``Order.parent_id`` set)
    Legs are ``held`` until their entry is completely filled, then active for the
    quantity it filled (Alpaca: "The second and third orders won't be active until the
    first order is completely filled"); partial fills of the entry leave them held.
    Day legs (a day bracket's, or ``exit_tif`` day) are day orders of the session they are
    armed in, a day entry's own: they expire at its close, as the entry would have.
    Legs are one-cancels-other. Protective orders (legs, oco orders and members of an
    ``oco_group``) only ever reduce a position: with nothing to reduce they do not
    trigger or fill (they wait), a fill is capped at the position held, and when
    another order closes (or reverses) the position, the active protective orders of
    that symbol are canceled. An entry that ends before its complete fill (canceled,
    expired, a partly filled day order at the close) cancels its held legs, and what
    it filled is left unprotected; canceling one exit of a bracket, oto or oco order
    cancels the others (Alpaca: "If any one of the orders is canceled, any remaining
    open order in the group is canceled").

Same-bar entry and exit (the pessimistic rule)
    Exits activated by an entry filled on a bar are matched against the rest of that
    bar, which starts at the entry's fill price: a stop-loss (or trailing stop) fills
    on the entry bar when the bar's low (a short's: high) reaches it, at the worse of
    the entry price and the stop. A take-profit fills on the entry bar only when the
    entry filled at the bar's open; after an intrabar entry the bar's high may have
    come before it. When both legs could fill, the OCO rule below picks the stop.

Order of fills within a bar
    Market orders fill first, at the open (in the order they were sent); then the orders
    that trigger or fill on the rest of the bar. A market order that closes (or
    reverses) a position therefore cancels that position's exits before they are
    checked against the bar: the open is traded before anything inside the bar, so a
    strategy's exit decided at the last close is not preceded by a stop it outran.

Exits relative to the fill (``take_profit_percent``, ``stop_loss_percent``)
    Priced when the entry first fills, from that fill's price (slippage included, as
    Alpaca's ``filled_avg_price``): a long's take-profit at ``fill * (1 + tp / 100)`` and
    stop at ``fill * (1 - sl / 100)``, a short's mirrored. The legs exist from that
    fill on and follow the rules above (the same-bar rule included). A trailing stop's
    mark starts at the entry's rule price (before slippage: the market's price, as
    Alpaca's ``hwm``). ``exit_tif`` lets a DAY entry carry GTC exits. The vectorized
    kernels (:mod:`workbench.backtesting.nb`) implement exactly these rules.

Slippage (:class:`~workbench.sim.costs.Slippage`) moves market and stop fill prices
against the trader; ``Fill.slippage`` is the per-unit difference from the rule price.

OCO groups (``OrderRequest.oco_group``)
    When several orders of one group could fill on the same bar (a protective stop and
    a take-profit both touched), the pessimistic one fills (for the trader: the lowest
    sell price, the highest buy price, after slippage; ties go to the earlier order) and
    the others are canceled. Whenever an order of a group fills completely, on any bar,
    the rest of the group is canceled; a partial fill (the volume cap) leaves them working,
    each shrunk by the quantity filled, as Alpaca's brackets do ("If the take-profit order
    is partially filled, the stop-loss order will be adjusted to the remaining quantity",
    Orders at Alpaca).

Volume cap (``volume_limit``, a fraction of bar volume; None = no cap)
    One order fills at most ``volume_limit * volume`` on one bar; the remainder stays
    open and fills on later bars by the same rules (partial fills). With a cap, a
    zero-volume bar fills nothing.

Quantity
    Fractional quantities are allowed. With ``lot_size`` (1.0 = whole shares) every
    quantity the venue resolves (a request's quantity at submission, a notional's
    quantity, a capped fill) is rounded down to a multiple; an order whose quantity
    rounds to zero is rejected.

Notional orders (``OrderRequest.notional`` = cash to spend, fees included)
    Resolved at the first fill with the (slipped) fill price:
    ``quantity = notional / (price * (1 + percent) + per_share)``; if the commission of
    that quantity is below the minimum, ``quantity = (notional - minimum) / price``; then
    rounded down to the lot size. If that is ``<= 0`` the order is rejected ("notional too
    small"). The resolved quantity is stored in ``Order.quantity``.

Buying power (checked at fill time, for fills that open or increase a position)
    After the fill, gross exposure (``sum |quantity| * price``) must not exceed
    ``equity * margin`` (plus a tiny tolerance). With the default ``margin=1.0`` and no
    shorts this is exactly "the cost including commission may not exceed the cash";
    a short sale needs its notional as collateral. ``margin=2.0`` allows twice the
    equity. A refused fill rejects the order (or cancels the rest of a partially filled
    one), with a reason naming the cost, the cash and the buying power. Reducing or
    closing a position is always allowed. With ``allow_short=False`` a sell that would
    take the position below zero is refused the same way.

Time in force
    DAY orders are valid for the first session they can trade in, as Alpaca's are for
    their trading day: on the venue's exchange calendar (``calendar=``, a run's from its
    spec) the first session whose close is after the first bar they were eligible for, so
    one sent after the close (in the evening's extended hours, past midnight UTC in
    winter, too) is for the next session; they expire at that close (13:00 New York on an
    early close), before any after-hours bar (daily bars, labelled 00:00 UTC of their
    session's date: exactly one bar). Without a calendar (a venue open around the clock)
    a day is a UTC date. Bars do not say they are the last of their session, so the venue
    notices the expiry when the first bar at or after the close arrives, before matching
    it (:mod:`workbench.sim.days`). GTC orders live until filled or canceled.

Costs are charged exactly once: an order's commission is
``max(minimum, per_share * filled_qty + percent * filled_notional)`` once it has any
fill, and each fill is charged the increase of that total.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from workbench.orders import Order, OrderType, Side
from workbench.sim.costs import Commission

#: Order types whose fill price is slipped (limit prices are guarantees).
SLIPPED_TYPES = frozenset({OrderType.MARKET, OrderType.STOP, OrderType.TRAILING_STOP})

_MARKET = OrderType.MARKET
_LIMIT = OrderType.LIMIT
_STOP = OrderType.STOP
_TRAILING = OrderType.TRAILING_STOP
_BUY = Side.BUY


class MatchResult(NamedTuple):
    """What a bar does to an order: the rule price (before slippage) and the trigger."""

    price: float | None  # None: nothing fills on this bar (a stop-limit that only triggered)
    triggered: bool  # the order's stop triggered on this bar (the broker keeps that state)


def match(
    order: Order,
    bar_open: float,
    bar_high: float,
    bar_low: float,
    bar_close: float,
    *,
    triggered: bool,
    hwm: float | None = None,
) -> MatchResult | None:
    """Match ``order`` against one bar; None when nothing happens.

    ``triggered`` says whether the order's stop triggered on an earlier bar; ``hwm`` is
    a trailing stop's high-water mark (low-water for a buy) from the bars before.
    The caller has already checked that the bar is after the order's ``created_at``.
    """
    req = order.request
    kind = req.type
    buy = req.side is _BUY
    if kind is _MARKET:
        return MatchResult(bar_open, False)
    if kind is _LIMIT:
        return _limit(buy, req.limit_price, bar_open, bar_high, bar_low)  # type: ignore[arg-type]
    if kind is _TRAILING:
        if hwm is None:
            hwm = bar_open
        elif buy:
            hwm = min(hwm, bar_open)  # the open is traded first: a gap moves the mark at once
        else:
            hwm = max(hwm, bar_open)
        stop = trailing_stop_price(order, hwm)
        kind = _STOP
    else:
        stop = req.stop_price  # type: ignore[assignment]
    if kind is _STOP:
        if triggered:
            return MatchResult(bar_open, False)
        if buy:
            return MatchResult(max(bar_open, stop), True) if bar_high >= stop else None
        return MatchResult(min(bar_open, stop), True) if bar_low <= stop else None
    limit: float = req.limit_price  # type: ignore[assignment]
    if triggered:
        return _limit(buy, limit, bar_open, bar_high, bar_low)
    return _stop_limit_trigger(buy, stop, limit, bar_open, bar_high, bar_low)


def trailing_stop_price(order: Order, hwm: float) -> float:
    """The stop price of a trailing stop whose high-water (a buy's: low-water) mark is ``hwm``."""
    req = order.request
    sign = -1.0 if req.side is not _BUY else 1.0
    if req.trail_price is not None:
        return hwm + sign * req.trail_price
    return hwm * (1.0 + sign * req.trail_percent / 100.0)  # type: ignore[operator]


def next_hwm(order: Order, hwm: float, bar_high: float, bar_low: float) -> float:
    """The mark after a bar: a sell's best price is the highest, a buy's the lowest."""
    return min(hwm, bar_low) if order.request.side is _BUY else max(hwm, bar_high)


def _limit(
    buy: bool, limit: float, bar_open: float, bar_high: float, bar_low: float
) -> MatchResult | None:
    if buy:
        return MatchResult(min(bar_open, limit), False) if bar_low <= limit else None
    return MatchResult(max(bar_open, limit), False) if bar_high >= limit else None


def _stop_limit_trigger(
    buy: bool, stop: float, limit: float, bar_open: float, bar_high: float, bar_low: float
) -> MatchResult | None:
    """A stop-limit not triggered before: does this bar trigger it, and does it fill?"""
    if buy:
        if bar_open >= stop:  # gapped through the stop: triggered at the open
            if bar_open <= limit:
                return MatchResult(bar_open, True)
            return MatchResult(limit if bar_low <= limit else None, True)
        if bar_high >= stop:  # triggered intrabar, at the stop
            return MatchResult(stop if stop <= limit else None, True)
        return None
    if bar_open <= stop:
        if bar_open >= limit:
            return MatchResult(bar_open, True)
        return MatchResult(limit if bar_high >= limit else None, True)
    if bar_low <= stop:
        return MatchResult(stop if stop >= limit else None, True)
    return None


def pessimistic(candidates: Sequence[tuple[Side, float]]) -> int:
    """Index of the fill worst for the trader among ``(side, price)`` candidates of one group.

    Worst means the highest buy price or the lowest sell price (buy price and negated
    sell price are compared); ties go to the first, that is the earliest submitted.
    """
    best = 0
    worst = -math.inf
    for i, (side, price) in enumerate(candidates):
        score = price if side is _BUY else -price
        if score > worst:
            best, worst = i, score
    return best


def round_lot(quantity: float, lot_size: float | None) -> float:
    """``quantity`` rounded down to a multiple of ``lot_size`` (unchanged without one).

    A relative nudge of 1e-9 keeps ``0.3 / 0.1`` from rounding down to 2 lots.
    """
    if lot_size is None or quantity <= 0.0:
        return quantity
    return math.floor(quantity / lot_size + 1e-9) * lot_size


def notional_quantity(
    notional: float, price: float, commission: Commission, lot_size: float | None
) -> float:
    """The quantity ``notional`` (cash to spend, fees included) buys at ``price``.

    ``notional / (price * (1 + percent) + per_share)``; when that quantity's commission
    is below the minimum, ``(notional - minimum) / price``; then rounded down to the lot.
    The caller rejects the order when the result is not positive.
    """
    if price <= 0.0:
        return 0.0
    c = commission
    quantity = notional / (price * (1.0 + c.percent) + c.per_share)
    if c.minimum > 0.0 and c.per_share * quantity + c.percent * quantity * price < c.minimum:
        quantity = (notional - c.minimum) / price
    return round_lot(quantity, lot_size)
