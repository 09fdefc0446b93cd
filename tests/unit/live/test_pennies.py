"""Real pennies: the scaled broker sends tiny real orders and shows a full-size virtual account.

The inner broker is the real simulated broker (no mocks): the tests read the real
orders it received and compare them with the virtual ones the scaled broker reports.
"""

from __future__ import annotations

import dataclasses
import json
import logging

import pandas as pd
import pytest

from workbench.broker import Bar, Broker, UpdateEvent
from workbench.bundle import write_bundle
from workbench.cli.main import main
from workbench.errors import ConfigError
from workbench.live.pennies import ScaledBroker, apply_pennies
from workbench.live.state import StateStore
from workbench.orders import OrderRequest, OrderType, Side, TimeInForce
from workbench.runspec import RunSpec
from workbench.sim.broker import SimulatedBroker
from workbench.strategy import make_strategy

T0 = pd.Timestamp("2024-03-01", tz="UTC")
T1 = pd.Timestamp("2024-03-02", tz="UTC")
T2 = pd.Timestamp("2024-03-03", tz="UTC")
CAPITAL = 100_000.0
PRICE = 100.0


def scaled(
    dollars: float = 100.0, real_cash: float = 100.0
) -> tuple[ScaledBroker, SimulatedBroker]:
    inner = SimulatedBroker(real_cash)
    inner.set_time(T0)
    return ScaledBroker(inner, dollars / CAPITAL, capital=CAPITAL, anchor=real_cash), inner


def bar(inner: SimulatedBroker, t: pd.Timestamp, price: float = PRICE, symbol: str = "SPY") -> None:
    inner.process_bar(symbol, t, price, price, price, price, 1e9)


def buy(qty: float | None = None, notional: float | None = None, **kw) -> OrderRequest:
    return OrderRequest("SPY", Side.BUY, quantity=qty, notional=notional, **kw)


# -- orders going down --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("virtual", "dollars", "real_qty", "real_notional", "real_tif"),
    [
        # whole virtual quantity, fractional real one: a DAY order (Alpaca's rule)
        (buy(61.0), 100.0, 0.061, None, TimeInForce.DAY),
        # still whole after scaling: GTC kept
        (buy(500.0), 1_000.0, 5.0, None, TimeInForce.GTC),
        # a fractional virtual quantity was a DAY order already
        (buy(12.5, tif=TimeInForce.DAY), 100.0, 0.0125, None, TimeInForce.DAY),
        # at most 9 decimals
        (buy(1.23456789123, tif=TimeInForce.DAY), 100.0, 0.001234568, None, TimeInForce.DAY),
        # notional orders: scaled, prices unchanged
        (buy(notional=90_000.0, tif=TimeInForce.DAY), 100.0, None, 90.0, TimeInForce.DAY),
        (buy(notional=5_000.0, tif=TimeInForce.DAY), 100.0, None, 5.0, TimeInForce.DAY),
        # limit prices are not scaled
        (buy(61.0, type=OrderType.LIMIT, limit_price=99.5), 100.0, 0.061, None, TimeInForce.DAY),
    ],
)
def test_orders_are_scaled_down(virtual, dollars, real_qty, real_notional, real_tif) -> None:
    broker, inner = scaled(dollars, real_cash=dollars)
    cid = "wb-test-SPY-20240301T000000-0"
    order = broker.submit_order(dataclasses.replace(virtual, client_order_id=cid))
    (real,) = inner.orders
    assert real.request.quantity == real_qty and real.request.notional == real_notional
    assert real.request.tif is real_tif
    assert real.request.limit_price == virtual.limit_price
    # the client order id passes through; the order shown above is virtual: what was really
    # sent, divided by the scale (the asked size, but for the 9-decimal rounding)
    assert real.client_order_id == order.client_order_id == cid and order.id == real.id
    scale = dollars / CAPITAL
    assert order.request.quantity == (None if real_qty is None else round(real_qty / scale, 9))
    assert order.request.notional == (None if real_notional is None else real_notional / scale)
    if virtual.quantity is not None and virtual.quantity.is_integer():
        assert order.request.quantity == virtual.quantity
    assert order.request.tif is virtual.tif


@pytest.mark.parametrize(
    ("virtual", "real_qty", "real_notional", "what"),
    [
        (buy(notional=500.0, tif=TimeInForce.DAY), None, 1.0, "notional"),  # $0.50 -> $1
        (buy(notional=999.0, tif=TimeInForce.DAY), None, 1.0, "notional"),
        (buy(1e-7, tif=TimeInForce.DAY), 1e-9, None, "quantity"),  # 1e-10 -> 1e-9
    ],
)
def test_an_order_below_the_minimum_is_raised_to_it_and_logged(
    virtual, real_qty, real_notional, what, caplog
) -> None:
    broker, inner = scaled(100.0)
    with caplog.at_level(logging.WARNING, logger="workbench.live.pennies"):
        order = broker.submit_order(virtual)
    (real,) = inner.orders
    assert real.request.quantity == real_qty and real.request.notional == real_notional
    (record,) = [r for r in caplog.records if getattr(r, "event", None) == "pennies_minimum"]
    assert record.symbol == "SPY" and record.quantity == (real_qty or real_notional)
    assert "below the broker's minimum" in record.reason and what in record.reason
    # the virtual order shows what was really sent
    assert (order.request.quantity, order.request.notional) == (
        None if real_qty is None else pytest.approx(real_qty * 1_000),
        None if real_notional is None else pytest.approx(real_notional * 1_000),
    )


