"""What the Alpaca broker keeps of its orders over a long run, through alpaca-py against the
emulator: 1500 orders sent and ended, and the broker keeps the last few minutes'
of them; an update the stream told before, put on the queue again once its order was let
go, hands nothing out (:mod:`workbench.brokers.alpaca_memory`).

The broker's clock (its book's age, how long an ended order is kept) is moved by the test,
never waited for."""

from __future__ import annotations

import logging
import queue
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from tests.integration.emulator.test_alpaca_open_book import Venue
from workbench.broker import UpdateEvent
from workbench.emulator import Emulator
from workbench.orders import OrderRequest, OrderType, Side, TimeInForce

PER_LISTING = 25
MINUTES = 200.0  # seconds on the broker's clock between two listings


class Heard(queue.Queue):
    """The broker's update queue, keeping a copy of each trade update the stream put."""

    def __init__(self) -> None:
        super().__init__()
        self.told: list[Any] = []

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if hasattr(item, "event"):
            self.told.append(item)
        super().put(item, block, timeout)


class Run(Venue):
    """The open-order book tests' venue, its broker's update queue :class:`Heard`."""

    def __init__(self, emu: Emulator) -> None:
        super().__init__(emu)
        self.heard = self.broker._updates = Heard()

    def listing(self) -> None:
        """Minutes later: the book is stale, so the next ask lists at Alpaca."""
        self.now += MINUTES
        self.broker.get_open_orders()

    def ended(self) -> int:
        return sum(u.event is UpdateEvent.CANCELED for u in self.handed)


@pytest.fixture
def run(hand_frames: dict[str, pd.DataFrame]) -> Iterator[Run]:
    with Emulator(hand_frames, key="memory-key", secret="memory-secret") as emu:
        r = Run(emu)
        r.broker.start_stream()
        try:
            r.listening()  # caught up, and the listing the book starts from
            yield r
        finally:
            r.broker.close()


def test_a_thousand_and_more_orders_leave_the_broker_a_bounded_memory(
    run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    broker = run.broker
    market = broker.submit_order(
        OrderRequest("AAA", Side.BUY, quantity=3, tif=TimeInForce.DAY, reason="entry")
    )
    run.emu.step()  # it fills at the next open
    run.drain_until(lambda: any(u.fill for u in run.handed), what="the market order's fill")
    count = 1500
    for n in range(count):
        limit = OrderRequest(
            "AAA", Side.BUY, quantity=1, type=OrderType.LIMIT, limit_price=50.0,
            tif=TimeInForce.GTC, client_order_id=f"wb-memory-{n}", reason="rebalance",
        )  # fmt: skip
        broker.cancel_order(broker.submit_order(limit).id)
        if n % PER_LISTING == PER_LISTING - 1:
            run.drain_until(lambda n=n: run.ended() == n + 1, what=f"{n + 1} cancels")
            run.listing()
    assert run.ended() == count
    assert len(broker._orders) <= 4 * PER_LISTING
    assert len(broker._handed) <= 4 * PER_LISTING
    assert len(broker._reasons) <= 3 * 4 * PER_LISTING
    assert market.id not in broker._orders  # let go long since

    told = [d for d in run.heard.told if str(d.order.id) == market.id]
    assert [d.event for d in told][-1] == "fill"
    with caplog.at_level(logging.INFO, logger="workbench.brokers.alpaca"):
        for data in told:  # the stream tells them again (it keeps no order, no sequence)
            run.heard.put(data)
        assert broker.drain_updates() == []
    assert {r.event for r in caplog.records} == {"stale_update"}
    assert sum(u.fill.quantity for u in run.handed if u.fill) == 3
    assert broker.get_open_orders() == []
