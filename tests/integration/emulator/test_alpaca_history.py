"""The REST catch-up hands out whole bars only: never one whose period was not over when
it asked (Alpaca, and the emulator, serve the minutes of the current hour too, and the
venue's clock moves on while a bars request is answered), and not the stream's bar of a
period begun before the stream subscribed (a restart inside an hour)."""

from __future__ import annotations

import threading
from collections.abc import Callable

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
