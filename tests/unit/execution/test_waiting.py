"""Orders held back (``conflict = wait``): sent once the working order is done, each handed
to ``on_release`` as it goes, and never held twice under one client order id."""

from __future__ import annotations

from tests.unit.execution.test_execution_engine import T0, T1, FlakyBroker, buy, sell_limit
from workbench.execution.config import ConflictPolicy, ExecutionConfig
from workbench.execution.engine import Cancel, ExecutionEngine
from workbench.intents import TargetIntent
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


def test_a_released_target_order_is_the_targets_working_order() -> None:
    """A target's order held, then sent once the working sell is done, is that target's
    working order: the next target of the symbol, decided before it fills, replaces it
    (cancels it and plans from the position) rather than buying the same shares again."""
    engine, broker, seen = make()
    working = engine.submit(sell_limit(), decision=T0)
    price, position = (lambda s: 100.0), (lambda s: broker.inner.get_positions().get(s))

    def target(quantity: float) -> list:
        intent = TargetIntent("SPY", T0, quantity=quantity, reason="REBALANCE")
        held = position("SPY")
        return engine.plan(
            [intent], decision=T0, price=price, equity=10_000.0,
            position=lambda s: held.quantity if held else 0.0,
        )  # fmt: skip

    assert engine.send(target(10.0), decision=T0) == []  # held behind the sell
    cancel_and_follow(engine, broker, working.id)
    ((_, released),) = seen
    assert released is not None and released.status.is_open  # working, not filled yet
    steps = target(10.0)  # the same target again, before the released buy fills
    assert Cancel(released.id, reason="replaced by a new target") in steps


def test_a_newer_target_replaces_the_held_order_of_an_earlier_one() -> None:
    """Targets planned while the working sell holds their orders back (each bar of a
    pre-market with the cancel pending): only the latest is sent once the sell is done,
    and the ones it replaced are named by ``take_dropped``, never sent."""
    engine, broker, seen = make()
    working = engine.submit(sell_limit(), decision=T0)
    plans = []
    for n, when in enumerate((T0, T1)):
        intent = TargetIntent("SPY", when, quantity=10.0, reason=f"REBALANCE{n}")
        steps = engine.plan(
            [intent], decision=when, price=lambda s: 100.0, position=lambda s: 0.0,
            equity=10_000.0,
        )  # fmt: skip
        assert engine.send(steps, decision=when) == []
        plans.append(steps[0].request.client_order_id)
    assert engine.take_dropped() == [plans[0]] and engine.take_dropped() == []
    assert not engine.holds(plans[0]) and engine.holds(plans[1])
    cancel_and_follow(engine, broker, working.id)
    assert [request.client_order_id for request, _ in seen] == [plans[1]]
    assert [o.quantity for o in broker.inner.get_open_orders()] == [10.0]
