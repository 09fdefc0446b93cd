"""synthetic:NAME?symbols=N: correlated returns with sector factors, seeded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.data.sources import load_symbols
from workbench.data.synthetic_universe import sectors_of
from workbench.errors import DataSourceError

SPEC = "synthetic:U?symbols=60&bars=1500&freq=1D&corr=0.3&sectors=4&seed=7"


def test_universe_has_the_correlation_structure_it_promises():
    bars = load_symbols(SPEC)
    assert list(bars)[:2] == ["U001", "U002"] and len(bars) == 60
    index = bars["U001"].index
    assert all(f.index.equals(index) for f in bars.values())
    returns = pd.DataFrame({s: np.log(f["close"]).diff() for s, f in bars.items()}).dropna()
    corr = returns.corr().to_numpy()
    sector = np.array(list(sectors_of(bars).values()))
    same = sector[:, None] == sector[None, :]
    off = ~np.eye(len(sector), dtype=bool)
    assert corr[~same].mean() == pytest.approx(0.3, abs=0.03)
    assert corr[same & off].mean() == pytest.approx(0.3 + 0.35, abs=0.03)
    assert sorted(set(sector)) == ["S01", "S02", "S03", "S04"]
    frame = bars["U007"]
    assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()
    assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()
    assert (frame["open"].iloc[1:].to_numpy() == frame["close"].iloc[:-1].to_numpy()).all()


def test_same_seed_same_universe_and_bad_options_are_named():
    a = load_symbols("synthetic:U?symbols=5&bars=50&seed=3")
    b = load_symbols("synthetic:U?symbols=5&bars=50&seed=3")
    for s in a:
        pd.testing.assert_frame_equal(a[s], b[s])
    with pytest.raises(DataSourceError, match="corr"):
        load_symbols("synthetic:U?symbols=5&corr=1.5")
    with pytest.raises(DataSourceError, match="unknown option"):
        load_symbols("synthetic:U?symbols=5&regimes=bull:0.1:0.1")
