"""The runner's market-hours gate and the feed's session-aware staleness, on a fake clock."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.brokers.alpaca_feed import AlpacaBarFeed
from workbench.errors import ConfigError
from workbench.live.hours import CalendarClock, MarketHours
from workbench.runspec import RunSpec


class FakeClock:
    def __init__(self, now: str, is_open: bool) -> None:
        self.t, self.open = pd.Timestamp(now, tz="UTC"), is_open

    def now(self) -> pd.Timestamp:
        return self.t

    def is_open(self) -> bool:
        return self.open


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_orders_go_out_in_the_session_and_right_after_its_close():
    hourly = MarketHours(FakeClock("2023-11-22 16:00", True), "1Hour")
    assert hourly.allows(ts("2023-11-22 15:00"))[0]
    # after Wednesday's close: its last hour sends a day order for Friday's open
    closed = FakeClock("2023-11-22 21:00:05", False)
    assert MarketHours(closed, "1Hour").allows(ts("2023-11-22 20:00"))[0]
    ok, reason = MarketHours(closed, "1Hour").allows(ts("2023-11-22 19:00"))
    assert not ok and "market closed" in reason
    # a daily decision after the 13:00 early close, during the weekend
    weekend = FakeClock("2023-11-25 12:00", False)
    assert MarketHours(weekend, "1Day").allows(ts("2023-11-24"))[0]
    assert not MarketHours(weekend, "1Day").allows(ts("2023-11-22"))[0]  # a stale decision
    assert MarketHours(weekend, "1Day", session="all").allows(ts("2023-11-22"))[0]


def test_a_closed_answer_kept_from_before_the_bar_is_asked_again():
    class KeptClock(FakeClock):  # answers kept, as AlpacaClock's, until fresh_now()
        def __init__(self, kept: str, fresh: str) -> None:
            super().__init__(kept, False)
            self.fresh, self.asked = pd.Timestamp(fresh, tz="UTC"), 0

        def fresh_now(self) -> pd.Timestamp:
            self.t, self.asked = self.fresh, self.asked + 1
            return self.t

    # Tuesday's daily bar decided on at Wednesday 00:00 New York, with an answer kept from
    # Tuesday 00:00 (Monday's day just over): the venue is asked again, Tuesday has closed
    clock = KeptClock("2023-11-21 05:00", "2023-11-22 05:00")
    assert MarketHours(clock, "1Day").allows(ts("2023-11-21"))[0] and clock.asked == 1
    # an answer from after the bar is not asked again: the decision is a stale one
    clock = KeptClock("2023-11-23 05:00", "2023-11-23 06:00")
    assert not MarketHours(clock, "1Day").allows(ts("2023-11-21"))[0] and clock.asked == 0
    # a clock that keeps nothing answers as it is
    assert not MarketHours(FakeClock("2023-11-21 05:00", False), "1Day").allows(ts("2023-11-21"))[0]


def test_the_venues_calendar_wins_over_the_library():
    from workbench.data.sessions import sessions, sessions_from

    lib = sessions("XNYS", "2023-11-20", "2023-11-28")
    days = [(lib.open_at(i), lib.close_at(i)) for i in range(len(lib))]
    days[2] = (days[2][0], ts("2023-11-22 18:00"))  # the venue closes Wednesday at 13:00

    class VenueClock(FakeClock):
        def venue_sessions(self, start, end):
            return sessions_from("venue", days)

    at = "2023-11-22 18:00:05"  # 13:00:05 New York: closed, says the venue
    assert MarketHours(VenueClock(at, False), "1Hour").allows(ts("2023-11-22 17:00"))[0]
    assert not MarketHours(FakeClock(at, False), "1Hour").allows(ts("2023-11-22 17:00"))[0]


def test_the_calendar_clock_knows_holidays_and_early_closes():
    at = [0.0]
    clock = CalendarClock("XNYS", clock=lambda: at[0])
    for when, is_open in [
        ("2023-11-23 15:00", False),  # Thanksgiving
        ("2023-11-24 17:59", True),
        ("2023-11-24 18:00", False),  # closed at 13:00 New York
        ("2023-11-25 15:00", False),  # Saturday
        ("2023-11-27 14:30", True),
    ]:
        at[0] = ts(when).timestamp()
        assert clock.is_open() is is_open, when


def test_no_stale_alarm_while_closed_and_one_within_interval_plus_tolerance_when_open():
    market = FakeClock("2023-11-25 12:00", False)
    wall = [1000.0]
    feed = AlpacaBarFeed(["AAA"], "k", "s", market=market, clock=lambda: wall[0])
    feed.last_bar_at = 1000.0
    later = pd.Timestamp(1000.0 + 3 * 86400, unit="s", tz="UTC")
    assert not feed.is_stale(later)  # the weekend: no bar is expected
    market.open = True  # Monday's open: the wait counts from when it opened
    opened = 1000.0 + 3 * 86400
    assert not feed.is_stale(pd.Timestamp(opened, unit="s", tz="UTC"))
    assert not feed.is_stale(pd.Timestamp(opened + 89, unit="s", tz="UTC"))
    assert feed.is_stale(pd.Timestamp(opened + 91, unit="s", tz="UTC"))  # 60 s + 30 s


def test_the_runner_sends_nothing_the_hours_refuse_and_journals_why(tmp_path):
    from workbench.bundle import write_bundle
    from workbench.compose import LiveOptions, build_runner
    from workbench.strategies.ma_crossover import MACrossover

    spec = "synthetic:AAA?freq=1D&session=XNYS&start=2024-01-02&end=2024-03-28&seed=7"
    bundle = write_bundle(
        tmp_path / "promoted", MACrossover(fast=2, slow=5), data={"spec": spec, "symbols": {}},
        gates=[], metrics={}, report="# t\n", run_spec=RunSpec(symbols=("AAA",), timeframe="1Day"),
    )  # fmt: skip
    runner, _ = build_runner(
        LiveOptions(bundle=str(bundle.path), feed="replay:" + spec,
                    state=str(tmp_path / "s.sqlite"))
    )  # fmt: skip
    # a venue whose clock says: closed, long after these sessions
    runner.hours = MarketHours(FakeClock("2024-06-01 12:00", False), "1Day")
    summary = runner.run()
    assert summary.orders_sent == 0 and runner.state.orders().empty
    events = runner.state.events()
    blocked = events[events["kind"] == "blocked_market_closed"]
    assert len(blocked) >= 2 and blocked["detail"].str.contains("market closed").all()


def test_a_daily_feed_without_minute_bars_is_stale_only_after_a_day():
    from workbench.broker import Bar

    wall = [1000.0]
    feed = AlpacaBarFeed(["AAA"], "k", "s", timeframe="1Day", clock=lambda: wall[0])
    feed.last_bar_at = 1000.0
    assert not feed.is_stale(pd.Timestamp(1000.0 + 3600, unit="s", tz="UTC"))
    assert feed.is_stale(pd.Timestamp(1000.0 + 86400 + 31, unit="s", tz="UTC"))
    feed._queue.put(("b", Bar("AAA", ts("2024-01-02 14:30"), 1.0, 1.0, 1.0, 1.0, 1.0)))
    feed.idle_timeout = -1.0  # end the iteration at the first quiet moment
    feed.start = lambda: None  # no stream: the queued minute bar is all there is
    list(feed)
    assert not feed.is_stale(pd.Timestamp(wall[0] + 89, unit="s", tz="UTC"))
    assert feed.is_stale(pd.Timestamp(wall[0] + 91, unit="s", tz="UTC"))  # minutes flow now


def test_a_bar_lacks_minutes_only_where_the_stream_may_have_missed_some():
    """Hourly bars (the 10:00 hour is 10:00-10:59): holes between a connection's last
    minute and the next connection's first, and before the first connection."""
    feed = AlpacaBarFeed(["AAA"], "k", "s", timeframe="1Hour")
    day = "2024-01-02 "  # a Tuesday; New York is UTC-5

    def minute(hhmm: str) -> None:
        feed._minute_seen(ts(day + hhmm).value)

    feed._hole_opens()  # the first connection subscribed
    minute("15:07")  # 10:07 New York: the stream began inside the 10:00 hour
    assert feed.lacks(ts(day + "15:00")) and not feed.lacks(ts(day + "16:00"))
    minute("16:00")
    feed._hole_opens()  # dropped after 11:00
    assert feed.lacks(ts(day + "16:00"))  # still down: the 11:00 hour may lack minutes
    feed._hole_opens()  # reconnected (one hole, not two)
    minute("16:01")  # nothing missed after all
    assert not feed.lacks(ts(day + "16:00"))
    feed._hole_opens()  # a mute spell (stale) from 11:01 ...
    minute("17:05")  # ... to 12:05: the 11:00 and 12:00 hours may lack minutes
    assert feed.lacks(ts(day + "16:00")) and feed.lacks(ts(day + "17:00"))
    assert not feed.lacks(ts(day + "18:00"))


