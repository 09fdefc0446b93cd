"""``conflict = cancel_replace`` when the cancel does not act at once: through the real
alpaca-py against the emulator.

A cancel is a request: an order routed to the venue and canceled after the close stays
``pending_cancel`` until the next open (Alpaca forum 813), and while it works Alpaca
refuses an opposite order of the symbol as a potential wash trade (422 42210000, forum
13817). The new order is held until the cancel has acted, then sent once.

Minute bars: Tuesday 2024-01-02's open, next minute and last minute (the market closes
after it), then Wednesday's first two.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from workbench.brokers.alpaca import AlpacaBroker
from workbench.emulator import Emulator
from workbench.emulator import testing as emt
from workbench.execution.engine import ExecutionEngine
from workbench.orders import OrderRequest, OrderStatus, OrderType, Side, TimeInForce

KEY, SECRET = "wash-key", "wash-secret"
MINUTES = [  # AAA minute bars (UTC): open, high, low, close
    ("2024-01-02 14:30", 100.0, 101.0, 99.0, 100.5),
    ("2024-01-02 14:31", 100.5, 101.0, 100.0, 100.8),
    ("2024-01-02 20:59", 101.0, 101.5, 100.5, 101.0),  # the market closes after it
    ("2024-01-03 14:30", 98.0, 99.0, 97.0, 98.5),
    ("2024-01-03 14:31", 98.5, 99.0, 98.0, 98.8),
]
TUESDAY = pd.Timestamp("2024-01-02 14:30", tz="UTC")


@pytest.fixture
def emu() -> Iterator[Emulator]:
    index = pd.DatetimeIndex([pd.Timestamp(t, tz="UTC") for t, *_ in MINUTES], name="time")
    rows = [(*prices, 1000.0) for _, *prices in MINUTES]
    frame = pd.DataFrame(rows, index=index, columns=["open", "high", "low", "close", "volume"])
    with Emulator({"AAA": frame}, key=KEY, secret=SECRET) as emulator:
        emulator.step()  # Tuesday's open: the market is open
        yield emulator


@pytest.fixture
def broker(emu: Emulator) -> Iterator[AlpacaBroker]:
    made = AlpacaBroker(KEY, SECRET, url=emu.base_url, stream_url=emu.trading_stream_url)
    made.start_stream()
    try:
        emt.wait_until(
            lambda: emu.state()["connections"]["trading_ready"] >= 1, what="trade stream"
        )
        yield made
    finally:
        made.close()


def test_an_opposite_order_waits_for_a_cancel_pending_until_the_open(
    emu: Emulator, broker: AlpacaBroker
) -> None:
    """Holding 2 AAA and a GTC buy limit working, the strategy sells after the close: the
    buy is canceled (pending_cancel till Wednesday's open) and the sell held, not sent
    to be refused as a wash trade; at the open the cancel acts and the sell goes out,
    once, under its planned client order id."""
    engine = ExecutionEngine(broker, "wash", sleep=lambda s: None, seed=0)
    entry = engine.submit(OrderRequest("AAA", Side.BUY, quantity=2), decision=TUESDAY)
    emu.step()  # fills at 14:31
    emt.wait_until(lambda: broker.get_positions().get("AAA"), what="the entry's fill")
    limit = OrderRequest(
        "AAA", Side.BUY, quantity=1, type=OrderType.LIMIT, limit_price=90.0, reason="DIP"
    )
    working = engine.submit(limit, decision=TUESDAY + pd.Timedelta(minutes=1))
    emu.step()  # to Tuesday's close: the market is closed
    assert entry is not None and working is not None

    after_close = TUESDAY + pd.Timedelta(hours=6, minutes=29)
    sell = OrderRequest("AAA", Side.SELL, quantity=2, tif=TimeInForce.DAY, reason="EXIT")
    assert engine.submit(sell, decision=after_close) is None  # held, not refused
    cid = "wb-wash-AAA-20240102T205900-0"
    assert engine.holds(cid)
    assert broker.get_order(working.id).status is OrderStatus.PENDING_CANCEL
    assert [o["client_order_id"] for o in emu.state()["orders"]].count(cid) == 0

    emu.step()  # Wednesday's open: the cancel acts, then the bar
    sent: list = []

    def released() -> bool:
        for update in broker.drain_updates():
            engine.on_update(update)
        sent.extend(o for o in emu.state()["orders"] if o["client_order_id"] == cid)
        return bool(sent)

    emt.wait_until(released, what="the held sell sent once the cancel acted")
    assert broker.get_order(working.id).status is OrderStatus.CANCELED
    assert not engine.holds(cid)
    assert [o["client_order_id"] for o in emu.state()["orders"]].count(cid) == 1
    assert broker.get_order_by_client_id(cid).status.is_open  # a live order, not refused
