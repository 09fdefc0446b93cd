"""Market hours live: an emulator session over Thanksgiving 2023 (Wednesday, the holiday,
Friday's 13:00 early close, the weekend, Monday) sends no order outside the sessions and
raises no stale alarm outside them; a stall during Monday's session is flagged."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from workbench.bundle import write_bundle
from workbench.compose import LiveOptions, build_runner
from workbench.data.sessions import sessions
from workbench.data.sources import load_symbols
from workbench.emulator import Emulator
from workbench.emulator.testing import wait_until
from workbench.live.chaos import finished_bars
from workbench.live.session import steps_per_bar
from workbench.runspec import RunSpec
from workbench.strategies.ma_crossover import MACrossover

pytestmark = pytest.mark.slow
KEY, SECRET = "hours-key", "hours-secret"
SPEC = "synthetic:AAA?freq=1min&session=XNYS&start=2023-11-22&end=2023-11-27&seed=5"
STALL = pd.Timedelta(seconds=0.4)  # the stream's bar interval, shortened for the test


def _stale_logged(caplog) -> int:
    return sum(getattr(r, "event", None) == "feed_stale" for r in caplog.records)


def test_no_order_and_no_stale_alarm_outside_the_sessions(tmp_path: Path, monkeypatch, caplog):
    monkeypatch.setenv("APCA_API_KEY_ID", KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    caplog.set_level(logging.INFO, logger="workbench")
    frames = load_symbols(SPEC)
    bundle = write_bundle(
        tmp_path / "promoted", MACrossover(fast=2, slow=3, fraction=0.9),
        data={"spec": SPEC, "symbols": {"AAA": {}}}, gates=[], metrics={}, report="# hours\n",
        run_spec=RunSpec(symbols=("AAA",), timeframe="1Hour"),
    )  # fmt: skip
    steps = steps_per_bar(frames, "1Hour")
    assert len(steps) == 7 + 4 + 7  # Wednesday, Friday's early close, Monday
    state = tmp_path / "live.sqlite"
    with Emulator(frames, key=KEY, secret=SECRET) as emu:
        runner, _ = build_runner(
            LiveOptions(bundle=str(bundle.path), broker="alpaca", feed="alpaca",
                        state=str(state), alpaca_url=emu.base_url,
                        clock_ttl=0.0, stale_tolerance=0.1)
        )  # fmt: skip
        feed = runner.feed.live
        feed.stream_interval = STALL
        failure: list[BaseException] = []

        def run() -> None:
            try:
                runner.run()
            except BaseException as exc:
                failure.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        wait_until(lambda: emu.state()["connections"]["data_ready"] >= 1, 30, "data stream")
        wait_until(lambda: emu.state()["connections"]["trading_ready"] >= 1, 30, "trading")

        def play(first: int, last: int) -> None:
            for i in range(first, last):
                emu.step(steps[i])
                wait_until(lambda i=i: finished_bars(state) > i or failure, 30, f"bar {i + 1}")
            assert not failure, failure

        def quiet_while_closed() -> None:
            time.sleep(3 * (STALL.total_seconds() + 0.1))  # far past interval + tolerance
            assert not feed.is_stale(pd.Timestamp.now(tz="UTC"))
            assert _stale_logged(caplog) == 0

        play(0, 7)  # Wednesday; then the night and Thanksgiving
        assert not emu.state()["clock"]["is_open"]
        quiet_while_closed()
        play(7, 11)  # Friday, closing at 13:00; then the weekend
        clock = emu.state()["clock"]
        assert not clock["is_open"] and clock["next_open"].startswith("2023-11-27T09:30")
        quiet_while_closed()
        play(11, 12)  # Monday 09:30-10:00
        emu.step(10)  # 10:00-10:09, then the venue stalls mid-session
        assert emu.state()["clock"]["is_open"]
        wait_until(lambda: _stale_logged(caplog) >= 1, 10, "the stale alarm")
        assert feed.is_stale(pd.Timestamp.now(tz="UTC"))
        runner.stop()
        thread.join(30)
        venue = emu.state()
    assert not failure, failure
    # the runner judged the hours by the venue's /v2/clock and /v2/calendar, which answered
    fallbacks = {"calendar_fallback", "clock_fallback"}
    assert not [r for r in caplog.records if getattr(r, "event", None) in fallbacks]
    assert runner.hours is not None and runner.hours.venue_calendar is not None
    cal = sessions("XNYS", "2023-11-22", "2023-11-27")
    spans = [(cal.open_at(i), cal.close_at(i)) for i in range(len(cal))]
    orders = venue["orders"]
    assert len(orders) >= 3, "the fixture must trade"
    for order in orders:
        sent = pd.Timestamp(order["submitted_at"]).tz_convert("UTC")
        # inside a session, or at its close for the next open (the day's last bar)
        assert any(o <= sent <= c for o, c in spans), f"order sent at {sent}"
        assert order["time_in_force"] == "day" and not order["extended_hours"]
        if order["filled_at"]:
            filled = pd.Timestamp(order["filled_at"]).tz_convert("UTC")
            assert any(o <= filled < c for o, c in spans), f"order filled at {filled}"
    days = {pd.Timestamp(o["submitted_at"]).tz_convert("America/New_York").date() for o in orders}
    assert pd.Timestamp("2023-11-23").date() not in days  # Thanksgiving
