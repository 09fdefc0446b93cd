"""The execution engine against the simulated broker, with scripted broker trouble."""

from __future__ import annotations

import logging
import random

import pandas as pd
import pytest

from workbench.broker import UpdateEvent
from workbench.errors import OrderRejected, TransientBrokerError
from workbench.execution.config import ConflictPolicy, ExecutionConfig, RetryPolicy
from workbench.execution.engine import (
    ExecutionEngine,
    SymbolState,
    client_order_id,
)
from workbench.intents import OrderIntent, TargetIntent
from workbench.orders import OrderRequest, OrderType, Side
from workbench.sim.broker import SimulatedBroker

T0 = pd.Timestamp("2024-03-01", tz="UTC")
T1 = pd.Timestamp("2024-03-02", tz="UTC")


class FlakyBroker:
    """The simulated broker behind a script of failures (a fake behind the protocol)."""

    def __init__(self, inner: SimulatedBroker, submit: list[str] = (), lookup: list[str] = ()):
        self.inner = inner
        self.submit_script = list(submit)
        self.lookup_script = list(lookup)
        self.submit_calls = 0

    def submit_order(self, request: OrderRequest):
        self.submit_calls += 1
        fault = self.submit_script.pop(0) if self.submit_script else None
        if fault == "429":
            raise TransientBrokerError("rate limited", code=429, retry_after=0.01)
        if fault == "lost":  # timed out before reaching the broker
            raise TransientBrokerError("timed out", ambiguous=True)
        if fault == "created_504":  # the broker created it, then the gateway failed
            self.inner.submit_order(request)
            raise TransientBrokerError("504 gateway timeout", code=504, ambiguous=True)
        if fault == "403":
            raise OrderRejected("insufficient buying power", code=40310000)
        return self.inner.submit_order(request)

    def get_order_by_client_id(self, cid: str):
        fault = self.lookup_script.pop(0) if self.lookup_script else None
        if fault == "500":
            raise TransientBrokerError("500", code=500, ambiguous=True)
        return self.inner.get_order_by_client_id(cid)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def make(submit=(), lookup=(), **config) -> tuple[ExecutionEngine, FlakyBroker, list[float]]:
    inner = SimulatedBroker(10_000.0)
    inner.set_time(T0)
    broker = FlakyBroker(inner, submit, lookup)
    sleeps: list[float] = []
    engine = ExecutionEngine(
        broker, "ma_crossover", ExecutionConfig(**config), sleep=sleeps.append, seed=1
    )
    return engine, broker, sleeps


def buy(qty: float = 5.0, **kw) -> OrderRequest:
    return OrderRequest("SPY", Side.BUY, quantity=qty, reason="MA_CROSS_BUY", **kw)


def test_client_order_ids_are_deterministic() -> None:
    assert client_order_id("ma_crossover", "SPY", T0, 0) == "wb-ma_crossover-SPY-20240301T000000-0"
    assert client_order_id("s", "X", T0, 1) != client_order_id("s", "X", T0, 0)
    long = client_order_id("s" * 200, "X", T0, 0)
    assert len(long) <= 128 and long == client_order_id("s" * 200, "X", T0, 0)


def test_client_order_id_stamps_equal_strftime_across_days() -> None:
    """The stamp keeps the day's date between calls and does the time of day by hand."""
    import time

    rng = random.Random(5)
    seconds = [0, 59, 3599, 86_399, 86_400, 951_782_399, 951_868_800, 4_102_444_799]
    seconds += sorted(rng.randrange(0, 4_102_444_800) for _ in range(300))
    seconds += [1_700_000_000 + k for k in (0, 1, 86_399, 86_400, 5)]  # back and forth
    for sec in seconds:
        decision = pd.Timestamp(sec * 1_000_000_000 + 123, tz="UTC")
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(sec))
        assert client_order_id("s", "X", decision, 2) == f"wb-s-X-{stamp}-2"


