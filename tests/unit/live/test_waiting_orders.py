"""An order the execution engine holds back (``conflict = wait``) is ``waiting`` in the state
until the broker has it, recorded when it is sent, and handed back to the engine on a
restart; one the broker refuses is rejected, never left waiting."""

from __future__ import annotations

import pandas as pd

from tests.unit.execution.test_execution_engine import T0, FlakyBroker, buy, sell_limit
from workbench.execution.config import ConflictPolicy, ExecutionConfig
from workbench.execution.engine import (
    ExecutionEngine,
    Step,
    Submit,
)
from workbench.live.plans import step_json
from workbench.live.recovery import Recovery
from workbench.live.state import StateStore
from workbench.sim.broker import SimulatedBroker

T1, T2 = T0 + pd.Timedelta(days=1), T0 + pd.Timedelta(days=2)


def runner_for(tmp_path, submit: list[str] = (), broker: FlakyBroker | None = None) -> Recovery:
    """The runner's order keeping (no bar loop) over the scripted broker (a new one unless
    ``broker``), with a new execution engine."""
    if broker is None:
        inner = SimulatedBroker(10_000.0)
        inner.set_time(T0)
        broker = FlakyBroker(inner, submit)
    sync = Recovery()
    sync.state = StateStore(tmp_path / "live.sqlite")
    sync.broker = broker  # type: ignore[assignment]
    sync.name = "s"
    sync.execution = ExecutionEngine(
        sync.broker, "s", ExecutionConfig(conflict=ConflictPolicy.WAIT), sleep=lambda s: None,
        on_release=sync._released,
    )  # fmt: skip
    return sync


def decide(sync: Recovery, time: pd.Timestamp, steps: list[Step], *, plan: bool = True) -> None:
    """Write the decision as the runner does (``plan=False``: its plan lost), then send it."""
    requests = [(s.request.client_order_id, s.request) for s in steps if isinstance(s, Submit)]
    sync.state.record_decision(time.value, [step_json(s) for s in steps] if plan else [], requests)
    sync._send(steps, time)


def statuses(state: StateStore) -> dict[str, str]:
    orders = state.orders()
    return dict(zip(orders["client_order_id"], orders["status"], strict=True))


def test_a_held_order_waits_in_the_state_and_a_refused_release_is_rejected(tmp_path) -> None:
    sync = runner_for(tmp_path, submit=["ok", "403"])
    steps = [Submit(sell_limit().with_client_id("tp")), Submit(buy().with_client_id("in"))]
    decide(sync, T0, steps)
    assert statuses(sync.state) == {"tp": "new", "in": "waiting"}
    assert [r["client_order_id"] for r in sync.state.open_orders()] == ["tp", "in"]
    sync.broker.inner.cancel_order(sync.broker.get_order_by_client_id("tp").id)
    sync._sync()  # the limit's end: the buy is sent, the broker refuses it
    assert statuses(sync.state) == {"tp": "canceled", "in": "rejected"}
    assert sync.state.waiting_orders() == []


def test_a_restart_hands_waiting_orders_back_from_their_plan(tmp_path) -> None:
    sync = runner_for(tmp_path)
    decide(sync, T0, [Submit(sell_limit().with_client_id("tp"))])
    decide(sync, T1, [Submit(buy().with_client_id("in"))])
    decide(sync, T2, [Submit(buy(2.0).with_client_id("lost"))], plan=False)
    assert statuses(sync.state) == {"tp": "new", "in": "waiting", "lost": "waiting"}
    restarted = runner_for(tmp_path, broker=sync.broker)  # a new engine: it holds nothing
    restarted._resume_waiting({})  # the limit still works: held again
    assert statuses(restarted.state) == {"tp": "new", "in": "waiting", "lost": "rejected"}
    assert restarted.execution.holds("in") and not restarted.execution.holds("lost")
    inner = sync.broker.inner
    inner.cancel_order(sync.broker.get_order_by_client_id("tp").id)
    restarted._sync()
    assert statuses(restarted.state) == {"tp": "canceled", "in": "new", "lost": "rejected"}
    assert [o.client_order_id for o in inner.orders] == ["tp", "in"]
    (sent,) = inner.get_open_orders()
    assert (sent.request.quantity, sent.request.reason) == (5.0, "MA_CROSS_BUY")


def test_an_end_learned_by_a_lookup_releases_the_waiting_order_once(tmp_path) -> None:
    sync = runner_for(tmp_path)
    decide(sync, T0, [Submit(sell_limit().with_client_id("tp"))])
    decide(sync, T1, [Submit(buy().with_client_id("in"))])
    inner = sync.broker.inner
    inner.cancel_order(sync.broker.get_order_by_client_id("tp").id)
    late = inner.drain_updates()  # the stream is down: the cancel is not heard now
    sync._reconcile({})  # after the outage: the limit looked up, canceled
    assert statuses(sync.state) == {"tp": "canceled", "in": "waiting"}
    assert sync.execution.holds("in")  # followed with the next updates, not mid-lookup
    sync._sync()
    assert statuses(sync.state) == {"tp": "canceled", "in": "new"}
    assert not sync.execution.holds("in") and sync.state.waiting_orders() == []
    deliveries = iter([late])  # the stream's news of the cancel comes after all
    sync.broker.drain_updates = lambda: next(deliveries, [])  # type: ignore[method-assign]
    sync._sync()
    sync._reconcile({})  # looked up again (a holdings check): nothing new to follow
    sync._sync()
    assert [o.client_order_id for o in inner.orders] == ["tp", "in"]
    assert sync.broker.submit_calls == 2
    assert statuses(sync.state) == {"tp": "canceled", "in": "new"}


def test_a_held_target_order_a_newer_target_replaces_is_canceled_in_the_state(
    tmp_path,
) -> None:
    """Two targets' buys held behind the working sell: the first, replaced by the second
    before it was sent, is canceled in the state (never waiting, never handed back on a
    restart); the second is sent once the sell is done."""
    sync = runner_for(tmp_path)
    decide(sync, T0, [Submit(sell_limit().with_client_id("tp"))])
    decide(sync, T1, [Submit(buy(10.0).with_client_id("t1"), from_target=True)])
    decide(sync, T2, [Submit(buy(10.0).with_client_id("t2"), from_target=True)])
    assert statuses(sync.state) == {"tp": "new", "t1": "canceled", "t2": "waiting"}
    assert [r["client_order_id"] for r in sync.state.waiting_orders()] == ["t2"]
    inner = sync.broker.inner
    inner.cancel_order(sync.broker.get_order_by_client_id("tp").id)
    sync._sync()
    assert statuses(sync.state) == {"tp": "canceled", "t1": "canceled", "t2": "new"}
    assert [o.client_order_id for o in inner.orders] == ["tp", "t2"]