def test_an_order_at_the_minimum_is_sent_as_is(caplog) -> None:
    broker, inner = scaled(100.0)
    with caplog.at_level(logging.WARNING, logger="workbench.live.pennies"):
        broker.submit_order(buy(notional=1_000.0, tif=TimeInForce.DAY))
    assert inner.orders[0].request.notional == 1.0
    assert not [r for r in caplog.records if getattr(r, "event", None) == "pennies_minimum"]


# -- closing ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "opening",
    [
        buy(61.0),  # real 0.061: exact
        buy(notional=10_000.0, tif=TimeInForce.DAY),  # real 10 / 101.37: many decimals
    ],
)
def test_closing_the_whole_virtual_position_closes_the_whole_real_one(opening) -> None:
    broker, inner = scaled(100.0)
    broker.submit_order(opening)
    bar(inner, T1, 101.37)
    held = broker.get_positions()["SPY"].quantity
    assert inner.get_positions()["SPY"].quantity == pytest.approx(held / 1_000, abs=1e-9)
    # what a target of zero sends: the virtual position
    broker.submit_order(OrderRequest("SPY", Side.SELL, quantity=held, tif=TimeInForce.DAY))
    real_held = inner.get_positions()["SPY"].quantity
    assert inner.orders[-1].request.quantity == real_held  # exactly: no dust
    bar(inner, T2, 102.0)
    assert inner.get_positions() == {} and broker.get_positions() == {}


def test_a_partial_exit_is_scaled_and_leaves_the_rest() -> None:
    broker, inner = scaled(100.0)
    broker.submit_order(buy(61.0))
    bar(inner, T1)
    broker.submit_order(OrderRequest("SPY", Side.SELL, quantity=20.0))
    assert inner.orders[-1].request.quantity == 0.02
    bar(inner, T2)
    assert broker.get_positions()["SPY"].quantity == 41.0


# -- the virtual account ------------------------------------------------------------------------
def test_fills_and_updates_come_back_divided_by_the_scale() -> None:
    broker, inner = scaled(100.0)
    cid = "wb-test-SPY-20240301T000000-0"
    broker.submit_order(buy(61.0, client_order_id=cid))
    bar(inner, T1, 101.0)
    updates = broker.drain_updates()
    assert [u.event for u in updates] == [UpdateEvent.NEW, UpdateEvent.FILL]
    fill = updates[-1].fill
    assert fill is not None and fill.quantity == 61.0 and fill.price == 101.0
    assert inner.fills[0].quantity == 0.061 and inner.fills[0].price == 101.0
    order = updates[-1].order
    assert order.client_order_id == cid and order.filled_quantity == order.quantity == 61.0
    assert broker.get_order(order.id).filled_quantity == 61.0
    assert broker.get_order_by_client_id(cid).average_price == 101.0
    assert broker.get_order_by_client_id("unknown") is None


@pytest.mark.parametrize(
    ("orders", "prices"),
    [
        ([buy(61.0)], [101.0, 103.0]),
        ([buy(notional=45_000.0, tif=TimeInForce.DAY)], [99.0, 97.5]),
        ([buy(30.0), OrderRequest("SPY", Side.SELL, quantity=10.0)], [100.0, 110.0]),
        ([OrderRequest("SPY", Side.SELL, quantity=40.0)], [100.0, 95.0]),  # short
    ],
)
def test_cash_plus_positions_is_equity_after_fills(orders, prices) -> None:
    broker, inner = scaled(100.0)
    for request, t, price in zip(orders, (T1, T2), prices, strict=False):
        broker.submit_order(request)
        bar(inner, t, price)
        inner.set_time(t)
    bar(inner, T2 + pd.Timedelta(days=1), prices[-1])
    account = broker.get_account()
    positions = broker.get_positions()
    assert account.cash + sum(p.market_value for p in positions.values()) == pytest.approx(
        account.equity, rel=1e-12
    )
    real = inner.get_account()
    assert account.cash == pytest.approx(CAPITAL + (real.cash - 100.0) * 1_000, rel=1e-12)
    assert account.equity == pytest.approx(CAPITAL + (real.equity - 100.0) * 1_000, rel=1e-12)
    for symbol, p in positions.items():
        assert p.quantity == pytest.approx(inner.get_positions()[symbol].quantity * 1_000)
        assert p.last_price == inner.get_positions()[symbol].last_price


def test_the_virtual_account_starts_at_the_capital_whatever_the_real_cash() -> None:
    broker, _ = scaled(100.0, real_cash=25_000.0)
    account = broker.get_account()
    assert account.cash == account.equity == CAPITAL
    assert account.buying_power == CAPITAL  # capped at the virtual cash
    assert isinstance(broker, Broker)


