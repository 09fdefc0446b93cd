"""Historical bars as Alpaca's market-data API serves them, never past the replay clock.

Only bars the replay has already published are served (no look-ahead). Timeframes
``{1-59}Min``, ``{1-23}Hour``, ``1Day``, ``1Week`` and ``{1,2,3,4,6,12}Month`` (Alpaca's
list; alpaca-py's ``TimeFrame`` refuses 4 months) are
served from the emulator's bars when equal to their frequency, or resampled to a
coarser one (:func:`workbench.data.resample.resample`); finer ones are refused.
Daily and coarser bars are cut on the days of the data's calendar zone
(:func:`~workbench.data.sessions.calendar_zone`) and stamped at its midnight, as Alpaca
cuts and stamps them: a stock's day runs from New York midnight to New York midnight
(stamped 04:00 or 05:00 UTC), so the extended hours of an evening, after midnight UTC in
winter, stay in that day's bar; its week begins Monday, its month on the 1st, both at
New York midnight. A ``24/7`` (crypto) calendar cuts at midnight UTC. The workbench's
``alpaca:`` source relabels the stamps to 00:00 UTC of the date. Pagination follows
Alpaca: results sorted by symbol then time, ``limit`` over all symbols (default 1000, at
most 10000), an opaque ``next_page_token`` that names the last bar returned. A malformed
timeframe, ``start`` or ``end``, or an ``end`` before ``start``, is answered 400 with
Alpaca's message, as its market-data API answers them (the trading API's 422 is not).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np
import pandas as pd

from workbench.data.bars import bar_interval
from workbench.data.quality import format_interval
from workbench.data.resample import resample
from workbench.emulator.shapes import NEW_YORK, ApiError, utc
from workbench.errors import WorkbenchError

CODE_INVALID = 40010001
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
_TIMEFRAME = re.compile(r"^(\d+)(Min|T|Hour|H|Day|D|Week|W|Month|M)$")
_UNITS = {"T": "Min", "H": "Hour", "D": "Day", "W": "Week", "M": "Month"}
_ALLOWED = {
    "Min": range(1, 60),
    "Hour": range(1, 24),
    "Day": (1,),
    "Week": (1,),
    "Month": (1, 2, 3, 4, 6, 12),
}
DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class Timeframe:
    amount: int
    unit: str  # Min, Hour, Day, Week, Month

    @classmethod
    def parse(cls, text: str | None) -> Timeframe:
        match = _TIMEFRAME.match((text or "").strip())
        if match is None:
            raise ApiError(400, CODE_INVALID, f"invalid timeframe: {text!r}")
        amount, unit = int(match.group(1)), _UNITS.get(match.group(2), match.group(2))
        if amount not in _ALLOWED[unit]:
            raise ApiError(400, CODE_INVALID, f"invalid timeframe: {text!r}")
        return cls(amount, unit)

    @property
    def rule(self) -> str:
        """The pandas rule that resamples to this timeframe."""
        if self.unit == "Min":
            return f"{self.amount}min"
        if self.unit == "Hour":
            return f"{self.amount}h"
        if self.unit == "Day":
            return "1D"
        if self.unit == "Week":
            return "W"
        return f"{self.amount}MS"

    @property
    def length(self) -> pd.Timedelta:
        """The nominal length (months count as 28 days: enough to compare with bars)."""
        per = {"Min": 60, "Hour": 3600, "Day": 86400, "Week": 7 * 86400, "Month": 28 * 86400}
        return pd.Timedelta(seconds=self.amount * per[self.unit])

    @property
    def daily(self) -> bool:
        return self.unit in ("Day", "Week", "Month")

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


def session_stamps(index: pd.DatetimeIndex, zone: str = NEW_YORK) -> pd.DatetimeIndex:
    """Daily labels (00:00 UTC of the session date) as midnight in ``zone``, in UTC."""
    dates = index.tz_convert("UTC").normalize().tz_localize(None)
    return dates.tz_localize(zone).tz_convert("UTC")


def local_days(frame: pd.DataFrame, zone: str) -> pd.DataFrame:
    """``frame`` with each intraday bar's start read on the wall clock of ``zone`` (as if
    UTC): resampled to days, weeks or months it is cut at local midnight, and each
    label is the local date at 00:00 UTC, as every daily bar in the workbench."""
    local = frame.index.tz_convert(zone).tz_localize(None).tz_localize("UTC")
    return frame.set_axis(local.rename(frame.index.name))


class BarStore:
    """The emulator's bars by symbol, with resampled views cached per replay position.

    ``zone``: where its days begin (:func:`~workbench.data.sessions.calendar_zone`)."""

    def __init__(self, frames: Mapping[str, pd.DataFrame], zone: str = NEW_YORK) -> None:
        self.frames = dict(frames)
        self.zone = zone
        self.intervals = {
            s: bar_interval(f.index) if len(f) > 1 else DAY for s, f in self.frames.items()
        }
        self._ns = {s: f.index.as_unit("ns").asi8 for s, f in self.frames.items()}
        self._cache: dict[tuple[str, str, int], pd.DataFrame] = {}

    def invalidate(self) -> None:
        """Forget the resampled views (a bar was corrected)."""
        self._cache.clear()

    def published(self, symbol: str, upto_ns: int) -> pd.DataFrame:
        """``symbol``'s bars with a start time at or before ``upto_ns``."""
        stop = int(np.searchsorted(self._ns[symbol], upto_ns, side="right"))
        return self.frames[symbol].iloc[:stop]

    def latest(self, symbol: str, upto_ns: int) -> tuple[pd.Timestamp, Any] | None:
        """``symbol``'s last published bar (stamp, row), or None. Alpaca's latest bar is a
        minute bar; over daily data it is the daily bar, stamped as Alpaca stamps it (the
        calendar's midnight, as its 1Day bars and ``dailyBars``), not 00:00 UTC."""
        frame = self.published(symbol, upto_ns)
        if not len(frame):
            return None
        stamp = frame.index[-1]
        if self.intervals[symbol] >= DAY:
            stamp = session_stamps(pd.DatetimeIndex([stamp]), self.zone)[0]
        return stamp, frame.iloc[-1]

    def view(self, symbol: str, tf: Timeframe, upto_ns: int) -> pd.DataFrame:
        """Published bars of ``symbol`` at timeframe ``tf``, indexed by Alpaca's stamps."""
        key = (symbol, str(tf), upto_ns)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        frame = self.published(symbol, upto_ns)
        native = self.intervals[symbol]
        if tf.length < native:
            raise ApiError(
                422,
                CODE_INVALID,
                f"timeframe {tf} is finer than the emulator's {symbol} bars "
                f"({format_interval(native)})",
            )
        if frame.empty or (tf.length == native and tf.unit != "Month"):
            out = frame
        else:
            if tf.daily and native < DAY:  # minutes: cut on the local days
                frame = local_days(frame, self.zone)
            try:
                out = resample(frame, tf.rule, extra={"trade_count": "sum"})
            except WorkbenchError as exc:
                raise ApiError(422, CODE_INVALID, f"timeframe {tf}: {exc.message}") from None
        if tf.daily and not out.empty:
            out = out.set_axis(session_stamps(out.index, self.zone))
        if len(self._cache) > 256:
            self._cache.clear()
        self._cache[key] = out
        return out

    def query(
        self,
        symbols: list[str],
        tf: Timeframe,
        *,
        start: pd.Timestamp,
        end: pd.Timestamp,
        upto_ns: int,
        descending: bool = False,
    ) -> list[tuple[str, pd.DataFrame]]:
        """``(symbol, bars)`` in Alpaca's order: symbols sorted, then time (desc if asked)."""
        out = []
        for symbol in sorted(set(symbols)):
            if symbol not in self.frames:
                continue  # Alpaca omits unknown symbols
            frame = self.view(symbol, tf, upto_ns)
            frame = frame[(frame.index >= start) & (frame.index <= end)]
            if descending:
                frame = frame.iloc[::-1]
            if not frame.empty:
                out.append((symbol, frame))
        return out


