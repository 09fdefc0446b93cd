"""``GET /v2/account/portfolio/history`` windows and timeframes, as Alpaca documents them:
``period`` defaults to 1M; ``timeframe`` is one of 1Min, 5Min, 15Min, 1H and 1D, by
default 1Min under 7 days, 15Min under 30, else 1D; intraday ones for 30 days or less;
only two of ``start``, ``end`` and ``period``."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.requests import GetPortfolioHistoryRequest

from workbench.emulator import Emulator
from workbench.emulator import testing as emt

KEY, SECRET = "history-key", "history-secret"


def _frame(index: pd.DatetimeIndex) -> pd.DataFrame:
    rows = [(100.0, 100.0, 100.0, 100.0, 1000.0)] * len(index)
    columns = ["open", "high", "low", "close", "volume"]
    return pd.DataFrame(rows, index=index.rename("time"), columns=columns)


@pytest.fixture
def daily() -> Iterator[Emulator]:
    """60 sessions from 2024-01-02 (to 2024-03-25), all replayed."""
    index = pd.bdate_range("2024-01-02", periods=60, tz="UTC")
    with Emulator({"AAA": _frame(index)}, key=KEY, secret=SECRET) as emu:
        emu.step(len(index))
        yield emu


def _quarter_hours(*dates: str) -> Emulator:
    """An emulator over 15-minute bars of the regular sessions of ``dates``."""
    days = [
        pd.date_range(f"{d} 09:30", f"{d} 15:45", freq="15min", tz="America/New_York")
        for d in dates
    ]
    index = days[0].append(days[1:]).tz_convert("UTC")
    return Emulator({"AAA": _frame(index)}, key=KEY, secret=SECRET)


@pytest.fixture
def quarter_hours() -> Iterator[Emulator]:
    """15-minute bars of three regular sessions (2024-01-03 to 01-05), all replayed."""
    with _quarter_hours("2024-01-03", "2024-01-04", "2024-01-05") as emu:
        emu.step(3 * 26)
        yield emu


@pytest.fixture
def long_days() -> Iterator[Emulator]:
    """15-minute bars from 04:00 to 20:00 New York on 2024-01-04 and 01-05, all replayed."""
    days = [
        pd.date_range(f"{d} 04:00", f"{d} 19:45", freq="15min", tz="America/New_York")
        for d in ("2024-01-04", "2024-01-05")
    ]
    index = days[0].append(days[1]).tz_convert("UTC")
    with Emulator({"AAA": _frame(index)}, key=KEY, secret=SECRET) as emu:
        emu.step(len(index))
        yield emu


def _history(emu: Emulator, **query: str) -> object:
    return emt.trading_client(emu).get_portfolio_history(GetPortfolioHistoryRequest(**query))


def test_the_default_window_is_the_last_month_of_days(daily: Emulator) -> None:
    history = _history(daily)
    days = pd.to_datetime(history.timestamp, unit="s", utc=True)
    assert history.timeframe == "1D"
    # the last session 2024-03-25; a month before it: from 2024-02-25 (a Sunday) on
    assert (days[0], days[-1], len(days)) == (
        pd.Timestamp("2024-02-26", tz="UTC"),
        pd.Timestamp("2024-03-25", tz="UTC"),
        21,
    )
    # a period of its own still reaches further back
    assert len(_history(daily, period="2M").timestamp) > len(days)


@pytest.mark.parametrize(
    ("query", "timeframe"),
    [
        ({}, "1D"),  # 1M by default: 30 days or more
        ({"period": "2D"}, "15Min"),  # 1Min under 7 days, but never finer than the bars
        ({"period": "2W"}, "15Min"),  # under 30 days
        ({"start": "2024-01-04T14:30:00Z"}, "15Min"),  # from start until now: under 7 days
    ],
)
def test_the_default_timeframe_follows_the_window(
    quarter_hours: Emulator, query: dict[str, str], timeframe: str
) -> None:
    assert _history(quarter_hours, **query).timeframe == timeframe


def test_a_month_is_30_days_whatever_the_calendar_month() -> None:
    """The timeframe rules count a period's days as a month of 30, in February too: by
    default 1D (not 15Min, "less than 30 days"), and an intraday timeframe is accepted
    for 1M ("30 days or less") but not for 31 days, in January (31 days) too."""
    with _quarter_hours("2024-02-29", "2024-03-01") as emu:  # a month back: 29 days
        emu.step(2 * 26)
        assert _history(emu).timeframe == "1D"
    with _quarter_hours("2024-01-31") as emu:  # a month back: 31 days
        emu.step(26)
        assert _history(emu, timeframe="15Min").timeframe == "15Min"
        assert _history(emu, timeframe="15Min", period="1M").timeframe == "15Min"
        with pytest.raises(APIError) as exc:
            _history(emu, timeframe="15Min", period="31D")
        assert exc.value.status_code == 422


@pytest.mark.parametrize(
    ("reporting", "first", "last", "count"),
    [
        (None, "09:30", "15:45", 2 * 26),  # market_hours by default: the sessions'
        ("market_hours", "09:30", "15:45", 2 * 26),
        ("extended_hours", "04:00", "19:45", 2 * 64),
        ("continuous", "04:00", "19:45", 2 * 64),  # all there is
    ],
)
def test_intraday_points_are_the_sessions_unless_asked(
    long_days: Emulator, reporting: str | None, first: str, last: str, count: int
) -> None:
    query = {"timeframe": "15Min", "period": "1W"}
    if reporting is not None:
        query["intraday_reporting"] = reporting
    history = _history(long_days, **query)
    times = pd.to_datetime(history.timestamp, unit="s", utc=True).tz_convert("America/New_York")
    assert len(times) == count
    assert (times.min().strftime("%H:%M"), times.max().strftime("%H:%M")) == (first, last)


@pytest.mark.parametrize(
    "query",
    [
        {"timeframe": "1Day"},  # Alpaca's values only: 1Min, 5Min, 15Min, 1H, 1D
        {"timeframe": "30Min"},
        {"timeframe": "1H", "period": "2M"},  # intraday: 30 days or less
        {"period": "1W", "start": "2024-01-03T14:30:00Z", "end": "2024-01-05T21:00:00Z"},
        {"intraday_reporting": "overnight"},
    ],
)
def test_refused_queries_are_422(quarter_hours: Emulator, query: dict[str, str]) -> None:
    with pytest.raises(APIError) as exc:
        _history(quarter_hours, **query)
    assert (exc.value.status_code, exc.value.code) == (422, 40010001)
