"""Venue outages in the runner: degraded while the venue does not answer, probes with
capped jittered backoff, reconciliation before trading again, a bounded wait, and
permanent errors still stopping the run."""

from __future__ import annotations

import logging
import random
import re
import threading

import pytest

from workbench import backtest, load_bars
from workbench.errors import BrokerError, ConfigError, TransientBrokerError, VenueOutageTooLong
from workbench.execution.config import ExecutionConfig, RetryPolicy
from workbench.live.outage import OutagePolicy, StopDuringOutage, VenueGuard
from workbench.live.replay import ReplayFeed, SimulatedVenueFeed
from workbench.live.runner import LiveRunner
from workbench.live.signals import CTRL_C, CTRL_C_AGAIN
from workbench.live.state import StateStore
from workbench.live.systemd import Watchdog
from workbench.sim.broker import SimulatedBroker
from workbench.strategy import make_strategy

PARAMS = {"fast": 5, "slow": 15}
DOWN = TransientBrokerError("get account: Alpaca said 503 service unavailable", code=50310000)


def test_the_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    policy = OutagePolicy(base_delay=1.0, max_delay=8.0, jitter=0.25)
    rng = random.Random(3)
    waits = [policy.delay(n, rng) for n in range(1, 41)]
    for n, wait in enumerate(waits, start=1):
        nominal = min(2.0 ** (n - 1), 8.0)
        assert 0.75 * nominal <= wait <= 1.25 * nominal
    assert len({round(w, 6) for w in waits[5:]}) == len(waits[5:])  # jittered, not in step
    assert max(waits) <= 10.0
    with pytest.raises(ConfigError, match="cap"):
        OutagePolicy(base_delay=5.0, max_delay=1.0)


class Venue:
    """A venue down for its first ``down`` probes."""

    def __init__(self, down: int, state: StateStore | None = None) -> None:
        self.down, self.probes, self.state, self.seen = down, 0, state, []

    def probe(self) -> None:
        self.probes += 1
        if self.state is not None:
            self.seen.append(self.state.get_meta("status"))
        if self.probes <= self.down:
            raise DOWN


def test_degraded_until_the_venue_answers_then_reconciled_and_running(tmp_path, caplog) -> None:
    state = StateStore(tmp_path / "s.sqlite")
    state.set_meta(status="running")
    venue = Venue(down=4, state=state)
    reconciled: list[int] = []
    beats: list[int] = []
    guard = VenueGuard(
        venue.probe, lambda: reconciled.append(venue.probes), state,
        OutagePolicy(base_delay=0.001, max_delay=0.004), strategy="ma",
        alive=lambda: beats.append(venue.probes),
    )  # fmt: skip
    with caplog.at_level(logging.INFO, logger="workbench"):
        guard.wait(DOWN)
    assert venue.seen == ["degraded"] * 5  # every probe while degraded
    assert reconciled == [5]  # once, after the first answer, before trading again
    assert beats == [0, 1, 2, 3, 4]  # alive before each probe: heartbeat and watchdog
    assert state.get_meta("status") == "running"
    assert len(guard.waits) == 5 and max(guard.waits) <= 0.004 * 1.25
    assert list(state.events()["kind"]) == ["outage_started", "outage_ended"]
    events = [r.__dict__.get("event") for r in caplog.records]
    assert events.count("outage_started") == events.count("outage_ended") == 1
    assert "503 service unavailable" in caplog.records[events.index("outage_started")].getMessage()


def test_a_failure_during_the_reconciliation_means_still_down(tmp_path) -> None:
    state = StateStore(tmp_path / "s.sqlite")
    venue = Venue(down=0)
    calls: list[int] = []
    guard: VenueGuard

    def reconcile() -> None:
        calls.append(1)
        if len(calls) < 3:  # a read inside it fails: its own wait raises, the outer goes on
            guard.wait(DOWN)

    guard = VenueGuard(venue.probe, reconcile, state, OutagePolicy(0.001, 0.002))
    guard.wait(DOWN)
    assert len(calls) == 3 and venue.probes == 3 and guard.outages == 1