def bar_json(stamp: pd.Timestamp, row: Any) -> dict[str, Any]:
    """One bar as the REST API writes it (``n`` and ``vw`` are always present)."""
    return {
        "t": utc(stamp),
        "o": float(row.open),
        "h": float(row.high),
        "l": float(row.low),
        "c": float(row.close),
        "v": _volume(row.volume),
        "n": _optional_int(getattr(row, "trade_count", None)),
        "vw": _optional_float(getattr(row, "vwap", None)),
    }


def bar_message(symbol: str, stamp: pd.Timestamp, row: Any, kind: str = "b") -> dict[str, Any]:
    """One bar for the market-data stream: ``t`` is a msgpack Timestamp (ext type -1)."""
    return {
        "T": kind,
        "S": symbol,
        "o": float(row.open),
        "h": float(row.high),
        "l": float(row.low),
        "c": float(row.close),
        "v": _volume(row.volume),
        "t": msgpack.Timestamp.from_unix_nano(int(stamp.value)),
        "n": _optional_int(getattr(row, "trade_count", None)),
        "vw": _optional_float(getattr(row, "vwap", None)),
    }


def paginate(
    groups: list[tuple[str, pd.DataFrame]], *, limit: int, token: str | None
) -> tuple[dict[str, list[dict[str, Any]]], str | None]:
    """One page of at most ``limit`` bars after ``token``, and the next token (or None)."""
    after = decode_token(token) if token else None
    page: dict[str, list[dict[str, Any]]] = {}
    taken = 0
    last: tuple[str, int] | None = None
    more = False
    for symbol, frame in groups:
        stamps = frame.index.as_unit("ns").asi8
        start = 0
        if after is not None:
            if symbol < after[0]:
                continue
            if symbol == after[0]:
                descending = len(stamps) > 1 and stamps[0] > stamps[-1]
                if descending:
                    start = int(np.searchsorted(-stamps, -after[1], side="right"))
                else:
                    start = int(np.searchsorted(stamps, after[1], side="right"))
        if start >= len(frame):
            continue
        if taken >= limit:
            more = True
            break
        chunk = frame.iloc[start : start + (limit - taken)]
        rows = page.setdefault(symbol, [])
        for stamp, row in zip(chunk.index, chunk.itertuples(index=False), strict=True):
            rows.append(bar_json(stamp, row))
        taken += len(chunk)
        last = (symbol, int(chunk.index[-1].value))
        if start + len(chunk) < len(frame):
            more = True
            break
    return page, (encode_token(*last) if more and last is not None else None)


