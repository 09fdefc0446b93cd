"""A live runner that dies around the protective exit of a partly filled entry sends it
once: restarted on the same state file, it finds the exit (or sends it, if it never went
out), and the stop sells what the entry bought.

The venue is the simulated broker with a volume cap (it outlives the runner), as in
``test_crash_points.py``; the bars and the day bracket are ``test_protect.py``'s: 4 of 10
bought on bar 1, the entry expired with its legs when bar 2 comes, the stop at 90 passed on
bar 3.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.integration.live.test_crash_points import Crash, CrashingBroker, crashing
from tests.unit.execution.test_protect import DayBracket, frame
from workbench.live.replay import ReplayFeed, SimulatedVenueFeed
from workbench.live.runner import LiveRunner
from workbench.live.state import StateStore
from workbench.sim.broker import SimulatedBroker


class CappedBroker(CrashingBroker):
    """The crashing venue, half of each bar's volume at most."""

    def __init__(self, nth: int | None = None, before: bool = True) -> None:
        super().__init__(100_000.0, nth, before)
        self.volume_limit = 0.5


def run(state: StateStore, broker: SimulatedBroker) -> Any:
    feed = SimulatedVenueFeed(ReplayFeed({"X": frame()}), broker)
    return LiveRunner(DayBracket(), ["X"], broker, feed, state).run()


def protective(order: Any, *args: Any) -> bool:
    return (order.client_order_id or "").endswith("-px")


CRASHES = {
    # the exit is at the venue, the runner never recorded it (nor the entry's end)
    "sent, not recorded": ("record_order", 1, protective),
    # the runner learned of the entry's end and died before the exit went out
    "before sending": ("submit", 2, True),
    # the exit reached the venue, the runner never heard its answer
    "sent, no answer": ("submit", 2, False),
}


@pytest.mark.parametrize("crash", list(CRASHES))
def test_a_restart_sends_the_protective_exit_once(tmp_path, crash) -> None:
    path = tmp_path / "live.sqlite"
    broker, store = crashing(path, *CRASHES[crash], CappedBroker)
    with pytest.raises(Crash):
        run(store, broker)
    store.close()
    state = StateStore(path)
    run(state, broker)
    cids = Counter(o.client_order_id for o in broker.orders)
    assert max(cids.values()) == 1
    guard = [o for o in broker.orders if protective(o)]
    assert len(guard) == 1 and guard[0].request.quantity == 4
    assert broker.portfolio.quantity("X") == 0
    fills = state.fills()
    assert list(zip(fills["side"], fills["quantity"], fills["price"], strict=True)) == [
        ("buy", 4, 100.0), ("sell", 4, 90.0),
    ]  # fmt: skip
    orders = state.orders().set_index("client_order_id")["status"]
    assert orders[guard[0].client_order_id] == "canceled"  # the oco, its stop leg filled
    assert orders[f"{guard[0].client_order_id}-sl"] == "filled"
    state.close()


def test_an_uninterrupted_run_protects_the_four_shares(tmp_path) -> None:
    broker = CappedBroker()
    state = StateStore(tmp_path / "live.sqlite")
    run(state, broker)
    assert broker.portfolio.quantity("X") == 0
    assert sum(protective(o) for o in broker.orders) == 1
    state.close()
