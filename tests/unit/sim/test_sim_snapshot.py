"""The simulated venue saved and restored (:mod:`workbench.sim.snapshot`): a venue restored
at any bar goes on exactly as the one that never stopped (fills, fees, cash, positions with
their cost basis, order ids, open orders with their trailing marks, DAY expiries, brackets'
held legs, partial fills), and a journal saves only what changed."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest

from workbench.errors import ConfigError
from workbench.orders import OrderClass, OrderRequest, OrderType, Side, TimeInForce
from workbench.sim.broker import SimulatedBroker
from workbench.sim.costs import Commission, Slippage
from workbench.sim.snapshot import SavedVenue, VenueChanges, VenueJournal, restore

T0 = pd.Timestamp("2024-01-02 14:30", tz="UTC")
STEP = pd.Timedelta(hours=7)  # crosses UTC days: DAY orders expire along the way
BARS = 40
BUY, SELL = Side.BUY, Side.SELL


def venue() -> SimulatedBroker:
    return SimulatedBroker(
        100_000.0, commission=Commission(per_share=0.01, minimum=1.0),
        slippage=Slippage(bps=5.0), volume_limit=0.5, lot_size=1.0,
    )  # fmt: skip


def prices(symbol: str, i: int) -> tuple[float, float, float, float, float]:
    """A zigzag with a trend, different per symbol; thin volume every fifth bar."""
    base = (100.0 if symbol == "X" else 50.0) + 0.4 * i + (3.0 if i % 4 < 2 else -3.0)
    volume = 30.0 if i % 5 == 0 else 10_000.0
    return base, base + 2.5, base - 2.5, base + (1.0 if i % 3 else -1.0), volume


def orders_at(i: int) -> list[OrderRequest]:
    """A mix of what a run sends: market, limit, stop, trailing, DAY, bracket, OCO, notional."""
    cid = f"c{i}"
    x = prices("X", i)[3]
    plans = {
        0: [OrderRequest("X", BUY, 40.0, client_order_id=cid)],
        4: [OrderRequest("X", BUY, 40.0, client_order_id=cid)],  # partly filled (thin bar)
        2: [OrderRequest("Y", BUY, None, notional=2_000.0, client_order_id=cid)],
        3: [OrderRequest("X", SELL, 10.0, type=OrderType.TRAILING_STOP, trail_percent=2.0,
                         client_order_id=cid)],
        6: [OrderRequest("Y", BUY, 20.0, type=OrderType.LIMIT, limit_price=prices("Y", i)[3] - 4,
                         tif=TimeInForce.DAY, client_order_id=cid)],
        8: [OrderRequest("X", BUY, 15.0, order_class=OrderClass.BRACKET, take_profit=x + 6,
                         stop_loss=x - 6, client_order_id=cid)],
        12: [OrderRequest("Y", SELL, 5.0, type=OrderType.LIMIT, limit_price=prices("Y", i)[3] + 5,
                          oco_group="g", client_order_id=cid),
             OrderRequest("Y", SELL, 5.0, type=OrderType.STOP, stop_price=prices("Y", i)[3] - 5,
                          oco_group="g", client_order_id=cid + "b")],
        16: [OrderRequest("X", SELL, 25.0, type=OrderType.LIMIT, limit_price=x + 30,
                          client_order_id=cid)],  # rests: an open order at the stop
        21: [OrderRequest("Y", BUY, 8.0, type=OrderType.STOP, stop_price=prices("Y", i)[3] + 2,
                          client_order_id=cid)],
        27: [OrderRequest("X", BUY, 12.0, order_class=OrderClass.BRACKET, take_profit=x + 4,
                          stop_loss=x - 4, client_order_id=cid)],
    }  # fmt: skip
    return plans.get(i, [])


def step(broker: SimulatedBroker, i: int) -> list:
    """Bar ``i`` as the live replay has it: the venue trades it, then the runner sends."""
    t = T0 + i * STEP
    updates = []
    for symbol in ("X", "Y"):
        updates += broker.process_bar(symbol, t, *prices(symbol, i))
    for request in orders_at(i):
        broker.submit_order(request)
    if i == 19:
        broker.cancel_order(broker.get_order_by_client_id("c16").id)
    if i % 3 == 0:
        broker.drain_updates()  # the runner reads them now and then
    return updates


class Store:
    """What :meth:`StateStore.keep_venue` keeps, in memory: the record, orders, fills."""

    def __init__(self) -> None:
        self.record = ""
        self.orders: dict[str, tuple[int, str]] = {}
        self.fills: dict[int, str] = {}

    def write(self, changes: VenueChanges) -> None:
        self.record = changes.record
        self.orders.update({oid: (n, body) for oid, n, body in changes.orders})
        self.fills.update(changes.fills)

    def saved(self) -> SavedVenue:
        orders = [body for _, body in sorted(self.orders.values())]
        return SavedVenue(self.record, orders, [self.fills[n] for n in sorted(self.fills)])


def the_venue(broker: SimulatedBroker) -> dict:
    """Everything the venue shows, for comparison."""
    pf = broker.portfolio
    return {
        "account": broker.get_account(), "positions": broker.get_positions(),
        "book": [(p.symbol, p.quantity, p.average_price, p.realized_pnl, p.commission,
                  p.last_price) for p in pf.positions.values()],
        "commission": pf.commission_paid, "orders": broker.orders, "fills": broker.fills,
        "open": broker.get_open_orders(),
        "marks": {o.id: broker.trailing_mark(o.id) for o in broker.get_open_orders()},
    }  # fmt: skip


def test_the_scenario_exercises_what_a_restore_must_carry() -> None:
    broker = venue()
    for i in range(BARS):
        step(broker, i)
    statuses = {str(o.status) for o in broker.orders}
    assert {"filled", "canceled", "expired"} <= statuses
    assert any(o.parent_id for o in broker.orders)  # bracket legs
    assert len({f.order_id for f in broker.fills}) < len(broker.fills)  # partial fills
    assert any(f.commission > 0 for f in broker.fills)


@pytest.mark.parametrize("stop", [1, 4, 9, 13, 17, 22, 28, 33])
def test_a_venue_restored_at_any_bar_goes_on_as_the_one_that_never_stopped(stop) -> None:
    reference = venue()
    later = []
    for i in range(BARS):
        updates = step(reference, i)
        if i >= stop:
            later.append(updates)
    first = venue()
    journal, store = VenueJournal(first), Store()
    for i in range(stop):
        step(first, i)
        changes = journal.changes()
        assert changes is not None  # every bar changes the venue
        store.write(changes)
        journal.saved(changes)
        assert journal.changes() is None  # saved: nothing more to write
    resumed = venue()
    restore(resumed, store.saved())
    assert the_venue(resumed) == the_venue(first)
    assert resumed.time == first.time
    resumed_later = [step(resumed, i) for i in range(stop, BARS)]
    assert the_venue(resumed) == the_venue(reference)
    assert resumed_later == later


def test_updates_not_drained_and_the_last_batch_drained_come_back() -> None:
    """The runner may die before it recorded what it drained: handed out again, in order."""
    broker = venue()
    step(broker, 0)  # bar 0 drains what it made
    broker.submit_order(OrderRequest("Y", BUY, 3.0, client_order_id="late"))
    drained = broker.drain_updates()
    queued = broker.process_bar("Y", T0 + STEP, *prices("Y", 1))
    assert drained and queued
    changes = VenueJournal(broker).changes()
    assert changes is not None
    resumed = venue()
    restore(resumed, SavedVenue(changes.record, [b for _, b in sorted(
        (n, b) for _, n, b in changes.orders)], [b for _, b in changes.fills]))  # fmt: skip
    assert resumed.drain_updates() == drained + queued
    assert resumed.drain_updates() == []


def test_only_what_changed_is_written_again() -> None:
    broker = venue()
    journal = VenueJournal(broker)
    for i in range(9):
        step(broker, i)
    changes = journal.changes()
    assert changes is not None
    journal.saved(changes)
    n_orders, n_fills = len(changes.orders), len(changes.fills)
    assert n_orders == len(broker.orders) and n_fills == len(broker.fills)
    step(broker, 9)  # no new order; the bracket's legs and one fill at most change
    again = journal.changes()
    assert again is not None
    assert len(again.orders) < n_orders
    assert [n for n, _ in again.fills] == list(range(n_fills, len(broker.fills)))


@pytest.mark.parametrize(
    ("record", "says"),
    [
        (json.dumps({"form": 99}), "saved in form 99"),
        ("{not json", "cannot be read"),
        (json.dumps({"form": 1, "cash": 1.0}), "cannot be read"),
    ],
)
def test_a_venue_saved_in_another_form_or_damaged_is_refused_naming_the_fix(record, says) -> None:
    with pytest.raises(ConfigError, match=says) as err:
        restore(venue(), SavedVenue(record, [], []))
    assert err.value.hint


def save(journal: VenueJournal, store: Store) -> None:
    """What :meth:`StateStore.keep_venue` does with a write that commits."""
    changes = journal.changes()
    assert changes is not None
    store.write(changes)
    journal.saved(changes)


def calls_to_save(journal: VenueJournal) -> tuple[int, VenueChanges]:
    """How many calls the journal makes to find and save what changed: a count, not a time
    (so the same on a busy machine)."""
    calls = 0

    def count(frame, event, arg) -> None:
        nonlocal calls
        calls += event in ("call", "c_call")

    sys.setprofile(count)
    try:
        changes = journal.changes()
        assert changes is not None
        journal.saved(changes)
    finally:
        sys.setprofile(None)
    return calls, changes


def test_saving_a_bar_costs_the_same_after_ten_orders_or_thousands() -> None:
    """A long minute-bar run holds thousands of finished orders: a bar's save finds the
    few it changed without walking them all (it walked every order, once per bar)."""

    def one_bar_after(history: int) -> tuple[int, VenueChanges]:
        broker = venue()
        broker.set_time(T0 - STEP)
        for k in range(history):  # finished orders of the run so far
            request = OrderRequest(
                "Z", BUY, 1.0, type=OrderType.LIMIT, limit_price=1.0, client_order_id=f"old{k}"
            )
            old = broker.submit_order(request)
            broker.cancel_order(old.id)
        broker.drain_updates()
        journal = VenueJournal(broker)
        for i in range(9):
            step(broker, i)
            save(journal, Store())
        step(broker, 9)
        return calls_to_save(journal)

    few, changes = one_bar_after(10)
    many, changes_after_many = one_bar_after(3_000)
    assert len(changes_after_many.orders) == len(changes.orders) > 0
    assert many == few


def test_orders_of_a_save_that_did_not_commit_are_written_with_the_next() -> None:
    """A write that failed (rolled back) saved nothing: its orders go with the next, and an
    order changed after it was encoded is written again as it is now."""
    broker, store = venue(), Store()
    journal = VenueJournal(broker)
    for i in range(3):
        step(broker, i)
        save(journal, store)
    step(broker, 3)
    lost = journal.changes()  # its transaction rolls back: never saved
    assert lost is not None and lost.orders
    step(broker, 4)
    changes = journal.changes()
    assert changes is not None
    assert {oid for oid, _, _ in lost.orders} <= {oid for oid, _, _ in changes.orders}
    broker.cancel_order(broker.get_order_by_client_id("c4").id)  # after it was encoded
    journal.saved(changes)
    store.write(changes)
    again = journal.changes()
    assert again is not None and [oid for oid, _, _ in again.orders] == [
        broker.get_order_by_client_id("c4").id
    ]
    store.write(again)
    resumed = venue()
    restore(resumed, store.saved())
    assert the_venue(resumed) == the_venue(broker)
