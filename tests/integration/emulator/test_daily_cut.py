"""Daily, weekly and monthly bars of minute data with extended hours: research
(``session_resample(..., session="all")``), the emulator's bars through alpaca-py and the
live paths cut the same New York days, as Alpaca does (it stamps a stock's daily bar at
New York midnight, 05:00 UTC in winter, 04:00 UTC in summer).

The minutes run 04:00-20:00 New York on the sessions from Wednesday 2024-02-28 to Tuesday
2024-03-12: the evenings' last hour is past midnight UTC before the DST change of Sunday
2024-03-10, so a UTC cut would put Thursday 2024-02-29's evening into March and Friday
2024-03-08's into a Saturday bar.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame

from workbench.broker import Bar
from workbench.brokers.alpaca_history import alpaca_history
from workbench.data.aggregate import BarAggregator
from workbench.data.sessions import session_resample, sessions
from workbench.emulator import Emulator
from workbench.emulator import testing as emt
from workbench.emulator.marketdata import session_stamps
from workbench.live.replay import ReplayFeed

NEW_YORK = "America/New_York"
MINUTES_A_DAY = 16 * 60  # 04:00-20:00 New York


def _extended_minutes(first: str, last: str) -> pd.DataFrame:
    days = sessions("XNYS", first, last).dates
    index = pd.DatetimeIndex(
        np.concatenate([
            pd.date_range(f"{d.date()} 04:00", periods=MINUTES_A_DAY, freq="1min", tz=NEW_YORK)
            .tz_convert("UTC").as_unit("ns").asi8
            for d in days
        ]),
        tz="UTC",
        name="time",
    )  # fmt: skip
    i = np.arange(len(index))
    close = 100.0 + (i % 97) * 0.1 + i // MINUTES_A_DAY
    return pd.DataFrame(
        {
            "open": close - 0.05,
            "high": close + 0.2 + (i % 7) * 0.01,
            "low": close - 0.2 - (i % 11) * 0.01,
            "close": close,
            "volume": 1.0 + i % 5,
        },
        index=index,
    )


@pytest.fixture(scope="module")
def minutes() -> pd.DataFrame:
    return _extended_minutes("2024-02-28", "2024-03-12")


@pytest.fixture(scope="module")
def served(minutes):
    """The emulator's 1Day, 1Week and 1Month bars of ``minutes``, through alpaca-py."""
    with Emulator({"XT": minutes}, replay_from=minutes.index[-1]) as emu:
        emu.step(1)
        client = emt.data_client(emu)
        start = dt.datetime(2024, 2, 1, tzinfo=dt.UTC)

        def bars(tf: TimeFrame) -> pd.DataFrame:
            req = StockBarsRequest(symbol_or_symbols="XT", timeframe=tf, start=start)
            rows = client.get_stock_bars(req)["XT"]
            return pd.DataFrame(
                [(b.open, b.high, b.low, b.close, b.volume) for b in rows],
                index=pd.DatetimeIndex([b.timestamp for b in rows], name="time").tz_convert("UTC"),
                columns=["open", "high", "low", "close", "volume"],
            )

        return {"day": bars(TimeFrame.Day), "week": bars(TimeFrame.Week),
                "month": bars(TimeFrame.Month)}  # fmt: skip


def test_research_days_are_the_emulators_across_dst_and_evenings(minutes, served) -> None:
    research = session_resample(minutes, "1Day", session="all")
    day = served["day"]
    assert list(day.index) == list(session_stamps(research.index))
    pd.testing.assert_frame_equal(
        day.set_axis(research.index), research, check_freq=False, check_exact=False, atol=1e-9
    )
    # Hand-checked: every session whole (no Saturday bar of Friday's evening), stamped
    # New York midnight: 05:00 UTC up to Friday 2024-03-08, 04:00 UTC from Monday 03-11.
    assert len(day) == 10 and (day["volume"] == 3 * MINUTES_A_DAY).all()
    assert day.index[7] == pd.Timestamp("2024-03-08 05:00", tz="UTC")
    assert day.index[8] == pd.Timestamp("2024-03-11 04:00", tz="UTC")
    evening = minutes.loc["2024-03-09 00:00":"2024-03-09 00:59"]  # 19:00-20:00 New York
    assert len(evening) == 60 and day["close"].iloc[7] == evening["close"].iloc[-1]


