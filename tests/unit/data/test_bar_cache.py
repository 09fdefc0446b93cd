"""BarCache on a real temporary directory."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.data.cache import BarCache, default_root
from workbench.errors import ConfigError

KEY = ("alpaca", "AAPL", "1Min", "2024-01-02", "2024-01-03")


def test_round_trip_keeps_utc_dtypes_and_symbol(tmp_path, make_bars):
    bars = make_bars(n=6, freq="1min").assign(trade_count=list(range(6)))
    bars.attrs = {"symbol": "AAPL", "source": "alpaca:AAPL"}
    cache = BarCache(tmp_path)
    assert cache.get(*KEY) is None
    path = cache.put(*KEY, bars)
    assert path.is_file() and path.is_relative_to(tmp_path)
    got = cache.get(*KEY)
    pd.testing.assert_frame_equal(got, bars, check_freq=False)
    assert str(got.index.tz) == "UTC"
    assert got.attrs["symbol"] == "AAPL"
    assert not list(tmp_path.rglob("*.tmp"))


def test_key_parts_matter(tmp_path, make_bars):
    cache = BarCache(tmp_path)
    cache.put(*KEY, make_bars())
    assert cache.get("alpaca", "AAPL", "1Day", "2024-01-02", "2024-01-03") is None
    assert cache.get("alpaca", "MSFT", "1Min", "2024-01-02", "2024-01-03") is None
    assert cache.get("other", "AAPL", "1Min", "2024-01-02", "2024-01-03") is None
    assert cache.get("alpaca", "aapl", "1Min", "2024-01-02", "2024-01-03") is not None


def test_a_covering_entry_serves_a_smaller_range(tmp_path, make_bars):
    cache = BarCache(tmp_path)
    cache.put("alpaca", "SPY", "1Day", "2024-01-01", "2024-01-31", make_bars(n=8))
    got = cache.get("alpaca", "SPY", "1Day", "2024-01-03", "2024-01-05")
    assert [d.day for d in got.index] == [3, 4, 5]
    assert cache.get("alpaca", "SPY", "1Day", "2023-12-01", "2024-01-05") is None


def test_symbols_with_slashes_and_listing(tmp_path, make_bars):
    cache = BarCache(tmp_path)
    cache.put("alpaca", "BTC/USD", "1Hour", "2024-01-01", "2024-01-02", make_bars())
    (entry,) = cache.entries()
    assert (entry.source, entry.symbol, entry.timeframe) == ("alpaca", "BTC/USD", "1Hour")
    assert entry.start == pd.Timestamp("2024-01-01", tz="UTC")
    assert cache.get("alpaca", "BTC/USD", "1Hour", "2024-01-01", "2024-01-02") is not None
    assert cache.clear("other") == 0
    assert cache.clear() == 1
    assert cache.entries() == []


def test_unreadable_entry_is_a_miss(tmp_path, make_bars):
    cache = BarCache(tmp_path)
    path = cache.put(*KEY, make_bars())
    path.write_bytes(b"garbage")
    assert cache.get(*KEY) is None


def test_put_overwrites_atomically(tmp_path, make_bars):
    cache = BarCache(tmp_path)
    cache.put(*KEY, make_bars(n=3))
    cache.put(*KEY, make_bars(n=5))
    assert len(cache.get(*KEY)) == 5
    assert len(list(tmp_path.rglob("*"))) == 5  # bars/alpaca/AAPL/1Min/<file>


def test_default_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "c"))
    assert BarCache().root == tmp_path / "c"
    monkeypatch.delenv("WORKBENCH_CACHE")
    assert default_root().parts[-2:] == (".cache", "workbench")


def test_bad_keys(tmp_path, make_bars):
    cache = BarCache(tmp_path)
    with pytest.raises(ConfigError):
        cache.get("alpaca", "AAPL", "1Min", None, "2024-01-02")
    with pytest.raises(ConfigError):
        cache.put("alpaca", " ", "1Min", "2024-01-01", "2024-01-02", make_bars())
