"""The feed's ``dailyBars``: Alpaca emits the session so far after each minute mark, so a
day is handed out only once its session is over (on the venue's clock or the stream's)."""

from __future__ import annotations

import pandas as pd

from workbench.broker import Bar
from workbench.brokers.alpaca_feed import AlpacaBarFeed

# 2024-01-02, a Tuesday: the session is 14:30-21:00 UTC (09:30-16:00 New York). Alpaca
# stamps its daily bars New York midnight (05:00 UTC); the feed labels them 00:00 UTC.
DAY = pd.Timestamp("2024-01-02", tz="UTC")
STAMP = pd.Timestamp("2024-01-02 05:00", tz="UTC")


class FakeClock:
    """The venue's clock, set by the test."""

    def __init__(self, now: str) -> None:
        self.t = pd.Timestamp(now, tz="UTC")

    def now(self) -> pd.Timestamp:
        return self.t

    def is_open(self) -> bool:
        return False  # no staleness in these tests


def daily(symbol: str, close: float, volume: float, stamp: pd.Timestamp = STAMP) -> Bar:
    return Bar(symbol, stamp, 100.0, max(100.0, close), min(100.0, close), close, volume)


def feed_of(symbols: list[str], market: FakeClock | None, wall: list[float]) -> AlpacaBarFeed:
    feed = AlpacaBarFeed(
        symbols, "k", "s", timeframe="1Day", market=market, settle=5.0, clock=lambda: wall[0]
    )
    feed._thread = object()  # as if started: iterate what is queued
    feed.idle_timeout = -1.0  # end each iteration at the first quiet moment
    return feed


def drain(feed: AlpacaBarFeed, *messages: tuple[str, Bar]) -> list[list[Bar]]:
    """Queue ``messages`` and take what the feed hands out until it is quiet."""
    for message in messages:
        feed._queue.put(message)
    return list(feed)


def test_a_daily_bar_of_the_session_so_far_is_not_handed_out_as_the_day():
    market, wall = FakeClock("2024-01-02 14:31:01"), [1000.0]  # 09:31 New York
    feed = feed_of(["AAA"], market, wall)
    assert drain(feed, ("d", daily("AAA", 101.0, 10.0))) == []  # 09:30 so far
    market.t, wall[0] = pd.Timestamp("2024-01-02 18:00:01", tz="UTC"), wall[0] + 60
    assert drain(feed, ("d", daily("AAA", 103.0, 500.0))) == []  # still the session
    market.t = pd.Timestamp("2024-01-02 21:00:01", tz="UTC")  # the bar emitted at the close
    (group,) = drain(feed, ("d", daily("AAA", 104.0, 900.0)))
    assert group[0].time == DAY and (group[0].close, group[0].volume) == (104.0, 900.0)
    assert not feed.lacks(DAY)  # the venue's own daily bar: whole
    market.t = pd.Timestamp("2024-01-02 21:01:01", tz="UTC")
    assert drain(feed, ("d", daily("AAA", 104.5, 950.0))) == []  # the day is out: once
    assert feed._days == {}


def test_the_day_waits_for_every_symbols_bar_from_after_the_close():
    market, wall = FakeClock("2024-01-02 20:59:01"), [1000.0]
    feed = feed_of(["AAA", "BBB"], market, wall)
    assert drain(feed, ("d", daily("AAA", 101.0, 10.0)), ("d", daily("BBB", 51.0, 5.0))) == []
    market.t = pd.Timestamp("2024-01-02 21:00:01", tz="UTC")
    assert drain(feed, ("d", daily("AAA", 102.0, 20.0))) == []  # BBB's may still come
    (group,) = drain(feed, ("d", daily("BBB", 52.0, 6.0)))
    assert [(b.symbol, b.close) for b in group] == [("AAA", 102.0), ("BBB", 52.0)]


