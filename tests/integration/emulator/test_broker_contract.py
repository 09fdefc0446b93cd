"""One contract, two brokers: the simulated broker and the Alpaca broker against the emulator.

Each test runs twice through a small venue driver: ``advance()`` is the next bar (the
simulated broker processes it; the emulator steps its replay clock) and ``updates()``
waits for the trade updates of that bar (the Alpaca ones arrive on the WebSocket).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pandas as pd
import pytest

from workbench.broker import Broker, OrderUpdate, UpdateEvent
from workbench.brokers.alpaca import AlpacaBroker
from workbench.emulator import Emulator
from workbench.emulator import testing as emt
from workbench.errors import OrderRejected
from workbench.orders import OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from workbench.sim.broker import SimulatedBroker

KEY, SECRET = "contract-key", "contract-secret"


@dataclass
class Venue:
    broker: Broker
    advance: Callable[[], None]
    updates: Callable[[int], list[OrderUpdate]]


def _frames(hand_frames):
    return hand_frames


@pytest.fixture(params=["sim", "alpaca"])
def venue(request, hand_frames) -> Iterator[Callable[..., Venue]]:
    made: list[Callable[[], None]] = []

    def make(volume_limit: float | None = None) -> Venue:
        frame = hand_frames["AAA"]
        if request.param == "sim":
            broker = SimulatedBroker(100_000.0, volume_limit=volume_limit)
            broker.set_time(frame.index[0] - pd.Timedelta(days=1))
            rows = iter(frame.itertuples())
            pending: list[OrderUpdate] = []

            def advance() -> None:
                row = next(rows)
                broker.process_bar("AAA", row.Index, row.open, row.high, row.low, row.close,
                                   row.volume)  # fmt: skip

            def updates(n: int) -> list[OrderUpdate]:
                pending.extend(broker.drain_updates())
                out, pending[:] = list(pending), []
                return out

            return Venue(broker, advance, updates)
        emu = Emulator(hand_frames, key=KEY, secret=SECRET, volume_limit=volume_limit)
        emu.start()
        broker = AlpacaBroker(KEY, SECRET, url=emu.base_url, stream_url=emu.trading_stream_url)
        broker.start_stream()
        made.append(lambda: (broker.close(), emu.stop()))
        collected: list[OrderUpdate] = []

        def wait_updates(n: int) -> list[OrderUpdate]:
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline:
                collected.extend(broker.drain_updates())
                if len(collected) >= n:
                    break
                time.sleep(0.02)
            out, collected[:] = list(collected), []
            return out

        emt.wait_until(
            lambda: emu.state()["connections"]["trading_ready"] >= 1,
            timeout=30,
            what="the trade stream listening",
        )
        return Venue(broker, emu.step, wait_updates)

    yield make
    for stop in made:
        stop()


def buy(qty: float = 10.0, **kw) -> OrderRequest:
    return OrderRequest("AAA", Side.BUY, quantity=qty, tif=kw.pop("tif", TimeInForce.DAY), **kw)


def fills(updates: list[OrderUpdate]) -> list[tuple[float, float]]:
    return [(u.fill.quantity, u.fill.price) for u in updates if u.fill is not None]


def test_account_and_a_market_order_filled_at_the_next_open(venue) -> None:
    v = venue()
    assert v.broker.get_account().cash == pytest.approx(100_000.0)
    order = v.broker.submit_order(buy(10, client_order_id="c-1"))
    assert order.status.is_open and order.client_order_id == "c-1"
    assert [o.id for o in v.broker.get_open_orders()] == [order.id]
    v.advance()
    updates = v.updates(2)
    assert fills(updates) == [(10.0, 100.0)]
    assert any(u.event is UpdateEvent.FILL for u in updates)
    assert v.broker.get_order(order.id).status is OrderStatus.FILLED
    position = v.broker.get_positions()["AAA"]
    assert position.quantity == 10.0 and position.average_price == 100.0
    assert v.broker.get_account().cash == pytest.approx(100_000.0 - 1_000.0)
    assert v.broker.get_open_orders() == []


def test_the_reason_travels_with_the_order_and_its_fill(venue) -> None:
    """The trade log's ``signal=...``: Alpaca keeps no reason, the broker remembers it."""
    v = venue()
    order = v.broker.submit_order(buy(10, client_order_id="c-r", reason="MA_CROSS_BUY"))
    assert order.request.reason == "MA_CROSS_BUY"
    v.advance()
    fill = next(u.fill for u in v.updates(2) if u.fill is not None)
    assert fill.reason == "MA_CROSS_BUY"
    assert v.broker.get_order(order.id).request.reason == "MA_CROSS_BUY"


def test_limit_order_placed_then_canceled(venue) -> None:
    v = venue()
    order = v.broker.submit_order(
        buy(5, type=OrderType.LIMIT, limit_price=50.0, tif=TimeInForce.GTC)
    )
    v.advance()
    v.broker.cancel_order(order.id)
    assert v.broker.get_order(order.id).status is OrderStatus.CANCELED
    assert v.broker.get_positions() == {}
    with pytest.raises(OrderRejected):
        v.broker.cancel_order(order.id)  # already canceled


def test_lookup_by_client_order_id_and_duplicates(venue) -> None:
    v = venue()
    order = v.broker.submit_order(buy(1, client_order_id="same-id"))
    assert v.broker.get_order_by_client_id("same-id").id == order.id
    assert v.broker.get_order_by_client_id("no-such-id") is None
    with pytest.raises(OrderRejected) as info:
        v.broker.submit_order(buy(1, client_order_id="same-id"))
    assert info.value.code == 40010001


