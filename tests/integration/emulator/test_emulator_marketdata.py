"""Historical bars through the SDK: pagination, timeframes, and never past the replay clock."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import requests
from alpaca.data.requests import StockBarsRequest, StockLatestBarRequest, StockSnapshotRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

from workbench.emulator import Emulator
from workbench.emulator import testing as emt

DAY = TimeFrame.Day


def _get(emu: Emulator, path: str, **params) -> requests.Response:
    return requests.get(f"{emu.base_url}{path}", params=params, headers=emt.headers(emu), timeout=5)


@pytest.fixture(scope="module")
def both_samples():
    from workbench.data.sources import load_symbols

    return load_symbols("sample:SPX,NASDAQ")


def test_sdk_follows_page_tokens_across_symbols(both_samples) -> None:
    # 2 x 5030 published bars: more than one 10000-bar page; a symbol splits across pages
    with Emulator(both_samples, replay_from="2018-12-31") as emu:
        client = emt.data_client(emu)
        barset = client.get_stock_bars(
            StockBarsRequest(
                symbol_or_symbols=["SPX", "NASDAQ"],
                timeframe=DAY,
                start=dt.datetime(1999, 1, 1, tzinfo=dt.UTC),
            )
        )
        limited = client.get_stock_bars(
            StockBarsRequest(
                symbol_or_symbols=["SPX", "NASDAQ"],
                timeframe=DAY,
                start=dt.datetime(1999, 1, 1, tzinfo=dt.UTC),
                limit=5040,
            )
        )
    assert {s: len(b) for s, b in barset.data.items()} == {"NASDAQ": 5030, "SPX": 5030}
    spx = barset["SPX"]
    assert spx[-1].timestamp == dt.datetime(2018, 12, 28, 5, tzinfo=dt.UTC)  # not the 31st
    assert [b.timestamp for b in spx] == sorted(b.timestamp for b in spx)
    assert {s: len(b) for s, b in limited.data.items()} == {"NASDAQ": 5030, "SPX": 10}


def test_small_pages_chain_to_the_whole_set(bars_emulator: Emulator) -> None:
    bars_emulator.step(8)
    pages, token = [], None
    while True:
        params = {"symbols": "AAA", "timeframe": "1Day", "start": "2024-01-01", "limit": 3}
        if token:
            params["page_token"] = token
        body = _get(bars_emulator, "/v2/stocks/bars", **params).json()
        pages.append(len(body["bars"].get("AAA", [])))
        token = body["next_page_token"]
        if token is None:
            break
    assert pages == [3, 3, 2]
    bad = _get(bars_emulator, "/v2/stocks/bars", symbols="AAA", timeframe="1Day", page_token="??")
    assert (bad.status_code, bad.json()["message"]) == (400, "invalid page_token")


def test_bars_never_run_ahead_of_the_replay(bars_emulator: Emulator) -> None:
    client = emt.data_client(bars_emulator)
    req = StockBarsRequest(
        symbol_or_symbols="AAA",
        timeframe=DAY,
        start=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        end=dt.datetime(2024, 2, 1, tzinfo=dt.UTC),
    )
    assert client.get_stock_bars(req).data == {}  # nothing published yet
    bars_emulator.step(3)
    bars = client.get_stock_bars(req)["AAA"]
    assert [b.close for b in bars] == [100.0, 102.0, 99.0]
    bars_emulator.step()
    assert [b.close for b in client.get_stock_bars(req)["AAA"]][-1] == 96.0


def test_weekly_bars_are_resampled_from_the_published_days(bars_emulator: Emulator) -> None:
    client = emt.data_client(bars_emulator)
    bars_emulator.step(7)  # the 8th bar (Wednesday 2024-01-10) is not published
    week = TimeFrame(1, TimeFrameUnit.Week)
    bars = client.get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols="AAA", timeframe=week, start=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        )
    )["AAA"]
    rows = [(b.timestamp, b.open, b.high, b.low, b.close, b.volume) for b in bars]
    assert rows == [
        (dt.datetime(2024, 1, 1, 5, tzinfo=dt.UTC), 100.0, 104.0, 94.0, 98.0, 5000.0),
        (dt.datetime(2024, 1, 8, 5, tzinfo=dt.UTC), 98.0, 106.0, 97.0, 105.0, 2000.0),
    ]


def test_minute_bars_and_coarser_timeframes() -> None:
    index = pd.date_range("2024-03-04 14:30", periods=120, freq="1min", tz="UTC", name="time")
    close = pd.Series(range(120), index=index, dtype=float) + 100.0
    frame = pd.DataFrame(
        {"open": close - 0.5, "high": close + 1, "low": close - 1, "close": close, "volume": 10.0}
    )
    with Emulator({"MIN": frame}) as emu:
        emu.step(47)  # published: 14:30 .. 15:16
        client = emt.data_client(emu)
        start = dt.datetime(2024, 3, 4, tzinfo=dt.UTC)

        def bars(tf):
            req = StockBarsRequest(symbol_or_symbols="MIN", timeframe=tf, start=start)
            return client.get_stock_bars(req)["MIN"]

        minutes = bars(TimeFrame.Minute)
        quarter = bars(TimeFrame(15, TimeFrameUnit.Minute))
        daily = bars(DAY)
    assert len(minutes) == 47 and minutes[0].timestamp == dt.datetime(
        2024, 3, 4, 14, 30, tzinfo=dt.UTC
    )
    assert [b.timestamp.minute for b in quarter] == [30, 45, 0, 15]
    assert (quarter[1].open, quarter[1].high, quarter[1].low, quarter[1].close) == (
        114.5,
        130.0,
        114.0,
        129.0,
    )
    assert quarter[1].volume == 150.0 and quarter[-1].volume == 20.0  # 15:15 and 15:16 so far
    assert [(b.timestamp, b.open, b.close, b.volume) for b in daily] == [
        (dt.datetime(2024, 3, 4, 5, tzinfo=dt.UTC), 99.5, 146.0, 470.0)
    ]


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        (
            {"timeframe": "1Min"},
            422,
            "timeframe 1Min is finer than the emulator's AAA bars (1 day)",
        ),
        ({"timeframe": "7Day"}, 400, "invalid timeframe: '7Day'"),
        ({"timeframe": "1Day", "limit": "0"}, 422, "invalid limit: 0 (1 to 10000)"),
        ({"timeframe": "1Day", "feed": "nyse"}, 422, "invalid feed: 'nyse'"),
        (
            {"timeframe": "1Day", "start": "soon"},
            400,
            "Invalid format for parameter start: error parsing 'soon' as RFC3339 or "
            "2006-01-02 time",
        ),
        (
            {"timeframe": "1Day", "end": "2024-13-01"},
            400,
            "Invalid format for parameter end: error parsing '2024-13-01' as RFC3339 or "
            "2006-01-02 time",
        ),
        (
            {"timeframe": "1Day", "start": "2024-02-01", "end": "2024-01-01"},
            400,
            "end should not be before start",
        ),
    ],
)
def test_bad_bar_requests(bars_emulator: Emulator, params, status, message) -> None:
    # Alpaca's market-data API answers a malformed request 400 (bodies recorded from the
    # live API: "end should not be before start", "Invalid format for parameter start:
    # error parsing 'not-a-date' as RFC3339 or 2006-01-02 time: ...", "invalid timeframe")
    r = _get(bars_emulator, "/v2/stocks/bars", **{"symbols": "AAA", **params})
    assert (r.status_code, r.json()["message"]) == (status, message)


def test_single_symbol_latest_descending_and_unknown_symbols(bars_emulator: Emulator) -> None:
    bars_emulator.step(4)
    one = _get(bars_emulator, "/v2/stocks/AAA/bars", timeframe="1Day", start="2024-01-01").json()
    assert one["symbol"] == "AAA" and [b["c"] for b in one["bars"]] == [100, 102, 99, 96]
    assert {"t", "o", "h", "l", "c", "v", "n", "vw"} == set(one["bars"][0])
    desc = _get(
        bars_emulator,
        "/v2/stocks/bars",
        symbols="AAA,ZZZ",
        timeframe="1Day",
        start="2024-01-01",
        sort="desc",
    ).json()
    assert list(desc["bars"]) == ["AAA"]  # unknown symbols are left out, as Alpaca does
    assert [b["c"] for b in desc["bars"]["AAA"]] == [96, 99, 102, 100]
    latest = _get(bars_emulator, "/v2/stocks/bars/latest", symbols="AAA").json()
    assert (
        latest["bars"]["AAA"]["c"] == 96
        and latest["bars"]["AAA"]["t"] == "2024-01-04T05:00:00.000000Z"  # as the 1Day bar
    )


def test_latest_bars_of_daily_data_are_stamped_as_the_daily_bars(bars_emulator: Emulator) -> None:
    """Alpaca stamps a stock's daily bar at New York midnight (04:00/05:00 UTC: its 1Day
    bars, ``dailyBars``, a snapshot's ``dailyBar`` "2021-..T04:00:00Z"). Over daily data
    the latest bar (``/v2/stocks/bars/latest``, ``/v2/stocks/{symbol}/bars/latest``) and a
    snapshot's ``minuteBar`` are that daily bar, so they carry its stamp: they said 00:00
    UTC, a time no other route gives the same bar."""
    bars_emulator.step(3)  # 2024-01-01 .. 03
    client = emt.data_client(bars_emulator)
    day = client.get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols="AAA", timeframe=DAY, start=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        )
    )["AAA"][-1]
    assert day.timestamp == dt.datetime(2024, 1, 3, 5, tzinfo=dt.UTC)
    latest = client.get_stock_latest_bar(StockLatestBarRequest(symbol_or_symbols="AAA"))["AAA"]
    snap = client.get_stock_snapshot(StockSnapshotRequest(symbol_or_symbols="AAA"))["AAA"]
    one = _get(bars_emulator, "/v2/stocks/AAA/bars/latest").json()["bar"]
    stamps = {latest.timestamp, snap.minute_bar.timestamp, snap.daily_bar.timestamp}
    assert stamps == {day.timestamp} and one["t"] == "2024-01-03T05:00:00.000000Z"
    assert snap.previous_daily_bar.timestamp == dt.datetime(2024, 1, 2, 5, tzinfo=dt.UTC)
    assert latest.close == snap.minute_bar.close == day.close == 99


def test_default_start_is_the_replay_day(bars_emulator: Emulator) -> None:
    # Alpaca's default start is the beginning of the current day in New York. After three
    # daily bars the clock is 2024-01-04 00:00 New York, where Jan 3's bar is over: the day
    # just begun has no bar yet; the published days are there from an earlier start.
    bars_emulator.step(3)
    r = _get(bars_emulator, "/v2/stocks/bars", symbols="AAA", timeframe="1Day").json()
    assert r["bars"] == {}
    r = _get(bars_emulator, "/v2/stocks/bars", symbols="AAA", timeframe="1Day",
             start="2024-01-03T00:00:00-05:00").json()  # fmt: skip
    assert [b["t"] for b in r["bars"]["AAA"]] == ["2024-01-03T05:00:00.000000Z"]


def test_the_workbench_alpaca_source_reads_back_the_same_bars(monkeypatch, hand_frames) -> None:
    from workbench.data.sources import load_symbols

    frames = hand_frames
    with Emulator(frames) as emu:
        monkeypatch.setenv("APCA_API_KEY_ID", emu.key)
        monkeypatch.setenv("APCA_API_SECRET_KEY", emu.secret)
        emu.step(8)
        got = load_symbols(f"alpaca:AAA?url={emu.base_url}&cache=0&feed=iex", start="2024-01-01")
    expected = frames["AAA"]
    pd.testing.assert_frame_equal(got["AAA"][list(expected.columns)], expected, check_freq=False)


@pytest.mark.parametrize("timeframe", ["4Month", "4M"])
def test_four_month_bars_are_a_timeframe_alpaca_serves(bars_emulator: Emulator, timeframe) -> None:
    # Alpaca's bars reference: "[1,2,3,4,6,12]Month or [1,2,3,4,6,12]M, e.g. 3Month or
    # 3M creates 3-month aggregations" (alpaca-py's TimeFrame allows only 1, 2, 3, 6, 12
    # months, so this is a request from a client other than the SDK)
    bars_emulator.step(8)
    r = _get(
        bars_emulator, "/v2/stocks/bars", symbols="AAA", timeframe=timeframe, start="2024-01-01"
    )
    assert r.status_code == 200, r.text
    [bar] = r.json()["bars"]["AAA"]
    assert (bar["t"], bar["o"], bar["h"], bar["l"], bar["c"]) == (
        "2024-01-01T05:00:00.000000Z",
        100,
        107,
        94,
        106,
    )


SYMBOLS_REQUIRED = "Invalid format for parameter symbols: query parameter 'symbols' is required"


@pytest.mark.parametrize(
    "path",
    [
        "/v2/stocks/bars",
        "/v2/stocks/bars/latest",
        "/v2/stocks/quotes/latest",
        "/v2/stocks/trades/latest",
        "/v2/stocks/snapshots",
    ],
)
@pytest.mark.parametrize("symbols", [None, "", " , "])
def test_a_multi_symbol_request_without_symbols_is_refused(
    bars_emulator: Emulator, path, symbols
) -> None:
    # Alpaca's market-data API, recorded from the live service: 400 {"message": "Invalid
    # format for parameter symbols: query parameter 'symbols' is required"}
    bars_emulator.step()
    params = {"timeframe": "1Day"} | ({} if symbols is None else {"symbols": symbols})
    r = _get(bars_emulator, path, **params)
    assert (r.status_code, r.json()["message"]) == (400, SYMBOLS_REQUIRED)


@pytest.mark.parametrize("adjustment", ["raw", "spin-off", "split,spin-off", "split,dividend"])
def test_adjustments_combine_as_alpaca_takes_them(bars_emulator: Emulator, adjustment) -> None:
    # Alpaca's changelog ("adjustment" on historical stock bars endpoints is now an enum
    # array): raw, split, dividend, spin-off, all, "?adjustment=split,spin-off works"
    bars_emulator.step(2)
    r = _get(
        bars_emulator, "/v2/stocks/bars", symbols="AAA", timeframe="1Day",
        start="2024-01-01", adjustment=adjustment,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert [b["c"] for b in r.json()["bars"]["AAA"]] == [100, 102]


@pytest.mark.parametrize(
    "query",
    [
        "adjustment=",
        "adjustment=splits",
        "adjustment=split,split",
        "adjustment=split&adjustment=all",
    ],
)
def test_a_bad_adjustment_is_400(bars_emulator: Emulator, query) -> None:
    # the same changelog: "unknown, empty, and repeated values still return 400"
    url = f"{bars_emulator.base_url}/v2/stocks/bars?symbols=AAA&timeframe=1Day&{query}"
    r = requests.get(url, headers=emt.headers(bars_emulator), timeout=5)
    assert r.status_code == 400, r.text
    assert r.json()["message"].startswith("invalid adjustment")
