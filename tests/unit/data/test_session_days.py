"""Days of ``session="all"``: the calendar's local day, cut where Alpaca cuts its daily
bars (New York midnight for a stock, midnight UTC for crypto), labelled 00:00 UTC of the
date as every daily bar in the workbench."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from workbench.broker import Bar
from workbench.data.aggregate import BarAggregator
from workbench.data.sessions import (
    KNOWN_ZONES,
    calendar_zone,
    period_end,
    periods,
    session_resample,
)
from workbench.errors import ConfigError


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def _labels_and_ends(times: list[str], calendar: str = "XNYS") -> list[tuple[str, str]]:
    p = periods(pd.DatetimeIndex(times, tz="UTC"), "1Day", session="all", calendar=calendar,
                days=False)  # fmt: skip
    return [(str(pd.Timestamp(a, tz="UTC")), str(pd.Timestamp(b, tz="UTC")))
            for a, b in zip(p.labels, p.ends, strict=True)]  # fmt: skip


@pytest.mark.parametrize(
    ("minute", "label", "end"),
    [
        # Friday 19:30 New York (EST) is past midnight UTC: still Friday's bar
        ("2024-03-09 00:30", "2024-03-08 00:00:00+00:00", "2024-03-09 05:00:00+00:00"),
        ("2024-03-08 04:59", "2024-03-07 00:00:00+00:00", "2024-03-08 05:00:00+00:00"),
        ("2024-03-08 05:00", "2024-03-08 00:00:00+00:00", "2024-03-09 05:00:00+00:00"),
        # Sunday 03-10 is 23 hours long: its day ends at 04:00 UTC (EDT)
        ("2024-03-10 12:00", "2024-03-10 00:00:00+00:00", "2024-03-11 04:00:00+00:00"),
        # Monday 19:30 New York (EDT) is 23:30 UTC; 20:30 is after midnight UTC
        ("2024-03-11 23:30", "2024-03-11 00:00:00+00:00", "2024-03-12 04:00:00+00:00"),
        ("2024-03-12 00:30", "2024-03-11 00:00:00+00:00", "2024-03-12 04:00:00+00:00"),
        ("2024-03-12 04:00", "2024-03-12 00:00:00+00:00", "2024-03-13 04:00:00+00:00"),
    ],
)
def test_a_new_york_day_runs_midnight_to_midnight_across_dst(minute, label, end) -> None:
    assert _labels_and_ends([minute]) == [(label, end)]
    assert period_end(utc(label), "1Day", session="all") == utc(end)


def test_a_24_7_calendar_cuts_at_midnight_utc() -> None:
    assert calendar_zone("24/7") == "UTC" and calendar_zone("XNYS") == "America/New_York"
    assert _labels_and_ends(["2024-03-09 00:30"], "24/7") == [
        ("2024-03-09 00:00:00+00:00", "2024-03-10 00:00:00+00:00")
    ]


def test_an_unknown_calendar_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not known"):
        calendar_zone("NOPE")


def test_daily_bars_keep_their_dates() -> None:
    index = pd.DatetimeIndex(["2024-03-07", "2024-03-08", "2024-03-11"], tz="UTC", name="time")
    frame = pd.DataFrame(
        {"open": 1.0, "high": 2.0, "low": 0.5, "close": [1.1, 1.2, 1.3], "volume": 5.0},
        index=index,
    )
    out = session_resample(frame, "1Day", session="all")
    assert list(out.index) == list(index) and list(out["close"]) == [1.1, 1.2, 1.3]
    assert list(session_resample(frame.iloc[:1], "1Day", session="all").index) == [index[0]]


def test_an_evening_minute_alone_makes_its_days_bar() -> None:
    agg = BarAggregator(["X"], "1Day", session="all")
    assert agg.add([Bar("X", utc("2024-03-09 00:00"), 1.0, 2.0, 0.5, 1.5, 7.0)]) == []
    [[bar]] = agg.flush()
    assert bar.time == utc("2024-03-08") and bar.volume == 7.0  # Friday 19:00 New York


@pytest.mark.parametrize("name", sorted(KNOWN_ZONES))
def test_the_known_zones_are_the_calendar_librarys(name: str) -> None:
    """calendar_zone answers these without importing exchange_calendars: as it would."""
    import exchange_calendars as xcals

    with warnings.catch_warnings():  # the library's own pandas deprecations
        warnings.simplefilter("ignore")
        zone = str(xcals.get_calendar(name).tz)
    assert calendar_zone(name) == zone
