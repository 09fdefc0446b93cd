"""Equity curves on disk: the bulk-formatted times write what pandas writes, and read back."""

from __future__ import annotations

import os
import threading

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from workbench.research import equity_csv
from workbench.research.equity_csv import (
    ARROW_RANGE,
    arrow_text,
    read_equity,
    shortest_text,
    utc_text,
    write_equity,
)


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


def test_shortest_text_is_numpys_text_of_every_float():
    """What pandas writes (numpy's text), from Python's repr, each run of equal bits once."""
    rng = np.random.default_rng(11)
    bits = rng.integers(0, 2**64, size=200_000, dtype=np.uint64, endpoint=False)
    anything = bits.view(np.float64)
    anything = anything[np.isfinite(anything)]
    curve = np.repeat(rng.normal(1e5, 3e3, 2_000), rng.integers(1, 6, 2_000))  # flat stretches
    edges = np.array([0.0, -0.0, -0.0, 0.0, 1e16, 1e16, 9999999999999998.0, 1e-4, 1e-5, 5e-324])
    edges = np.concatenate([edges, [np.inf, -np.inf, 0.1 + 0.2, 99999.99999999999, 1e22]])
    for values in (anything, curve, edges, edges[:1], edges[:0]):
        assert shortest_text(values) == values.astype(str).tolist()


def test_arrow_text_is_shortest_text_within_its_range():
    """Arrow's C formatter gives Python's text (bar a whole number's ".0") from 1e-4 to 1e10."""
    rng = np.random.default_rng(5)
    low, high = ARROW_RANGE
    spread = np.exp(rng.uniform(np.log(low), np.log(high), 300_000))  # every decade alike
    spread[::2] *= -1
    whole = np.round(spread[:20_000] * 1e3)
    whole = whole[np.abs(whole) < high]
    curve = np.repeat(rng.normal(1e5, 3e3, 2_000), rng.integers(1, 6, 2_000))
    edges = np.array([0.0, -0.0, low, -low, np.nextafter(high, 0), 0.1 + 0.2, 99999.99999999999])
    for values in (spread, whole, curve, edges, np.nextafter(spread, np.inf)):
        text = arrow_text(values)
        assert text is not None
        assert text.to_pylist() == shortest_text(values)


@pytest.mark.parametrize("value", [1e10, -1e10, 9e-5, 5e-324, np.inf, np.nan, 1e22])
def test_arrow_text_leaves_values_beyond_its_range_to_python(value):
    assert arrow_text(np.array([100000.0, value])) is None
    assert arrow_text(np.array([1, 2])) is None  # not float64
    assert arrow_text(np.array([], dtype=float)) is None


def test_an_arrow_writing_otherwise_is_not_used(monkeypatch, tmp_path):
    """Checked once against Python's text: an Arrow with other defaults leaves it to repr."""
    check = equity_csv._arrow_writes_as_python.__wrapped__
    assert check()
    monkeypatch.setattr(equity_csv, "_arrow_text", lambda values: pa.array(["1e+05"] * len(values)))
    assert not check()
    monkeypatch.setattr(equity_csv, "_arrow_writes_as_python", check)
    curve = _curve(pd.date_range("2021-01-04 14:30", periods=50, freq="1min", tz="UTC"))
    write_equity(curve, tmp_path / "equity.csv")
    expected = curve.rename("equity").to_frame().to_csv(index_label="time")
    assert (tmp_path / "equity.csv").read_text() == expected


def _pandas_read(path) -> pd.Series:
    frame = pd.read_csv(path, index_col=0)
    frame.index = pd.to_datetime(frame.index, utc=True)
    return frame["equity"].astype(float)


@pytest.mark.parametrize(
    "text",
    [
        None,  # as write_equity writes it in bulk
        "time,equity\n2021-01-04T14:30:00+00:00,1.5\n",  # another separator
        "time,equity\n2021-01-04 14:30:00+01:00,1.5\n",  # another zone
        "time,equity\n2021-01-04 14:30:00.5+00:00,1.5\n",  # fractions
        "time,equity\n2021-01-04 14:30:00+00:00,1.5\n2021-01-04 14:31:00+00:00,\n",  # missing
        "time,equity\n2021-01-04 14:30:00+00:00,1.5",  # no line end after the last row
        "time,equity\n",  # no row
    ],
    ids=["bulk", "T", "zone", "fractions", "missing", "unterminated", "empty"],
)
def test_read_equity_gives_what_pandas_parses(tmp_path, text):
    path = tmp_path / "equity.csv"
    if text is None:
        write_equity(
            _curve(pd.date_range("2021-01-04 14:30", periods=300, freq="1min", tz="UTC")), path
        )
    else:
        path.write_text(text.replace("\n", os.linesep), newline="")
    pd.testing.assert_series_equal(read_equity(path), _pandas_read(path), check_exact=True)
    assert read_equity(path).index.unit == _pandas_read(path).index.unit
    # times as write_equity writes them in bulk are parsed in bulk (a missing value is pandas'
    # to read, as always); the others' by pandas
    bulk = text is None or "14:31:00+00:00," in text
    assert (equity_csv._bulk_times(path.read_bytes()) is not None) == bulk


