"""Orders held back (``conflict = wait``): sent once the working order is done, each handed
to ``on_release`` as it goes, and never held twice under one client order id."""

from __future__ import annotations

from tests.unit.execution.test_execution_engine import T0, FlakyBroker, buy, sell_limit
from workbench.execution.config import ConflictPolicy, ExecutionConfig
from workbench.execution.engine import ExecutionEngine
from workbench.orders import Order, OrderRequest
from workbench.sim.broker import SimulatedBroker

Released = list[tuple[OrderRequest, Order | None]]


def make(submit: list[str] = ()) -> tuple[ExecutionEngine, FlakyBroker, Released]:
    """A waiting engine over the scripted broker, and what it hands to ``on_release``."""
    inner = SimulatedBroker(10_000.0)
    inner.set_time(T0)
    broker = FlakyBroker(inner, submit)
    seen: Released = []
    engine = ExecutionEngine(
        broker, "s", ExecutionConfig(conflict=ConflictPolicy.WAIT), sleep=lambda s: None,
        on_release=lambda request, order: seen.append((request, order)),
    )  # fmt: skip
    return engine, broker, seen


def cancel_and_follow(engine, broker, order_id: str) -> None:
    broker.inner.cancel_order(order_id)
    for update in broker.inner.drain_updates():
        engine.on_update(update)


def test_a_waiting_order_is_held_once_and_handed_to_on_release_when_sent() -> None:
    engine, broker, seen = make()
    working = engine.submit(sell_limit(), decision=T0)
    request = buy().with_client_id("wb-s-SPY-held-0")
    assert engine.submit(request, decision=T0) is None
    assert engine.submit(request, decision=T0) is None  # handed back: still held once
    assert engine.holds("wb-s-SPY-held-0") and not engine.holds("wb-s-SPY-other-0")
    assert seen == []
    cancel_and_follow(engine, broker, working.id)
    ((sent_request, order),) = seen
    assert sent_request == request and order is not None
    assert order.client_order_id == "wb-s-SPY-held-0" and order.status.is_open
    assert not engine.holds("wb-s-SPY-held-0")
    assert [o.client_order_id for o in broker.inner.get_open_orders()] == ["wb-s-SPY-held-0"]


def test_a_release_the_broker_refuses_is_handed_over_without_an_order() -> None:
    engine, broker, seen = make(submit=["ok", "403"])
    working = engine.submit(sell_limit(), decision=T0)
    assert engine.submit(buy(), decision=T0) is None
    cancel_and_follow(engine, broker, working.id)
    ((request, order),) = seen
    assert order is None and request.client_order_id is not None
    assert broker.inner.get_open_orders() == []