def test_without_a_bar_after_the_close_the_latest_is_the_day_once_settled():
    """No bar came after the close (no trade in the last minute): the close plus the settle
    time on the venue's clock, or that long of ours while its clock stands still."""
    market, wall = FakeClock("2024-01-02 20:59:01"), [1000.0]
    feed = feed_of(["AAA"], market, wall)
    assert drain(feed, ("d", daily("AAA", 101.0, 10.0))) == []
    market.t = pd.Timestamp("2024-01-02 21:00:00", tz="UTC")
    assert drain(feed) == []  # just closed: the bar emitted at the close may come
    wall[0] += 4.9
    assert drain(feed) == []
    wall[0] += 0.1
    (group,) = drain(feed)
    assert (group[0].time, group[0].volume) == (DAY, 10.0)
    feed2 = feed_of(["AAA"], FakeClock("2024-01-02 20:59:01"), [0.0])
    assert drain(feed2, ("d", daily("AAA", 101.0, 10.0))) == []
    feed2.market.t = pd.Timestamp("2024-01-02 21:00:05", tz="UTC")  # type: ignore[union-attr]
    assert len(drain(feed2)) == 1


def test_without_the_venues_clock_the_stream_says_when_the_day_is_over():
    """No ``market``: the machine's clock is not the venue's (a replay's days are not
    today), so a day goes out with the next day's first daily bar or with the first minute
    bar at or after its close, and not before."""
    wall = [1000.0]
    feed = feed_of(["AAA"], None, wall)
    assert drain(feed, ("d", daily("AAA", 101.0, 10.0)), ("d", daily("AAA", 103.0, 30.0))) == []
    wall[0] += 86400.0
    (group,) = drain(feed, ("d", daily("AAA", 99.0, 5.0, STAMP + pd.Timedelta(days=1))))
    assert (group[0].time, group[0].volume) == (DAY, 30.0)
    assert drain(feed) == []  # the next day waits for its own end
    after_close = pd.Timestamp("2024-01-03 21:00", tz="UTC")
    (group,) = drain(feed, ("b", Bar("AAA", after_close, 1.0, 1.0, 1.0, 1.0, 1.0)))
    assert (group[0].time, group[0].volume) == (DAY + pd.Timedelta(days=1), 5.0)
    assert not feed.lacks(group[0].time)


def test_a_minute_bar_inside_the_session_does_not_end_the_day():
    feed = feed_of(["AAA"], None, [1000.0])
    inside = pd.Timestamp("2024-01-02 20:58", tz="UTC")  # 15:58 New York
    got = drain(
        feed,
        ("d", daily("AAA", 101.0, 10.0)),
        ("b", Bar("AAA", inside, 1.0, 1.0, 1.0, 1.0, 1.0)),
    )
    assert got == []


def test_with_minutes_flowing_the_bar_after_the_last_minutes_is_the_day():
    """Alpaca sends the last minute's bar and the whole session's daily bar at the close's
    mark; a clock past the close says nothing of bars still queued (a backlog)."""
    market = FakeClock("2024-01-02 21:30")  # far past the close: the queue is behind
    feed = feed_of(["AAA"], market, [1000.0])
    feed.settle = 1e9  # no day out on the clock here: only by the stream's order
    feed.aggregator.add = lambda group: []  # type: ignore[method-assign]  # the daily bar's
    at = pd.Timestamp("2024-01-02 20:58", tz="UTC")  # 15:58 New York
    got = drain(
        feed,
        ("b", Bar("AAA", at, 1.0, 1.0, 1.0, 1.0, 1.0)),
        ("d", daily("AAA", 101.0, 10.0)),  # emitted at 15:59: the last minute is missing
    )
    assert got == []
    last = ("b", Bar("AAA", at + pd.Timedelta(minutes=1), 1.0, 1.0, 1.0, 1.0, 1.0))
    (group,) = drain(feed, last, ("d", daily("AAA", 102.0, 20.0)))
    assert (group[0].close, group[0].volume) == (102.0, 20.0)