def test_an_outage_longer_than_the_maximum_stops_with_exit_code_5(tmp_path) -> None:
    state = StateStore(tmp_path / "s.sqlite")
    now = [0.0]

    def probe() -> None:
        now[0] += 40.0  # each probe: 40 s of outage
        raise DOWN

    policy = OutagePolicy(base_delay=0.001, max_delay=0.001, max_outage=100.0)
    guard = VenueGuard(probe, lambda: None, state, policy, clock=lambda: now[0])
    with pytest.raises(VenueOutageTooLong, match="--max-outage") as exc:
        guard.wait(DOWN)
    assert exc.value.exit_code == 5
    assert list(state.events()["kind"]) == ["outage_started", "outage_too_long"]


def test_a_stop_request_ends_the_wait(tmp_path) -> None:
    stop = threading.Event()
    stop.set()
    guard = VenueGuard(Venue(down=100).probe, lambda: None, StateStore(tmp_path / "s.sqlite"),
                       OutagePolicy(0.001, 0.001), stop=stop)  # fmt: skip
    with pytest.raises(StopDuringOutage):
        guard.wait(DOWN)


def test_waiting_for_the_venue_keeps_the_systemd_watchdog_fed() -> None:
    now = [0.0]
    dog = Watchdog(10.0, notify=lambda message: True, clock=lambda: now[0])
    dog.busy()  # a bar began, then the venue went down
    for t in (8.0, 16.0, 24.0):
        now[0] = t
        dog.alive()
        assert dog.healthy()
    now[0] = 40.0  # a real hang: no probe for longer than the interval
    assert not dog.healthy()
    dog.idle()
    dog.alive()  # waiting for a bar (the stream down): stays idle
    now[0] = 100.0
    assert dog.healthy()


class FlakyBroker(SimulatedBroker):
    """The simulated venue, down (every call a 503) for ``calls`` calls from the first
    ``first`` call (``get_account``: the bar's snapshot) on bar index ``at`` or later."""

    def __init__(
        self, cash: float, *, at: int, calls: int, first: str = "get_account",
        error: Exception = DOWN,
    ) -> None:  # fmt: skip
        super().__init__(cash)
        self.at, self.calls, self.first, self.error = at, calls, first, error
        self.bar, self.failed = -1, 0

    def _maybe_down(self, name: str) -> None:
        started = self.failed > 0 or (name == self.first and self.bar >= self.at)
        if started and self.failed < self.calls:
            self.failed += 1
            raise self.error

    def get_account(self):
        self._maybe_down("get_account")
        return super().get_account()

    def get_positions(self):
        self._maybe_down("get_positions")
        return super().get_positions()

    def get_order_by_client_id(self, client_order_id):
        self._maybe_down("get_order_by_client_id")
        return super().get_order_by_client_id(client_order_id)

    def submit_order(self, request):
        self._maybe_down("submit_order")
        return super().submit_order(request)


class CountingFeed(SimulatedVenueFeed):
    def __iter__(self):
        for group in super().__iter__():
            self.broker.bar += 1  # type: ignore[attr-defined]
            yield group


def _run(tmp_path, broker: SimulatedBroker, name: str):
    bars = load_bars("sample:SPX", end="1999-12-31").iloc[:60]  # orders on 6 bars
    state = StateStore(tmp_path / f"{name}.sqlite")
    runner = LiveRunner(
        make_strategy("ma_crossover", PARAMS), ["SPX"], broker,
        CountingFeed(ReplayFeed({"SPX": bars}), broker), state,
        execution=ExecutionConfig(retry=RetryPolicy(max_attempts=2, base_delay=0.0)),
        outage=OutagePolicy(base_delay=0.001, max_delay=0.002, max_outage=30.0),
    )  # fmt: skip
    return runner, state, bars


@pytest.mark.parametrize(
    ("at", "first"),
    [(30, "get_account"), (39, "get_account"), (39, "submit_order")],
    ids=["between-decisions", "at-a-decision-snapshot", "as-its-order-goes-out"],
)
def test_the_runner_waits_through_an_outage_and_trades_as_without_it(tmp_path, at, first) -> None:
    broker = FlakyBroker(100_000, at=at, calls=25, first=first)
    runner, state, bars = _run(tmp_path, broker, "outage")
    summary = runner.run()
    assert summary.stopped_by == "feed ended" and broker.failed == 25
    reference = backtest("ma_crossover", bars, PARAMS)
    assert len(broker.orders) == len(reference.orders) > 4
    assert [o.created_at for o in broker.orders] == list(reference.orders["created_at"])
    assert broker.get_account().equity == pytest.approx(reference.final_equity, rel=1e-9)
    cids = list(state.orders()["client_order_id"])
    assert len(cids) == len(set(cids)) == len(broker.orders)  # none sent twice
    assert list(state.events("outage_started")["kind"]) == ["outage_started"]
    assert len(state.events("outage_ended")) == 1
    assert state.get_meta("status") == "stopped"


