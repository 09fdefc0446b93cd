"""The bundled samples: real index data, in the bars format."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.data.quality import validate
from workbench.data.samples import from_arch, load_sample
from workbench.data.sources import load_bars
from workbench.errors import DataSourceError


@pytest.mark.parametrize("symbol", ["SPX", "NASDAQ"])
def test_sample_shape(symbol):
    bars = load_bars(f"sample:{symbol.lower()}")
    assert len(bars) == 5031
    assert str(bars.index.tz) == "UTC"
    assert bars.index[0] == pd.Timestamp("1999-01-04", tz="UTC")
    assert bars.index[-1] == pd.Timestamp("2018-12-31", tz="UTC")
    assert (bars.index == bars.index.normalize()).all()
    assert list(bars.columns) == ["open", "high", "low", "close", "volume", "adj_close"]
    assert all(dtype == np.float64 for dtype in bars.dtypes)
    assert bars.attrs == {"symbol": symbol, "source": f"sample:{symbol.lower()}"}


def test_spx_is_clean_nasdaq_has_two_zero_volume_bars():
    assert validate(load_sample("SPX")).issues == []
    report = validate(load_sample("NASDAQ"))
    assert report.ok
    assert [(i.check, i.count) for i in report.issues] == [("zero_volume", 2)]
    assert report.issues[0].examples == (
        str(pd.Timestamp("2015-05-12", tz="UTC")),
        str(pd.Timestamp("2018-01-09", tz="UTC")),
    )


def test_returned_frames_are_copies():
    first = load_sample("SPX")
    first.iloc[0, 0] = -1.0
    assert load_sample("SPX").iloc[0, 0] > 0


def test_unknown_sample_lists_the_available_ones():
    with pytest.raises(DataSourceError, match="SPX, NASDAQ"):
        load_bars("sample:DAX")


@pytest.mark.parametrize(("symbol", "module"), [("SPX", "sp500"), ("NASDAQ", "nasdaq")])
def test_fast_path_matches_arch_load(symbol, module):
    import importlib

    raw = importlib.import_module(f"arch.data.{module}").load()  # imports arch: ~1.5 s once
    pd.testing.assert_frame_equal(load_sample(symbol), from_arch(raw, symbol))
