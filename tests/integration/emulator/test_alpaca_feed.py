"""Live bars through alpaca-py's data stream from the emulator (daily data on dailyBars),
across a dropped connection."""

from __future__ import annotations

import threading

from workbench.brokers.alpaca_clock import AlpacaClock
from workbench.brokers.alpaca_feed import AlpacaBarFeed
from workbench.emulator import Emulator
from workbench.emulator.faults import Fault
from workbench.emulator.testing import trading_client, wait_until

KEY, SECRET = "feed-key", "feed-secret"


def test_bars_arrive_in_order_and_survive_a_drop(hand_frames) -> None:
    with Emulator(hand_frames, key=KEY, secret=SECRET) as emu:
        market = AlpacaClock(trading_client(emu), ttl=0.0)  # the venue's clock, as a run's
        feed = AlpacaBarFeed(
            ["AAA"], KEY, SECRET, url=emu.data_stream_url, timeframe="1Day", market=market,
            idle_timeout=6.0,
        )  # fmt: skip
        got: list = []

        def consume() -> None:
            for group in feed:
                got.append(group)
                if len(got) == 6:
                    break

        thread = threading.Thread(target=consume, daemon=True)
        thread.start()

        def connections() -> dict:
            return emu.state()["connections"]

        wait_until(lambda: connections()["data_ready"] >= 1, 30, "the feed subscribed")
        for i in range(6):
            if i == 3:
                accepted = connections()["accepted"]["data"]
                emu.set_faults(Fault.drop("data", times=1))
                wait_until(  # alpaca-py reconnects (1 s backoff) and resubscribes
                    lambda: (
                        connections()["accepted"]["data"] > accepted  # noqa: B023
                        and connections()["data_ready"] >= 1
                    ),
                    30,
                    "the feed reconnected and resubscribed",
                )
                emu.clear_faults()
            emu.step()
            wait_until(lambda: len(got) > i, 30, f"bar {i + 1} through the feed")  # noqa: B023
        thread.join(15)
        feed.stop()
    closes = [g[0].close for g in got]
    assert len(got) == 6  # nothing lost across the drop
    assert closes[:3] == [100.0, 102.0, 99.0]
    assert closes[-1] == 104.0  # the bars after the drop arrive
    times = [g[0].time for g in got]
    assert times == sorted(times)


def test_staleness_is_reported_after_interval_plus_tolerance() -> None:
    import pandas as pd

    now = [1000.0]
    feed = AlpacaBarFeed(["AAA"], "k", "s", clock=lambda: now[0])
    feed.last_bar_at = 1000.0
    assert not feed.is_stale(pd.Timestamp(1000.0 + 60 + 29, unit="s", tz="UTC"))
    assert feed.is_stale(pd.Timestamp(1000.0 + 60 + 31, unit="s", tz="UTC"))


def test_a_session_streamed_minute_by_minute_is_handed_out_once_whole() -> None:
    """Minute data: the emulator sends the session so far on dailyBars after each minute,
    as Alpaca does; the 1Day feed hands out none of them, only the whole session."""
    import pandas as pd
    import pytest

    from workbench.data.sessions import session_resample
    from workbench.data.sources import load_symbols

    spec = "synthetic:AAA?freq=1min&session=XNYS&start=2023-11-24&end=2023-11-27&seed=11"
    frames = load_symbols(spec)  # Black Friday 2023: 210 minutes, then Monday
    with Emulator(frames, key=KEY, secret=SECRET) as emu:
        market = AlpacaClock(trading_client(emu), ttl=0.0)
        feed = AlpacaBarFeed(
            ["AAA"], KEY, SECRET, url=emu.data_stream_url, timeframe="1Day", market=market,
            idle_ticks=True,
        )  # fmt: skip
        got: list = []
        ticks = [0]

        def consume() -> None:
            for group in feed:
                ticks[0] += 1
                got.extend(group)

        thread = threading.Thread(target=consume, daemon=True)
        thread.start()
        wait_until(lambda: emu.state()["connections"]["data_ready"] >= 1, 30, "subscribed")
        emu.step(120)  # 09:30-11:29: the session so far, every minute
        seen = ticks[0]
        wait_until(lambda: ticks[0] > seen + 5, 30, "the feed went round")
        assert got == []  # no partial daily bar handed out as the day
        emu.step(90)  # to the early close (13:00)
        wait_until(lambda: len(got) == 1, 30, "the session's bar")
        seen = ticks[0]
        wait_until(lambda: ticks[0] > seen + 5, 30, "the feed went round")
        feed.stop()
        thread.join(15)
    want = session_resample(frames["AAA"], "1Day").iloc[0]
    (bar,) = got
    assert bar.time == pd.Timestamp("2023-11-24", tz="UTC")
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == pytest.approx(
        tuple(want[["open", "high", "low", "close", "volume"]])
    )
