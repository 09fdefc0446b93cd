"""The runner's fill lines against the Alpaca emulator through alpaca-py: a batch of fills
(a rebalance's orders filled on one bar) costs one account request, not one per fill, and
each line carries the balance after its own fill."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from types import SimpleNamespace

import pandas as pd
import pytest

from workbench.brokers.alpaca import AlpacaBroker
from workbench.emulator import Emulator
from workbench.emulator import testing as emt
from workbench.execution.config import RetryPolicy
from workbench.live.order_sync import OrderSync
from workbench.live.resilience import RetryingReads
from workbench.live.state import StateStore
from workbench.orders import OrderRequest, Side, TimeInForce

CASH = 100_000.0
BARS = [  # daily AAA bars: open, high, low, close, volume
    (100.0, 101.0, 99.0, 100.0, 1e6),
    (101.0, 103.0, 100.0, 102.0, 1e6),
]
SIZES = [1.0, 2.0, 3.0, 4.0]


@pytest.fixture
def venue(tmp_path) -> Iterator[tuple[Emulator, OrderSync, list[str]]]:
    """The emulator, an order sync on an Alpaca broker whose trade stream listens, and the
    paths of the requests the broker sent."""
    index = pd.bdate_range("2024-01-01", periods=len(BARS), tz="UTC", name="time")
    frame = pd.DataFrame(BARS, index=index, columns=["open", "high", "low", "close", "volume"])
    with Emulator({"AAA": frame}, key="fills-key", secret="fills-secret", cash=CASH) as emu:
        broker = AlpacaBroker(
            emu.key, emu.secret, url=emu.base_url, stream_url=emu.trading_stream_url
        )
        sent: list[str] = []
        broker.client._session.hooks["response"].append(
            lambda r, *a, **k: sent.append(f"{r.request.method} {r.request.path_url}")
        )
        broker.start_stream()
        sync = OrderSync()
        sync.state = StateStore(tmp_path / "live.sqlite")
        sync.broker = RetryingReads(broker, RetryPolicy(base_delay=0.01))
        sync.execution = SimpleNamespace(on_update=lambda update: None)  # type: ignore[assignment]
        sync.name = "rebalance"
        try:
            emt.wait_until(
                lambda: emu.state()["connections"]["trading_ready"] >= 1, 30, "trade stream"
            )
            yield emu, sync, sent
        finally:
            broker.close()
            sync.state.close()


def test_a_batch_of_fills_reads_the_account_once_and_each_line_has_its_balance(
    venue, caplog
) -> None:
    emu, sync, sent = venue
    alpaca = sync.broker.inner
    for i, size in enumerate(SIZES):
        order = alpaca.submit_order(
            OrderRequest("AAA", Side.BUY, quantity=size, tif=TimeInForce.DAY,
                         client_order_id=f"wb-rebalance-{i}", reason="REBALANCE")
        )  # fmt: skip
        sync.state.record_order(order)
    emu.step()  # all four fill at the bar's open, 100
    # the stream's (re)connection mark, each order's new and its fill, all queued
    emt.wait_until(lambda: alpaca._updates.qsize() >= 1 + 2 * len(SIZES), 10, "the fills")
    sent.clear()
    with caplog.at_level(logging.INFO, logger="workbench.live"):
        sync._sync()
    lines = [r for r in caplog.records if getattr(r, "event", None) == "fill"]
    assert [r.quantity for r in lines] == SIZES
    assert sent.count("GET /v2/account") == 1
    account = alpaca.get_account()
    spent = pd.Series(SIZES).cumsum() * 100.0
    assert [r.cash for r in lines] == pytest.approx(list(CASH - spent), rel=1e-12)
    assert lines[-1].cash == lines[-1].balance == pytest.approx(account.cash, rel=1e-12)
    assert [r.equity for r in lines] == pytest.approx([account.equity] * 4, rel=1e-12)
    assert len(sync.state.fills()) == len(SIZES)
