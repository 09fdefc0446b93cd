"""A live runner that dies around an order it held back (``conflict = wait``) sends it once.

The strategy buys 10 (filled at 100 on bar 1), then a day limit to buy 5 more at 95 that
never fills (bar 1), then sells the 10 (bar 2): held, the buy limit works. The limit expires
when bar 3 comes; the sell is sent then and fills at 110 on bar 4. The venue is the
simulated broker (it outlives the runner), as in ``test_crash_points.py``; while the runner
is down the venue trades the next bar (at 110 again: an order sent on a restart fills at
the same price), and the dead runner's stream is gone with what it would have told.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd
import pytest

from tests.integration.live.test_crash_points import Crash, CrashingBroker, crashing
from workbench.backtesting.engine import BacktestConfig, Engine
from workbench.execution.config import ConflictPolicy, ExecutionConfig
from workbench.live.replay import ReplayFeed, SimulatedVenueFeed
from workbench.live.runner import LiveRunner
from workbench.live.state import StateStore
from workbench.orders import TERMINAL
from workbench.sim.broker import SimulatedBroker
from workbench.strategy import Strategy

T0 = pd.Timestamp("2024-01-01", tz="UTC")
BARS = [
    (100.0, 101.0, 99.0, 100.0),  # buy 10
    (100.0, 101.0, 99.0, 100.0),  # bought at 100; a day limit to buy 5 at 95
    (100.0, 101.0, 99.0, 100.0),  # the limit works, not reached; sell 10: held
    (105.0, 106.0, 104.0, 105.0),  # the limit's session is over: it expires, the sell goes
    (110.0, 111.0, 109.0, 110.0),  # sold at 110
    (110.0, 111.0, 109.0, 110.0),
]
WAIT = ExecutionConfig(conflict=ConflictPolicy.WAIT)


def frame() -> pd.DataFrame:
    index = pd.date_range(T0, periods=len(BARS), freq="D", tz="UTC")
    out = pd.DataFrame(BARS, index=index, columns=["open", "high", "low", "close"])
    out["volume"] = 1_000.0
    return out


class AddThenExit(Strategy):
    """Buy 10, then a buy limit below the market, then sell everything (see the module)."""

    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    def on_bar(self, ctx) -> None:
        if self.n == 0:
            ctx.buy(10, reason="IN")
        elif self.n == 1:
            ctx.buy(5, type="limit", limit=95.0, tif="day", reason="ADD")
        elif self.n == 2:
            ctx.sell(10, reason="OUT")
        self.n += 1


class Venue(CrashingBroker):
    """The crashing venue, which can trade a bar while no runner is there."""

    def __init__(self, nth: int | None = None, before: bool = True) -> None:
        super().__init__(100_000.0, nth, before)
        self.last = T0

    def process_bar(self, symbol: str, time: pd.Timestamp, *row: float) -> Any:
        self.last = max(self.last, time)
        return super().process_bar(symbol, time, *row)

    def restart(self) -> None:
        """The venue trades the next bar before a runner is back; what the dead runner's
        stream would have told is gone with it (a new connection hears none of it)."""
        time = self.last + pd.Timedelta(days=1)
        self.process_bar("X", time, *frame().loc[time])
        self.drain_updates()


def run(state: StateStore, broker: SimulatedBroker) -> Any:
    feed = SimulatedVenueFeed(ReplayFeed({"X": frame()}), broker)
    return LiveRunner(AddThenExit(), ["X"], broker, feed, state, execution=WAIT).run()


def out(order: Any, *args: Any) -> bool:
    return order.request.reason == "OUT"


def add_ended(order: Any, *args: Any) -> bool:
    return order.request.reason == "ADD" and order.status in TERMINAL


#: Where the runner dies: (method, nth call, which calls), the sell's status in the state
#: then (the limit is open there in each case), and whether the venue has the sell.
CRASHES = {
    # held, the working limit not yet done: nothing to send yet
    "while it waits": ("record_bars", 4, None, "waiting", False),
    # the limit's end learned, the sell not sent
    "before sending": ("submit", 3, True, "waiting", False),
    # the sell reached the venue, the runner never heard its answer
    "sent, no answer": ("submit", 3, False, "waiting", True),
    # the sell at the venue, the runner died recording it
    "sent, not recorded": ("record_order", 1, out, "waiting", True),
    # the sell recorded, the limit's end not
    "the end not recorded": ("record_order", 1, add_ended, "new", True),
}


@pytest.mark.parametrize("crash", list(CRASHES))
def test_a_restart_sends_the_waiting_order_once(tmp_path, crash) -> None:
    path = tmp_path / "live.sqlite"
    method, nth, when, status, sent = CRASHES[crash]
    broker, store = crashing(path, method, nth, when, Venue)
    with pytest.raises(Crash):
        run(store, broker)
    at_crash = store.orders()
    assert dict(zip(at_crash["reason"], at_crash["status"], strict=True)) == {
        "IN": "filled", "ADD": "new", "OUT": status,
    }  # fmt: skip
    assert [o.request.reason for o in broker.orders] == ["IN", "ADD", "OUT"][: 3 if sent else 2]
    store.close()
    broker.restart()
    state = StateStore(path)
    run(state, broker)
    sold_once(broker, state)
    state.close()


def sold_once(broker: SimulatedBroker, state: StateStore) -> Any:
    """The end of the run, however it got there: one sell at the venue, filled at 110; the
    fills buy 10 @ 100 and sell 10 @ 110 recorded once, every order ended. The sell."""
    assert max(Counter(o.client_order_id for o in broker.orders).values()) == 1
    (sell,) = [o for o in broker.orders if out(o)]
    assert (sell.status, sell.filled_quantity, sell.average_price) == ("filled", 10, 110)
    assert broker.portfolio.quantity("X") == 0
    fills = state.fills()
    assert list(zip(fills["side"], fills["quantity"], fills["price"], strict=True)) == [
        ("buy", 10, 100.0), ("sell", 10, 110.0),
    ]  # fmt: skip
    orders = state.orders().set_index("client_order_id")["status"]
    assert orders[sell.client_order_id] == "filled"
    assert sorted(orders) == ["expired", "filled", "filled"]
    return sell


def test_an_uninterrupted_run_holds_the_sell_as_the_backtest_does(tmp_path) -> None:
    broker = SimulatedBroker(100_000.0)
    state = StateStore(tmp_path / "live.sqlite")
    run(state, broker)
    backtest = Engine(AddThenExit(), {"X": frame()}, BacktestConfig(cash=100_000.0), execution=WAIT)
    backtest.run()
    live = [(o.client_order_id, o.status, o.average_price) for o in broker.orders]
    assert live == [(o.client_order_id, o.status, o.average_price) for o in backtest.broker.orders]
    (sell,) = [o for o in broker.orders if out(o)]
    assert sell.created_at == frame().index[3]  # sent when the limit's end was learned
    fills = state.fills()
    assert list(zip(fills["side"], fills["price"], strict=True)) == [
        ("buy", 100.0), ("sell", 110.0),
    ]  # fmt: skip
    assert sorted(state.orders()["status"]) == ["expired", "filled", "filled"]
    state.close()