@pytest.mark.parametrize(
    ("script", "submit_calls"),
    [
        ([], 1),
        (["429", "429", "429"], 4),
        (["created_504"], 1),  # found by client order id: not sent again
        (["lost"], 2),  # not found: sent again
        (["lost", "429", "created_504"], 3),
    ],
)
def test_exactly_one_order_per_intent(script: list[str], submit_calls: int) -> None:
    engine, broker, sleeps = make(submit=script)
    order = engine.submit(buy(), decision=T0)
    assert order is not None
    assert len(broker.inner.orders) == 1
    assert broker.submit_calls == submit_calls
    assert engine.state("SPY") is SymbolState.PENDING_ORDER
    assert len(sleeps) == sum(1 for f in script if f in ("429", "lost"))


def test_a_restarted_engine_resolves_the_duplicate_to_the_existing_order() -> None:
    engine, broker, _ = make()
    first = engine.submit(buy(), decision=T0)
    again = ExecutionEngine(broker, "ma_crossover", sleep=lambda s: None)
    second = again.submit(buy(), decision=T0)  # same decision after a restart
    assert second is not None and second.id == first.id
    assert len(broker.inner.orders) == 1


def test_rejections_are_logged_with_the_code_and_not_retried(caplog) -> None:
    engine, broker, sleeps = make(submit=["403"])
    with caplog.at_level(logging.ERROR, logger="workbench.execution.engine"):
        assert engine.submit(buy(), decision=T0) is None
    assert broker.submit_calls == 1 and sleeps == []
    record = next(r for r in caplog.records if r.event == "order_rejected")
    assert "code=40310000" in record.reason and "insufficient buying power" in record.reason


def test_submitted_and_rejected_lines_carry_the_limit_price(caplog) -> None:
    limit = {"type": OrderType.LIMIT, "limit_price": 99.5}
    engine, _, _ = make(submit=["403"])
    with caplog.at_level(logging.INFO, logger="workbench.execution.engine"):
        assert engine.submit(buy(**limit), decision=T0) is None
        assert engine.submit(buy(**limit), decision=T0) is not None
    lines = {r.event: r for r in caplog.records if r.event.startswith("order_")}
    for event in ("order_rejected", "order_submitted"):
        record = lines[event]
        assert (record.side, record.quantity, record.price) == ("buy", 5.0, 99.5), event


def test_order_lines_name_the_signal_as_fill_and_risk_lines_do(caplog) -> None:
    """``signal`` is the order's own reason on every line; ``reason`` says why the line
    was written: ``signal=...`` for an order sent (or held) on it, else the broker's code."""
    engine, _, _ = make(submit=["403"], conflict=ConflictPolicy.WAIT)
    with caplog.at_level(logging.INFO, logger="workbench.execution.engine"):
        assert engine.submit(buy(), decision=T0) is None
        assert engine.submit(buy(), decision=T0) is not None
        sell = OrderRequest("SPY", Side.SELL, quantity=5.0, reason="MA_CROSS_SELL")
        assert engine.submit(sell, decision=T0) is None  # held: the buy is working
    lines = {r.event: r for r in caplog.records if r.event.startswith("order_")}
    assert {e: (r.reason.split(" ")[0], r.signal) for e, r in lines.items()} == {
        "order_rejected": ("code=40310000", "MA_CROSS_BUY"),
        "order_submitted": ("signal=MA_CROSS_BUY", "MA_CROSS_BUY"),
        "order_waiting": ("signal=MA_CROSS_SELL", "MA_CROSS_SELL"),
    }


def test_repeated_failures_put_the_symbol_in_error_until_reset() -> None:
    engine, broker, sleeps = make(submit=["429"] * 5, retry=RetryPolicy(max_attempts=5))
    assert engine.submit(buy(), decision=T0) is None
    assert engine.state("SPY") is SymbolState.ERROR
    assert len(sleeps) == 4
    assert engine.submit(buy(), decision=T1) is None  # refused without calling the broker
    assert broker.submit_calls == 5
    engine.reset("SPY")
    assert engine.submit(buy(), decision=T1) is not None


def test_lookup_failures_are_retried_before_deciding() -> None:
    engine, broker, _ = make(submit=["created_504"], lookup=["500", "500"])
    assert engine.submit(buy(), decision=T0) is not None
    assert len(broker.inner.orders) == 1


