"""The runner's JSON lines for fills and for orders that end without a fill."""

from __future__ import annotations

import dataclasses
import logging
from types import SimpleNamespace

import pandas as pd
import pytest

from workbench.broker import AccountSnapshot, OrderUpdate, UpdateEvent
from workbench.live.order_sync import OrderSync
from workbench.live.state import StateStore
from workbench.orders import Fill, OrderRequest, OrderType, Side
from workbench.sim.broker import SimulatedBroker

T = pd.Timestamp("2024-01-02", tz="UTC")


def sync_for(broker: SimulatedBroker, state: StateStore) -> OrderSync:
    sync = OrderSync()
    sync.state = state
    sync.broker = SimpleNamespace(inner=broker, drain_updates=broker.drain_updates)  # type: ignore[assignment]
    sync.execution = SimpleNamespace(on_update=lambda update: None)  # type: ignore[assignment]
    sync.name = "ma_crossover"
    return sync


def limit_buy(broker: SimulatedBroker):
    broker.set_time(T)
    request = OrderRequest(
        "SPY", Side.BUY, quantity=3.0, type=OrderType.LIMIT, limit_price=99.5,
        client_order_id="wb-ma_crossover-SPY-0", reason="MA_CROSS_BUY",
    )  # fmt: skip
    return broker.submit_order(request)


def test_a_fill_line_carries_the_balance_after_it(tmp_path, caplog) -> None:
    broker = SimulatedBroker(10_000)
    order = limit_buy(broker)
    sync = sync_for(broker, StateStore(tmp_path / "s.sqlite"))
    fill = Fill(order.id, "SPY", Side.BUY, 3.0, 99.5, 0.0, T, "MA_CROSS_BUY")
    with caplog.at_level(logging.INFO, logger="workbench"):
        sync._log_fill(order, fill)
    (rec,) = [r for r in caplog.records if getattr(r, "event", None) == "fill"]
    account: AccountSnapshot = broker.get_account()
    assert rec.balance == rec.cash == account.cash and rec.equity == account.equity
    assert (rec.strategy, rec.order_id, rec.side, rec.quantity, rec.price) == (
        "ma_crossover", order.id, "buy", 3.0, 99.5,
    )  # fmt: skip
    assert (rec.reason, rec.signal) == ("signal=MA_CROSS_BUY", "MA_CROSS_BUY")


@pytest.mark.parametrize(
    ("event", "level"), [(UpdateEvent.CANCELED, "INFO"), (UpdateEvent.REJECTED, "WARNING")]
)
def test_an_order_that_ends_without_a_fill_has_its_line(tmp_path, caplog, event, level) -> None:
    broker = SimulatedBroker(10_000)
    state = StateStore(tmp_path / "s.sqlite")
    order = limit_buy(broker)
    state.record_order(order)
    broker.cancel_order(order.id)
    updates = broker.drain_updates()
    ended = next(u for u in updates if u.event is UpdateEvent.CANCELED)
    sync = sync_for(broker, state)
    sync.broker.drain_updates = lambda: [dataclasses.replace(ended, event=event)]  # type: ignore[attr-defined]
    with caplog.at_level(logging.INFO, logger="workbench"):
        sync._sync()
    (rec,) = [r for r in caplog.records if getattr(r, "event", None) == f"order_{event}"]
    assert rec.levelname == level
    assert (rec.strategy, rec.order_id, rec.client_order_id) == (
        "ma_crossover", order.id, "wb-ma_crossover-SPY-0",
    )  # fmt: skip
    assert (rec.symbol, rec.side, rec.quantity, rec.price) == ("SPY", "buy", 3.0, 99.5)
    assert rec.reason and rec.signal == "MA_CROSS_BUY"
    assert isinstance(ended, OrderUpdate)
