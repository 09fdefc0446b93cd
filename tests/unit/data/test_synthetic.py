"""The synthetic generator: seeded, consistent, fast, annualised by its frequency."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from workbench.data.quality import validate
from workbench.data.sources import load_bars, load_symbols
from workbench.data.synthetic import parse_regimes, synthetic_bars
from workbench.errors import ConfigError


def test_same_seed_same_frame_other_seed_other_frame():
    a = synthetic_bars(500, "5min", seed=7)
    pd.testing.assert_frame_equal(a, synthetic_bars(500, "5min", seed=7))
    assert not np.allclose(a["close"], synthetic_bars(500, "5min", seed=8)["close"])


def test_length_frequency_and_format():
    bars = synthetic_bars(1000, "15min", seed=1, start="2024-03-01 09:00", symbol="ABC")
    assert len(bars) == 1000
    assert bars.index[0] == pd.Timestamp("2024-03-01 09:00", tz="UTC")
    assert (
        np.diff(bars.index.asi8) == pd.Timedelta("15min") / pd.Timedelta(1, bars.index.unit)
    ).all()
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    assert bars.attrs["symbol"] == "ABC"
    assert validate(bars).issues == []


def test_ohlc_consistent_and_positive():
    bars = synthetic_bars(20_000, "1D", seed=3, vol=1.5, drift=-0.5)
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    assert (bars["low"] > 0).all() and (bars["volume"] > 0).all()
    assert (bars["open"].iloc[1:].to_numpy() == bars["close"].iloc[:-1].to_numpy()).all()
    assert bars["open"].iloc[0] == 100.0


@pytest.mark.parametrize(("freq", "per_year"), [("1D", 365), ("1min", 365 * 24 * 60)])
def test_volatility_is_annualised_by_the_frequency(freq, per_year):
    bars = synthetic_bars(50_000, freq, seed=11, vol=0.3)
    realised = np.log(bars["close"]).diff().std() * np.sqrt(per_year)
    assert realised == pytest.approx(0.3, rel=0.02)


def test_regimes_switch_and_are_labelled():
    bars = synthetic_bars(5000, "1h", seed=5, regimes="calm:0.1:0.05,storm:-0.2:0.6", switch=0.02)
    assert set(bars["regime"].unique()) == {"calm", "storm"}
    assert bars["regime"].iloc[0] == "calm"
    r = np.log(bars["close"]).diff()
    assert r[bars["regime"] == "storm"].std() > 5 * r[bars["regime"] == "calm"].std()
    assert parse_regimes("a:1:2")[0].vol == 2.0


def test_a_million_minute_bars_well_under_a_second():
    synthetic_bars(1000)  # warm up
    best = min(_timed(lambda: synthetic_bars(1_000_000, "1min", seed=1)) for _ in range(2))
    assert best < 1.0


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def test_spec_form_and_per_symbol_seeds():
    spec = "synthetic:A,B?bars=300&freq=1h&seed=7&drift=0.1&vol=0.3&price=50&start=2023-06-01"
    frames = load_symbols(spec)
    assert list(frames) == ["A", "B"]
    a = synthetic_bars(300, "1h", 7, drift=0.1, vol=0.3, price=50, start="2023-06-01", symbol="A")
    pd.testing.assert_frame_equal(frames["A"], a, check_freq=False)
    b = synthetic_bars(300, "1h", 8, drift=0.1, vol=0.3, price=50, start="2023-06-01", symbol="B")
    pd.testing.assert_frame_equal(frames["B"], b, check_freq=False)
    assert frames["A"].attrs["source"] == spec


def test_range_sets_the_length_without_bars():
    bars = load_bars("synthetic:X?freq=1D", start="2024-01-01", end="2024-01-31")
    assert len(bars) == 31


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, "at least one bar"),
        ({"n": 10, "freq": "ME"}, "fixed bar length"),
        ({"n": 10, "price": -1}, "positive"),
        ({"n": 10, "regimes": "bull:fast:0.1"}, "name:drift:vol"),
        ({"n": 10, "switch": 2.0}, "probability"),
        ({"n": 10, "seed": -1}, "seed"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        synthetic_bars(**kwargs)


def test_drift_and_regimes_are_exclusive_in_a_spec():
    from workbench.errors import DataSourceError

    with pytest.raises(DataSourceError, match="either"):
        load_bars("synthetic:X?drift=0.1&regimes=a:0.1:0.1")


def test_session_bars_are_as_many_as_asked_for_beyond_ten_years():
    bars = load_bars("synthetic:SYN?freq=1D&session=XNYS&bars=3000&start=2000-01-03")
    assert len(bars) == 3000  # about 12 years of sessions (it stopped at 10 years' worth)
    assert bars.index[0] == pd.Timestamp("2000-01-03", tz="UTC")
    assert bars.index[-1].year == 2011


def test_session_bars_past_the_calendars_end_are_refused_not_cut_short():
    spec = "synthetic:SYN?freq=1D&session=XNYS&bars=100000&start=2020-01-02"
    with pytest.raises(ConfigError, match=r"bars=100000: XNYS has [\d,]+ 1D bars from 2020-01-02"):
        load_bars(spec)
    with_end = load_bars(spec + "&end=2020-12-31")  # an end bounds them: at most bars=
    assert len(with_end) == 253


@pytest.mark.parametrize(
    ("calendar", "freq", "per_year"),
    [("XNYS", "30min", 13 * 252), ("XNYS", "1D", 252), ("24/7", "1h", 24 * 365),
     ("24/7", "1D", 365)],
)  # fmt: skip
def test_session_bars_keep_an_annual_volatility_on_any_calendar(calendar, freq, per_year):
    """``vol`` is annual on a calendar's sessions too: its sessions a year (365 on 24/7)
    and its session's length (24 hours there, 6.5 on XNYS). 24/7 bars took New York's
    252 sessions of 6.5 hours: vol=0.3 measured 0.69 on hourly bars, 0.36 on daily."""
    spec = f"synthetic:S?freq={freq}&session={calendar}&start=2000-01-03&end=2023-12-29"
    bars = load_bars(f"{spec}&seed=11&vol=0.3")
    if freq != "1D":  # one return a session, from its last close to its next (no gap)
        close = bars["close"].groupby(bars.index.normalize()).last()
        days = 365 if calendar == "24/7" else 252
        realised = np.log(close).diff().std() * np.sqrt(days)
    else:
        realised = np.log(bars["close"]).diff().std() * np.sqrt(per_year)
    assert realised == pytest.approx(0.3, rel=0.03)
