"""An order held back (``conflict = wait``) goes out once after a venue outage in which the
working order it waits for ended, its stream update lost.

The strategy and bars are ``test_live_wait.py``'s: buy 10 at 100, a day limit to buy 5 at
95 that never fills, then sell the 10: held while the limit works. The limit expires when
bar 3 is traded; the sell is sent then and fills at 110 on bar 4. Here the venue goes down
while the runner waits for bar 3, with the market-data stream: it trades bar 3 during the
outage (the limit expires) and what its stream said of it is lost. Once the venue answers
the runner reconciles, learns the end by a lookup, and the sell must go out once, at bar 3,
recorded: the run ends as the uninterrupted one (and the backtest) does.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from tests.integration.live.test_live_wait import WAIT, AddThenExit, frame, sold_once
from workbench.backtesting.engine import BacktestConfig, Engine
from workbench.broker import AccountSnapshot, Bar
from workbench.errors import TransientBrokerError
from workbench.live.outage import OutagePolicy
from workbench.live.replay import ReplayFeed
from workbench.live.runner import LiveRunner
from workbench.live.state import StateStore
from workbench.sim.broker import SimulatedBroker

DOWN = TransientBrokerError("get account: 503 service unavailable", code=50310000)
#: The bar the runner waits for when the venue goes down (the limit expires in it).
AT = 3


class DownVenue(SimulatedBroker):
    """The simulated venue; :meth:`go_down` starts an outage: the next ``reads`` account
    reads fail, and at the first the venue trades ``bar`` with nobody listening."""

    def __init__(self) -> None:
        super().__init__(100_000.0)
        self.down = 0
        self.bar: Bar | None = None
        self.refused = 0

    def go_down(self, bar: Bar, reads: int = 3) -> None:
        self.bar, self.down = bar, reads

    def get_account(self) -> AccountSnapshot:
        if self.down == 0:
            return super().get_account()
        self.down -= 1
        self.refused += 1
        if self.bar is not None:
            trade(self, self.bar)
            self.bar = None
            self.drain_updates()  # the stream is down: its news of the bar is lost
        raise DOWN


def trade(venue: SimulatedBroker, bar: Bar) -> None:
    venue.process_bar(bar.symbol, bar.time, bar.open, bar.high, bar.low, bar.close, bar.volume)


class OutageFeed:
    """The replay driving the venue (as ``SimulatedVenueFeed`` does), the venue and the
    stream going down while the runner waits for bar :data:`AT`: no bar comes (an empty
    group) and ``connected()`` says so, so the runner asks the venue, which is down."""

    def __init__(self, venue: DownVenue) -> None:
        self.venue = venue
        self.up = True

    def __iter__(self) -> Iterator[list[Bar]]:
        for i, group in enumerate(ReplayFeed({"X": frame()})):
            (bar,) = group
            if i == AT:
                self.up = False
                self.venue.go_down(bar)  # traded by the venue during its outage
                yield []
                self.up = True
            else:
                trade(self.venue, bar)
            yield group

    def connected(self) -> bool:
        return self.up

    def is_stale(self, now: pd.Timestamp) -> bool:
        return False


def test_the_waiting_order_goes_out_once_after_an_outage_that_lost_the_end(tmp_path) -> None:
    venue = DownVenue()
    state = StateStore(tmp_path / "live.sqlite")
    policy = OutagePolicy(base_delay=0.001, max_delay=0.002, stream_grace=0.0)
    runner = LiveRunner(
        AddThenExit(), ["X"], venue, OutageFeed(venue), state, execution=WAIT, outage=policy
    )
    summary = runner.run()
    assert summary.stopped_by == "feed ended" and venue.refused == 3
    assert list(state.events()["kind"]) == ["outage_started", "outage_ended"]
    sell = sold_once(venue, state)
    assert sell.created_at == frame().index[AT]  # sent at the bar it waited for, as ever
    backtest = Engine(AddThenExit(), {"X": frame()}, BacktestConfig(cash=100_000.0), execution=WAIT)
    backtest.run()
    live = [(o.client_order_id, o.status, o.average_price) for o in venue.orders]
    assert live == [(o.client_order_id, o.status, o.average_price) for o in backtest.broker.orders]
    assert state.open_orders() == [] and state.events("holdings_mismatch").empty
    state.close()
