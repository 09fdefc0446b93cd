"""sample:SP500 (skfolio's 20 stocks), sample:SP500_INDEX, close-only frames and GICS sectors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.data import sp500
from workbench.data.quality import validate
from workbench.data.sources import load_bars, load_symbols
from workbench.errors import DataSourceError
from workbench.risk import RiskConfig

TWENTY = sorted(
    {"AAPL", "AMD", "BAC", "BBY", "CVX", "GE", "HD", "JNJ", "JPM", "KO"}
    | {"LLY", "MRK", "MSFT", "PEP", "PFE", "PG", "RRC", "UNH", "WMT", "XOM"}
)


def test_universe_is_skfolios_twenty_stocks_as_close_only_bars():
    bars = load_symbols("sample:SP500")
    assert list(bars) == TWENTY
    aapl = bars["AAPL"]
    assert aapl.index.tz is not None and str(aapl.index.tz) == "UTC"
    assert aapl.index[0] == pd.Timestamp("1990-01-02", tz="UTC")
    assert aapl.index[-1] == pd.Timestamp("2022-12-28", tz="UTC")
    assert aapl.attrs["close_only"] is True
    for col in ("open", "high", "low"):
        np.testing.assert_array_equal(aapl[col].to_numpy(), aapl["close"].to_numpy())
    assert (aapl["volume"] == 0).all()


def test_same_frame_as_skfolios_public_loader():
    from skfolio.datasets import load_sp500_dataset, load_sp500_index

    prices = load_sp500_dataset()
    bars = load_symbols("sample:SP500?symbols=MSFT,XOM")
    assert list(bars) == ["MSFT", "XOM"]
    for sym, frame in bars.items():
        np.testing.assert_array_equal(frame["close"].to_numpy(), prices[sym].to_numpy(float))
        assert (frame.index.tz_localize(None) == prices.index).all()
    index = load_bars("sample:SP500_INDEX")
    np.testing.assert_array_equal(
        index["close"].to_numpy(), load_sp500_index().iloc[:, 0].to_numpy(float)
    )


def test_single_stocks_and_index_mix_with_other_samples():
    bars = load_symbols("sample:SPX,AAPL,SP500_INDEX", start="2010-01-01", end="2010-12-31")
    assert list(bars) == ["SPX", "AAPL", "SP500_INDEX"]
    assert bars["AAPL"].index[0] >= pd.Timestamp("2010-01-01", tz="UTC")


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("sample:SP500?symbols=AAPL,NOPE", "has no NOPE"),
        ("sample:SPX?symbols=AAPL", "symbols= selects"),
        ("sample:SP500_INDEX?symbols=AAPL", "symbols= selects"),
        ("sample:SP500?foo=1", "unknown option"),
    ],
)
def test_bad_specs_say_what_to_do(spec, words):
    with pytest.raises(DataSourceError, match=words):
        load_symbols(spec)


def test_quality_report_says_close_only_and_not_zero_volume():
    report = validate(load_bars("sample:AAPL"))
    checks = {i.check for i in report.issues}
    assert "close_only" in checks and "zero_volume" not in checks
    assert report.ok
    assert "t+1's close" in next(i for i in report.issues if i.check == "close_only").message
    assert "close_only" not in {i.check for i in validate(load_bars("sample:SPX")).issues}


def test_gics_sectors_cover_the_universe_and_feed_group_exposure():
    sectors = sp500.gics_sectors()
    assert sorted(sectors) == sorted(TWENTY)
    assert sectors["AAPL"] == "Information Technology" and sectors["XOM"] == "Energy"
    cfg = RiskConfig.from_dict(
        {"group_exposure": {"groups": "gics", "default": 0.3, "limits": {"Energy": 0.1}}}
    )
    assert cfg.group_exposure.groups["JPM"] == "Financials"
    assert cfg.group_exposure.limits["Energy"] == 0.1
    assert cfg.group_exposure.limits["Health Care"] == 0.3
    assert RiskConfig.from_dict(cfg.to_dict()) == cfg


def test_group_exposure_groups_must_be_a_map_or_gics():
    from workbench.errors import ConfigError

    with pytest.raises(ConfigError, match="or be 'gics'"):
        RiskConfig.from_dict({"group_exposure": {"groups": "sectors", "default": 0.3}})
