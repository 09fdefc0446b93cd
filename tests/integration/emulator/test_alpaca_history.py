"""The REST catch-up hands out whole bars only: never one whose period was not over when
it asked (Alpaca, and the emulator, serve the minutes of the current hour too, and the
venue's clock moves on while a bars request is answered), and not the stream's bar of a
period begun before the stream subscribed (a restart inside an hour)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from workbench.broker import Bar
from workbench.brokers.alpaca_feed import AlpacaBarFeed
from workbench.brokers.alpaca_history import alpaca_history
from workbench.data.sessions import session_resample
from workbench.data.sources import load_symbols
from workbench.emulator import Emulator
from workbench.emulator.faults import Fault
from workbench.emulator.testing import wait_until
from workbench.live.resilience import CatchUpFeed
from workbench.live.state import StateStore

KEY, SECRET = "history-key", "history-secret"
FIELDS = ("open", "high", "low", "close", "volume")
SPEC = "synthetic:AAA?freq=1min&session=XNYS&start=2024-01-02&end=2024-01-02&seed=7"


def _venue_time(emu: Emulator) -> pd.Timestamp:
    return pd.Timestamp(emu.state()["clock"]["timestamp"]).tz_convert("UTC")


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return load_symbols(SPEC)


def _history(emu: Emulator, now):
    return alpaca_history(KEY, SECRET, url=emu.base_url, timeframe="1Hour", now=now)


def test_an_hour_not_over_is_left_to_the_stream(frames) -> None:
    with Emulator(frames, key=KEY, secret=SECRET) as emu:
        emu.step(28)  # 09:30-09:57 published: the 09:30 hour is not over
        bars = _history(emu, lambda: _venue_time(emu))(["AAA"], pd.Timestamp(0, tz="UTC"))
        assert bars == []
        emu.step(32)  # through 10:29: the hour is over
        bars = _history(emu, lambda: _venue_time(emu))(["AAA"], pd.Timestamp(0, tz="UTC"))
    want = session_resample(frames["AAA"], "1Hour").iloc[0]
    assert [b.time for b in bars] == [want.name]
    assert (bars[0].open, bars[0].high, bars[0].low, bars[0].close, bars[0].volume) == (
        pytest.approx((want.open, want.high, want.low, want.close, want.volume), rel=1e-12)
    )


def test_the_clock_moving_on_during_the_request_gives_no_partial_bar(frames) -> None:
    """The race of a restart inside an hour: the bars are answered at 09:58, and by the
    time the venue's clock is read the hour is over. The catch-up must not make the
    09:30 bar of the 28 minutes it was given (its low and close would be wrong, and the
    stream's whole bar would be dropped as a duplicate)."""
    with Emulator(frames, key=KEY, secret=SECRET) as emu:
        emu.step(28)
        reads: list[pd.Timestamp] = []

        def clock_moving_on() -> pd.Timestamp:
            if not reads:  # the hour's last 32 minutes are published around this read
                emu.step(32)
            reads.append(_venue_time(emu))
            return reads[-1]

        bars = _history(emu, clock_moving_on)(["AAA"], pd.Timestamp(0, tz="UTC"))
    want = session_resample(frames["AAA"], "1Hour")
    assert len(bars) == 1  # the clock said 10:30 before the bars were asked for
    for bar in bars:  # whatever it gives is a whole bar of the backtest
        row = want.loc[bar.time]
        got = (bar.open, bar.high, bar.low, bar.close, bar.volume)
        assert got == pytest.approx((row.open, row.high, row.low, row.close, row.volume))


def _first_bar(emu: Emulator, state: StateStore, publish: Callable[[], None], **kw) -> Bar:
    """The first bar a catch-up feed on ``emu`` hands out while ``publish()`` steps the
    replay once the stream has subscribed (``kw`` go to the live feed)."""
    got: list = []
    live = AlpacaBarFeed(["AAA"], KEY, SECRET, url=emu.data_stream_url,
                         timeframe="1Hour", idle_timeout=30.0, **kw)  # fmt: skip
    feed = CatchUpFeed(live, state, ["AAA"], _history(emu, lambda: _venue_time(emu)))

    def consume() -> None:
        for group in feed:
            if group:
                got.append(group)
                break

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    wait_until(lambda: emu.state()["connections"]["data_ready"] >= 1, 30, "subscribed")
    publish()
    wait_until(lambda: bool(got), 30, "the first bar")
    thread.join(15)
    feed.stop()
    (bar,) = got[0]
    return bar


def _assert_is(bar: Bar, want: pd.Series) -> None:
    assert bar.time == want.name
    assert [getattr(bar, f) for f in FIELDS] == pytest.approx([want[f] for f in FIELDS])


def test_a_restart_inside_an_hour_takes_that_hours_bar_over_rest(frames, tmp_path) -> None:
    """Restarted at 10:45 with the 09:30 bar held: the stream never sees 10:30-10:44, so
    its 10:30 bar would lack them; the catch-up takes that bar over REST once it is over."""
    hourly = session_resample(frames["AAA"], "1Hour")
    state = StateStore(tmp_path / "live.sqlite")
    first = hourly.iloc[0]
    state.record_bars([Bar("AAA", first.name, *(float(first[f]) for f in FIELDS))])
    state.set_meta(feed_after_ns=str(first.name.value))
    with Emulator(frames, key=KEY, secret=SECRET) as emu:
        emu.step(75)  # 09:30-10:44 published while the runner was down
        # 10:45-11:29 on the stream: the 10:30 hour is over
        bar = _first_bar(emu, state, lambda: emu.step(45))
    state.close()
    _assert_is(bar, hourly.iloc[1])


def test_a_first_start_after_the_close_begins_after_the_sessions_last_bar(tmp_path) -> None:
    """Started for the first time at 17:00 New York (or before the open, or on a weekend),
    Alpaca's latest minute is one of the extended hours, which makes no bar of the run:
    the run begins after the session's last bar, as a start inside the session begins
    after the bar in progress, and catches up on nothing (not every bar since 1970)."""
    index = pd.date_range("2024-01-02 09:00", "2024-01-02 23:59", freq="1min", tz="UTC",
                          name="time")  # fmt: skip
    price = 100.0 + 0.01 * np.arange(len(index))
    frame = pd.DataFrame({"open": price, "high": price + 0.05, "low": price - 0.05,
                          "close": price, "volume": 100.0}, index=index)  # fmt: skip
    last_hour = pd.Timestamp("2024-01-02 15:00", tz="America/New_York").tz_convert("UTC")
    state = StateStore(tmp_path / "live.sqlite")
    with Emulator({"AAA": frame}, key=KEY, secret=SECRET) as emu:
        emu.step(13 * 60)  # through 16:59 New York: the post-market
        assert not emu.state()["clock"]["is_open"]
        history = _history(emu, lambda: _venue_time(emu))
        assert [b.time for b in history(["AAA"], None)] == [last_hour]
        feed = CatchUpFeed(object(), state, ["AAA"], history)
        after = feed._start_after()
        assert after == last_hour.value
        missed = feed._groups(history(["AAA"], pd.Timestamp(after, tz="UTC")), after)
    state.close()
    assert missed == []


def test_a_stream_dropped_inside_an_hour_gives_that_hours_bar_whole(frames, tmp_path) -> None:
    """The stream drops at 10:20 and is back at 10:35: the minutes between were published
    to nobody, and the stream's 10:00 bar would be made of 10:00-10:19 and 10:35-10:59.
    The catch-up takes that bar over REST once its period is over."""
    state = StateStore(tmp_path / "live.sqlite")
    with Emulator(frames, key=KEY, secret=SECRET) as emu:
        emu.step(30)  # 09:30-09:59: the run begins after the 09:00 hour

        def publish() -> None:
            emu.step(20)  # 10:00-10:19 on the stream
            emu.add_fault(Fault.refuse("data"))  # every reconnection refused until cleared
            emu.add_fault(Fault.drop("data"))
            wait_until(lambda: emu.state()["connections"]["data_ready"] == 0, 30, "dropped")
            emu.step(15)  # 10:20-10:34 published to nobody
            emu.clear_faults()
            wait_until(lambda: emu.state()["connections"]["data_ready"] >= 1, 30, "back")
            emu.step(25)  # 10:35-10:59 on the stream: the 10:00 hour is over

        bar = _first_bar(emu, state, publish)
    state.close()
    _assert_is(bar, session_resample(frames["AAA"], "1Hour").iloc[1])


def _hour(frames, label: pd.Timestamp) -> pd.Series:
    return session_resample(frames["AAA"], "1Hour").loc[label]


def test_rest_waits_for_a_periods_last_minute_published_late(frames) -> None:
    """The venue's clock says 11:00 before the 10:59 bar is out (1.5 s later): the REST
    catch-up waits for it instead of making the 10:00 bar of 59 minutes."""
    ten = pd.Timestamp("2024-01-02 15:00", tz="UTC")  # 10:00 New York
    with Emulator(frames, key=KEY, secret=SECRET, publication_delay=1.5) as emu:
        emu.step(90)  # 09:30-10:59 (the last one withheld)
        assert _venue_time(emu) == ten + pd.Timedelta("1h")
        bars = _history(emu, lambda: _venue_time(emu))(["AAA"], ten - pd.Timedelta(1, "ns"))
        withholding = emu.state()["publication"]["withholding"]
    (bar,) = bars
    _assert_is(bar, _hour(frames, ten))  # all 60 minutes
    assert withholding is False  # the answer came after the 10:59 bar was published


def test_a_minute_without_trades_is_waited_for_settle_seconds_then_left_out(frames, caplog) -> None:
    ten = pd.Timestamp("2024-01-02 15:00", tz="UTC")
    gappy = {"AAA": frames["AAA"].drop(ten + pd.Timedelta("59min"))}  # nothing traded at 10:59
    with Emulator(gappy, key=KEY, secret=SECRET) as emu:
        emu.step(89)  # 09:30-10:58; the clock says 10:59 ...
        emu.step(1)  # ... then 11:00 (the first bar of the 11:00 hour is the next step)
        eleven = ten + pd.Timedelta("1h")
        history = alpaca_history(KEY, SECRET, url=emu.base_url, timeframe="1Hour",
                                 now=lambda: eleven, settle=0.3, poll=0.05)  # fmt: skip
        with caplog.at_level("INFO", logger="workbench.brokers.alpaca_history"):
            bars = history(["AAA"], ten - pd.Timedelta(1, "ns"))
    (bar,) = bars
    _assert_is(bar, _hour(gappy, ten))
    assert [r for r in caplog.records if getattr(r, "event", "") == "bar_minute_absent"]


def test_the_stream_waits_for_a_periods_last_minute_published_late(frames, tmp_path) -> None:
    """The venue's clock says 11:00 before the 10:59 bar is on the stream: the feed does
    not close the 10:00 hour on the clock without it (it waits up to its settle time)."""
    from workbench.brokers.alpaca_clock import AlpacaClock
    from workbench.emulator.testing import trading_client

    state = StateStore(tmp_path / "live.sqlite")
    with Emulator(frames, key=KEY, secret=SECRET, publication_delay=1.5) as emu:
        emu.step(30)  # 09:30-09:59: the run begins after the 09:00 hour
        market = AlpacaClock(trading_client(emu), ttl=0.0)
        bar = _first_bar(emu, state, lambda: emu.step(60), market=market, idle_ticks=True)
    state.close()
    _assert_is(bar, _hour(frames, pd.Timestamp("2024-01-02 15:00", tz="UTC")))
