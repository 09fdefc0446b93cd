"""User files: ``csv:PATH`` and ``parquet:PATH``, normalised to the bars format.

Column names are matched case-insensitively, ignoring spaces, ``_``, ``-`` and ``.``:

========== ==================================================================
time       ``datetime``, ``timestamp``, ``date``, ``time`` (first found), or a
           ``date`` plus a ``time`` column; in Parquet also a datetime index
prices     ``open``/``o``, ``high``/``h``, ``low``/``l``, ``close``/``c``
volume     ``volume``/``vol``/``v`` (required: add zeros if the data have none)
adj_close  ``adj close``, ``adj_close``, ``adjusted close`` (kept)
symbol     ``symbol``/``ticker``: a file holding several symbols is split by it
========== ==================================================================

Other columns are kept under snake_case names.

Timestamps, so that no bar is silently shifted:

- with a UTC offset (``2024-01-02T14:30:00Z``, ``...-05:00``): converted to UTC. Different
  offsets in one file are an error naming the first offending row, unless ``tz=`` names the
  zone they all belong to (one zone's daylight-saving changes, e.g. ``America/New_York``);
- naive (no offset): need ``tz=`` with the zone they are in, else an error;
- all at midnight (dates of daily bars, with or without offset): the bar is labelled with
  that date at 00:00 UTC, as the bars format says; ``tz=`` is not needed;
- integers in a time column: epoch seconds, milliseconds, microseconds or nanoseconds
  (told apart by magnitude), or ``YYYYMMDD`` dates.

Options: ``tz``, ``symbol`` (names the symbol; in a multi-symbol file, selects one),
``format`` (a ``strftime`` format for the date/time part, without the offset).

A universe of files: a folder (``csv:data/stocks``) or a glob (``csv:data/*.csv``) loads
every matching file, one per symbol, each named after its file (``AAPL.csv`` holds AAPL)
unless it has a symbol column.
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.data.bars import COLUMNS
from workbench.data.spec import SourceRequest, check_tz
from workbench.errors import DataError, DataSourceError

log = logging.getLogger(__name__)

OPTIONS = ("symbol", "format")  # tz travels as SourceRequest.tz
TIME_NAMES = ("datetime", "timestamp", "date", "time")
ALIASES: dict[str, str] = {
    "open": "open", "o": "open",
    "high": "high", "h": "high",
    "low": "low", "l": "low",
    "close": "close", "c": "close",
    "volume": "volume", "vol": "volume", "v": "volume",
    "adjclose": "adj_close", "adjustedclose": "adj_close",
    "symbol": "symbol", "ticker": "symbol",
}  # fmt: skip
_ACCEPTED = {
    canon: ", ".join(k for k, v in ALIASES.items() if v == canon) for canon in set(ALIASES.values())
}
_OFFSET_RE = re.compile(
    r"^(?P<wall>.*\d:\d{2}(?::\d{2}(?:[.,]\d+)?)?)\s*(?P<off>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)$"
)

#: A date written day and month first or month and day first (02/01/2024, 02.01.2024).
_NUMERIC_DATE_RE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-]\d{2,4}\b")


def load_csv(request: SourceRequest) -> dict[str, pd.DataFrame]:
    """Loader for ``csv:PATH``."""
    return _load(request, "csv")


def load_parquet(request: SourceRequest) -> dict[str, pd.DataFrame]:
    """Loader for ``parquet:PATH``."""
    return _load(request, "parquet")


def _load(request: SourceRequest, kind: str) -> dict[str, pd.DataFrame]:
    request.check_options((*OPTIONS, "tz"))  # tz too: named among the options it takes
    paths = _universe_paths(request.target, request.spec, kind)
    if paths is None:
        paths = [_existing_path(request.target, request.spec)]
    elif request.text("symbol"):
        raise DataSourceError(
            f"{request.spec}: symbol= names the symbol of one file; this spec names "
            f"{len(paths)} files",
            hint="each file is named after its symbol (AAPL.csv holds AAPL)",
        )
    out: dict[str, pd.DataFrame] = {}
    for path in paths:
        frames = normalise(
            read_table(path, kind),
            source=str(path),
            tz=check_tz(request.tz),
            symbol=request.text("symbol"),
            fmt=request.text("format"),
            csv=kind == "csv",
            default_symbol=path.name.split(".")[0].upper(),
        )
        for sym, frame in frames.items():
            if sym in out:
                raise DataSourceError(
                    f"{request.spec}: symbol {sym} appears in more than one file ({path})",
                    hint="keep one file per symbol",
                )
            out[sym] = frame
    return out


_SUFFIXES = {"csv": (".csv", ".csv.gz", ".gz"), "parquet": (".parquet", ".pq")}


def _universe_paths(target: str, spec: str, kind: str) -> list[Path] | None:
    """The files of a glob (``data/*.csv``) or a folder, sorted; None for one file."""
    path = Path(target).expanduser()
    if any(ch in target for ch in "*?["):
        found = sorted(p for p in path.parent.glob(path.name) if p.is_file())
        what = f"no file matches {target}"
    elif path.is_dir():
        found = sorted(p for p in path.iterdir() if p.name.lower().endswith(_SUFFIXES[kind]))
        what = f"{path}: no {'/'.join(_SUFFIXES[kind])} file in the folder"
    else:
        return None
    if not found:
        raise DataSourceError(f"{spec}: {what}", hint="one file per symbol, e.g. data/AAPL.csv")
    return found


def _existing_path(target: str, spec: str) -> Path:
    if not target:
        raise DataSourceError(f"{spec}: no file path", hint="e.g. csv:data/aapl.csv")
    path = Path(target).expanduser()
    if not path.exists():
        raise DataSourceError(
            f"{path}: file not found", hint="check the path (relative to the current directory)"
        )
    if not path.is_file():
        raise DataSourceError(f"{path}: not a file", hint="name a file, a folder or a glob")
    return path


def read_table(path: Path, kind: str) -> pd.DataFrame:
    """Read the raw table; any reader failure becomes a DataError naming the file."""
    import pyarrow  # pandas' parquet engine; imported here to catch its errors

    try:
        if kind == "csv":
            return _read_csv(path)
        frame = pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty", hint="export the data again") from None
    except (ValueError, OSError, UnicodeDecodeError, pyarrow.ArrowException) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"{path}: cannot read it as {kind}: {reason}",
            hint=f"check that it is a valid {kind} file",
        ) from None
    if isinstance(frame.index, pd.DatetimeIndex) or frame.index.name is not None:
        name = frame.index.name or "timestamp"
        frame = frame.reset_index(names=str(name))
    return frame


def _read_csv(path: Path) -> pd.DataFrame:
    """The CSV as a table of its header's columns.

    Rows one value longer than the header made pandas take the first column for the index:
    every column shifted one to the left (open read as the time, close as the volume), and
    the bars loaded without a word. A trailing delimiter on every row (an empty last value)
    is dropped; a real extra value is refused, naming the row.
    """
    frame = pd.read_csv(path, skipinitialspace=True)
    if isinstance(frame.index, pd.RangeIndex):
        return frame
    extra = frame.index.nlevels  # values past the header's names
    tail = frame.iloc[:, -extra:].notna().any(axis=1).to_numpy()
    if not tail.any():  # "2024-01-02,1,2,0.5,1.5,10," under a header of six names
        with warnings.catch_warnings():  # "loss of data": only the empty values, checked
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            return pd.read_csv(path, skipinitialspace=True, index_col=False)
    row = int(tail.argmax())
    raise DataError(
        f"{path}, row {row + 1} (line {row + 2}): {frame.shape[1] + extra} values under a "
        f"header of {frame.shape[1]} names ({', '.join(map(str, frame.columns))})",
        hint="name every column in the header, or remove the extra values",
    )


def _key(name: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).strip().lower())


def normalise(
    raw: pd.DataFrame,
    *,
    source: str,
    tz: str | None = None,
    symbol: str | None = None,
    fmt: str | None = None,
    csv: bool = True,
    default_symbol: str = "ASSET",
) -> dict[str, pd.DataFrame]:
    """Turn a raw table into ``{symbol: bars}``; every problem names the file and the row."""
    if raw.empty:
        raise DataError(f"{source}: no rows", hint="the file has a header but no data")
    found = ", ".join(str(c) for c in raw.columns)
    names: dict[str, str] = {}  # canonical -> raw column
    times: dict[str, str] = {}
    extras: dict[str, str] = {}
    for col in raw.columns:
        key = _key(col)
        canon = ALIASES.get(key)
        if key in TIME_NAMES:
            times[key] = str(col)
        elif canon is not None:
            if canon in names:
                raise DataError(
                    f"{source}: columns {names[canon]!r} and {col!r} both mean {canon}",
                    hint="remove or rename one of them",
                )
            names[canon] = str(col)
        else:
            extras[str(col)] = re.sub(r"[^0-9a-z]+", "_", str(col).strip().lower()).strip("_")
    for canon in COLUMNS:
        if canon not in names:
            raise DataError(
                f"{source}: no {canon!r} column (found: {found})",
                hint=f"name it one of: {_ACCEPTED[canon]}"
                + (
                    "; add a column of zeros if the data have no volume"
                    if canon == "volume"
                    else ""
                ),
            )
    if not times:
        raise DataError(
            f"{source}: no time column (found: {found})",
            hint=f"name it one of: {', '.join(TIME_NAMES)}",
        )
    where = _Where(source, csv)
    if "datetime" not in times and "timestamp" not in times and {"date", "time"} <= set(times):
        values = raw[times["date"]].astype(str) + " " + raw[times["time"]].astype(str)
        column = f"{times['date']} + {times['time']}"
    else:
        column = times[next(n for n in TIME_NAMES if n in times)]
        values = raw[column]
    index = parse_times(values, where=where, column=column, tz=tz, fmt=fmt)

    data: dict[str, np.ndarray] = {}
    for canon in (*COLUMNS, "adj_close"):
        if canon in names:
            data[canon] = _numeric(raw[names[canon]], where, names[canon])
    for col, snake in extras.items():
        if snake and snake not in data and snake != "symbol":
            data[snake] = raw[col].to_numpy()
    frame = pd.DataFrame(data, index=index.rename("time"))
    if "symbol" not in names:
        name = (symbol or default_symbol).strip().upper()
        frame.attrs = {"symbol": name}
        return {name: frame}
    return _split_symbols(frame, raw[names["symbol"]], source, symbol)


def _split_symbols(
    frame: pd.DataFrame, column: pd.Series, source: str, wanted: str | None
) -> dict[str, pd.DataFrame]:
    labels = column.astype(str).str.strip().str.upper().to_numpy()
    out: dict[str, pd.DataFrame] = {}
    for name in dict.fromkeys(labels):
        part = frame[labels == name].copy()
        part.attrs = {"symbol": name}
        out[name] = part
    if wanted:
        key = wanted.strip().upper()
        if key not in out:
            raise DataError(
                f"{source}: no rows for symbol {key!r} (found: {', '.join(out)})",
                hint="pick one of the symbols in the file",
            )
        return {key: out[key]}
    return out


class _Where:
    """Formats "file, row N (line M)" so every message points at the same place."""

    def __init__(self, source: str, csv: bool) -> None:
        self.source, self.csv = source, csv

    def __call__(self, position: int) -> str:
        line = f" (line {position + 2})" if self.csv else ""
        return f"{self.source}, row {position + 1}{line}"


def _numeric(values: pd.Series, where: _Where, column: str) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna().to_numpy() & values.notna().to_numpy()
    if values.dtype == object:
        bad &= values.astype(str).str.strip().ne("").to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(
            f"{where(i)}: {column} value {values.iloc[i]!r} is not a number",
            hint="fix or remove that row (empty cells are read as missing values)",
        )
    return numbers.to_numpy(np.float64)


def parse_times(
    values: pd.Series,
    *,
    where: _Where,
    column: str,
    tz: str | None = None,
    fmt: str | None = None,
) -> pd.DatetimeIndex:
    """Parse a time column to a UTC index following the rules in the module docstring."""
    missing = values.isna().to_numpy()
    if values.dtype == object:
        missing |= values.astype(str).str.strip().eq("").to_numpy()
    if missing.any():
        i = int(np.argmax(missing))
        raise DataError(f"{where(i)}: empty {column}", hint="every row needs a timestamp")
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return _from_numbers(values, where, column)
    if isinstance(values.dtype, pd.DatetimeTZDtype):  # Parquet with a zone: exact already
        return pd.DatetimeIndex(values).tz_convert("UTC")
    text = values.astype(str).str.strip()
    if pd.api.types.is_datetime64_dtype(values):  # naive datetimes from Parquet
        wall, aware, codes = pd.DatetimeIndex(values), False, None
    else:
        parts = text.str.extract(_OFFSET_RE)
        flags = parts["off"].notna().to_numpy()
        if flags.any() and not flags.all():
            i = int(np.argmax(flags != flags[0]))
            has = "has a" if flags[i] else "has no"
            raise DataError(
                f"{where(i)}: {column} {text.iloc[i]!r} {has} UTC offset, unlike row 1 "
                f"{text.iloc[0]!r}",
                hint="write every timestamp with its offset (or in UTC), or none and pass tz=",
            )
        aware, codes = bool(flags.all()), parts["off"].to_numpy()
        wall = _parse_wall(parts["wall"] if aware else text, where, column, fmt)
    if wall.tz is not None:  # e.g. a format with %z; trust pandas' conversion
        return wall.tz_convert("UTC")
    if (wall == wall.normalize()).all():
        return wall.tz_localize("UTC")  # daily bars: the date at 00:00 UTC
    if aware:
        return _apply_offsets(wall, codes, text, where, column, tz)
    if tz is None:
        raise DataError(
            f"{where.source}: the timestamps in column {column!r} are naive (no time zone), "
            f"e.g. row 1 {text.iloc[0]!r}",
            hint="pass the zone they are in: ?tz=America/New_York in the spec (every "
            "command), tz='UTC' (Python), or --tz on workbench data",
        )
    try:
        local = wall.tz_localize(tz, ambiguous="infer", nonexistent="raise")
    except ValueError as exc:
        raise DataError(
            f"{where.source}: {column} has a local time that does not exist or is ambiguous "
            f"in {tz}: {str(exc).splitlines()[0]}",
            hint="daylight-saving changes: store UTC timestamps or ISO 8601 with offsets",
        ) from None
    return local.tz_convert("UTC")


def _parse_wall(text: pd.Series, where: _Where, column: str, fmt: str | None) -> pd.DatetimeIndex:
    if fmt is None and _NUMERIC_DATE_RE.match(text.iloc[0]):
        _refuse_ambiguous_dates(text, where, column)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "could not infer format": we report
        try:
            return pd.DatetimeIndex(pd.to_datetime(text, format=fmt))
        except (ValueError, OverflowError):
            parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    bad = parsed.isna().to_numpy()
    i = int(np.argmax(bad)) if bad.any() else 0
    raise DataError(
        f"{where(i)}: cannot parse {column} {text.iloc[i]!r} as a date/time",
        hint="use ISO 8601 (2024-01-02 or 2024-01-02T14:30:00Z) or pass format=, "
        "e.g. format=%d/%m/%Y",
    )


def _refuse_ambiguous_dates(text: pd.Series, where: _Where, column: str) -> None:
    """Dates such as 02/01/2024 where no row has a day above 12: pandas would read them
    month first, and a file written day first would have every bar silently shifted."""
    parts = text.str.extract(_NUMERIC_DATE_RE)
    if parts.isna().any().any():
        return  # mixed forms: pandas reports the row it cannot read
    first, second = parts[0].astype(int), parts[1].astype(int)
    if (first <= 12).all() and (second <= 12).all() and (first != second).any():
        i = int(np.argmax((first != second).to_numpy()))
        raise DataError(
            f"{where(i)}: {column} {text.iloc[i]!r} reads as day/month or as month/day, and no "
            "row tells which",
            hint="pass format=, e.g. format=%d/%m/%Y (day first) or format=%m/%d/%Y",
        )


def _offset_minutes(codes: np.ndarray) -> np.ndarray:
    out = np.zeros(len(codes), dtype=np.int64)
    for code in set(codes):
        if code.upper() in ("Z", "UTC", "GMT"):
            continue
        digits = code[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) > 2 else 0)
        out[codes == code] = -minutes if code[0] == "-" else minutes
    return out


def _apply_offsets(
    wall: pd.DatetimeIndex,
    codes: np.ndarray,
    text: pd.Series,
    where: _Where,
    column: str,
    tz: str | None,
) -> pd.DatetimeIndex:
    minutes = _offset_minutes(codes)
    utc = (wall - pd.to_timedelta(minutes, unit="min")).tz_localize("UTC")
    if (minutes == minutes[0]).all():
        return utc
    if tz is not None:
        expected = np.array(
            [int(t.utcoffset().total_seconds() // 60) for t in utc.tz_convert(tz)], dtype=np.int64
        )
        wrong = expected != minutes
        if not wrong.any():
            return utc
        i = int(np.argmax(wrong))
        raise DataError(
            f"{where(i)}: {column} {text.iloc[i]!r} has an offset that {tz} does not use "
            "at that time",
            hint="convert the file to UTC or one zone, or pass the right ?tz= in the spec",
        )
    i = int(np.argmax(minutes != minutes[0]))
    raise DataError(
        f"{where(i)}: {column} {text.iloc[i]!r} has a different UTC offset from row 1 "
        f"{text.iloc[0]!r} (mixed time zones)",
        hint="convert the file to UTC or one zone; if these are one zone's daylight-saving "
        "offsets, pass that zone: ?tz=America/New_York in the spec (--tz on workbench data) "
        "or tz= (Python)",
    )


def _from_numbers(values: pd.Series, where: _Where, column: str) -> pd.DatetimeIndex:
    numbers = values.to_numpy(np.float64)
    whole = np.all(numbers == np.floor(numbers))
    if whole and numbers.min() >= 19000101 and numbers.max() <= 21001231:
        text = values.astype(np.int64).astype(str)
        return _parse_wall(text, where, column, "%Y%m%d").tz_localize("UTC")
    magnitude = float(np.abs(numbers).max())
    unit = (
        "s"
        if magnitude < 1e11
        else "ms"
        if magnitude < 1e14
        else "us"
        if magnitude < 1e17
        else "ns"
    )
    log.debug("%s: reading %s as epoch %s", where.source, column, unit)
    try:
        return pd.DatetimeIndex(pd.to_datetime(values, unit=unit, utc=True))
    except (ValueError, OverflowError):
        raise DataError(
            f"{where.source}: {column} holds numbers that are not epoch timestamps",
            hint="use epoch seconds/milliseconds, YYYYMMDD or ISO 8601 strings",
        ) from None