def test_backoff_grows_and_honours_retry_after() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, jitter=0.0)
    rng = random.Random(0)
    assert [policy.delay(a, rng) for a in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 8]
    assert policy.delay(1, rng, retry_after=5.0) == 5.0
    jittered = RetryPolicy(base_delay=1.0, jitter=0.25)
    assert all(0.75 <= jittered.delay(1, rng) <= 1.25 for _ in range(50))


def sell_limit() -> OrderRequest:
    return OrderRequest(
        "SPY", Side.SELL, quantity=5.0, type=OrderType.LIMIT, limit_price=999.0, reason="TP"
    )


def test_cancel_replace_cancels_the_working_opposite_order() -> None:
    engine, broker, _ = make(conflict=ConflictPolicy.CANCEL_REPLACE)
    sell = engine.submit(sell_limit(), decision=T0)
    engine.submit(buy(), decision=T0)
    assert broker.inner.get_order(sell.id).status == "canceled"
    assert [o.side for o in broker.inner.get_open_orders()] == [Side.BUY]


def test_wait_holds_the_new_order_until_the_working_one_is_done() -> None:
    engine, broker, _ = make(conflict=ConflictPolicy.WAIT)
    sell = engine.submit(sell_limit(), decision=T0)
    assert engine.submit(buy(), decision=T0) is None
    assert [o.side for o in broker.inner.get_open_orders()] == [Side.SELL]
    broker.inner.cancel_order(sell.id)
    for update in broker.inner.drain_updates():
        engine.on_update(update)
    assert [o.side for o in broker.inner.get_open_orders()] == [Side.BUY]


def test_states_follow_partial_fills_and_fills(caplog) -> None:
    inner = SimulatedBroker(100_000.0, volume_limit=0.5)
    inner.set_time(T0)
    engine = ExecutionEngine(inner, "s", sleep=lambda s: None)
    with caplog.at_level(logging.INFO, logger="workbench.execution.engine"):
        engine.submit(buy(10.0), decision=T0)
        seen = []
        for day, volume in ((2, 10.0), (3, 10.0)):
            inner.process_bar(
                "SPY", pd.Timestamp(f"2024-03-0{day}", tz="UTC"), 100, 101, 99, 100, volume
            )
            for update in inner.drain_updates():
                engine.on_update(update)
                if update.event in (UpdateEvent.FILL, UpdateEvent.PARTIAL_FILL):
                    seen.append(engine.state("SPY"))
    assert seen == [SymbolState.PARTIALLY_FILLED, SymbolState.ORDER_FILLED]
    changes = [r.state for r in caplog.records if getattr(r, "event", "") == "execution_state"]
    assert changes == ["PENDING_ORDER", "PARTIALLY_FILLED", "ORDER_FILLED"]


def test_target_intents_replace_earlier_target_orders() -> None:
    engine, broker, _ = make()
    kwargs = {
        "decision": T0,
        "price": lambda s: 100.0,
        "position": lambda s: 0.0,
        "equity": 10_000.0,
    }
    engine.execute([TargetIntent("SPY", T0, percent=0.5, reason="A")], **kwargs)
    engine.execute([TargetIntent("SPY", T0, percent=0.2, reason="B")], **kwargs)
    open_orders = broker.inner.get_open_orders()
    assert [o.request.reason for o in open_orders] == ["B"]
    assert open_orders[0].request.notional == pytest.approx(2_000.0)
    engine.execute([OrderIntent(sell_limit(), T0)], **kwargs)
    assert {o.request.reason for o in broker.inner.get_open_orders()} == {"TP"}


