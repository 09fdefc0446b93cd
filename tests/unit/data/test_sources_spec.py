"""Spec strings, the source registry, and range selection."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from workbench.data import sources
from workbench.data.sources import load_bars, load_symbols, make_request, register_source
from workbench.data.spec import SourceRequest, parse_spec, to_utc
from workbench.errors import ConfigError, DataError, DataSourceError


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("sample:SPX", ("sample", "SPX", {})),
        ("SAMPLE:spx,nasdaq", ("sample", "spx,nasdaq", {})),
        ("csv:data/a.csv?tz=America/New_York&symbol=AAPL",
         ("csv", "data/a.csv", {"tz": "America/New_York", "symbol": "AAPL"})),
        ("synthetic:SYN?regimes=bull:0.3:0.15,bear:-0.4:0.35",
         ("synthetic", "SYN", {"regimes": "bull:0.3:0.15,bear:-0.4:0.35"})),
        ("data/x.csv", ("csv", "data/x.csv", {})),
        ("data/x.parquet?tz=UTC", ("parquet", "data/x.parquet", {"tz": "UTC"})),
        (r"C:\data\x.csv", ("csv", r"C:\data\x.csv", {})),
    ],
)  # fmt: skip
def test_parse_spec(spec, parsed):
    assert parse_spec(spec) == parsed


@pytest.mark.parametrize("spec", ["", "   ", "SPX", "data/file.txt"])
def test_not_a_spec(spec):
    with pytest.raises(DataSourceError, match="SCHEME:TARGET"):
        parse_spec(spec)


def test_unknown_scheme_lists_the_known_ones():
    with pytest.raises(DataSourceError) as err:
        load_bars("yahoo:SPY")
    text = str(err.value)
    for scheme in ("sample:", "csv:", "parquet:", "synthetic:"):
        assert scheme in text
    assert "SCHEME:TARGET" in text


def test_another_module_can_register_a_scheme(monkeypatch):
    seen: list[SourceRequest] = []

    def fake(request: SourceRequest) -> dict[str, pd.DataFrame]:
        seen.append(request)
        index = pd.date_range("2024-01-01", periods=3, freq="D", tz="UTC")
        bars = pd.DataFrame({c: [1.0, 1.0, 1.0] for c in ("open", "high", "low", "close")}, index)
        return {request.symbols()[0]: bars.assign(volume=[1, 2, 3])}

    monkeypatch.setattr(sources, "SOURCES", dict(sources.SOURCES))
    register_source("fake", fake, description="test", example="fake:X")
    bars = load_bars("fake:abc?feed=iex", start="2024-01-02")
    assert list(bars.index.day) == [2, 3]
    assert bars["volume"].dtype == "float64"
    assert bars.attrs == {"symbol": "ABC", "source": "fake:abc?feed=iex"}
    assert seen[0].options == {"feed": "iex"}
    assert seen[0].start == pd.Timestamp("2024-01-02", tz="UTC")
    with pytest.raises(ConfigError, match="already registered"):
        register_source("fake", fake, description="again", example="fake:X")


def test_load_bars_refuses_several_symbols():
    with pytest.raises(DataSourceError, match="load_symbols"):
        load_bars("sample:SPX,NASDAQ")
    assert list(load_symbols("sample:nasdaq,spx")) == ["NASDAQ", "SPX"]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2018-12-24", "2018-12-28"),
        (dt.date(2018, 12, 24), dt.date(2018, 12, 28)),
        (pd.Timestamp("2018-12-24"), pd.Timestamp("2018-12-28")),
        (pd.Timestamp("2018-12-23 19:00", tz="America/New_York"), "2018-12-28T00:00:00Z"),
    ],
)
def test_range_is_inclusive_and_naive_means_utc(start, end):
    bars = load_bars("sample:SPX", start, end)
    assert [str(d.date()) for d in bars.index] == [
        "2018-12-24",
        "2018-12-26",
        "2018-12-27",
        "2018-12-28",
    ]


def test_date_only_end_includes_the_whole_day():
    bars = load_bars("synthetic:S?freq=1h&bars=72", end="2024-01-02")
    assert bars.index[-1] == pd.Timestamp("2024-01-02 23:00", tz="UTC")
    assert to_utc("2024-01-02 00:00", end=True) == pd.Timestamp("2024-01-02", tz="UTC")


def test_bad_ranges():
    with pytest.raises(ConfigError, match="after"):
        load_bars("sample:SPX", "2018-02-01", "2018-01-01")
    with pytest.raises(ConfigError, match="not a date"):
        load_bars("sample:SPX", "yesterday-ish")
    with pytest.raises(DataError, match="no bars between") as err:
        load_bars("sample:SPX", "2020-01-01", "2020-12-31")
    assert "1999-01-04" in str(err.value)


@pytest.mark.parametrize(
    ("start", "end", "asked", "fix"),
    [
        ("2020-01-01", None, "from start='2020-01-01' on", "give start= on or before 2018-12-31"),
        (None, "1990-12-31", "up to end='1990-12-31'", "give end= on or after 1999-01-04"),
    ],
)
def test_a_range_of_one_end_is_said_without_the_other(start, end, asked, fix):
    with pytest.raises(DataError) as err:  # said "and None" / "between None and"
        load_bars("sample:SPX", start, end)
    assert str(err.value) == (
        f"sample:SPX [SPX]: no bars {asked} (the data cover 1999-01-04 to 2018-12-31: {fix})"
    )


def test_a_range_given_as_dates_is_said_as_dates():
    with pytest.raises(DataError) as err:  # said 2030-01-01 00:00:00+00:00
        load_bars("sample:SPX", dt.date(2030, 1, 1), pd.Timestamp("2030-06-30 12:00"))
    assert str(err.value).startswith(
        "sample:SPX [SPX]: no bars between start=2030-01-01 and end=2030-06-30 12:00:00 ("
    )


def test_keyword_options_win_over_the_spec():
    request = make_request("synthetic:X?bars=10&seed=1", tz="UTC", seed=2)
    assert request.options == {"bars": "10", "seed": 2}
    assert request.tz == "UTC"
    assert make_request("csv:a.csv?tz=Europe/London").tz == "Europe/London"
    with pytest.raises(ConfigError, match="time zone"):
        make_request("csv:a.csv", tz="Mars/Olympus")


def test_option_conversion_errors_name_the_option():
    with pytest.raises(DataSourceError, match="bars='many'"):
        load_bars("synthetic:X?bars=many")
    with pytest.raises(DataSourceError, match="drift='up'"):
        load_bars("synthetic:X?drift=up")
    with pytest.raises(DataSourceError, match="unknown option"):
        load_bars("sample:SPX?adjust=yes")


def test_package_exports():
    import workbench
    import workbench.data as data
    from workbench.data.resample import resample

    assert workbench.load_bars is load_bars
    assert workbench.resample is resample
    assert callable(workbench.validate) and callable(workbench.clean)
    for name in data.__all__:
        assert getattr(data, name) is not None
