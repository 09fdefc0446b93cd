"""Equity curves on disk: the bulk-formatted times write what pandas writes, and read back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.research.equity_csv import read_equity, utc_text, write_equity


def _curve(index: pd.DatetimeIndex) -> pd.Series:
    values = np.random.default_rng(3).normal(1.0, 0.01, len(index)).cumprod() * 1e5
    return pd.Series(values, index=index, name="anything")


@pytest.mark.parametrize(
    "index",
    [
        pd.date_range("2021-01-04 14:30", periods=500, freq="1min", tz="UTC"),  # minute bars
        pd.date_range("1999-12-30", periods=40, freq="D", tz="UTC"),  # midnights only
        pd.date_range("2021-01-04 14:30:00.5", periods=5, freq="1min", tz="UTC"),  # fractions
        pd.date_range("2021-03-12 09:30", periods=5, freq="1D", tz="America/New_York"),
        pd.DatetimeIndex(["2021-01-04 14:30", "2021-01-04 14:31"], tz="UTC").as_unit("s"),
        pd.DatetimeIndex(["0999-12-31 23:00", "1000-01-01"], tz="UTC").as_unit("s"),
    ],
    ids=["minutes", "midnights", "fractions", "new-york", "seconds", "year-999"],
)
@pytest.mark.filterwarnings("ignore:Could not infer format")  # pandas reading year 999
def test_the_file_is_what_pandas_writes_and_reads_back(tmp_path, index):
    curve = _curve(index)
    path = tmp_path / "equity.csv"
    write_equity(curve, path)
    expected = curve.rename("equity").to_frame().to_csv(index_label="time")
    assert path.read_text() == expected
    back = read_equity(path)
    assert back.index.equals(index.tz_convert("UTC"))
    np.testing.assert_array_equal(back.to_numpy(), curve.to_numpy())


def test_missing_and_extreme_values_are_written_as_pandas_writes_them(tmp_path):
    index = pd.date_range("2021-01-04 14:30", periods=8, freq="1min", tz="UTC")
    values = [1e16, 5e-324, -0.0, 0.1 + 0.2, 1e22, np.inf, 99999.99999999999, np.nan]
    for curve in (pd.Series(values, index=index), pd.Series(values[:-1], index=index[:-1])):
        write_equity(curve, tmp_path / "equity.csv")
        expected = curve.rename("equity").to_frame().to_csv(index_label="time")
        assert (tmp_path / "equity.csv").read_text() == expected


def test_bulk_text_only_where_it_is_exact():
    minutes = pd.date_range("2024-02-29 23:59", periods=2, freq="1min", tz="UTC")
    assert list(utc_text(minutes)) == ["2024-02-29 23:59:00+00:00", "2024-03-01 00:00:00+00:00"]
    assert utc_text(minutes + pd.Timedelta("1ms")) is None  # pandas' own formatting
    assert utc_text(minutes.tz_convert("Europe/London")) is None
    assert utc_text(minutes.tz_localize(None)) is None  # naive: not this module's times
    assert utc_text(minutes[:0]) is None
