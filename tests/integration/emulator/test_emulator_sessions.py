"""The emulator on XNYS session minute data, through alpaca-py: minute bars on ``bars``,
the session so far on ``dailyBars`` after each minute, the whole one after the close's
(early close included),
corrections on ``updatedBars``, and ``/v2/clock`` / ``/v2/calendar`` on the calendar."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import requests
from alpaca.trading.requests import GetCalendarRequest

from workbench.data.sessions import session_resample
from workbench.data.sources import load_symbols
from workbench.emulator import Emulator
from workbench.emulator import testing as emt

KEY, SECRET = "session-key", "session-secret"
# Black Friday 2023 (closes 13:00 New York, 210 minutes) and the Monday after
SPEC = "synthetic:AAA?freq=1min&session=XNYS&start=2023-11-24&end=2023-11-27&seed=11"


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return load_symbols(SPEC)


@pytest.fixture
def emu(frames):
    with Emulator({s: f.copy() for s, f in frames.items()}, key=KEY, secret=SECRET) as e:
        yield e


def test_minute_bars_on_bars_and_the_session_on_daily_bars(emu, frames) -> None:
    stream = emt.data_stream(
        emu, "AAA", channels=("bars", "dailyBars", "updatedBars"), raw_data=True
    )
    try:
        emu.step(209)
        messages = stream.take(2 * 209)  # as Alpaca: the session so far after each minute
        assert [m["T"] for m in messages] == ["b", "d"] * 209
        minutes, days = messages[0::2], messages[1::2]
        assert (days[0]["o"], days[0]["c"], days[0]["v"]) == (
            minutes[0]["o"], minutes[0]["c"], minutes[0]["v"],
        )  # fmt: skip
        assert days[-1]["v"] == pytest.approx(sum(m["v"] for m in minutes))
        assert days[-1]["h"] == max(m["h"] for m in minutes)
        assert {d["t"].to_datetime() for d in days} == {dt.datetime(2023, 11, 24, 5, tzinfo=dt.UTC)}
        assert stream.nothing_for(0.2)
        emu.step()  # 12:59: the early close
        last, daily = stream.take(2)
        assert (last["T"], daily["T"]) == ("b", "d")
        want = session_resample(frames["AAA"], "1Day").iloc[0]
        assert daily["t"].to_datetime() == dt.datetime(2023, 11, 24, 5, tzinfo=dt.UTC)
        got = (daily["o"], daily["h"], daily["l"], daily["c"], daily["v"])
        assert got == pytest.approx(tuple(want[["open", "high", "low", "close", "volume"]]))
        # a correction of a published minute goes out on updatedBars
        r = requests.post(
            f"{emu.base_url}/_emulator/correct",
            json={"symbol": "AAA", "time": "2023-11-24T17:59:00Z", "close": 123.0},
            timeout=5,
        )
        assert r.status_code == 200
        (update,) = stream.take(1)
        assert update["T"] == "u" and update["c"] == 123.0
        assert update["t"].to_datetime() == dt.datetime(2023, 11, 24, 17, 59, tzinfo=dt.UTC)
        unpublished = {"symbol": "AAA", "time": "2023-11-27T15:00:00Z", "close": 1.0}
        r = requests.post(f"{emu.base_url}/_emulator/correct", json=unpublished, timeout=5)
        assert r.status_code == 422
    finally:
        stream.stop()


def test_clock_and_calendar_follow_the_exchange(emu) -> None:
    client = emt.trading_client(emu)
    emu.step(30)  # 09:30-09:59 on Friday
    clock = client.get_clock()
    assert clock.is_open
    assert clock.timestamp == pd.Timestamp("2023-11-24 10:00", tz="America/New_York")
    assert clock.next_close == pd.Timestamp("2023-11-24 13:00", tz="America/New_York")
    emu.step(180)  # the last minute of the early close
    clock = client.get_clock()
    assert not clock.is_open  # closed at 13:00, over the weekend
    assert clock.next_open == pd.Timestamp("2023-11-27 09:30", tz="America/New_York")
    days = client.get_calendar(GetCalendarRequest(start="2023-11-21", end="2023-11-27"))
    assert [d.date.isoformat() for d in days] == [
        "2023-11-21", "2023-11-22", "2023-11-24", "2023-11-27",
    ]  # fmt: skip
    friday = days[2]
    assert (friday.open.hour, friday.open.minute, friday.close.hour) == (9, 30, 13)
    assert days[0].close.hour == 16


def test_interval_streams_the_bars_by_themselves(frames) -> None:
    with Emulator(frames, key=KEY, secret=SECRET, interval=0.01) as emu:
        stream = emt.data_stream(emu, "AAA", raw_data=True)
        try:
            got = stream.take(40, timeout=20)
            assert [m["T"] for m in got] == ["b", "d"] * 20  # each minute, the session so far
            times = [m["t"].to_datetime() for m in got[0::2]]
            assert times == sorted(times) and len(set(times)) == 20
        finally:
            stream.stop()


def test_an_order_sent_after_the_close_waits_for_the_next_open(emu, frames) -> None:
    from alpaca.trading.requests import MarketOrderRequest

    client = emt.trading_client(emu)
    stream = emt.trading_stream(emu)
    try:
        emu.step(210)  # Friday's early close: the market is closed until Monday
        order = client.submit_order(
            MarketOrderRequest(symbol="AAA", qty=10, side="buy", time_in_force="day")
        )
        assert order.status.value == "accepted"
        assert stream.nothing_for(0.3)  # queued: no "new" while the market is closed
        assert client.get_order_by_id(order.id).status.value == "accepted"
        emu.step()  # Monday 09:30
        new, fill = stream.take(2)
        assert (str(new.event), str(fill.event)) == ("new", "fill")
        monday = frames["AAA"].loc["2023-11-27"]
        assert float(fill.price) == monday["open"].iloc[0]  # the session's opening price
        assert fill.timestamp == monday.index[0]
    finally:
        stream.stop()
