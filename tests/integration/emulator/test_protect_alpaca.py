"""A day bracket partly filled through alpaca-py, expired at the close with its legs: the
execution engine on the Alpaca broker sends the protective oco for the 4 shares it bought,
and its stop sells them the next day (:mod:`workbench.execution.protect`).

Over the hand-made AAA bars (see ``conftest.py``): 4 shares a bar (a partial-fill fault)
buy 4 at 01-02's open, 101; the day entry expires at 01-02's close with both legs; 01-03's
low, 98, passes the stop at 98.5.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import pandas as pd
import pytest

from workbench.broker import OrderUpdate
from workbench.brokers.alpaca import AlpacaBroker
from workbench.emulator import Emulator, Fault
from workbench.emulator import testing as emt
from workbench.execution.config import ExecutionConfig, RetryPolicy
from workbench.execution.engine import ExecutionEngine
from workbench.orders import Order, OrderClass, OrderRequest, Side, TimeInForce

DECISION = pd.Timestamp("2024-01-01", tz="UTC")
CID = "wb-protect-AAA-20240101T000000-0"


@pytest.fixture
def venue(streaming_broker: tuple[Emulator, AlpacaBroker]) -> tuple[Emulator, AlpacaBroker]:
    return streaming_broker  # conftest's: the hand-made bars, the trade stream listening


def engine_for(broker: AlpacaBroker) -> ExecutionEngine:
    retry = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)
    return ExecutionEngine(broker, "protect", ExecutionConfig(retry=retry), sleep=lambda s: None)


def follow(
    broker: AlpacaBroker,
    engine: ExecutionEngine,
    until: Callable[[list[OrderUpdate], list[Order]], bool],
) -> tuple[list[OrderUpdate], list[Order]]:
    """Feed the broker's updates to the engine until ``until(updates, sent)`` holds
    (bounded); return them and the protective exits the engine sent."""
    updates: list[OrderUpdate] = []
    sent: list[Order] = []
    deadline = time.monotonic() + 10.0
    while not until(updates, sent):
        assert time.monotonic() < deadline, f"updates so far: {[str(u.event) for u in updates]}"
        for update in broker.drain_updates():
            updates.append(update)
            protective = engine.on_update(update)
            if protective is not None:
                sent.append(protective)
        time.sleep(0.02)
    return updates, sent


def day_bracket() -> OrderRequest:
    return OrderRequest(
        "AAA", Side.BUY, quantity=10, tif=TimeInForce.DAY, reason="IN",
        order_class=OrderClass.BRACKET, take_profit=105.5, stop_loss=98.5,
    )  # fmt: skip


def partly_filled_and_expired(emu: Emulator, broker: AlpacaBroker, engine: ExecutionEngine):
    """01-01: the day bracket; 01-02: 4 of 10 at 101, then the session ends: the entry
    expires, its legs are canceled. Returns the updates and the exits sent."""
    emu.step()
    entry = engine.submit(day_bracket(), decision=DECISION)
    assert entry is not None and entry.client_order_id == CID
    emu.add_fault(Fault.partial(qty=4, times=1))
    emu.step()
    return follow(broker, engine, lambda updates, sent: bool(sent))


def test_a_partly_filled_day_bracket_gets_its_exits_back_through_alpaca_py(venue) -> None:
    emu, broker = venue
    engine = engine_for(broker)
    updates, (guard,) = partly_filled_and_expired(emu, broker, engine)
    entry = next(
        u.order for u in updates if u.order.client_order_id == CID and u.event == "expired"
    )
    assert entry.filled_quantity == 4
    assert guard.client_order_id == f"{CID}-px"
    client = emt.trading_client(emu)
    oco = client.get_order_by_client_id(f"{CID}-px")
    assert (oco.order_class.value, oco.side.value, oco.qty, oco.time_in_force.value) == (
        "oco", "sell", "4", "day",
    )  # fmt: skip
    assert (float(oco.limit_price), float(oco.legs[0].stop_price)) == (105.5, 98.5)
    assert broker.get_order(guard.id).request.protective  # read back as an exit
    emu.step()  # 01-03: the low, 98, passes the stop
    follow(broker, engine, lambda updates, sent: any(u.event == "fill" for u in updates))
    stop = client.get_order_by_id(oco.legs[0].id)
    assert (stop.status.value, stop.filled_qty, float(stop.filled_avg_price)) == (
        "filled", "4", 98.5,
    )  # fmt: skip
    assert client.get_all_positions() == []
    orders = [o["client_order_id"] for o in emu.state()["orders"]]
    assert orders.count(f"{CID}-px") == 1


def test_a_restarted_engine_finds_the_exit_and_sends_no_second(venue) -> None:
    """A new broker and engine (a runner restarted after the exit was sent) that learn of
    the entry's end again find its protective exit by client order id."""
    emu, broker = venue
    updates, (guard,) = partly_filled_and_expired(emu, broker, engine_for(broker))
    fresh = AlpacaBroker(emu.key, emu.secret, url=emu.base_url)
    restarted = engine_for(fresh)
    again = restarted.protect(fresh.get_order_by_client_id(CID))
    assert again is not None and again.id == guard.id
    assert {p.id for u in updates if (p := restarted.on_update(u)) is not None} == {guard.id}
    orders = [o["client_order_id"] for o in emu.state()["orders"]]
    assert orders.count(f"{CID}-px") == 1