@pytest.mark.parametrize(
    "numbers",
    [
        ["inf", "-inf", "1e+22", "5e-324", "-0.0", "nan", "", "0.30000000000000004"],
        ["99999.99999999999", "NA", "1.7976931348623157e+308", "2.2250738585072014e-308"],
    ],
)
def test_numbers_in_a_bulk_file_are_what_pandas_parses_bit_for_bit(tmp_path, numbers):
    times = utc_text(pd.date_range("2021-01-04 14:30", periods=len(numbers), freq="1min", tz="UTC"))
    path = tmp_path / "equity.csv"
    rows = "".join(f"{t},{n}{os.linesep}" for t, n in zip(times, numbers, strict=True))
    path.write_text(f"time,equity{os.linesep}{rows}", newline="")
    assert equity_csv._arrow_values(path.read_bytes()) is not None  # Arrow's, not pandas'
    got, expected = read_equity(path).to_numpy(), _pandas_read(path).to_numpy()
    np.testing.assert_array_equal(
        got.view(np.int64)[~np.isnan(got)], expected.view(np.int64)[~np.isnan(expected)]
    )
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))


def test_a_number_arrow_refuses_is_left_to_pandas(tmp_path):
    path = tmp_path / "equity.csv"
    path.write_text(
        f"time,equity{os.linesep}2021-01-04 14:30:00+00:00,1.5x{os.linesep}", newline=""
    )
    assert equity_csv._arrow_values(path.read_bytes()) is None
    with pytest.raises(ValueError):  # pandas says what is wrong
        read_equity(path)


def test_a_bad_date_in_a_bulk_file_is_read_as_pandas_reads_it(tmp_path):
    path = tmp_path / "equity.csv"
    path.write_text(f"time,equity{os.linesep}2021-02-30 14:30:00+00:00,1.5{os.linesep}", newline="")
    with pytest.raises(ValueError):  # numpy refuses it in bulk; pandas says what is wrong
        _pandas_read(path)
    with pytest.raises(ValueError):
        read_equity(path)


def test_times_formatted_earlier_are_written_as_given(tmp_path):
    curve = _curve(pd.date_range("2021-01-04 14:30", periods=50, freq="1min", tz="UTC"))
    write_equity(curve, tmp_path / "a.csv")
    write_equity(curve, tmp_path / "b.csv", times=utc_text(curve.index).tolist())
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    with pytest.raises(ValueError, match="49 times for 50 values"):
        write_equity(curve, tmp_path / "c.csv", times=utc_text(curve.index)[1:])


def test_the_equity_writer_writes_on_its_own_thread_and_waits_on_leaving(tmp_path, monkeypatch):
    threads = []
    real = equity_csv.write_equity

    def write(equity, path, *, times=None):
        threads.append(threading.current_thread().name)
        real(equity, path, times=times)

    monkeypatch.setattr(equity_csv, "write_equity", write)
    curve = pd.Series([1.0, 2.5], index=pd.date_range("2024-01-02", periods=2, tz="UTC"))
    with equity_csv.EquityWriter() as writer:
        writer(curve, tmp_path / "a.csv")
        writer(curve * 2, tmp_path / "b.csv")
    assert threads and all(name.startswith("equity-csv") for name in threads)
    assert read_equity(tmp_path / "b.csv").tolist() == [2.0, 5.0]
    assert not [t for t in threading.enumerate() if t.name.startswith("equity-csv")]


def test_the_equity_writer_raises_a_failed_write_but_not_over_an_error_leaving(tmp_path):
    curve = pd.Series([1.0], index=pd.date_range("2024-01-02", periods=1, tz="UTC"))
    with pytest.raises(OSError), equity_csv.EquityWriter() as writer:
        writer(curve, tmp_path / "no such folder" / "equity.csv")
    with pytest.raises(KeyError, match="first"), equity_csv.EquityWriter() as writer:
        writer(curve, tmp_path / "no such folder" / "equity.csv")
        raise KeyError("first")


def test_the_equity_writer_writes_where_it_was_told_though_the_caller_changed_directory(
    tmp_path, monkeypatch
):
    """A relative path is the caller's at the call: papermill runs a notebook in its folder
    by changing the process's directory while the writer's thread writes."""
    real, go = equity_csv.write_equity, threading.Event()

    def late(equity, path, *, times=None):
        assert go.wait(10)
        real(equity, path, times=times)

    monkeypatch.setattr(equity_csv, "write_equity", late)
    (tmp_path / "run").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    curve = pd.Series([1.0, 2.5], index=pd.date_range("2024-01-02", periods=2, tz="UTC"))
    with equity_csv.EquityWriter() as writer:
        writer(curve, "run/equity.csv")
        monkeypatch.chdir(tmp_path / "elsewhere")
        go.set()
    assert read_equity(tmp_path / "run" / "equity.csv").tolist() == [1.0, 2.5]
