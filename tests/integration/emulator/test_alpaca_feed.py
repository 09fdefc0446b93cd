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
