"""A bracket or oto entry that ends partly filled leaves no position without its exits.

Its held legs are canceled with it (Alpaca's rule, the simulated venue's); the execution
engine then sends a protective exit for what it filled, at the legs' prices and time in
force (:mod:`workbench.execution.protect`). Over hand-made daily bars with a volume cap of
half a bar's 8 shares, so a market entry for 10 fills 4 on its first bar.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd
import pytest

from workbench.backtesting.engine import BacktestConfig, Engine
from workbench.broker import OrderUpdate, UpdateEvent
from workbench.execution.config import ExecutionConfig
from workbench.execution.engine import ExecutionEngine
from workbench.execution.protect import REASON, protective_exit
from workbench.exits import protect_client_id
from workbench.orders import (
    Order,
    OrderClass,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from workbench.sim.broker import SimulatedBroker
from workbench.strategy import Strategy

T0 = pd.Timestamp("2024-01-01", tz="UTC")
DAY = pd.Timedelta(days=1)
#: (open, high, low, close): the entry fills 4 at 100 on bar 1 (a day order: it expires
#: when bar 2 comes); bar 3's low passes the stop at 90.
BARS = [
    (100.0, 101.0, 99.0, 100.0),  # the decision: buy 10, a day bracket 120 / 90
    (100.0, 101.0, 99.0, 100.0),  # 4 of 10 at the open (the cap)
    (100.0, 101.0, 99.0, 100.0),  # the entry's session is over: it and its legs end
    (95.0, 96.0, 85.0, 88.0),  # the stop at 90
    (88.0, 89.0, 87.0, 88.0),
]


def frame(rows=BARS) -> pd.DataFrame:
    index = pd.date_range(T0, periods=len(rows), freq="D", tz="UTC")
    out = pd.DataFrame(rows, index=index, columns=["open", "high", "low", "close"])
    out["volume"] = 8.0
    return out


class DayBracket(Strategy):
    """Buys 10 once, as a day bracket (or oto, without a take-profit); ``exit_bar``: sells
    what it holds at that bar's close."""

    def __init__(self, take_profit: float | None = 120.0, exit_bar: int | None = None) -> None:
        super().__init__()
        self.take_profit, self.exit_bar, self.n = take_profit, exit_bar, 0

    def on_bar(self, ctx) -> None:
        if self.n == 0:
            ctx.buy(10, tif="day", take_profit=self.take_profit, stop_loss=90.0, reason="IN")
        if self.n == self.exit_bar and ctx.position().quantity > 0:
            ctx.sell(ctx.position().quantity, reason="OUT")
        self.n += 1


def run(strategy: Strategy, protect: bool = True, rows=BARS) -> Engine:
    engine = Engine(
        strategy,
        {"X": frame(rows)},
        BacktestConfig(cash=100_000.0, volume_limit=0.5),
        execution=ExecutionConfig(protect_partial_fills=protect),
    )
    engine.run()
    return engine


def test_a_day_bracket_partly_filled_then_expired_gets_its_stop_back(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="workbench.execution.protect"):
        engine = run(DayBracket())
    broker = engine.broker
    orders = broker.orders
    entry = next(o for o in orders if o.request.order_class is OrderClass.BRACKET)
    assert (entry.status, entry.filled_quantity) == (OrderStatus.EXPIRED, 4)
    assert {broker.get_order(i).status for i in entry.legs} == {OrderStatus.CANCELED}
    (guard,) = [o for o in orders if o.client_order_id == protect_client_id(entry.client_order_id)]
    req = guard.request
    assert (req.order_class, req.side, req.quantity) == (OrderClass.OCO, Side.SELL, 4)
    assert (req.limit_price, req.stop_loss, req.tif, req.reason) == (120, 90, "day", REASON)
    assert req.protective
    stop = broker.get_order(guard.legs[0])
    assert (stop.status, stop.filled_quantity, stop.average_price) == (OrderStatus.FILLED, 4, 90)
    assert guard.status is OrderStatus.CANCELED  # its take-profit: one-cancels-other
    assert stop.created_at == frame().index[2]  # sent when the entry's end was learned
    assert broker.portfolio.quantity("X") == 0
    (record,) = [r for r in caplog.records if getattr(r, "event", "") == "protect_partial_fill"]
    assert record.client_order_id == guard.client_order_id
    assert (record.symbol, record.side) == ("X", "sell")
    assert (record.quantity, record.price, record.stop_price) == (4, 120, 90)
    assert record.reason.startswith(REASON) and record.strategy == engine.execution.strategy


