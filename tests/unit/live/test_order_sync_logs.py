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


def test_fills_of_one_sync_share_an_account_read_each_line_its_own_balance(
    tmp_path, caplog
) -> None:
    """Two orders filled on one bar, commission charged: each line has the cash after its
    own fill (the account, read once after both, less the later fill), equity less the
    later commissions."""
    from workbench.sim.costs import Commission

    broker = SimulatedBroker(10_000, commission=Commission.parse("per_share=0.5"))
    state = StateStore(tmp_path / "s.sqlite")
    broker.set_time(T)
    for i, qty in enumerate((3.0, 5.0)):
        state.record_order(
            broker.submit_order(
                OrderRequest("SPY", Side.BUY, quantity=qty, client_order_id=f"wb-r-SPY-{i}")
            )
        )
    reads = []
    sync = sync_for(broker, state)
    sync.broker.inner = SimpleNamespace(  # type: ignore[attr-defined]
        get_account=lambda: reads.append(1) or broker.get_account()
    )
    broker.process_bar("SPY", T + pd.Timedelta(days=1), 100.0, 101.0, 99.0, 100.5, 1e6)
    with caplog.at_level(logging.INFO, logger="workbench"):
        sync._sync()
    lines = [r for r in caplog.records if getattr(r, "event", None) == "fill"]
    assert len(reads) == 1 and [r.quantity for r in lines] == [3.0, 5.0]
    first, second = broker.fills
    account = broker.get_account()
    spent = first.quantity * first.price + first.commission
    assert first.commission == 1.5 and second.commission == 2.5
    assert lines[0].cash == pytest.approx(10_000 - spent, rel=1e-12)
    assert lines[1].cash == pytest.approx(account.cash, rel=1e-12)
    assert lines[0].equity == pytest.approx(account.equity + second.commission, rel=1e-12)
    assert lines[1].equity == account.equity
