"""The catch-up feed hands out every published bar once, in order: the bars missed while
the runner was down, then the stream's, with any hole in the stream filled over REST."""

from __future__ import annotations

import pandas as pd

from workbench.broker import Bar
from workbench.errors import BrokerError, TransientBrokerError
from workbench.execution.config import RetryPolicy
from workbench.live.resilience import CatchUpFeed
from workbench.live.state import StateStore

T0 = pd.Timestamp("2024-03-04 14:30", tz="UTC")
MINUTE = pd.Timedelta("1min")


def bar(i: int, symbol: str = "AAA") -> Bar:
    return Bar(symbol, T0 + i * MINUTE, 1.0, 1.0, 1.0, 1.0, 100.0)


class Venue:
    """Alpaca's REST bars: everything published up to ``published`` (a minute index)."""

    def __init__(self, published: int, fail: int = 0) -> None:
        self.published, self.fail, self.calls = published, fail, []

    def __call__(self, symbols: list[str], after: pd.Timestamp | None) -> list[Bar]:
        self.calls.append(after)
        if self.fail:
            self.fail -= 1
            raise TransientBrokerError("503 from the bars endpoint")
        if after is None:
            return [bar(self.published)]
        return [bar(i) for i in range(self.published + 1) if T0 + i * MINUTE > after]


class FakeStream:
    """The stream: delivers ``minutes`` (a dropped connection loses the ones not listed);
    the venue publishes each minute as the stream reaches it."""

    interval = MINUTE

    def __init__(self, minutes: list[int], venue: Venue | None = None) -> None:
        self.minutes, self.venue = minutes, venue

    def start(self) -> None:
        pass

    def wait_subscribed(self, timeout: float) -> bool:
        return True

    def __iter__(self):
        for i in self.minutes:
            if self.venue is not None:
                self.venue.published = i
            yield [bar(i)]


def minutes(groups) -> list[int]:
    return [int((g[0].time - T0) / MINUTE) for g in groups]


def feed(tmp_path, stream, venue) -> CatchUpFeed:
    state = StateStore(tmp_path / "live.sqlite")
    return CatchUpFeed(stream, state, ["AAA"], venue, retry=RetryPolicy(base_delay=0.0),
                       sleep=lambda s: None)  # fmt: skip


def test_a_hole_in_the_stream_is_filled_over_rest(tmp_path) -> None:
    venue = Venue(published=0)
    stream = FakeStream([1, 2, 6, 7], venue)  # 3, 4 and 5 lost in a dropped connection
    assert minutes(feed(tmp_path, stream, venue)) == [1, 2, 3, 4, 5, 6, 7]


def test_bars_missed_while_down_come_first_then_the_stream_each_once(tmp_path) -> None:
    state = StateStore(tmp_path / "live.sqlite")
    state.record_bars([bar(0)])
    state.set_meta(feed_after_ns=str(bar(0).time.value))
    venue = Venue(published=4, fail=2)  # two 503s: retried
    f = CatchUpFeed(FakeStream([4, 5, 6]), state, ["AAA"], venue,
                    retry=RetryPolicy(base_delay=0.0), sleep=lambda s: None)  # fmt: skip
    assert minutes(f) == [1, 2, 3, 4, 5, 6]


def test_no_hole_no_rest_call(tmp_path) -> None:
    venue = Venue(published=0)
    f = feed(tmp_path, FakeStream([1, 2, 3]), venue)
    assert minutes(f) == [1, 2, 3]
    assert len(venue.calls) == 2  # the first start's "latest bar", the catch-up after it


class HoledStream(FakeStream):
    """A stream that says which of its bars may lack minutes (``live.lacks``)."""

    def __init__(self, minutes: list[int], holed: set[int], venue: Venue) -> None:
        super().__init__(minutes, venue)
        self.holed = holed

    def __iter__(self):
        for i in self.minutes:
            self.venue.published = i
            partial = Bar("AAA", T0 + i * MINUTE, 1.0, 1.0, 1.0, 1.0, 50.0)  # half the volume
            yield [partial if i in self.holed else bar(i)]

    def lacks(self, t: pd.Timestamp) -> bool:
        return int((t - T0) / MINUTE) in self.holed


def test_a_bar_that_may_lack_minutes_is_taken_over_rest(tmp_path) -> None:
    venue = Venue(published=0)
    got = list(feed(tmp_path, HoledStream([1, 2, 3], {2}, venue), venue))
    assert minutes(got) == [1, 2, 3]
    assert [g[0].volume for g in got] == [100.0, 100.0, 100.0]  # bar 2 is the venue's


def test_when_the_venue_cannot_give_it_the_streams_bar_is_used_and_said(tmp_path, caplog) -> None:
    class Refusing(Venue):
        def __call__(self, symbols, after):
            if after is not None and after > T0 + MINUTE:
                raise BrokerError("the venue refused the bars request")
            return super().__call__(symbols, after)

    venue = Refusing(published=0)
    with caplog.at_level("ERROR", logger="workbench.live.resilience"):
        got = list(feed(tmp_path, HoledStream([1, 2, 3], {2}, venue), venue))
    assert [g[0].volume for g in got] == [100.0, 50.0, 100.0]
    assert [r for r in caplog.records if getattr(r, "event", "") == "bar_partial"]
