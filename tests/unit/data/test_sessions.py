"""Sessions and session bars: XNYS minute data, daily and hourly bars on the calendar,
and the live aggregator that must give the backtest's bars bar for bar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.broker import Bar
from workbench.data.aggregate import BarAggregator, check_source
from workbench.data.sessions import _calendar, session_resample, sessions
from workbench.data.sources import load_bars, load_symbols
from workbench.errors import ConfigError, DataError

SPEC = "synthetic:AAA?freq=1min&session=XNYS&start=2023-11-20&end=2023-11-28&seed=7"
NY = "America/New_York"


@pytest.fixture(scope="module")
def minutes() -> pd.DataFrame:
    return load_bars(SPEC)


def test_calendar_has_holidays_and_early_closes():
    cal = sessions("XNYS", "2023-11-20", "2023-11-28")
    days = [d.date().isoformat() for d in cal.dates]
    assert "2023-11-23" not in days  # Thanksgiving
    assert "2023-11-25" not in days and "2023-11-26" not in days  # weekend
    i = days.index("2023-11-24")
    assert cal.close_at(i).tz_convert(NY).strftime("%H:%M") == "13:00"  # early close
    assert cal.open_at(i).tz_convert(NY).strftime("%H:%M") == "09:30"
    assert cal.is_open(pd.Timestamp("2023-11-24 17:59", tz="UTC"))
    assert not cal.is_open(pd.Timestamp("2023-11-24 18:00", tz="UTC"))
    assert not cal.is_open(pd.Timestamp("2023-11-23 16:00", tz="UTC"))
    nxt = cal.next_open(pd.Timestamp("2023-11-22 21:00", tz="UTC"))
    assert nxt == pd.Timestamp("2023-11-24 14:30", tz="UTC")


def test_unknown_calendar_is_a_config_error():
    with pytest.raises(ConfigError, match="XXXX"):
        sessions("XXXX")


def test_session_minute_data_only_inside_sessions(minutes):
    cal = sessions("XNYS", "2023-11-20", "2023-11-28")
    assert len(minutes) == 5 * 390 + 210  # five full sessions and the 13:00 early close
    assert all(cal.is_open(t) for t in minutes.index[::97])
    ny = minutes.index.tz_convert(NY)
    assert ny.min().strftime("%H:%M") == "09:30" and ny.max().strftime("%H:%M") == "15:59"
    friday = minutes[ny.date == pd.Timestamp("2023-11-24").date()]
    assert friday.index[-1].tz_convert(NY).strftime("%H:%M") == "12:59"
    assert not (ny.date == pd.Timestamp("2023-11-23").date()).any()


def test_session_data_across_dst_and_other_frequencies():
    bars = load_bars("synthetic:X?freq=5min&session=XNYS&start=2024-03-08&end=2024-03-11")
    opens = bars.groupby(bars.index.date).apply(lambda f: f.index[0].strftime("%H:%M"))
    assert list(opens) == ["14:30", "13:30"]  # New York moved to summer time
    days = load_bars("synthetic:X?freq=1D&session=XNYS&start=2024-01-01&end=2024-01-31")
    assert len(days) == 21 and days.index[0] == pd.Timestamp("2024-01-02", tz="UTC")


def test_daily_resample_is_one_bar_per_session(minutes):
    daily = session_resample(minutes, "1Day")
    assert len(daily) == 6
    day = minutes[minutes.index.tz_convert(NY).date == pd.Timestamp("2023-11-24").date()]
    row = daily.loc[pd.Timestamp("2023-11-24", tz="UTC")]
    assert row["open"] == day["open"].iloc[0] and row["close"] == day["close"].iloc[-1]
    assert row["high"] == day["high"].max() and row["low"] == day["low"].min()
    assert row["volume"] == day["volume"].sum()


def test_hourly_bars_are_cut_on_the_clock_like_alpaca(minutes):
    hourly = session_resample(minutes, "1Hour")
    monday = hourly[hourly.index.tz_convert(NY).date == pd.Timestamp("2023-11-20").date()]
    hours = [t.tz_convert(NY).strftime("%H:%M") for t in monday.index]
    assert hours == ["09:00", "10:00", "11:00", "12:00", "13:00", "14:00", "15:00"]
    first = minutes.loc["2023-11-20 14:30":"2023-11-20 14:59"]  # the partial 09:30-10:00
    assert monday["volume"].iloc[0] == first["volume"].sum()
    friday = hourly[hourly.index.tz_convert(NY).date == pd.Timestamp("2023-11-24").date()]
    assert len(friday) == 4  # 09:30-10:00, 10, 11, 12 (closes at 13:00)


def test_bars_outside_sessions_are_dropped_unless_all():
    index = pd.date_range("2024-01-05 20:00", periods=240, freq="1min", tz="UTC")  # 15:00-19:00
    frame = pd.DataFrame(
        {"open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 1.0}, index=index
    )
    regular = session_resample(frame, "1Hour")
    assert len(regular) == 1 and regular["volume"].iloc[0] == 60
    assert len(session_resample(frame, "1Hour", session="all")) == 4


def test_coarser_source_is_refused():
    with pytest.raises(ConfigError, match="delivers bars of 1 day"):
        check_source(pd.Timedelta(days=1), "1Hour")
    with pytest.raises(ConfigError):
        check_source(pd.Timedelta(minutes=7), "15Min")
    check_source(pd.Timedelta(days=1), "1Day")
    check_source(pd.Timedelta(minutes=5), "1Hour")


def _stream(frames: dict[str, pd.DataFrame]) -> list[list[Bar]]:
    """The frames as a feed delivers them: one group of bars per time step."""
    steps: dict[pd.Timestamp, list[Bar]] = {}
    for s, f in frames.items():
        cols = f[["open", "high", "low", "close", "volume"]]
        for t, row in zip(f.index, cols.itertuples(index=False), strict=True):
            steps.setdefault(t, []).append(Bar(s, t, *map(float, row)))
    return [steps[t] for t in sorted(steps)]


@pytest.mark.parametrize("timeframe", ["1Day", "1Hour"])
def test_live_aggregation_equals_the_backtest_resample(timeframe):
    frames = load_symbols(SPEC.replace("AAA", "AAA,BBB"))
    agg = BarAggregator(["AAA", "BBB"], timeframe)
    got: list[list[Bar]] = []
    for group in _stream(frames):
        got += agg.add(group)
    assert agg.flush() == []  # the last period closed with its last minute
    for symbol in ("AAA", "BBB"):
        want = session_resample(frames[symbol], timeframe)
        live = [b for g in got for b in g if b.symbol == symbol]
        assert [b.time for b in live] == list(want.index)
        np.testing.assert_array_equal(
            [[b.open, b.high, b.low, b.close, b.volume] for b in live],
            want[["open", "high", "low", "close", "volume"]].to_numpy(),
        )


def test_a_period_closes_with_its_last_step_not_later():
    frames = load_symbols(SPEC)
    agg = BarAggregator(["AAA"], "1Day")
    steps = _stream(frames)
    emitted_at = [i for i, g in enumerate(steps) if agg.add(g)]
    cal = sessions("XNYS", "2023-11-20", "2023-11-28")
    ends = {cal.close_at(i) for i in range(len(cal))}
    closes = [i for i, g in enumerate(steps) if g[0].time + pd.Timedelta("1min") in ends]
    assert len(closes) == 6 and emitted_at == closes


def test_missing_last_minute_closes_on_the_clock_or_the_next_bar():
    frames = load_symbols(SPEC)
    steps = [g for g in _stream(frames) if g[0].time != pd.Timestamp("2023-11-20 20:59", tz="UTC")]
    agg = BarAggregator(["AAA"], "1Day")
    out = []
    for g in steps:
        if g[0].time == pd.Timestamp("2023-11-20 20:58", tz="UTC"):
            out += agg.add(g)
            assert out == []
            out += agg.due(pd.Timestamp("2023-11-20 21:00", tz="UTC"))
            assert [b.time for b in out[0]] == [pd.Timestamp("2023-11-20", tz="UTC")]
            break
        agg.add(g)


def test_daily_source_passes_through_relabelled():
    agg = BarAggregator(["AAA"], "1Day", source=pd.Timedelta(days=1))
    stamp = pd.Timestamp("2024-01-03 05:00", tz="UTC")  # Alpaca's New York midnight
    (group,) = agg.add([Bar("AAA", stamp, 1.0, 2.0, 0.5, 1.5, 10.0)])
    assert group[0].time == pd.Timestamp("2024-01-03", tz="UTC")


def test_backtest_timeframe_runs_on_session_bars(capsys):
    import json

    from workbench.backtesting.api import backtest
    from workbench.cli.main import main

    spec = "synthetic:AAA?freq=1min&session=XNYS&start=2024-01-02&end=2024-02-29&seed=3"
    params = ["--param", "fast=3", "--param", "slow=8"]
    assert main(["backtest", "--strategy", "ma_crossover", "--data", spec, "--timeframe", "1Day",
                 *params, "--json"]) == 0  # fmt: skip
    cli = json.loads(capsys.readouterr().out)
    daily = session_resample(load_bars(spec), "1Day")
    direct = backtest("ma_crossover", daily, {"fast": 3, "slow": 8}, periods_per_year=252)
    assert cli["trades"] and len(cli["trades"]) == len(direct.trades)
    assert [t["entry_time"] for t in cli["trades"]] == [
        t.isoformat() for t in direct.trades["entry_time"]
    ]
    assert cli["metrics"]["total_return"] == pytest.approx(direct.metrics["total_return"])


def test_a_correction_replaces_its_minute_in_the_open_period_only():
    frames = load_symbols(SPEC)
    steps = _stream(frames)[:60]  # Monday 09:30-10:29
    agg = BarAggregator(["AAA"], "1Hour")
    for g in steps[:29]:
        assert agg.add(g) == []
    old = steps[3][0]
    fixed = Bar("AAA", old.time, old.open, old.high + 50, old.low, old.close, old.volume)
    assert agg.correct(fixed)
    (hour,) = agg.add(steps[29])  # 09:59 closes the partial first hour
    assert hour[0].high == fixed.high
    assert not agg.correct(fixed)  # its period is over: too late to change a decision


@pytest.mark.parametrize(
    "stamp",
    ["2024-01-02T00:00:00Z", "2024-01-02T05:00:00Z", "2024-07-02T04:00:00Z"],
    ids=["ours: 00:00 UTC", "Alpaca's New York midnight (EST)", "Alpaca's (EDT)"],
)
def test_a_daily_bar_keeps_its_session_date(stamp: str) -> None:
    t = pd.Timestamp(stamp)
    agg = BarAggregator(["SPY"], "1Day", source=pd.Timedelta(days=1))
    (group,) = agg.add([Bar("SPY", t, 1.0, 2.0, 0.5, 1.5, 10.0)])
    assert group[0].time == t.normalize()  # the same date, never the evening before


@pytest.mark.parametrize("calendar", ["XNYS", "XLON", "XTKS"])
@pytest.mark.parametrize("year", [2003, 2021])
def test_a_bounded_request_builds_from_its_year_with_the_same_sessions(calendar, year):
    whole = sessions(calendar)
    assert whole.dates[0].year == 1998
    start, end = f"{year}-03-10", f"{year + 2}-11-30"
    part = sessions(calendar, start, end)
    expected = whole.between(start, end)
    assert part.dates.equals(expected.dates) and len(part) > 400
    np.testing.assert_array_equal(part.opens, expected.opens)
    np.testing.assert_array_equal(part.closes, expected.closes)
    _calendar.cache_clear()
    sessions(calendar, start, end)
    assert _calendar.cache_info().currsize == 1  # built for this request alone
    assert _calendar(calendar, year).dates[0].year == year  # from its start's year


def _minute(symbol: str, hhmm: str, price: float = 1.0) -> Bar:
    t = pd.Timestamp(f"2024-01-10 {hhmm}", tz="America/New_York").tz_convert("UTC")
    return Bar(symbol, t, price, price + 1, price - 1, price, 1.0)


def test_a_late_minute_of_a_closed_period_is_dropped_not_closing_the_open_one():
    agg = BarAggregator(["A", "B"], "5Min")
    for m in range(35, 40):
        agg.add([_minute("A", f"09:{m}"), _minute("B", f"09:{m}")])  # 09:35 closes at 09:39
    out = agg.add([_minute("A", "09:40"), _minute("B", "09:40")])
    out += agg.add([_minute("B", "09:41")])
    out += agg.add([_minute("A", "09:39", 9.0)])  # A's 09:39 again, after 09:35 was handed out
    assert out == [] and agg.late == 1
    for m in range(41, 45):
        out += agg.add([_minute("A", f"09:{m}"), _minute("B", f"09:{m}")])
    (bars,) = out  # one 09:40 bar per symbol, whole: five minutes each
    assert [(b.symbol, b.volume) for b in bars] == [("A", 5.0), ("B", 5.0)]
    assert bars[0].time == _minute("A", "09:40").time


@pytest.mark.parametrize("order", [[35, 36, 36, 37, 38, 39], [35, 37, 36, 38, 39]],
                         ids=["a minute delivered twice", "minutes out of order"])  # fmt: skip
def test_the_open_period_takes_its_minutes_in_any_order(order):
    agg = BarAggregator(["A"], "5Min")
    out = [g for m in order for g in agg.add([_minute("A", f"09:{m}", float(m))])]
    (bar,) = out[0]
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (35.0, 40.0, 34.0, 39.0, 5.0)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda f: f.tz_localize(None), "naive timestamps"),
        (lambda f: f.set_axis(f.index.astype(str)), "not a DatetimeIndex"),
        (lambda f: f.drop(columns="volume"), "missing column"),
    ],
    ids=["naive index", "text index", "no volume"],
)
def test_session_resample_refuses_what_is_not_a_bars_frame(minutes, change, match):
    with pytest.raises(DataError, match=match):
        session_resample(change(minutes.iloc[:120]), "1Hour")


@pytest.mark.parametrize(
    ("calendar", "timeframe", "per_year"),
    [
        ("XNYS", "1Day", 252),
        ("XNYS", "1Hour", 7 * 252),  # 09:30-10:00 (labelled 09:00), 10:00, ..., 15:00
        ("XNYS", "5Min", 78 * 252),
        ("XNYS", "15Min", 26 * 252),
        ("XNYS", "1Min", 390 * 252),
        ("24/7", "1Day", 365),  # every day a session, of 24 hours
        ("24/7", "1Hour", 24 * 365),
        ("24/7", "15Min", 96 * 365),
        ("XLON", "1Hour", 9 * 252),  # 08:00-16:30 London: 8.5 hours
    ],
)
def test_bars_per_year_on_a_calendars_regular_sessions(calendar, timeframe, per_year):
    """A run's bars per year on the regular sessions come from its calendar: how many of
    the timeframe's periods a session touches, and 365 sessions a year for one that trades
    every day. It was 252 sessions of 6.5 hours (New York's) on every calendar: 1764 for
    hourly bars of 24/7 crypto, 24 a day (a Sharpe ratio sqrt(8760 / 1764) = 2.2 times
    too low)."""
    from workbench.backtesting.api import backtest, on_timeframe

    universe = {"X": load_bars("synthetic:X?freq=1min&start=2024-01-01&bars=30000&seed=1")}
    _, periods = on_timeframe(universe, timeframe, calendar=calendar)
    assert periods == per_year
    if (calendar, timeframe) == ("24/7", "1Hour"):
        result = backtest(
            "ma_crossover", universe["X"], {"fast": 3, "slow": 8}, timeframe=timeframe,
            calendar=calendar,
        )  # fmt: skip
        assert result.config.periods_per_year == per_year
        returns = result.equity.pct_change().dropna()
        annual = float(returns.std(ddof=1)) * np.sqrt(per_year)
        assert result.metrics["annual_volatility"] == pytest.approx(annual)


def test_bars_per_year_of_a_few_weekdays_know_the_calendars_weekends():
    """Three weekdays of a 24/7 run are still on a calendar that trades every day."""
    from workbench.backtesting.api import on_timeframe

    spec = "synthetic:X?freq=1min&start=2024-01-02&bars=4320&seed=1"  # Tuesday to Thursday
    universe = {"X": load_bars(spec)}
    assert on_timeframe(universe, "1Hour", calendar="24/7")[1] == 24 * 365
    assert on_timeframe(universe, "1Hour", calendar="XNYS")[1] == 7 * 252
