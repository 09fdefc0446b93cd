"""A paced replay (``workbench live --speed``) stops at once: a stop asked in the pause
between two bars (SIGTERM, Ctrl-C: :meth:`LiveRunner.stop`, which stops the feed) ends
the pause, and neither the runner nor the simulated venue gets another bar.

The pace is one bar an hour, so a pause that a stop did not end outlasts every wait here:
the waits are bounded, and none is a sleep.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from workbench.broker import Bar
from workbench.live.replay import ReplayFeed, SimulatedVenueFeed
from workbench.live.runner import LiveRunner
from workbench.live.signals import STOP_REQUESTED
from workbench.live.state import StateStore
from workbench.sim.broker import SimulatedBroker
from workbench.strategy import Strategy

HOURLY = 1 / 3600  # bars per second
WITHIN = 30.0  # seconds: far less than the hour a pause lasts


def bars(n: int = 5) -> pd.DataFrame:
    index = pd.bdate_range("2024-01-02", periods=n, tz="UTC")
    return pd.DataFrame(
        {"open": 100.0, "high": 101.0, "low": 99.0, "close": 100.0, "volume": 1_000.0},
        index=index,
    )


def consume(feed: Any, got: list[list[Bar]], first: threading.Event) -> threading.Thread:
    """Iterate ``feed`` on a thread of its own, as the runner does; ``first`` is set once
    the first bar is in (the thread then asks for the next: the pause)."""

    def run() -> None:
        for group in feed:
            got.append(group)
            first.set()

    thread = threading.Thread(target=run, name="replay-consumer", daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("timeframe", [None, "1Day"])
def test_a_stop_in_the_pause_ends_the_replay_with_no_bar_more(timeframe) -> None:
    feed = ReplayFeed({"X": bars()}, speed=HOURLY, timeframe=timeframe, session="all")
    got: list[list[Bar]] = []
    first = threading.Event()
    thread = consume(feed, got, first)
    assert first.wait(WITHIN), "the first bar never came"
    feed.stop()
    thread.join(WITHIN)
    assert not thread.is_alive(), "the pause outlasted the stop"
    assert [g[0].time for g in got] == [bars().index[0]]


def test_a_stopped_replay_plays_again_from_the_start() -> None:
    """The runner stops its feed whenever it ends: a runner run again replays anew."""
    feed = ReplayFeed({"X": bars()})
    feed.stop()  # nothing in progress: nothing to end
    assert len(list(feed)) == 5
    first_run = iter(feed)
    next(first_run)
    feed.stop()
    assert list(first_run) == []  # the replay in progress ends
    assert len(list(feed)) == 5  # the next one is whole


class Watched:
    """The replay between the venue and the runner, saying when the runner has asked for
    the bar after its first (the replay then pauses): a stop after that is in the pause."""

    def __init__(self, feed: ReplayFeed) -> None:
        self.feed = feed
        self.asked = threading.Event()

    def __iter__(self) -> Iterator[list[Bar]]:
        for group in self.feed:
            yield group
            self.asked.set()  # the runner is done with this bar and wants the next

    def is_stale(self, now: pd.Timestamp) -> bool:
        return self.feed.is_stale(now)

    def stop(self) -> None:
        self.feed.stop()


class Buyer(Strategy):
    """Wants 10 shares at every bar: each bar the venue processed would show in its fills."""

    def on_bar(self, ctx) -> None:
        ctx.target(quantity=10)


def test_a_runner_stopped_between_paced_bars_handles_no_more(tmp_path) -> None:
    broker = SimulatedBroker(100_000.0)
    watched = Watched(ReplayFeed({"X": bars()}, speed=HOURLY))
    state = StateStore(tmp_path / "live.sqlite")
    runner = LiveRunner(Buyer(), ["X"], broker, SimulatedVenueFeed(watched, broker), state)
    done: list[Any] = []
    thread = threading.Thread(target=lambda: done.append(runner.run()), daemon=True)
    thread.start()
    try:
        assert watched.asked.wait(WITHIN), "the runner never finished its first bar"
        runner.stop()  # what SIGTERM and a first Ctrl-C do
        thread.join(WITHIN)
        assert not thread.is_alive(), "the runner still waits for its next bar"
        (summary,) = done
        assert (summary.bars, summary.stopped_by) == (1, STOP_REQUESTED)
        assert state.last_bar_ns() == bars().index[0].value
        assert broker.orders and not broker.get_positions()  # the venue saw no second bar
    finally:
        state.close()
