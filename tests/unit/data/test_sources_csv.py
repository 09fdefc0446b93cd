"""CSV and Parquet files: header variants, time zones, epochs, and the errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.data.sources import load_bars, load_symbols
from workbench.errors import DataError, DataSourceError

ROWS = ["1,2,0.5,1.5,100", "1.5,3,1,2,200"]


def write(tmp_path: Path, text: str, name: str = "aapl.csv") -> Path:
    path = tmp_path / name
    path.write_text(text.strip() + "\n")
    return path


def utc(*stamps: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(stamps, tz="UTC", name="time")


@pytest.mark.parametrize(
    "header",
    [
        "Date,Open,High,Low,Close,Volume",
        " date , OPEN,high ,Low , close,VOLUME",
        "timestamp,o,h,l,c,v",
        "Datetime,open,high,low,close,vol",
        "time,Open,High,Low,Close,Volume",
    ],
)
def test_header_variants(tmp_path, header):
    path = write(tmp_path, f"{header}\n2024-01-02,{ROWS[0]}\n2024-01-03,{ROWS[1]}")
    bars = load_bars(f"csv:{path}")
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    assert bars.index.equals(utc("2024-01-02", "2024-01-03"))
    assert bars["close"].tolist() == [1.5, 2.0]
    assert all(bars.dtypes == np.float64)
    assert bars.attrs["symbol"] == "AAPL"


def test_adj_close_and_extra_columns_are_kept(tmp_path):
    text = "Date,Open,High,Low,Close,Adj Close,Volume,Trade Count\n2024-01-02,1,2,0.5,1.5,1.4,10,7"
    bars = load_bars(f"csv:{write(tmp_path, text)}")
    assert list(bars.columns) == [
        "open",
        "high",
        "low",
        "close",
        "volume",
        "adj_close",
        "trade_count",
    ]
    assert bars["adj_close"].iloc[0] == 1.4


def test_naive_intraday_needs_tz(tmp_path):
    path = write(
        tmp_path, f"time,o,h,l,c,v\n2024-01-02 09:30,{ROWS[0]}\n2024-07-02 09:30,{ROWS[1]}"
    )
    with pytest.raises(DataError, match="naive") as err:
        load_bars(f"csv:{path}")
    assert "tz" in str(err.value)
    bars = load_bars(f"csv:{path}", tz="America/New_York")  # EST then EDT
    assert bars.index.equals(utc("2024-01-02 14:30", "2024-07-02 13:30"))
    assert load_bars(f"csv:{path}?tz=America/New_York").index.equals(bars.index)
    assert load_bars(f"csv:{path}", tz="UTC").index[0] == pd.Timestamp("2024-01-02 09:30", tz="UTC")


def test_offsets_and_z_are_converted_to_utc(tmp_path):
    text = (
        f"timestamp,o,h,l,c,v\n2024-01-02T09:30:00-05:00,{ROWS[0]}\n2024-01-02T14:31:00Z,{ROWS[1]}"
    )
    with pytest.raises(DataError, match="row 2"):  # -05:00 and Z: two offsets
        load_bars(f"csv:{write(tmp_path, text)}")
    text = (
        f"timestamp,o,h,l,c,v\n2024-01-02T09:30:00-05:00,{ROWS[0]}\n"
        f"2024-01-02T09:31:00-05:00,{ROWS[1]}"
    )
    bars = load_bars(f"csv:{write(tmp_path, text)}")
    assert bars.index.equals(utc("2024-01-02 14:30", "2024-01-02 14:31"))


def test_daylight_saving_offsets_need_the_zone(tmp_path):
    text = (
        f"timestamp,o,h,l,c,v\n2024-03-08 09:30:00-05:00,{ROWS[0]}\n"
        f"2024-03-11 09:30:00-04:00,{ROWS[1]}"
    )
    path = write(tmp_path, text)
    with pytest.raises(DataError, match=r"row 2 \(line 3\).*mixed time zones") as err:
        load_bars(f"csv:{path}")
    assert "--tz" in str(err.value)
    bars = load_bars(f"csv:{path}", tz="America/New_York")
    assert bars.index.equals(utc("2024-03-08 14:30", "2024-03-11 13:30"))
    with pytest.raises(DataError, match="does not use"):
        load_bars(f"csv:{path}", tz="Europe/London")


def test_daily_dates_with_offsets_are_session_dates(tmp_path):
    text = (
        f"Date,o,h,l,c,v\n2024-03-08 00:00:00-05:00,{ROWS[0]}\n2024-03-11 00:00:00-04:00,{ROWS[1]}"
    )
    bars = load_bars(f"csv:{write(tmp_path, text)}")
    assert bars.index.equals(utc("2024-03-08", "2024-03-11"))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1704205800", "1704205860"], ("2024-01-02 14:30", "2024-01-02 14:31")),
        (["1704205800000", "1704205860000"], ("2024-01-02 14:30", "2024-01-02 14:31")),
        (["20240102", "20240103"], ("2024-01-02", "2024-01-03")),
    ],
    ids=["epoch-s", "epoch-ms", "yyyymmdd"],
)
def test_integer_timestamps(tmp_path, values, expected):
    text = f"timestamp,o,h,l,c,v\n{values[0]},{ROWS[0]}\n{values[1]},{ROWS[1]}"
    assert load_bars(f"csv:{write(tmp_path, text)}").index.equals(utc(*expected))


def test_separate_date_and_time_columns(tmp_path):
    text = f"Date,Time,o,h,l,c,v\n2024-01-02,14:30,{ROWS[0]}\n2024-01-02,14:31,{ROWS[1]}"
    bars = load_bars(f"csv:{write(tmp_path, text)}", tz="UTC")
    assert bars.index.equals(utc("2024-01-02 14:30", "2024-01-02 14:31"))


def test_custom_format(tmp_path):
    text = f"Date,o,h,l,c,v\n02/01/2024,{ROWS[0]}\n03/01/2024,{ROWS[1]}"
    bars = load_bars(f"csv:{write(tmp_path, text)}?format=%d/%m/%Y")
    assert bars.index.equals(utc("2024-01-02", "2024-01-03"))


def test_symbol_column_splits_the_file(tmp_path):
    text = (
        f"date,symbol,o,h,l,c,v\n2024-01-02,aapl,{ROWS[0]}\n2024-01-02,MSFT,{ROWS[1]}\n"
        f"2024-01-03,AAPL,{ROWS[1]}"
    )
    path = write(tmp_path, text, "prices.csv")
    frames = load_symbols(f"csv:{path}")
    assert list(frames) == ["AAPL", "MSFT"]
    assert len(frames["AAPL"]) == 2 and frames["MSFT"].attrs["symbol"] == "MSFT"
    assert "symbol" not in frames["AAPL"].columns
    assert len(load_bars(f"csv:{path}?symbol=msft")) == 1
    with pytest.raises(DataSourceError, match="2 symbols"):
        load_bars(f"csv:{path}")
    with pytest.raises(DataError, match="found: AAPL, MSFT"):
        load_bars(f"csv:{path}", symbol="GOOG")


def test_symbol_option_names_a_single_symbol_file(tmp_path):
    path = write(tmp_path, f"date,o,h,l,c,v\n2024-01-02,{ROWS[0]}", "x.csv")
    assert load_bars(f"csv:{path}?symbol=spy").attrs["symbol"] == "SPY"


def test_parquet_with_a_datetime_index(tmp_path):
    index = pd.DatetimeIndex(["2024-01-02 09:30", "2024-01-02 09:31"], name="Datetime")
    raw = pd.DataFrame(
        {
            "Open": [1.0, 2],
            "High": [2.0, 3],
            "Low": [0.5, 1],
            "Close": [1.5, 2],
            "Volume": [10, 20],
        },
        index=index,
    )
    raw.to_parquet(tmp_path / "naive.parquet")
    with pytest.raises(DataError, match="naive"):
        load_bars(f"parquet:{tmp_path / 'naive.parquet'}")
    bars = load_bars(f"parquet:{tmp_path / 'naive.parquet'}", tz="America/New_York")
    assert bars.index.equals(utc("2024-01-02 14:30", "2024-01-02 14:31"))
    raw.tz_localize("Europe/Berlin").to_parquet(tmp_path / "aware.parquet")
    bars = load_bars(str(tmp_path / "aware.parquet"))
    assert bars.index.equals(utc("2024-01-02 08:30", "2024-01-02 08:31"))
    assert bars.attrs["symbol"] == "AWARE"


# ---- errors: each names the file and the column or row, and says what to do ----


def test_missing_column(tmp_path):
    path = write(tmp_path, "Date,Open,High,Low,Close\n2024-01-02,1,2,0.5,1.5")
    with pytest.raises(DataError) as err:
        load_bars(f"csv:{path}")
    text = str(err.value)
    assert str(path) in text and "'volume'" in text and "found: Date, Open" in text


def test_missing_time_column(tmp_path):
    path = write(tmp_path, f"when,o,h,l,c,v\nx,{ROWS[0]}")
    with pytest.raises(DataError, match="no time column"):
        load_bars(f"csv:{path}")


def test_unparseable_date_names_row_and_value(tmp_path):
    path = write(tmp_path, f"Date,o,h,l,c,v\n2024-01-02,{ROWS[0]}\n2024-13-45,{ROWS[1]}")
    with pytest.raises(DataError, match=r"row 2 \(line 3\).*'2024-13-45'"):
        load_bars(f"csv:{path}")


def test_text_in_a_number_column(tmp_path):
    path = write(tmp_path, "Date,o,h,l,c,v\n2024-01-02,1,2,0.5,abc,1")
    with pytest.raises(DataError, match=r"row 1 \(line 2\): c value 'abc'"):
        load_bars(f"csv:{path}")


def test_mixed_naive_and_aware(tmp_path):
    path = write(
        tmp_path, f"time,o,h,l,c,v\n2024-01-02 09:30Z,{ROWS[0]}\n2024-01-02 09:31,{ROWS[1]}"
    )
    with pytest.raises(DataError, match=r"row 2.*no UTC offset"):
        load_bars(f"csv:{path}")


def test_empty_timestamp(tmp_path):
    path = write(tmp_path, f"time,o,h,l,c,v\n2024-01-02,{ROWS[0]}\n,{ROWS[1]}")
    with pytest.raises(DataError, match=r"row 2.*empty"):
        load_bars(f"csv:{path}")


def test_two_columns_for_one_field(tmp_path):
    path = write(tmp_path, f"date,close,o,h,l,c,v\n2024-01-02,1,{ROWS[0]}")
    with pytest.raises(DataError, match="'close' and 'c' both mean close"):
        load_bars(f"csv:{path}")


@pytest.mark.parametrize(
    ("content", "match"),
    [(b"", "empty"), (b"Date,o,h,l,c,v\n", "no rows"), (b"\xff\xfe\x00bad", "cannot read")],
)
def test_unreadable_files(tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=match):
        load_bars(f"csv:{path}")


def test_not_parquet(tmp_path):
    path = write(tmp_path, "not parquet", "x.parquet")
    with pytest.raises(DataError, match="cannot read it as parquet"):
        load_bars(f"parquet:{path}")


def test_missing_file(tmp_path):
    with pytest.raises(DataSourceError, match="file not found"):
        load_bars(f"csv:{tmp_path / 'nope.csv'}")
    with pytest.raises(DataSourceError, match="file in the folder"):
        load_bars(f"csv:{tmp_path}")


def test_a_folder_or_a_glob_is_a_universe_one_file_per_symbol(tmp_path):
    from workbench.data.sources import load_symbols

    days = pd.date_range("2024-01-02", periods=5, freq="D")
    for k, name in enumerate(("aapl", "msft", "xom")):
        frame = pd.DataFrame(
            {
                "Date": days.strftime("%Y-%m-%d"),
                "Open": 10.0 + k,
                "High": 11.0 + k,
                "Low": 9.0 + k,
                "Close": 10.5 + k,
                "Volume": 1000,
            }
        )
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        frame.to_parquet(tmp_path / f"{name}.parquet")
    (tmp_path / "notes.txt").write_text("not data")
    folder = load_symbols(f"csv:{tmp_path}")
    assert list(folder) == ["AAPL", "MSFT", "XOM"]
    assert folder["MSFT"]["close"].iloc[0] == 11.5
    assert str(folder["XOM"].index.tz) == "UTC" and len(folder["XOM"]) == 5
    assert list(load_symbols(f"csv:{tmp_path}/[am]*.csv")) == ["AAPL", "MSFT"]
    assert list(load_symbols(f"parquet:{tmp_path}")) == ["AAPL", "MSFT", "XOM"]
    with pytest.raises(DataSourceError, match="no file matches"):
        load_symbols(f"csv:{tmp_path}/z*.csv")
    with pytest.raises(DataSourceError, match="symbol= names the symbol of one file"):
        load_symbols(f"csv:{tmp_path}/*.csv?symbol=AAPL")


@pytest.mark.parametrize("trailing", [",", ",,"])
def test_a_trailing_delimiter_on_every_row_shifts_no_column(tmp_path, trailing):
    path = write(
        tmp_path,
        f"date,open,high,low,close,volume\n2024-01-02,{ROWS[0]}{trailing}\n"
        f"2024-01-03,{ROWS[1]}{trailing}",
    )
    bars = load_bars(f"csv:{path}")  # was: times from the opens (1970), open read from high
    assert bars.index.equals(utc("2024-01-02", "2024-01-03"))
    assert bars.to_numpy().tolist() == [[1, 2, 0.5, 1.5, 100], [1.5, 3, 1, 2, 200]]


def test_a_row_with_a_value_the_header_does_not_name_is_refused(tmp_path):
    path = write(
        tmp_path,
        f"date,open,high,low,close,volume\n2024-01-02,{ROWS[0]},\n2024-01-03,{ROWS[1]},7",
    )
    with pytest.raises(DataError) as info:  # loaded shifted one column, without a word
        load_bars(f"csv:{path}")
    assert str(info.value) == (
        f"{path}, row 2 (line 3): 7 values under a header of 6 names (date, open, high, low, "
        "close, volume) (name every column in the header, or remove the extra values)"
    )