def encode_token(symbol: str, stamp_ns: int) -> str:
    return base64.urlsafe_b64encode(f"{symbol}|{stamp_ns}".encode()).decode()


def decode_token(token: str) -> tuple[str, int]:
    try:
        symbol, _, stamp = base64.urlsafe_b64decode(token.encode()).decode().rpartition("|")
        return symbol, int(stamp)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ApiError(400, CODE_INVALID, "invalid page_token") from None


def parse_limit(text: str | None) -> int:
    if text is None or text == "":
        return DEFAULT_LIMIT
    try:
        value = int(text)
    except ValueError:
        raise ApiError(422, CODE_INVALID, f"invalid limit: {text!r}") from None
    if not 1 <= value <= MAX_LIMIT:
        raise ApiError(422, CODE_INVALID, f"invalid limit: {value} (1 to {MAX_LIMIT})")
    return value


def parse_time(text: str | None, name: str) -> pd.Timestamp | None:
    """RFC 3339 (any offset) or a date; naive values are UTC."""
    if text is None or text == "":
        return None
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise ApiError(422, CODE_INVALID, f"invalid {name}: {text!r}") from None
    if ts is pd.NaT:
        raise ApiError(422, CODE_INVALID, f"invalid {name}: {text!r}")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


#: Alpaca's corporate-action adjustments of stock bars; several may be given, comma-separated.
ADJUSTMENTS = ("raw", "split", "dividend", "spin-off", "all")


def parse_adjustment(query: Any) -> list[str]:  # aiohttp's query (its getall)
    """``adjustment``: one of :data:`ADJUSTMENTS` or several comma-separated (Alpaca's
    ``split,spin-off``), ``raw`` when absent. An unknown, empty or repeated value, or the
    parameter given twice, is refused 400 as Alpaca refuses it. The emulator serves its
    bars as they are whatever the adjustment (they are the data it was given)."""
    given = query.getall("adjustment", [])
    if not given:
        return ["raw"]
    values = given[0].split(",")
    if len(given) > 1 or len(set(values)) != len(values) or not set(values) <= set(ADJUSTMENTS):
        raise ApiError(
            400,
            CODE_INVALID,
            f"invalid adjustment: {','.join(given)!r} (one or more of "
            f"{', '.join(ADJUSTMENTS)}, comma-separated, each once)",
        )
    return values


def parse_symbols(query: Mapping[str, str]) -> list[str]:
    """The ``symbols`` of a multi-symbol request (upper case, in order, once each);
    none given is refused as Alpaca refuses it."""
    symbols = [s.strip().upper() for s in query.get("symbols", "").split(",") if s.strip()]
    if not symbols:
        raise ApiError(
            400,
            CODE_INVALID,
            "Invalid format for parameter symbols: query parameter 'symbols' is required",
        )
    return list(dict.fromkeys(symbols))


def parse_data_time(text: str | None, name: str) -> pd.Timestamp | None:
    """``start``/``end`` of a market-data request: as :func:`parse_time`, refused as
    Alpaca's market-data API refuses it (400, its message)."""
    try:
        return parse_time(text, name)
    except ApiError:
        raise ApiError(
            400,
            CODE_INVALID,
            f"Invalid format for parameter {name}: error parsing '{text}' as RFC3339 or "
            "2006-01-02 time",
        ) from None


def _volume(value: float) -> float | int:
    v = float(value)
    return int(v) if v.is_integer() and abs(v) < 2**63 else v


def _optional_int(value: Any) -> int | None:
    if value is None or pd.isna(value):
        return None
    return int(value)


def _optional_float(value: Any) -> float | None:
    if value is None or pd.isna(value):
        return None
    return float(value)
