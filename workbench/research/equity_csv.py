"""A walk-forward's equity curves on disk: ``time,equity`` CSV files, times in UTC.

Each fold writes its out-of-sample curve, the summary the stitched one, and the report
reads it back. pandas writes tz-aware times to CSV one at a time (a Timestamp and its
string per row): about a second for the quarter million rows a minute-bar walk-forward
stitches, all of it in the serial part of a run, after the last fold; its CSV writer takes
as long again. :func:`write_equity` writes the same bytes (``2021-01-04 14:30:00+00:00``)
with the times formatted in bulk, each run of equal values formatted once and the rows
joined here: 245,700 rows in about a fifth of the time. The numbers are Python's shortest
text (:func:`shortest_text`); within the range equity takes (1e-4 up to 1e10), Arrow's C
formatter gives that same text a value at a time (:func:`arrow_text`), and Arrow joins the
rows: the same bytes in about half the time again. :func:`read_equity` reads such a file
back with the times parsed in bulk too, and the numbers by Arrow's CSV reader (the numbers
pandas' reader gives, in about half its time; any other file is pandas' to read).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
from itertools import chain, repeat
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

__all__ = [
    "EquityWriter",
    "arrow_text",
    "read_equity",
    "shortest_text",
    "utc_text",
    "write_equity",
]

#: What pandas writes after a UTC time.
_SUFFIX = "+00:00"
#: ``YYYY-MM-DDTHH:MM:SS``: numpy's text of a time in whole seconds (years 1000 to 9999).
_WIDTH = 19
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def write_equity(
    equity: pd.Series, path: str | Path, *, times: Sequence[str] | None = None
) -> None:
    """``equity`` into ``path`` as ``time,equity`` rows: pandas' own text (its numbers are
    numpy's shortest round-trip strings, as pandas writes them), joined here when the times
    can be formatted in bulk and no value is missing (pandas writes NaN as nothing).

    ``times``: :func:`utc_text` of ``equity``'s index, if known already (a walk-forward
    formats each fold's times as the fold finishes, not in the serial tail)."""
    frame = equity.rename("equity").to_frame()
    text = utc_text(frame.index) if times is None else times
    values = frame["equity"].to_numpy()
    if text is None or values.dtype != np.float64 or np.isnan(values).any():
        frame.to_csv(path, index_label="time")
        return
    end = os.linesep  # pandas' line terminator
    if len(text) != len(values):
        raise ValueError(f"{len(text)} times for {len(values)} values")
    numbers = arrow_text(values)
    if numbers is not None:
        with open(path, "wb") as out:
            out.write(f"time,equity{end}".encode())
            out.write(_rows(pa.array(text, pa.large_string()), numbers, end))
        return
    text = text.tolist() if isinstance(text, np.ndarray) else list(text)
    # joined as one string with no string per row: about half the time of formatting rows
    rows = chain.from_iterable(zip(text, repeat(","), shortest_text(values), repeat(end)))
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(f"time,equity{end}")
        out.write("".join(rows))