# -- the state file: anchor, restarts, refusals ------------------------------------------
def test_the_scale_and_anchor_are_recorded_and_read_back(tmp_path) -> None:
    state = StateStore(tmp_path / "live.sqlite")
    inner = SimulatedBroker(5_000.0)
    broker = apply_pennies(inner, state, 100.0, CAPITAL)
    assert isinstance(broker, ScaledBroker) and broker.scale == 0.001
    assert float(state.get_meta("pennies")) == 100.0 and float(state.get_meta("scale")) == 0.001
    assert float(state.get_meta("pennies_anchor")) == 5_000.0
    inner.set_time(T0)
    broker.submit_order(buy(61.0))
    bar(inner, T1)
    # a restart: the anchor is the first start's, not today's cash
    again = apply_pennies(inner, state, 100.0, CAPITAL)
    assert again.anchor == 5_000.0
    assert again.get_account().equity == pytest.approx(CAPITAL)
    state.close()


@pytest.mark.parametrize(
    ("recorded", "asked", "message"),
    [
        (100.0, None, "is a real-pennies run at $100"),
        (100.0, 50.0, "not $50"),
        (None, 100.0, "holds a full-size run"),
    ],
)
def test_mixing_pennies_and_full_size_in_one_state_is_refused(
    tmp_path, recorded, asked, message
) -> None:
    state = StateStore(tmp_path / "live.sqlite")
    if recorded is not None:
        apply_pennies(SimulatedBroker(1_000.0), state, recorded, CAPITAL)
    else:
        state.record_bars([Bar("SPY", T0, 1, 1, 1, 1, 1)])
    with pytest.raises(ConfigError, match=r"pennies|full-size") as err:
        apply_pennies(SimulatedBroker(1_000.0), state, asked, CAPITAL)
    assert message in str(err.value)
    state.close()


@pytest.mark.parametrize(
    ("cash", "held", "dollars", "message"),
    [
        (50.0, False, 100.0, "has only $50.00 in cash"),
        (1_000.0, True, 100.0, "already holds"),
        (1_000.0, False, 0.0, "not a positive amount"),
        (1_000.0, False, -5.0, "not a positive amount"),
        (1e9, False, 200_000.0, "more than the bundle's capital"),
    ],
)
def test_a_first_start_is_refused_when_it_cannot_work(tmp_path, cash, held, dollars, message):
    inner = SimulatedBroker(cash)
    if held:
        inner.set_time(T0)
        inner.submit_order(buy(1.0))
        bar(inner, T1)
    state = StateStore(tmp_path / "live.sqlite")
    with pytest.raises(ConfigError, match="pennies") as err:
        apply_pennies(inner, state, dollars, CAPITAL)
    assert message in str(err.value) and err.value.hint
    assert state.get_meta("pennies") is None
    state.close()


# -- the command line ------------------------------------------------------------------------------
@pytest.fixture
def bundle(tmp_path):
    return write_bundle(
        tmp_path / "promoted", make_strategy("ma_crossover", {"fast": 10, "slow": 30}),
        data={"spec": "sample:SPX", "symbols": {"SPX": {}}}, gates=[], metrics={},
        report="# pennies\n",
        run_spec=RunSpec(symbols=("SPX",), timeframe="1Day", session="all", cash=CAPITAL),
    )  # fmt: skip


def test_cli_refuses_a_negative_pennies(bundle, tmp_path, capsys) -> None:
    state = tmp_path / "live.sqlite"
    assert main(["live", "--bundle", str(bundle.path), "--state", str(state),
                 "--pennies", "-1"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "--pennies -1 is not a positive amount" in err and "e.g. --pennies 100" in err


def test_cli_pennies_on_the_simulated_broker_records_virtual_sizes(bundle, tmp_path, capsys):
    state = tmp_path / "live.sqlite"
    args = ["--broker", "sim", "--feed", "replay:sample:SPX", "--max-bars", "300"]
    full = tmp_path / "full.sqlite"
    assert main(["live", "--bundle", str(bundle.path), "--state", str(full), *args]) == 0
    assert main(["live", "--bundle", str(bundle.path), "--state", str(state), *args,
                 "--pennies", "100"]) == 0  # fmt: skip
    assert "(real pennies: $100)" in capsys.readouterr().out
    pennies, reference = StateStore(state), StateStore(full)
    try:
        assert json.loads(pennies.get_meta("scale")) == 0.001
        a, b = pennies.fills(), reference.fills()
        assert len(a) == len(b) > 0
        assert a["quantity"].to_numpy() == pytest.approx(b["quantity"].to_numpy(), rel=1e-6)
        assert a["price"].to_numpy() == pytest.approx(b["price"].to_numpy(), rel=1e-12)
        ea, eb = pennies.equity_curve(), reference.equity_curve()
        assert ea["equity"].to_numpy() == pytest.approx(eb["equity"].to_numpy(), rel=1e-6)
    finally:
        pennies.close()
        reference.close()