def test_weeks_and_months_keep_their_evenings(minutes, served) -> None:
    week, month = served["week"], served["month"]
    assert list(week.index) == [
        pd.Timestamp("2024-02-26 05:00", tz="UTC"),  # Monday, New York midnight
        pd.Timestamp("2024-03-04 05:00", tz="UTC"),
        pd.Timestamp("2024-03-11 04:00", tz="UTC"),
    ]
    assert list(week["volume"]) == [3 * 3 * MINUTES_A_DAY, 5 * 3 * MINUTES_A_DAY,
                                    2 * 3 * MINUTES_A_DAY]  # fmt: skip
    assert list(month.index) == [
        pd.Timestamp("2024-02-01 05:00", tz="UTC"),
        pd.Timestamp("2024-03-01 05:00", tz="UTC"),
    ]
    # February holds Thursday 02-29's evening (01 March 00:00-01:00 UTC), not March
    feb_29_last = minutes.loc["2024-03-01 00:59"]
    assert month["volume"].iloc[0] == 2 * 3 * MINUTES_A_DAY
    assert month["close"].iloc[0] == feb_29_last["close"]


def _groups(frame: pd.DataFrame) -> list[list[Bar]]:
    return [[Bar("XT", t, *map(float, row))] for t, row in zip(
        frame.index, frame[["open", "high", "low", "close", "volume"]].itertuples(index=False),
        strict=True)]  # fmt: skip


def test_the_live_feed_makes_the_same_days_from_the_minutes(minutes) -> None:
    week = minutes.loc["2024-03-07 09:00":]  # Thursday 04:00 New York to Tuesday, over DST
    research = session_resample(week, "1Day", session="all")
    made = [b for g in ReplayFeed({"XT": week}, timeframe="1Day", session="all") for b in g]
    got = pd.DataFrame(
        [(b.open, b.high, b.low, b.close, b.volume) for b in made],
        index=pd.DatetimeIndex([b.time for b in made], name="time"),
        columns=list(research.columns),
    )
    pd.testing.assert_frame_equal(got, research, check_freq=False)
    days = ["2024-03-07", "2024-03-08", "2024-03-11", "2024-03-12"]  # no Saturday bar
    assert list(got.index) == list(pd.DatetimeIndex(days, tz="UTC"))
    assert (got["volume"] == 3 * MINUTES_A_DAY).all()


def test_a_friday_is_over_at_new_york_midnight_for_the_live_feed(minutes) -> None:
    friday = minutes.loc["2024-03-08 09:00":"2024-03-09 00:59"]  # EST: 04:00-20:00 New York
    agg = BarAggregator(["XT"], "1Day", session="all")
    groups = _groups(friday)
    assert all(not agg.add(g) for g in groups)  # 20:00 New York is not the day's end
    assert agg.open_end == pd.Timestamp("2024-03-09 05:00", tz="UTC").value
    assert agg.due(pd.Timestamp("2024-03-09 04:59", tz="UTC")) == []
    [[bar]] = agg.due(pd.Timestamp("2024-03-09 05:00", tz="UTC"))
    assert bar.time == pd.Timestamp("2024-03-08", tz="UTC") and bar.volume == friday.volume.sum()


def test_the_rest_catch_up_reads_the_emulators_days_as_research_does(minutes) -> None:
    research = session_resample(minutes, "1Day", session="all")
    with Emulator({"XT": minutes}, replay_from=minutes.index[-1]) as emu:
        emu.step(1)
        after = pd.Timestamp("2024-03-14", tz="UTC")  # the venue's time (read at each call)
        history = alpaca_history(emu.key, emu.secret, url=emu.base_url, timeframe="1Day",
                                 session="all", now=lambda: after)  # fmt: skip
        got = history(["XT"], pd.Timestamp("2024-02-01", tz="UTC"))
        # Monday 03-11 23:00 New York: Monday's evening is still running, its bar not over
        after = pd.Timestamp("2024-03-12 03:00", tz="UTC")
        early = history(["XT"], pd.Timestamp("2024-02-01", tz="UTC"))
    assert [b.time for b in got] == list(research.index)
    assert [b.volume for b in got] == list(research["volume"])
    assert [b.close for b in got] == list(research["close"])
    assert len(got) == 10 and {b.volume for b in got} == {3 * MINUTES_A_DAY}
    assert [b.time for b in early] == list(research.index[:8])  # up to Friday 03-08


def test_a_24_7_calendar_cuts_at_midnight_utc_as_alpaca_crypto(minutes) -> None:
    index = pd.date_range("2024-03-08 22:00", periods=240, freq="1min", tz="UTC", name="time")
    frame = minutes.iloc[: len(index)].set_axis(index)
    with Emulator({"XT": frame}, calendar="24/7", replay_from=index[-1]) as emu:
        emu.step(1)
        req = StockBarsRequest(symbol_or_symbols="XT", timeframe=TimeFrame.Day,
                               start=dt.datetime(2024, 3, 8, tzinfo=dt.UTC))  # fmt: skip
        day = emt.data_client(emu).get_stock_bars(req)["XT"]
    research = session_resample(frame, "1Day", session="all", calendar="24/7")
    assert [b.timestamp for b in day] == [dt.datetime(2024, 3, 8, tzinfo=dt.UTC),
                                          dt.datetime(2024, 3, 9, tzinfo=dt.UTC)]  # fmt: skip
    assert [b.volume for b in day] == list(research["volume"])
