"""Properties of the simulated venue over random bars and random orders.

After every bar: the cash and positions rebuilt from the fills alone match the
portfolio, ``cash + sum(quantity * last close) == equity``, every commission is
charged once, and no order fills on the bar it was submitted on.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.orders import OrderRequest, OrderType, Side, TimeInForce
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
    prev = 100.0
    for i, (gap, up, down, drift, volume) in enumerate(bars):
        t = T0 + i * STEP
        o = prev * (1 + gap)
        c = o * (1 + drift)
        h, low = max(o, c) * (1 + up), min(o, c) * (1 - down)
        prev = c
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