def test_without_the_option_the_four_shares_stay_unprotected() -> None:
    engine = run(DayBracket(), protect=False)
    assert engine.broker.portfolio.quantity("X") == 4
    entries = [o.request.order_class for o in engine.broker.orders if o.parent_id is None]
    assert entries == [OrderClass.BRACKET]


def test_an_oto_entry_gets_its_single_stop_back() -> None:
    engine = run(DayBracket(take_profit=None))
    guard = engine.broker.orders[-1]
    req = guard.request
    assert guard.client_order_id.endswith("-px") and guard.parent_id is None
    assert (req.order_class, req.type, req.stop_price, req.quantity) == (
        OrderClass.SIMPLE, OrderType.STOP, 90, 4,
    )  # fmt: skip
    assert req.protective  # an exit: it may never open a position
    assert (guard.status, guard.filled_quantity, guard.average_price) == ("filled", 4, 90)
    assert engine.broker.portfolio.quantity("X") == 0


def test_a_position_closed_meanwhile_gets_nothing() -> None:
    # the strategy sells its 4 at bar 1's close: the sale fills at bar 2's open, the bar
    # the entry's end is learned on
    engine = run(DayBracket(exit_bar=1))
    assert [o.request.reason for o in engine.broker.orders if o.parent_id is None] == ["IN", "OUT"]
    assert engine.broker.portfolio.quantity("X") == 0


def test_protection_is_sent_once_whoever_learns_of_the_end() -> None:
    """A second engine (a restarted runner's) that learns of the same entry's end finds
    the exit the first one sent, by its client order id, and sends nothing."""
    broker = SimulatedBroker(100_000.0, volume_limit=0.5)
    first, second = (ExecutionEngine(broker, "s") for _ in range(2))
    broker.set_time(T0)
    entry = first.submit(
        OrderRequest("X", Side.BUY, quantity=10, tif=TimeInForce.GTC,
                     order_class=OrderClass.BRACKET, take_profit=120, stop_loss=90),
        decision=T0,
    )  # fmt: skip
    assert entry is not None
    broker.process_bar("X", T0 + DAY, 100, 101, 99, 100, 8)  # 4 of 10
    broker.set_time(T0 + DAY)
    broker.cancel_order(entry.id)
    ended = [u for u in broker.drain_updates() if u.event is UpdateEvent.CANCELED]
    sent = [first.on_update(u) for u in ended]
    guard = next(o for o in sent if o is not None)
    again = second.protect(broker.get_order(entry.id))
    assert again is not None and again.id == guard.id
    assert next(second.on_update(u) for u in ended if u.order.legs).id == guard.id
    cids = [o.client_order_id for o in broker.orders]
    assert cids.count(guard.client_order_id) == 1
    assert len(cids) == 5  # the entry and its 2 legs, the oco and its stop leg


def partly_filled_bracket() -> tuple[SimulatedBroker, Order]:
    """A gtc bracket for 10 that bought 4 (the cap) and still works."""
    broker = SimulatedBroker(100_000.0, volume_limit=0.5)
    broker.set_time(T0)
    entry = broker.submit_order(
        OrderRequest("X", Side.BUY, quantity=10, order_class=OrderClass.BRACKET,
                     take_profit=120, stop_loss=90, client_order_id="e")
    )  # fmt: skip
    broker.process_bar("X", T0 + DAY, 100, 101, 99, 100, 8)
    broker.set_time(T0 + DAY)
    return broker, broker.get_order(entry.id)


def test_only_an_entry_that_ended_with_its_legs_unfilled_is_protected() -> None:
    broker, entry = partly_filled_bracket()
    legs = [broker.get_order(i) for i in entry.legs]
    assert protective_exit(entry, legs, 4) is None  # held: they may still work
    ended = [dataclasses.replace(leg, status=OrderStatus.CANCELED) for leg in legs]
    assert protective_exit(entry, ended, 4) is not None
    ended[1] = dataclasses.replace(ended[1], filled_quantity=1.0)  # it worked: armed once
    assert protective_exit(entry, ended, 4) is None
    update = OrderUpdate(UpdateEvent.CANCELED, entry, T0)  # a working entry: nothing
    assert ExecutionEngine(broker, "s").on_update(update) is None