def test_partial_fill_then_fill(venue) -> None:
    v = venue(volume_limit=0.004)  # 4 shares of each 1,000-share bar
    order = v.broker.submit_order(buy(10, tif=TimeInForce.GTC))
    got = []
    for bar in range(1, 4):
        v.advance()
        got += v.updates(1)
        for _ in range(5):  # a stream may deliver this bar's fill after an earlier update
            if len(fills(got)) >= bar:
                break
            got += v.updates(1)
    assert fills(got) == [(4.0, 100.0), (4.0, 101.0), (2.0, 102.0)]
    assert [u.event for u in got if u.fill] == [
        UpdateEvent.PARTIAL_FILL, UpdateEvent.PARTIAL_FILL, UpdateEvent.FILL,
    ]  # fmt: skip
    final = v.broker.get_order(order.id)
    assert final.status is OrderStatus.FILLED
    assert final.average_price == pytest.approx((400 + 404 + 204) / 10)


def test_cancel_all(venue) -> None:
    v = venue()
    for price in (50.0, 60.0):
        v.broker.submit_order(buy(1, type=OrderType.LIMIT, limit_price=price, tif=TimeInForce.GTC))
    v.broker.cancel_all_orders()
    assert v.broker.get_open_orders() == []


def test_insufficient_buying_power_is_a_rejection(venue) -> None:
    v = venue()
    try:
        order = v.broker.submit_order(buy(5_000))  # 500,000 of stock with 100,000 cash
    except OrderRejected as exc:
        assert exc.code == 40310000  # refused at submission (Alpaca)
        return
    v.advance()  # or refused when it would fill (simulated broker)
    assert v.broker.get_order(order.id).status is OrderStatus.REJECTED
    assert v.broker.get_positions() == {}


def test_a_bracket_maps_back_with_its_legs(venue) -> None:
    v = venue()
    order = v.broker.submit_order(
        buy(10, client_order_id="b-1", tif=TimeInForce.GTC, order_class="bracket",
            take_profit=102.5, stop_loss=97.5)
    )  # fmt: skip
    assert len(order.legs) == 2
    tp, sl = (v.broker.get_order(i) for i in order.legs)
    assert (tp.client_order_id, sl.client_order_id) == ("b-1-tp", "b-1-sl")
    assert tp.parent_id == sl.parent_id == order.id
    assert (tp.request.type, tp.request.limit_price) == (OrderType.LIMIT, 102.5)
    assert (sl.request.type, sl.request.stop_price) == (OrderType.STOP, 97.5)
    assert tp.status is sl.status is OrderStatus.HELD
    assert v.broker.get_order_by_client_id("b-1-sl").id == sl.id
    v.advance()  # 01-01: the entry fills at 100; neither exit is reached
    assert fills(v.updates(3)) == [(10.0, 100.0)]  # new, fill, the take-profit's new
    v.advance()  # 01-02: high 103 reaches the take-profit
    assert fills(v.updates(2)) == [(10.0, 102.5)]
    assert v.broker.get_order(tp.id).status is OrderStatus.FILLED
    assert v.broker.get_order(sl.id).status is OrderStatus.CANCELED
    assert v.broker.get_positions() == {}


def test_a_trailing_stop_order(venue) -> None:
    v = venue()
    v.broker.submit_order(buy(4, tif=TimeInForce.GTC))
    v.advance()  # bought at 100
    v.broker.submit_order(
        OrderRequest("AAA", Side.SELL, quantity=4, type=OrderType.TRAILING_STOP, trail_price=3.5)
    )
    v.advance()  # 01-02: mark 101 (open), stop 97.5; the mark takes the high, 103
    v.advance()  # 01-03: stop 99.5, low 98: sold at 99.5
    assert fills(v.updates(4)) == [(4.0, 100.0), (4.0, 99.5)]  # and two "new"
    assert v.broker.get_positions() == {}


def test_a_restart_finds_the_legs_and_a_refused_bracket_is_logged(hand_frames, caplog) -> None:
    with Emulator(hand_frames, key=KEY, secret=SECRET) as emu:
        first = AlpacaBroker(KEY, SECRET, url=emu.base_url)
        entry = first.submit_order(
            buy(5, client_order_id="b-2", tif=TimeInForce.GTC, order_class="bracket",
                take_profit=110, stop_loss=90)
        )  # fmt: skip
        emu.step()  # the entry fills; its legs work
        again = AlpacaBroker(KEY, SECRET, url=emu.base_url)  # a restart: nothing in memory
        legs = {o.client_order_id: o for o in again.get_open_orders()}
        assert set(legs) == {"b-2-tp", "b-2-sl"}
        assert {o.parent_id for o in legs.values()} == {entry.id}
        assert again.get_order(entry.id).request.order_class == "bracket"
        assert again.get_order(entry.id).request.stop_loss == 90
        again.cancel_all_orders()  # else a new buy would be a potential wash trade
        refused = buy(1, tif=TimeInForce.GTC, order_class="bracket", take_profit=100,
                      stop_loss=90)  # fmt: skip
        with (
            caplog.at_level("ERROR", logger="workbench.brokers.alpaca"),
            pytest.raises(OrderRejected) as info,
        ):
            again.submit_order(refused)
        assert info.value.code == 40010001
        record = next(r for r in caplog.records if getattr(r, "event", "") == "leg_rejected")
        assert "code=40010001" in record.reason and "take_profit.limit_price" in record.reason
