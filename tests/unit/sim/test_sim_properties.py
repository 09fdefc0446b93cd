"""Properties of the simulated venue over random bars and random orders.

After every bar: the cash and positions rebuilt from the fills alone match the
portfolio, ``cash + sum(quantity * last close) == equity``, every commission is
charged once, and no order fills on the bar it was submitted on. And no protective
order (stop-loss, take-profit, oco) ever opens or increases a position.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.errors import ConfigError
from workbench.orders import OrderClass, OrderRequest, OrderType, Side, TimeInForce
from workbench.sim.broker import SimulatedBroker
from workbench.sim.costs import Commission, Slippage

T0 = pd.Timestamp("2024-01-02 14:30", tz="UTC")
STEP = pd.Timedelta(hours=3)  # several bars a day, so DAY orders live more than one bar
SYMBOLS = {"A": 1.0, "B": 0.37}  # B's prices are A's scaled
CASH = 10_000.0

moves = st.tuples(
    st.floats(-0.05, 0.05),  # open against the previous close
    st.floats(0, 0.03),  # high above max(open, close)
    st.floats(0, 0.03),  # low below min(open, close)
    st.floats(-0.05, 0.05),  # close against the open
    st.sampled_from([0.0, 5.0, 1_000.0]),  # volume
)

orders = st.tuples(
    st.sampled_from(list(OrderType)),
    st.sampled_from(list(Side)),
    st.sampled_from(list(SYMBOLS)),
    st.one_of(st.floats(0.1, 40), st.none()),  # quantity, or None for a notional
    st.floats(10, 12_000),  # notional
    st.floats(0.95, 1.05),  # stop against the close
    st.floats(0.95, 1.05),  # limit against the close
    st.sampled_from(list(TimeInForce)),
    st.sampled_from([None, None, "g1", "g2"]),  # oco group
)

venues = st.fixed_dictionaries(
    {
        "commission": st.builds(
            Commission,
            per_share=st.sampled_from([0.0, 0.005]),
            percent=st.floats(0, 0.01),
            minimum=st.sampled_from([0.0, 1.0]),
        ),
        "slippage": st.builds(
            Slippage, bps=st.floats(0, 50), range_fraction=st.sampled_from([0.0, 0.1])
        ),
        "volume_limit": st.sampled_from([None, 0.01, 0.5]),
        "lot_size": st.sampled_from([None, 1.0]),
        "margin": st.sampled_from([1.0, 3.0]),
        "allow_short": st.booleans(),
    }
)


def walk(moves):
    """The bars (time, open, high, low, close, volume) that ``moves`` make from 100."""
    prev = 100.0
    for i, (gap, up, down, drift, volume) in enumerate(moves):
        o = prev * (1 + gap)
        c = o * (1 + drift)
        yield T0 + i * STEP, o, max(o, c) * (1 + up), min(o, c) * (1 - down), c, volume
        prev = c


def make_request(spec, close: float) -> OrderRequest:
    kind, side, symbol, quantity, notional, stop, limit, tif, group = spec
    return OrderRequest(
        symbol,
        side,
        quantity=quantity,
        notional=None if quantity is not None else notional,
        type=kind,
        stop_price=stop * close if kind in (OrderType.STOP, OrderType.STOP_LIMIT) else None,
        limit_price=limit * close if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None,
        tif=tif,
        oco_group=group,
        trail_percent=abs(stop - 1) * 100 + 0.5 if kind is OrderType.TRAILING_STOP else None,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    venue=venues,
    bars=st.lists(moves, min_size=2, max_size=30),
    flow=st.lists(st.lists(orders, max_size=3), min_size=30, max_size=30),
    cancels=st.lists(st.booleans(), min_size=30, max_size=30),
)
def test_accounting_holds_after_every_bar(venue, bars, flow, cancels) -> None:
    broker = SimulatedBroker(CASH, **venue)
    pf = broker.portfolio
    last: dict[str, float] = {}
    for i, (t, o, h, low, c, volume) in enumerate(walk(bars)):
        for sym, scale in SYMBOLS.items():
            for u in broker.process_bar(
                sym, t, o * scale, h * scale, low * scale, c * scale, volume
            ):
                if u.fill is not None:  # never on the bar the order was submitted on
                    assert u.fill.time == t > broker.get_order(u.fill.order_id).created_at
            last[sym] = c * scale

        # rebuild the account from the fills alone
        cash = CASH - sum(f.side.sign * f.quantity * f.price + f.commission for f in broker.fills)
        held = {
            s: sum(f.side.sign * f.quantity for f in broker.fills if f.symbol == s) for s in SYMBOLS
        }
        value = sum(q * last[s] for s, q in held.items())
        scale = max(1.0, abs(cash) + sum(abs(q) * last[s] for s, q in held.items()))
        assert pf.cash == pytest.approx(cash, rel=1e-9, abs=1e-9 * scale)
        for s, q in held.items():
            assert pf.quantity(s) == pytest.approx(q, abs=1e-6)
        assert pf.equity == pytest.approx(cash + value, rel=1e-6, abs=1e-6 * scale)
        fees = sum(f.commission for f in broker.fills)
        assert pf.commission_paid == pytest.approx(fees, abs=1e-9)
        assert sum(o.commission for o in broker.orders) == pytest.approx(fees, abs=1e-9)
        for order in broker.orders:
            if order.quantity is not None:
                assert order.filled_quantity <= order.quantity * (1 + 1e-12)
            if venue["volume_limit"] is not None and volume == 0.0:
                assert all(f.time != t for f in broker.fills)
        assert all(not math.isnan(f.price) and f.price >= 0 for f in broker.fills)

        broker.set_time(t)
        for spec in flow[i]:
            broker.submit_order(make_request(spec, last[spec[2]]))
        open_orders = broker.get_open_orders()
        if cancels[i] and open_orders:
            broker.cancel_order(open_orders[0].id)


# The protective-order invariant: no protective order (an attached exit, an oco order,
# an ``oco_group`` member) ever opens or increases a position: each of its fills moves
# the position toward zero and never past it. Entries, brackets, oto and oco orders,
# exits relative to the entry's fill, trailing stops, cancels and leg replacements are
# mixed at random.

gappy_moves = st.tuples(
    st.floats(-0.06, 0.06),  # open against the previous close (gaps)
    st.floats(0, 0.04),
    st.floats(0, 0.04),
    st.floats(-0.05, 0.05),
    st.sampled_from([3.0, 1_000.0]),  # volume (3: partial fills under the cap)
)
exit_orders = st.tuples(
    st.sampled_from(["market", "limit", "stop", "trailing_stop"]),
    st.sampled_from(list(Side)),
    st.sampled_from([1.0, 2.0, 5.0]),
    st.sampled_from(
        ["simple", "bracket", "oto_tp", "oto_sl", "oto_trail", "oco", "group", "rel", "rel_sl"]
    ),
    st.floats(0.9, 1.1),  # a price against the close
    st.floats(0.01, 0.1),  # exit distances
    st.sampled_from(list(TimeInForce)),
)


def make_exit_request(spec, close: float) -> OrderRequest | None:
    kind, side, qty, klass, at, dist, tif = spec
    up, down = close * (1 + dist), close * (1 - dist)
    tp, sl = (up, down) if side is Side.BUY else (down, up)
    base = {"quantity": qty, "tif": tif}
    if klass == "oco":  # an exit pair: take-profit above (for a sell), stop below
        tp, sl = (up, down) if side is Side.SELL else (down, up)
        return OrderRequest(
            "X", side, type=OrderType.LIMIT, limit_price=tp, order_class=OrderClass.OCO,
            stop_loss=sl, **base,
        )  # fmt: skip
    if klass == "group":  # a stop sent next to a take-profit in one group, unattached
        return OrderRequest(
            "X", side, type=OrderType.STOP, stop_price=sl if side is Side.SELL else tp,
            oco_group="g", **base,
        )  # fmt: skip
    prices = {}
    if kind == "limit":
        prices["limit_price"] = close * at
    elif kind == "stop":
        prices["stop_price"] = close * at
    elif kind == "trailing_stop":
        if klass != "simple":
            return None
        prices["trail_percent"] = dist * 100
    exits: dict = {
        "simple": {},
        "bracket": {"order_class": OrderClass.BRACKET, "take_profit": tp, "stop_loss": sl},
        "oto_tp": {"order_class": OrderClass.OTO, "take_profit": tp},
        "oto_sl": {"order_class": OrderClass.OTO, "stop_loss": sl},
        "oto_trail": {"order_class": OrderClass.OTO, "trail_percent": dist * 100},
        # exits priced from the entry's fill, GTC whatever the entry's time in force
        "rel": {
            "order_class": OrderClass.BRACKET,
            "take_profit_percent": dist * 100,
            "stop_loss_percent": dist * 50,
            "exit_tif": TimeInForce.GTC,
        },
        "rel_sl": {"order_class": OrderClass.OTO, "stop_loss_percent": dist * 100},
    }[klass]
    try:
        return OrderRequest("X", side, type=OrderType(kind), **prices, **exits, **base)
    except ConfigError:  # e.g. a limit entry above its take-profit: refused, as it should be
        return None


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    bars=st.lists(gappy_moves, min_size=3, max_size=25),
    flow=st.lists(st.lists(exit_orders, max_size=3), min_size=25, max_size=25),
    actions=st.lists(st.sampled_from(["none", "none", "cancel", "replace"]), min_size=25),
    volume_limit=st.sampled_from([None, 0.5]),
)
def test_no_protective_order_opens_or_increases_a_position(
    bars, flow, actions, volume_limit
) -> None:
    broker = SimulatedBroker(50_000.0, volume_limit=volume_limit, margin=4.0)
    for i, (t, o, h, low, c, volume) in enumerate(walk(bars)):
        broker.process_bar("X", t, o, h, low, c, volume)
        broker.set_time(t)
        for spec in flow[i]:
            request = make_exit_request(spec, c)
            if request is not None:
                broker.submit_order(request)
        legs = [o for o in broker.get_open_orders() if o.parent_id is not None]
        if actions[i] == "cancel" and broker.get_open_orders():
            broker.cancel_order(broker.get_open_orders()[-1].id)
        elif actions[i] == "replace" and legs:
            leg = legs[0]
            req = leg.request
            moved = {k: v * 1.01 for k in ("limit_price", "stop_price") if (v := getattr(req, k))}
            broker.replace_order(leg.id, OrderRequest(
                "X", req.side, quantity=req.quantity, type=req.type, trail_price=req.trail_price,
                trail_percent=req.trail_percent, **moved,
            ))  # fmt: skip

    position = 0.0
    protective_fills = 0
    for fill in broker.fills:
        new = position + fill.side.sign * fill.quantity
        if broker.get_order(fill.order_id).request.protective:
            protective_fills += 1
            assert abs(new) < abs(position) + 1e-9, (fill, position)
            assert position * new >= -1e-9, (fill, position)
        position = new
    assert broker.portfolio.quantity("X") == pytest.approx(position, abs=1e-9)
    for order in broker.orders:
        if order.parent_id is not None and order.filled_quantity:
            parent = broker.get_order(order.parent_id)
            if parent.request.order_class is not OrderClass.OCO:  # an oco's legs are live at once
                assert parent.filled_quantity > 0  # an attached exit never fills before its entry