def test_an_end_heard_before_the_legs_end_waits_for_the_last_leg() -> None:
    """Alpaca's stream may tell the entry's end while its legs still read held: the
    protective exit goes out once a leg's end is heard and the venue shows them all ended."""
    broker, entry = partly_filled_bracket()
    engine = ExecutionEngine(broker, "s")
    early = dataclasses.replace(entry, status=OrderStatus.CANCELED)  # the venue's legs: held
    assert engine.on_update(OrderUpdate(UpdateEvent.CANCELED, early, T0 + DAY)) is None
    assert [o.client_order_id for o in broker.get_open_orders()] == ["e", "e-tp", "e-sl"]
    broker.cancel_order(entry.id)  # the legs end now
    sent = [engine.on_update(u) for u in broker.drain_updates() if u.order.parent_id]
    (guard,) = [o for o in sent if o is not None]  # the legs' first end heard sends it
    assert guard.client_order_id == "e-px" and guard.request.quantity == 4


@pytest.mark.parametrize(("selling", "protected"), [(4, None), (1, 3)])
def test_what_the_strategy_is_selling_already_is_not_protected(selling, protected) -> None:
    """A strategy's own exit that canceled the entry (cancel and replace) sells the shares:
    only the rest is protected."""
    broker, entry = partly_filled_bracket()
    broker.submit_order(
        OrderRequest("X", Side.SELL, quantity=selling, type=OrderType.LIMIT, limit_price=150)
    )
    broker.cancel_order(entry.id)
    engine = ExecutionEngine(broker, "s")
    sent = [engine.on_update(u) for u in broker.drain_updates()]
    guard = [o for o in sent if o is not None]
    assert [o.request.quantity for o in guard] == ([] if protected is None else [protected])


@pytest.mark.parametrize("protect", [True, False])
def test_fully_filled_brackets_trade_the_same_with_the_option(protect) -> None:
    """Nothing changes for an entry that fills whole (no volume cap): its day legs end
    with its session, as a complete fill's do at Alpaca, and nothing is sent."""
    engine = Engine(
        DayBracket(), {"X": frame()}, BacktestConfig(cash=100_000.0),
        execution=ExecutionConfig(protect_partial_fills=protect),
    )  # fmt: skip
    result = engine.run()
    np.testing.assert_array_equal(result.fills["price"], [100.0])
    assert len(engine.broker.orders) == 3 and engine.broker.portfolio.quantity("X") == 10


class FillsOnLookup:
    """The simulated venue, where the order ``fills`` fills just after a lookup answered
    that it works: between the guard's two reads of the position."""

    def __init__(self, broker: SimulatedBroker, fills: str) -> None:
        self.broker, self.fills, self.looked = broker, fills, 0

    def __getattr__(self, name: str):
        return getattr(self.broker, name)

    def get_order(self, order_id: str) -> Order:
        found = self.broker.get_order(order_id)
        if order_id == self.fills:
            self.looked += 1
            if self.looked == 1:  # the sale of 1 at 150 fills on the next bar's open
                self.broker.process_bar("X", T0 + 2 * DAY, 150, 151, 149, 150, 8)
        return found


def test_a_fill_between_the_reads_of_the_position_reads_them_again() -> None:
    """The venue answers the sale works (1 to sell), then fills it before the position is
    read again (3 held): the reads are taken again, so the exit covers the 3 and does not
    subtract a sale that is over."""
    broker, entry = partly_filled_bracket()
    sale = broker.submit_order(
        OrderRequest("X", Side.SELL, quantity=1, type=OrderType.LIMIT, limit_price=150)
    )
    broker.cancel_order(entry.id)
    ended = broker.drain_updates()
    venue = FillsOnLookup(broker, sale.id)
    engine = ExecutionEngine(venue, "s")
    (guard,) = [o for u in ended if (o := engine.on_update(u)) is not None]
    assert venue.looked == 2 and broker.get_order(sale.id).status is OrderStatus.FILLED
    assert guard.request.quantity == 3