def test_a_daily_bar_the_venue_streamed_is_whole_whatever_minutes_were_missed():
    from workbench.broker import Bar

    after_close = FakeClock("2024-01-03 00:00", is_open=False)  # a bar sent then is the day
    feed = AlpacaBarFeed(["AAA"], "k", "s", timeframe="1Day", market=after_close)
    feed._hole_opens()  # subscribed; no minute bar ever comes (a daily-only venue)
    day = ts("2024-01-02")
    assert feed.lacks(day)
    feed._queue.put(("d", Bar("AAA", ts("2024-01-02 05:00"), 1.0, 1.0, 1.0, 1.0, 10.0)))
    feed._thread = object()  # as if started: iterate what is queued
    group = next(iter(feed))
    assert group[0].time == day and not feed.lacks(day)


def test_a_period_over_on_the_clock_without_its_last_minute_waits_the_settle_time():
    """The 10:00 hour (15:00 UTC) without its 10:59 bar: not closed when the clock says
    11:00, closed once the venue's time, or the wait while its clock stands still, reaches
    the settle time (the minute then had no trade)."""
    from workbench.broker import Bar

    wall = [1000.0]
    feed = AlpacaBarFeed(["AAA"], "k", "s", timeframe="1Hour", settle=5.0, clock=lambda: wall[0])
    for m in range(59):  # 10:00-10:58
        feed.aggregator.add([Bar("AAA", ts("2024-01-02 15:00") + pd.Timedelta(minutes=m),
                                 1.0, 1.0, 1.0, 1.0, 10.0)])  # fmt: skip
    assert feed._due(ts("2024-01-02 16:00")) == []  # just over: its last minute may come
    wall[0] += 4.9
    assert feed._due(ts("2024-01-02 16:00")) == []
    assert feed._due(ts("2024-01-02 16:00:04")) == []  # 4 s of the venue's, 4.9 s of ours
    wall[0] += 0.1  # 5 s of waiting while the venue's clock stood still
    (group,) = feed._due(ts("2024-01-02 16:00"))
    assert group[0].time == ts("2024-01-02 15:00") and group[0].volume == 590.0


def test_a_period_is_closed_once_the_venues_time_is_the_settle_time_past_its_end():
    from workbench.broker import Bar

    feed = AlpacaBarFeed(["AAA"], "k", "s", timeframe="1Hour", settle=5.0, clock=lambda: 0.0)
    feed.aggregator.add([Bar("AAA", ts("2024-01-02 15:00"), 1.0, 1.0, 1.0, 1.0, 10.0)])
    assert feed._due(ts("2024-01-02 16:00:04.9")) == []
    assert len(feed._due(ts("2024-01-02 16:00:05"))) == 1
    with pytest.raises(ConfigError, match="settle time is seconds"):
        AlpacaBarFeed(["AAA"], "k", "s", settle=-1.0)