class EquityWriter:
    """:func:`write_equity` on a thread of its own, called as it is: the caller goes on while
    the text is made (Arrow and the file's write release the GIL). Leaving it as a context
    manager waits for every curve handed to it and raises the error of one that failed
    (unless an error is leaving already: that one is not hidden)."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="equity-csv")
        self._writes: list[Future[None]] = []

    def __call__(
        self, equity: pd.Series, path: str | Path, *, times: Sequence[str] | None = None
    ) -> None:
        # made absolute now: the caller may change directory meanwhile (papermill runs a
        # notebook in its folder by changing this process's)
        where = Path(path).absolute()
        self._writes.append(self._thread.submit(write_equity, equity, where, times=times))

    def __enter__(self) -> EquityWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self._thread.shutdown(wait=True)
        writes, self._writes = self._writes, []
        if kind is None:
            for write in writes:
                write.result()


def _rows(times: pa.Array, numbers: pa.Array, end: str) -> memoryview:
    """``time,number`` and ``end`` for each row, as one run of UTF-8 bytes (Arrow's buffer)."""
    rows = pc.binary_join_element_wise(times, numbers, _text(","))
    rows = pc.binary_join_element_wise(rows, _text(""), _text(end))  # [row, ""] joined by it
    _, offsets, data = rows.buffers()
    width = np.int64 if pa.types.is_large_string(rows.type) else np.int32
    bounds = np.frombuffer(offsets, dtype=width)[[rows.offset, rows.offset + len(rows)]]
    return memoryview(data)[int(bounds[0]) : int(bounds[1])]


#: Where Arrow writes a float64 as Python does, but for a whole number's ".0": both write the
#: shortest text that reads back as the same number (digits unique: the closest such text,
#: and no two can be equally close), positionally in this range (Python from 1e-4 to 1e16,
#: Arrow from 1e-6 to 1e10), in exponent notation beyond it, each in its own way.
ARROW_RANGE = (1e-4, 1e10)


def arrow_text(values: np.ndarray) -> pa.Array | None:
    """:func:`shortest_text` of float64 ``values`` as an Arrow (large) string array, formatted
    in C; None when a value (besides zeros) is outside :data:`ARROW_RANGE` (or not a number),
    or if this Arrow's text is not Python's (its own defaults: checked once)."""
    if values.dtype != np.float64 or not len(values) or not _arrow_writes_as_python():
        return None
    return _arrow_text(values)


def _arrow_text(values: np.ndarray) -> pa.Array | None:
    magnitude = np.abs(values)
    low, high = ARROW_RANGE
    if not (((magnitude >= low) & (magnitude < high)) | (magnitude == 0)).all():
        return None
    text = pc.cast(pa.array(values), pa.large_string())
    whole = pa.array(values == np.floor(values))  # Arrow writes 100000, Python 100000.0
    return pc.if_else(whole, pc.binary_join_element_wise(text, _text(".0"), _text("")), text)


def _text(value: str) -> pa.Scalar:
    return pa.scalar(value, pa.large_string())


#: Values whose text shows how a formatter writes: whole, signed zeros, the range's ends,
#: fractions needing all 17 digits.
_PROBES = np.array(
    [0.0, -0.0, 1e-4, -1e-4, 0.1 + 0.2, 100000.0, -123.456, 99999.99999999999,
     9999999999.999998, 1234567.5, 2.5e-4, 123456789.0]
)  # fmt: skip


@cache
def _arrow_writes_as_python() -> bool:
    text = _arrow_text(_PROBES)
    return text is not None and text.to_pylist() == list(map(repr, _PROBES.tolist()))


def shortest_text(values: np.ndarray) -> list[str]:
    """Each float64 as numpy (so pandas) writes it: the shortest text that reads back as the
    same number. Python's ``repr`` gives that same text in two thirds of numpy's time; and an
    equity curve repeats itself (flat while out of the market: about half of the values of a
    minute-bar walk-forward), so each run of equal values (the same bits) is formatted once."""
    if not len(values):
        return []
    bits = values.view(np.int64)
    new = np.empty(len(values), dtype=bool)
    new[0] = True
    np.not_equal(bits[1:], bits[:-1], out=new[1:])
    firsts = values[new]
    if len(firsts) == len(values):
        return list(map(repr, values.tolist()))
    text = np.array(list(map(repr, firsts.tolist())), dtype=object)
    return text[np.cumsum(new) - 1].tolist()


def read_equity(path: str | Path) -> pd.Series:
    """An equity curve :func:`write_equity` wrote, on its UTC times."""
    data = Path(path).read_bytes()
    times = _bulk_times(data)
    if times is None:  # not as write_equity writes in bulk: pandas parses every field
        frame = pd.read_csv(io.BytesIO(data), index_col=0)
        frame.index = pd.to_datetime(frame.index, utc=True)
        return frame["equity"].astype(float)
    values = _arrow_values(data)
    if values is None:  # a field Arrow refuses: pandas parses it (or says what is wrong)
        values = pd.read_csv(io.BytesIO(data), usecols=["equity"])["equity"].astype(float)
    return pd.Series(np.asarray(values, dtype=np.float64), index=times, name="equity")


#: The equity column only, as float64 (missing: NaN, as pandas reads it), on this thread.
_EQUITY_COLUMN = pa_csv.ConvertOptions(
    include_columns=["equity"], column_types={"equity": pa.float64()}
)
_ONE_THREAD = pa_csv.ReadOptions(use_threads=False)


def _arrow_values(data: bytes) -> np.ndarray | None:
    """The numbers of a ``time,equity`` file, parsed by Arrow (in C, correctly rounded: each
    number as written; pandas' reader gives the same for this text, in about twice the time);
    None when Arrow refuses a field."""
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(data), read_options=_ONE_THREAD, convert_options=_EQUITY_COLUMN
        )
    except pa.ArrowInvalid:
        return None
    return table.column(0).to_numpy()