def drain_until(broker: AlpacaBroker, done: Callable[[list[OrderUpdate]], bool]) -> list:
    """The broker's updates, drained until ``done(updates)`` holds (bounded)."""
    updates: list[OrderUpdate] = []
    deadline = time.monotonic() + 10.0
    while not done(updates):
        assert time.monotonic() < deadline, f"updates so far: {[str(u.event) for u in updates]}"
        updates += broker.drain_updates()
        time.sleep(0.02)
    return updates


def test_an_exit_filled_at_alpaca_its_update_queued_is_not_subtracted_twice(
    bars_emulator: Emulator,
) -> None:
    """The strategy's sale of 1 of the 4 shares fills at Alpaca while the entry's cancel is
    being followed, its fill still queued: Alpaca's position (3) has it already, and the
    open-order book still lists the sale with 1 to sell. The protective exit covers the 3
    held, not 3 - 1."""
    emu = bars_emulator
    broker = AlpacaBroker(
        emu.key, emu.secret, url=emu.base_url, stream_url=emu.trading_stream_url,
        clock=lambda: 0.0,  # the book's listing never ages: it answers every ask
    )  # fmt: skip
    broker.start_stream()
    try:
        emt.wait_until(
            lambda: emu.state()["connections"]["trading_ready"] >= 1, what="the trade stream"
        )
        engine = engine_for(broker)
        broker.drain_updates()  # it listens, caught up
        broker.get_open_orders()  # the listing the book starts from
        emu.step()
        request = dataclasses.replace(day_bracket(), tif=TimeInForce.GTC)
        entry = engine.submit(request, decision=DECISION)
        assert entry is not None
        emu.add_fault(Fault.partial(qty=4, times=1))
        emu.step()  # 01-02: 4 of 10 at 101; the entry works on
        for update in drain_until(broker, lambda us: any(u.event == "partial_fill" for u in us)):
            engine.on_update(update)
        broker.cancel_order(entry.id)  # the entry ends, its held legs with it
        ended = drain_until(
            broker, lambda us: any(u.order.id == entry.id and u.event == "canceled" for u in us)
        )
        sale = broker.submit_order(OrderRequest("AAA", Side.SELL, quantity=1, reason="OUT"))
        emu.step()  # 01-03: the sale fills at Alpaca; its update is not handed out yet
        client = emt.trading_client(emu)
        emt.wait_until(
            lambda: client.get_order_by_id(sale.id).status.value == "filled", what="the sale"
        )
        assert sale.id in {o.id for o in broker.get_open_orders()}  # the book: still working
        (guard,) = [p for u in ended if (p := engine.on_update(u)) is not None]
        assert guard.request.quantity == 3
        assert client.get_order_by_client_id(f"{CID}-px").qty == "3"
        # the lookup learned the sale's end first: its fill is handed out all the same, once
        late = drain_until(broker, lambda us: any(u.order.id == sale.id for u in us))
        assert [(u.event, u.fill.quantity) for u in late if u.order.id == sale.id] == [("fill", 1)]
        assert sale.id not in {o.id for o in broker.get_open_orders()}
    finally:
        broker.close()