def test_a_permanent_error_still_stops_the_runner(tmp_path) -> None:
    refused = BrokerError("get account: Alpaca refused the keys (401)")
    broker = FlakyBroker(100_000, at=20, calls=1, error=refused)
    runner, state, _ = _run(tmp_path, broker, "refused")
    with pytest.raises(BrokerError, match="401"):
        runner.run()
    assert state.get_meta("status") == "failed"
    assert state.events("outage_started").empty


def test_ctrl_c_in_an_outage_stops_the_runner_and_says_so(tmp_path) -> None:
    broker = FlakyBroker(100_000, at=20, calls=10**6)  # down from bar 20 on, for good
    runner, state, _ = _run(tmp_path, broker, "ctrl-c")
    probe = runner.guard.probe

    def probe_then_ctrl_c() -> None:  # what the signal thread does, on the third probe
        if broker.failed == 3:
            runner.stop(CTRL_C, CTRL_C_AGAIN)
        probe()

    runner.guard.probe = probe_then_ctrl_c
    summary = runner.run()
    assert summary.stopped_by == f"{CTRL_C} during a venue outage" and summary.bars == 20
    meta = state.meta()
    assert (meta["status"], meta["stopped_by"]) == ("stopped", summary.stopped_by)


def test_live_status_and_the_dashboard_show_a_degraded_run(tmp_path) -> None:
    from workbench.dashboard import create_app, snapshot
    from workbench.live.status import read_status

    path = tmp_path / "live.sqlite"
    store = StateStore(path)
    store.set_meta(status="running", strategy="ma", started_at="2024-01-02T00:00:00+00:00")
    guard = VenueGuard(Venue(down=0).probe, lambda: None, store, OutagePolicy(0.001, 0.001),
                       alive=store.heartbeat)  # fmt: skip
    seen: list[tuple[str, str, str]] = []

    def look() -> None:  # what a person sees while the runner waits
        page = create_app(path).test_client().get("/").get_data(as_text=True)
        badge = re.search(r'class="badge (\w+)" id="run-state">(\w+)<', page)
        assert badge is not None
        seen.append((read_status(path)["status"], badge.group(1), badge.group(2)))
        assert snapshot(path)["status"]["heartbeat_age_s"] < 60  # the heartbeat goes on

    guard.probe = look
    guard.wait(DOWN)
    assert seen == [("degraded", "degraded", "degraded")]
    assert read_status(path)["status"] == "running"
    store.set_meta(status="degraded", heartbeat_unix="1000000000")  # died while degraded
    assert snapshot(path)["status"]["state"] == "stale"
    store.close()


def test_a_stream_down_past_its_grace_makes_the_guard_ask_the_venue(tmp_path) -> None:
    now = [0.0]
    venue = Venue(down=2)
    state = StateStore(tmp_path / "s.sqlite")
    policy = OutagePolicy(base_delay=0.001, max_delay=0.001, stream_grace=10.0)
    guard = VenueGuard(venue.probe, lambda: None, state, policy, clock=lambda: now[0])
    up = [True]
    for t in (0.0, 5.0, 20.0):  # connected: nothing to ask
        now[0] = t
        guard.idle(lambda: up[0])
    up[0] = False
    for t in (21.0, 30.0):  # down, within the grace
        now[0] = t
        guard.idle(lambda: up[0])
    assert venue.probes == 0
    now[0] = 31.5  # down for longer than the grace: the venue is asked, is down: outage
    guard.idle(lambda: up[0])
    assert venue.probes == 3 and guard.outages == 1  # one ask, two probes in the wait
    now[0] = 35.0  # still no stream, the venue answers: asked again only after the grace
    guard.idle(lambda: up[0])
    assert venue.probes == 3
    now[0] = 42.0
    guard.idle(lambda: up[0])
    assert venue.probes == 4 and guard.outages == 1  # it answered: no outage
    guard.idle(None)  # a feed that cannot say: nothing
    assert list(state.events()["kind"]) == ["outage_started", "outage_ended"]