def test_a_new_target_cancels_the_working_target_order_not_the_done_one() -> None:
    """A target's order that filled (its update seen) is no longer working: the next target
    plans no cancel for it; one still working is canceled and replaced."""
    from workbench.execution.engine import Cancel, Submit

    engine, broker, _ = make()
    inner = broker.inner
    kwargs = {"price": lambda s: 100.0, "position": inner.portfolio.quantity, "equity": 10_000.0}
    engine.execute([TargetIntent("SPY", T0, quantity=5.0)], decision=T0, **kwargs)
    inner.process_bar("SPY", T1, 100, 101, 99, 100, 1_000)  # fills at the open
    for update in inner.drain_updates():
        engine.on_update(update)
    steps = engine.plan([TargetIntent("SPY", T1, quantity=0.0)], decision=T1, **kwargs)
    assert [type(s) for s in steps] == [Submit]
    inner.set_time(T1)
    working = engine.send(steps, decision=T1)[0]  # a sell working until the next bar
    t2 = T1 + pd.Timedelta(days=1)
    steps = engine.plan([TargetIntent("SPY", t2, quantity=2.0)], decision=t2, **kwargs)
    assert [type(s) for s in steps] == [Cancel, Submit]
    assert steps[0].order_id == working.id


@pytest.mark.parametrize("conflict", list(ConflictPolicy))
def test_an_entry_with_its_exits_in_one_oco_group_on_one_bar(conflict) -> None:
    """The bug this guards: the exits used to cancel the entry, and the stop opened a short."""
    engine, broker, _ = make(conflict=conflict)
    sell = {"symbol": "SPY", "side": Side.SELL, "quantity": 5.0, "oco_group": "exit"}
    intents = [
        OrderIntent(buy(), T0),
        OrderIntent(OrderRequest(type=OrderType.STOP, stop_price=95.0, **sell), T0),
        OrderIntent(OrderRequest(type=OrderType.LIMIT, limit_price=110.0, **sell), T0),
    ]
    sent = engine.execute(intents, decision=T0, price=lambda s: 100.0, position=lambda s: 0.0,
                          equity=10_000.0)  # fmt: skip
    assert [o.status.is_open for o in sent] == [True, True, True]
    inner = broker.inner
    inner.process_bar("SPY", T1, 100, 101, 99, 100, 1_000)  # the entry fills at the open
    assert inner.portfolio.quantity("SPY") == 5.0
    inner.process_bar("SPY", T1 + pd.Timedelta(days=1), 97, 98, 94, 95, 1_000)
    assert inner.portfolio.quantity("SPY") == 0.0  # stopped out, not short
    assert [f.price for f in inner.fills] == [100.0, 95.0]
    assert inner.get_open_orders() == []  # the take-profit was canceled with it


def test_a_new_entry_does_not_cancel_the_exits_of_what_is_held() -> None:
    engine, broker, _ = make()
    bracket = buy(order_class="bracket", take_profit=110.0, stop_loss=95.0)
    (entry,) = engine.execute([OrderIntent(bracket, T0)], decision=T0, price=lambda s: 100.0,
                              position=lambda s: 0.0, equity=10_000.0)  # fmt: skip
    broker.inner.process_bar("SPY", T1, 100, 101, 99, 100, 1_000)
    broker.inner.set_time(T1)
    engine.execute([OrderIntent(buy(2.0), T1)], decision=T1, price=lambda s: 100.0,
                   position=lambda s: 5.0, equity=10_000.0)  # fmt: skip
    legs = [broker.inner.get_order(i) for i in entry.legs]
    assert all(leg.status.is_open for leg in legs)


def test_submitted_line_says_dollars_for_a_notional_order_and_rounds_shares(caplog) -> None:
    """A notional order (``fraction`` sizing) was logged as ``buy 100000.0 SPY``: dollars read
    as shares, with no amount field; a fractional quantity printed all of float's digits."""
    engine, _, _ = make()
    notional = OrderRequest("SPY", Side.BUY, notional=100_000.0, reason="MA_CROSS_BUY")
    shares = OrderRequest("SPY", Side.SELL, quantity=72.38718661640603, reason="MA_CROSS_SELL")
    with caplog.at_level(logging.INFO, logger="workbench.execution.engine"):
        assert engine.submit(notional, decision=T0) is not None
        assert engine.submit(shares, decision=T0) is not None
    lines = [r for r in caplog.records if r.event == "order_submitted"]
    assert [r.getMessage() for r in lines] == [
        "order submitted: buy $100,000.00 of SPY",
        "order submitted: sell 72.387187 SPY",
    ]
    assert (lines[0].notional, lines[0].quantity) == (100_000.0, None)
    assert (lines[1].notional, lines[1].quantity) == (None, 72.38718661640603)