#: Each row's start as :func:`write_equity` writes it in bulk: ``YYYY-MM-DD HH:MM:SS+00:00,``
_ROW_START = _WIDTH + len(_SUFFIX) + 1
_MARKS = [4, 7, 10, 13, 16, *range(_WIDTH, _ROW_START)]
_MARK_CODES = np.frombuffer(("-- ::" + _SUFFIX + ",").encode(), dtype=np.uint8)
_DIGITS = [i for i in range(_WIDTH) if i not in _MARKS]


def _bulk_times(data: bytes) -> pd.DatetimeIndex | None:
    """The times of a ``time,equity`` file whose rows all start ``YYYY-MM-DD HH:MM:SS+00:00,``
    (what :func:`write_equity` writes in bulk), parsed by numpy in one go, in the unit pandas
    would give them; None for any other file (pandas then parses it as it always has)."""
    end = os.linesep.encode()
    header = b"time,equity" + end
    if not data.startswith(header) or not data.endswith(end) or len(data) == len(header):
        return None
    buf = np.frombuffer(data, dtype=np.uint8)
    starts = np.flatnonzero(buf == ord(end[-1:]))[:-1] + 1
    if starts[-1] + _ROW_START > len(buf):
        return None
    heads = np.empty((len(starts), _ROW_START), dtype=np.uint8)
    for i in range(_ROW_START):  # a column at a time: no index array of every byte
        heads[:, i] = buf[starts + i]
    if (heads[:, _DIGITS] - ord("0") > 9).any() or (heads[:, _MARKS] != _MARK_CODES).any():
        return None
    heads[:, 10] = ord("T")  # numpy's ISO text
    text = np.ascontiguousarray(heads[:, :_WIDTH]).view(f"S{_WIDTH}").ravel()
    try:
        seconds = text.astype("M8[s]")  # checks every field (a 30th of February is refused)
    except ValueError:
        return None
    first = data[len(header) : len(header) + _ROW_START - 1].decode()
    unit = pd.to_datetime([first], utc=True).unit  # pandas' unit for such text
    return pd.DatetimeIndex(seconds, name="time").tz_localize("UTC").as_unit(unit)


def utc_text(index: pd.Index) -> np.ndarray | None:
    """The times of a UTC ``index`` as pandas writes them to CSV, formatted in bulk; None when
    pandas' own formatting must do (another zone, fractions of a second, years outside
    1000-9999: rare, and pandas then writes them as it always has)."""
    if not isinstance(index, pd.DatetimeIndex) or str(index.tz) != "UTC" or not len(index):
        return None
    naive = index.tz_localize(None)
    ticks = naive.asi8  # in the index's own unit
    if (ticks % _PER_SECOND[naive.unit]).any():
        return None
    text = np.datetime_as_string(ticks.view(f"M8[{naive.unit}]"), unit="s")
    # as code points, one row per time (numpy leaves room for any year: zeros after ours)
    codes = text.view(np.uint32).reshape(len(text), -1)
    if codes.shape[1] < _WIDTH or codes[:, _WIDTH:].any() or not codes[:, _WIDTH - 1].all():
        return None
    # "T" becomes " ", the zone's offset goes after the time
    rows = np.empty((len(text), _WIDTH + len(_SUFFIX)), dtype=np.uint32)
    rows[:, :_WIDTH] = codes[:, :_WIDTH]
    rows[:, 10] = ord(" ")
    rows[:, _WIDTH:] = [ord(c) for c in _SUFFIX]
    return rows.view(f"<U{_WIDTH + len(_SUFFIX)}").ravel()
