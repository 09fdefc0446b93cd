"""A runner that dies between any two of its steps loses nothing and sends nothing twice.

The venue is the simulated broker (it outlives the runner); the crash is an exception
raised from the state store at a chosen write, which stops the runner exactly there,
as SIGKILL would. A new runner on the same state file then finishes the run; its
orders and fills must be the backtest's. ``test_crash_safety.py`` does the same with
real kills against the emulator.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from workbench import backtest, load_bars
from workbench.live.replay import ReplayFeed, SimulatedVenueFeed
from workbench.live.runner import LiveRunner
from workbench.live.state import StateStore
from workbench.risk import RiskConfig, RiskEngine
from workbench.sim.broker import SimulatedBroker
from workbench.strategy import make_strategy

PARAMS = {"fast": 10, "slow": 30}


class Crash(BaseException):
    """The process dies here."""


class CrashingStore(StateStore):
    """Raises :class:`Crash` at the ``nth`` call of ``method`` that ``when`` accepts."""

    def __init__(self, path: Any, method: str, nth: int, when: Any = None) -> None:
        super().__init__(path)
        self.calls = 0
        original = getattr(self, method)

        def hooked(*args: Any, **kwargs: Any) -> Any:
            if when is None or when(*args, **kwargs):
                self.calls += 1
                if self.calls == nth:
                    raise Crash(method)
            return original(*args, **kwargs)

        setattr(self, method, hooked)


class CrashingBroker(SimulatedBroker):
    """Dies at its ``nth`` submission, ``before`` or after the order is placed."""

    def __init__(self, cash: float, nth: int | None = None, before: bool = True) -> None:
        super().__init__(cash)
        self.nth, self.before, self.submissions = nth, before, 0

    def submit_order(self, request: Any) -> Any:
        self.submissions += 1
        if self.submissions == self.nth and self.before:
            raise Crash("before submit")
        order = super().submit_order(request)
        if self.submissions == self.nth:
            raise Crash("after submit")
        return order


def crashing(
    path: Any, method: str, nth: int, when: Any, venue: Callable[..., SimulatedBroker]
) -> tuple[SimulatedBroker, StateStore]:
    """The venue and the state store of a runner that dies at the ``nth`` call of
    ``method``: a submission (``when``: before the order is placed), else a state write
    (``when`` picks the calls counted). ``venue(nth, before=...)`` makes a crashing venue,
    ``venue()`` one that does not crash."""
    if method == "submit":
        return venue(nth, before=when), StateStore(path)
    return venue(), CrashingStore(path, method, nth, when)


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return load_bars("sample:SPX", end="2003-12-31")


def run(bars: pd.DataFrame, state: StateStore, broker: SimulatedBroker, **kw: Any) -> Any:
    feed = SimulatedVenueFeed(ReplayFeed({"SPX": bars}), broker)
    runner = LiveRunner(make_strategy("ma_crossover", PARAMS), ["SPX"], broker, feed, state, **kw)
    return runner.run()


def with_plan(time_ns: int, intents: list[Any], *args: Any) -> bool:
    return bool(intents)


CRASH_POINTS = {
    # after the bar is recorded and the snapshot taken, before the decision is written
    "before the decision": ("record_decision", 3, with_plan),
    # the plan is written, nothing sent yet
    "before sending": ("submit", 3, True),
    # the order reached the broker, the runner never heard its answer
    "sent, not recorded": ("submit", 3, False),
    # a fill learned but not recorded
    "fill not recorded": ("record_fill", 4, None),
    # every order recorded, the decision not marked done
    "before finishing": ("finish_decision", 5, None),
    # all done but the heartbeat
    "before the heartbeat": ("heartbeat", 400, None),
}


@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_a_crash_loses_no_decision_and_sends_nothing_twice(bars, tmp_path, point) -> None:
    expected = backtest("ma_crossover", bars, PARAMS, cash=100_000)
    path = tmp_path / "live.sqlite"
    venue = functools.partial(CrashingBroker, 100_000)  # it outlives the runner
    broker, store = crashing(path, *CRASH_POINTS[point], venue)
    with pytest.raises(Crash):
        run(bars, store, broker)
    assert store.get_meta("status") == "failed"
    store.close()
    state = StateStore(path)
    run(bars, state, broker)
    cids = Counter(o.client_order_id for o in broker.orders)
    assert max(cids.values()) == 1
    assert len(broker.orders) == len(expected.orders)
    fills = state.fills()
    assert list(pd.to_datetime(fills["time"])) == list(expected.fills["time"])
    np.testing.assert_allclose(fills["price"], expected.fills["price"], rtol=1e-12)
    np.testing.assert_allclose(fills["quantity"], expected.fills["quantity"], rtol=1e-12)
    assert state.pending_decisions() == []
    orders = state.orders()
    assert orders["decision_ns"].notna().all() and len(orders) == len(expected.orders)
    assert set(orders["status"]) == {"filled"}
    assert broker.get_account().equity == pytest.approx(expected.final_equity, rel=1e-12)
    assert len(state.equity_curve()) == len(bars)


def test_risk_events_are_written_as_the_reconciliation_reads_them(bars, tmp_path) -> None:
    config = RiskConfig.coerce({"max_order_notional": 50_000})
    expected = backtest("ma_crossover", bars, PARAMS, cash=100_000, risk=config)
    broker = SimulatedBroker(100_000)
    state = StateStore(tmp_path / "live.sqlite")
    run(bars, state, broker, risk=RiskEngine(config))
    events = state.events("risk")
    assert len(events) == len(expected.risk_events) > 0
    details = [json.loads(d) for d in events["detail"]]
    assert {tuple(sorted(d)) for d in details} == {("action", "bar_time", "reason", "rule")}
    assert [pd.Timestamp(d["bar_time"]) for d in details] == list(expected.risk_events["time"])
    assert [d["action"] for d in details] == list(expected.risk_events["action"])
    assert set(events["symbol"]) == {"SPX"}
