"""A bundle trades live in the timeframe it was researched on: a daily (and an hourly)
moving-average crossover runs through alpaca-py against the emulator streaming XNYS
session minute bars and makes the decisions and fills of ``backtest --timeframe``, trade
by trade; a bundle whose timeframe the feed cannot give is refused at start."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from workbench import backtest
from workbench.bundle import write_bundle
from workbench.compose import LiveOptions, build_runner
from workbench.data.sessions import session_resample
from workbench.data.sources import load_symbols
from workbench.emulator import Emulator
from workbench.emulator.faults import Fault
from workbench.emulator.testing import wait_until
from workbench.errors import ConfigError
from workbench.live.chaos import finished_bars
from workbench.live.session import drive, steps_per_bar
from workbench.runspec import RunSpec
from workbench.strategies.ma_crossover import MACrossover

pytestmark = pytest.mark.slow
KEY, SECRET = "timeframe-key", "timeframe-secret"
CASH = 100_000.0
NY = "America/New_York"


def _bundle(root: Path, params: dict, spec: str, timeframe: str = "1Hour"):
    return write_bundle(
        root / "promoted", MACrossover(**params),
        data={"spec": spec, "symbols": {"AAA": {}}}, gates=[], metrics={}, report="# timeframe\n",
        run_spec=RunSpec(symbols=("AAA",), timeframe=timeframe, cash=CASH),
    )  # fmt: skip


def _live(tmp_path: Path, monkeypatch, spec: str, params: dict, timeframe: str):
    """Run the bundle live against the emulator; the runner's state and the backtest."""
    monkeypatch.setenv("APCA_API_KEY_ID", KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    frames = load_symbols(spec)
    bundle = _bundle(tmp_path, params, spec, timeframe)
    steps = steps_per_bar(frames, timeframe)
    with Emulator(frames, key=KEY, secret=SECRET, cash=CASH) as emu:
        runner, _ = build_runner(
            LiveOptions(bundle=str(bundle.path), broker="alpaca", feed="alpaca",
                        state=str(tmp_path / "live.sqlite"), alpaca_url=emu.base_url,
                        clock_ttl=0.0)
        )  # fmt: skip
        summary = drive(runner, emu, tmp_path / "live.sqlite", len(steps), steps=steps)
        venue = emu.state()
    assert summary.bars == len(steps)  # --max-bars counts bars of the bundle's timeframe
    result = backtest(MACrossover, frames, params, cash=CASH, timeframe=timeframe)
    return runner.state, venue, result, frames


def _same_trades(state, result, frames, timeframe: str) -> None:
    fills = state.fills()
    orders = state.orders()
    want = result.fills
    assert len(want) >= 3, "the fixture must trade"
    assert len(fills) == len(want)
    # decisions on the same bars, in the same direction and size
    decided = pd.to_datetime(orders["decision_ns"].astype("int64"), utc=True)
    assert list(decided) == list(pd.to_datetime(result.orders["created_at"], utc=True))
    assert list(orders["side"]) == list(result.orders["side"])
    assert list(fills["side"]) == list(want["side"])
    # sizes from the account's equity, which the venue reports to the cent as Alpaca does
    assert list(fills["quantity"]) == pytest.approx(list(want["quantity"]), rel=1e-6)
    # at the same prices: the next bar's open, which is the open of its first minute
    assert list(fills["price"]) == pytest.approx(list(want["price"]), rel=1e-12)
    minutes = frames["AAA"]
    length = pd.Timedelta(timeframe.replace("1Day", "1D").replace("1Hour", "1h"))
    for live_time, bar_time in zip(
        pd.to_datetime(fills["time"], utc=True), want["time"], strict=True
    ):
        period = minutes[(minutes.index >= bar_time) & (minutes.index < bar_time + length)]
        assert live_time == period.index[0], "filled at the first minute of the next bar"


def test_daily_bundle_trades_as_the_daily_backtest(tmp_path, monkeypatch) -> None:
    spec = "synthetic:AAA?freq=1min&session=XNYS&start=2024-01-02&end=2024-01-31&seed=7"
    params = {"fast": 2, "slow": 5, "fraction": 0.95}
    state, venue, result, frames = _live(tmp_path, monkeypatch, spec, params, "1Day")
    _same_trades(state, result, frames, "1Day")
    # every decision was taken after its session's close and filled at the next open
    for t in pd.to_datetime(state.fills()["time"], utc=True):
        assert t.tz_convert(NY).strftime("%H:%M") == "09:30"
    assert state.get_meta("timeframe") == "1Day"
    assert float(venue["account"]["equity"]) == pytest.approx(result.final_equity, rel=1e-6)


def test_hourly_bundle_trades_as_the_hourly_backtest(tmp_path, monkeypatch) -> None:
    spec = "synthetic:AAA?freq=1min&session=XNYS&start=2024-01-02&end=2024-01-08&seed=7"
    params = {"fast": 3, "slow": 8, "fraction": 0.95}
    state, venue, result, frames = _live(tmp_path, monkeypatch, spec, params, "1Hour")
    _same_trades(state, result, frames, "1Hour")
    assert float(venue["account"]["equity"]) == pytest.approx(result.final_equity, rel=1e-6)


def test_a_restart_catches_up_on_the_missed_hours_in_the_bundles_bars(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("APCA_API_KEY_ID", KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    spec = "synthetic:AAA?freq=1min&session=XNYS&start=2024-01-02&end=2024-01-03&seed=7"
    frames = load_symbols(spec)
    bundle = _bundle(tmp_path, {"fast": 2, "slow": 3, "fraction": 0.95}, spec)
    steps = steps_per_bar(frames, "1Hour")
    state = tmp_path / "live.sqlite"
    options = LiveOptions(
        bundle=str(bundle.path),
        broker="alpaca",
        feed="alpaca",
        state=str(state),
        alpaca_url="",
        clock_ttl=0.0,
    )
    with Emulator(frames, key=KEY, secret=SECRET, cash=CASH) as emu:
        options = replace(options, alpaca_url=emu.base_url)
        runner, _ = build_runner(options)
        drive(runner, emu, state, 5, steps=steps)  # Tuesday 09:30-14:00, then it stops
        runner.state.close()
        emu.step(sum(steps[5:9]))  # 14:00-16:00 and Wednesday's first hour, missed
        runner, _ = build_runner(options)
        done: list = []
        thread = threading.Thread(target=lambda: done.append(runner.run(max_bars=6)))
        thread.start()
        wait_until(lambda: finished_bars(state) >= 9, 60, "the catch-up")
        for i in (9, 10):  # then the stream again
            emu.step(steps[i])
            wait_until(lambda i=i: finished_bars(state) > i, 60, f"bar {i + 1}")
        thread.join(60)
        summary = done[0]
        seen = runner.state.bars()["AAA"]
        runner.state.close()
    # the missed hours came over REST, made into the bundle's hourly bars as live
    want = session_resample(frames["AAA"], "1Hour").iloc[:11]
    assert summary.bars == 6  # four caught up, then two from the stream
    pd.testing.assert_frame_equal(seen, want, check_freq=False, check_names=False,
                                  check_like=True, check_exact=False, rtol=1e-12)  # fmt: skip


def test_a_feed_coarser_than_the_bundle_is_refused_at_start(tmp_path) -> None:
    spec = "sample:SPX"
    bundle = _bundle(tmp_path, {"fast": 2, "slow": 5}, spec)
    with pytest.raises(ConfigError, match=r"delivers bars of 1 day, the bundle trades 1Hour"):
        build_runner(
            LiveOptions(bundle=str(bundle.path), feed="replay:sample:SPX",
                        state=str(tmp_path / "s.sqlite"))
        )  # fmt: skip


def test_a_venue_without_minute_bars_is_refused_for_an_hourly_bundle(tmp_path, monkeypatch):
    monkeypatch.setenv("APCA_API_KEY_ID", KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    daily = load_symbols("synthetic:AAA?freq=1D&session=XNYS&start=2024-01-02&end=2024-02-29")
    bundle = _bundle(tmp_path, {"fast": 2, "slow": 5}, "synthetic:AAA")
    with Emulator(daily, key=KEY, secret=SECRET, cash=CASH) as emu:
        emu.step(5)
        runner, _ = build_runner(
            LiveOptions(bundle=str(bundle.path), broker="alpaca", feed="alpaca",
                        state=str(tmp_path / "live.sqlite"), alpaca_url=emu.base_url)
        )  # fmt: skip
        with pytest.raises(ConfigError, match="does not serve 1Min bars of AAA"):
            runner.run()
        assert emu.state()["orders"] == []


def test_a_dropped_stream_and_late_minutes_trade_as_the_backtest(tmp_path, monkeypatch) -> None:
    """The market-data stream drops 20 minutes into an hour and is back 15 minutes later
    (minutes published to nobody meanwhile): the runner decides on that hour's whole bar,
    taken over REST; and two hours' last minutes come after the clock says they are over
    (Alpaca's publication delay): the runner waits for them. Its bars and trades are the
    backtest's."""
    monkeypatch.setenv("APCA_API_KEY_ID", KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    spec = "synthetic:AAA?freq=1min&session=XNYS&start=2024-01-02&end=2024-01-03&seed=7"
    params = {"fast": 2, "slow": 3, "fraction": 0.95}
    frames = load_symbols(spec)
    bundle = _bundle(tmp_path, params, spec)
    steps = steps_per_bar(frames, "1Hour")
    state = tmp_path / "live.sqlite"
    with Emulator(frames, key=KEY, secret=SECRET, cash=CASH) as emu:
        runner, _ = build_runner(
            LiveOptions(bundle=str(bundle.path), broker="alpaca", feed="alpaca",
                        state=str(state), alpaca_url=emu.base_url, clock_ttl=0.0)
        )  # fmt: skip
        done: list = []
        thread = threading.Thread(target=lambda: done.append(runner.run(max_bars=len(steps))))
        thread.start()

        def ready(kind: str, count: int = 1) -> bool:
            return emu.state()["connections"][f"{kind}_ready"] >= count

        wait_until(lambda: ready("trading") and ready("data"), 30, "the runner's streams")
        for i, n in enumerate(steps):
            if i == 3:  # the 12:00 hour
                emu.step(20)
                emu.add_fault(Fault.refuse("data"))  # reconnections refused until cleared
                emu.add_fault(Fault.drop("data"))
                wait_until(lambda: not ready("data"), 30, "the stream dropped")
                emu.step(15)  # published to nobody
                emu.clear_faults()
                wait_until(lambda: ready("data"), 30, "the stream back")
                n -= 35
            # two hours whose minute bars come 0.3 s after the clock says they are over
            emu.set_publication_delay(0.3 if i in (5, 6) else 0.0)
            emu.step(n)
            wait_until(lambda i=i: finished_bars(state) > i, 30, f"bar {i + 1}")
        thread.join(30)
        seen = runner.state.bars()["AAA"]
        venue = emu.state()
    want = session_resample(frames["AAA"], "1Hour")
    pd.testing.assert_frame_equal(seen, want, check_freq=False, check_names=False,
                                  check_like=True, check_exact=False, rtol=1e-12)  # fmt: skip
    result = backtest(MACrossover, frames, params, cash=CASH, timeframe="1Hour")
    _same_trades(runner.state, result, frames, "1Hour")
    assert float(venue["account"]["equity"]) == pytest.approx(result.final_equity, rel=1e-6)
    runner.state.close()
