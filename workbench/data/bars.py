"""The one bars format every part of the workbench eats.

A *bars frame* is a ``pandas.DataFrame`` with

- a tz-aware UTC ``DatetimeIndex``; each row is labelled by the bar's **start** time
  (a daily bar is labelled with its session date at 00:00 UTC);
- float columns ``open, high, low, close, volume`` (other columns are allowed and kept);
- ``frame.attrs["symbol"]`` naming the instrument when it is known.

Several symbols travel as a **dict of frames** ``{symbol: bars}`` (the canonical form,
each frame with its own index), or as one frame with a two-level column index
``(symbol, field)``; :func:`as_symbol_map` and :func:`to_multiframe` convert between them.

The bar frequency is inferred from the index (:func:`bar_interval`) unless known.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import DataError

COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
PRICES: tuple[str, ...] = COLUMNS[:4]
DEFAULT_SYMBOL = "ASSET"

BarsLike = pd.DataFrame | Mapping[str, pd.DataFrame]


def as_bars(frame: pd.DataFrame, *, name: str = "bars") -> pd.DataFrame:
    """Check ``frame`` is in the bars format and return it with float columns.

    Converts a tz-aware index of another zone to UTC; a naive index is an error,
    because guessing the zone silently shifts every bar.
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{name}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(
            f"{name}: missing column(s) {', '.join(missing)}",
            hint=f"a bars frame needs columns {', '.join(COLUMNS)}",
        )
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex):
        raise DataError(
            f"{name}: the index is {type(index).__name__}, not a DatetimeIndex",
            hint="set the timestamp column as the index",
        )
    if index.tz is None:
        raise DataError(
            f"{name}: the index has naive timestamps",
            hint="localize them, e.g. frame.tz_localize('America/New_York'), or pass tz=",
        )
    out = frame
    if str(index.tz) != "UTC":
        out = out.tz_convert("UTC")
    if any(out[c].dtype != np.float64 for c in COLUMNS):
        out = out.astype({c: np.float64 for c in COLUMNS})
    if out is not frame:
        out.attrs = dict(frame.attrs)
    return out


def check_order(frame: pd.DataFrame, *, name: str = "bars") -> None:
    """Raise :class:`DataError` naming the first timestamp that repeats or goes back in time."""
    index = frame.index
    if index.is_monotonic_increasing and not index.has_duplicates:
        return
    ns = index.as_unit("ns").asi8
    i = int(np.argmax(ns[1:] <= ns[:-1])) + 1
    what = "repeats the bar before" if ns[i] == ns[i - 1] else "is earlier than the bar before"
    raise DataError(
        f"{name}: the timestamps are out of order or duplicated: {index[i]} {what}",
        hint="sort the rows by time and remove the repeated ones (workbench data check SPEC "
        "lists them; in Python: workbench.clean(bars, CleanPolicy(sort=True, "
        "drop_duplicates='last')))",
    )


def check_prices(frame: pd.DataFrame, *, name: str = "bars") -> None:
    """Raise :class:`DataError` naming the first bar with a price at or below zero, and
    where the bars came from.

    A backtest would trade at it: a buy at a negative price is paid to buy, and every
    figure after it is wrong (the event engine ran to a final equity of 0 and a drawdown
    past -100 %). The loader lets such rows through so that ``workbench data check`` can
    list them and :func:`~workbench.data.cleaning.clean` drop them; the engines refuse
    them, as they refuse bars out of order. Every source here is of instruments that do
    not trade at or below zero (stocks, indices, synthetic prices); a spread or a future
    that can is not taken. A missing price (NaN) is not judged here.
    """
    columns = [frame[c].to_numpy() for c in PRICES]  # views: no copy of a long frame
    rows = np.zeros(len(frame), dtype=bool)
    with np.errstate(invalid="ignore"):
        for values in columns:
            rows |= values <= 0
    if not rows.any():
        return
    i = int(np.argmax(rows))
    column, value = next((c, v[i]) for c, v in zip(PRICES, columns, strict=True) if v[i] <= 0)
    source = frame.attrs.get("source")
    raise DataError(
        f"{name}{f' ({source})' if source else ''}: {int(rows.sum())} bar(s) with a price at "
        f"or below zero, the first at {frame.index[i]}: {column} {value:g}",
        hint="correct or remove those rows (workbench data check SPEC lists them; in Python: "
        "workbench.clean(bars, CleanPolicy(drop_invalid=True)))",
    )


#: How far (relative to the larger of high and low) a price may lie outside its bar's range
#: and still be the bar's: adjusted data scales open, high and low by a ratio computed from
#: an adjusted close, which rounding can leave an ulp or two above a high it equalled.
OHLC_TOLERANCE = 1e-9


def _ohlc_rules(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray
) -> list[tuple[str, np.ndarray]]:
    """Each OHLC rule in words, with the rows that break it by more than
    :data:`OHLC_TOLERANCE` (a NaN breaks none: not judged here). Exact comparisons first:
    clean bars, the usual case on every backtest, never pay for the tolerance's arrays."""
    with np.errstate(invalid="ignore"):
        rules = _broken_by(open_, high, low, close, None)
        if any(rows.any() for _, rows in rules):
            tol = OHLC_TOLERANCE * np.fmax(np.abs(high), np.abs(low))
            rules = _broken_by(open_, high, low, close, tol)
    return rules


def _broken_by(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, tol: Any
) -> list[tuple[str, np.ndarray]]:
    """The rules, each with the rows outside [low - tol, high + tol] (None: exactly)."""
    top, bottom = (high, low) if tol is None else (high + tol, low - tol)
    return [
        ("high below low", high < bottom),
        ("open above high", open_ > top),
        ("close above high", close > top),
        ("open below low", open_ < bottom),
        ("close below low", close < bottom),
    ]


def inconsistent_ohlc(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray
) -> np.ndarray:
    """The rows whose high is below their low, or whose open or close lies outside
    [low, high], by more than :data:`OHLC_TOLERANCE`: the one rule that ``workbench data
    check`` (its ``ohlc`` check) lists, :func:`~workbench.data.cleaning.clean` drops and
    :func:`check_ohlc` refuses, so the fix a refusal names removes exactly what it refused.
    A NaN compares as consistent (not judged here)."""
    return np.logical_or.reduce([rows for _, rows in _ohlc_rules(open_, high, low, close)])


def check_ohlc(frame: pd.DataFrame, *, name: str = "bars") -> None:
    """Raise :class:`DataError` naming the first bar whose open, high, low and close
    disagree (:func:`inconsistent_ohlc`), which rule it breaks, and where the bars came from.

    A stop or a limit fills within the bar's range: on a bar whose close is above its
    high, or whose high is below its low, it fills at a price the bar never traded, and
    the event engine and the vectorized path can disagree about it."""
    o, h, lo, c = (frame[k].to_numpy() for k in PRICES)  # views: no copy of a long frame
    rules = _ohlc_rules(o, h, lo, c)
    rows = np.logical_or.reduce([broken for _, broken in rules])
    if not rows.any():
        return
    i = int(np.argmax(rows))
    prices = " ".join(f"{k} {_number(v[i])}" for k, v in zip(PRICES, (o, h, lo, c), strict=True))
    source = frame.attrs.get("source")
    raise DataError(
        f"{name}{f' ({source})' if source else ''}: {int(rows.sum())} bar(s) with open, high, "
        f"low and close that disagree, the first at {frame.index[i]}: {prices}: "
        f"{', '.join(rule for rule, broken in rules if broken[i])}",
        hint="correct or remove those rows (workbench data check SPEC lists them; in Python: "
        "workbench.clean(bars, CleanPolicy(drop_invalid=True)))",
    )


def _number(value: float) -> str:
    """A price as short as it can be written and still read back the same: a close a
    rounding error above its high does not print as equal to it."""
    return np.format_float_positional(value, trim="-")


def check_values(frame: pd.DataFrame, *, name: str = "bars") -> None:
    """The prices a path that trades refuses, symbol by symbol: at or below zero
    (:func:`check_prices`), then open, high, low and close that disagree (:func:`check_ohlc`).

    Clean bars, every backtest's case, are told in one pass (:func:`_clean_prices`); any
    other frame goes through both checks, which name what they refuse."""
    if _clean_prices(*(frame[k].to_numpy() for k in PRICES)):  # views: no copy
        return
    check_prices(frame, name=name)
    check_ohlc(frame, name=name)


def _clean_prices(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, chunk: int = 1 << 14
) -> bool:
    """Whether every bar has ``0 < low <= open, close <= high``, exactly (a NaN has not):
    then no price is at or below zero and no OHLC rule is broken. ``chunk`` rows at a
    time, so that the comparisons' arrays are small and reused: the checks' own arrays of
    a long frame's size (one per rule and column) cost page faults on first use."""
    for lo in range(0, len(low), chunk):
        rows = slice(lo, lo + chunk)
        o, h, low_, c = open_[rows], high[rows], low[rows], close[rows]
        clean = low_ > 0
        clean &= low_ <= o  # then o <= h makes low <= high too
        clean &= o <= h
        clean &= low_ <= c
        clean &= c <= h
        if not clean.all():
            return False
    return True


def check_tradable(frame: pd.DataFrame, *, name: str = "bars") -> None:
    """What every path that trades on bars refuses first (the event engine, the vectorized
    path, the live replay; the portfolio kernel checks the same once for the index its
    symbols share): bars out of order (:func:`check_order`), then prices at or below zero
    and inconsistent OHLC (:func:`check_values`)."""
    check_order(frame, name=name)
    check_values(frame, name=name)


def as_symbol_map(bars: BarsLike, *, symbol: str | None = None) -> dict[str, pd.DataFrame]:
    """Return ``{symbol: bars}`` from a single frame, a dict, or a ``(symbol, field)`` frame."""
    if isinstance(bars, Mapping):
        if not bars:
            raise DataError("no symbols given", hint="pass at least one bars frame")
        return {str(k): as_bars(v, name=str(k)) for k, v in bars.items()}
    if isinstance(bars, pd.DataFrame) and isinstance(bars.columns, pd.MultiIndex):
        out = {}
        for sym in bars.columns.get_level_values(0).unique():
            sub = bars[sym].dropna(how="all")
            sub.attrs = {"symbol": str(sym)}
            out[str(sym)] = as_bars(sub, name=str(sym))
        return out
    frame = as_bars(bars)
    name = symbol or frame.attrs.get("symbol") or DEFAULT_SYMBOL
    return {str(name): frame}


def to_multiframe(bars: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Join a dict of bars frames into one frame with ``(symbol, field)`` columns (outer join)."""
    return pd.concat({sym: frame[list(COLUMNS)] for sym, frame in bars.items()}, axis=1)


def bar_interval(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The bar length: the index's frequency if set, else the most common spacing."""
    if index.freq is not None:
        try:
            return pd.Timedelta(index.freq)
        except ValueError:
            pass  # e.g. business-day or month-end offsets: fall through to the spacing
    if len(index) < 2:
        raise DataError("cannot infer the bar frequency from fewer than two bars")
    unit = np.datetime_data(index.dtype.base if hasattr(index.dtype, "base") else index.dtype)[0]
    step = _even_step(index.asi8)
    if step is not None:  # evenly spaced: no counting (sort) needed
        return pd.Timedelta(step, unit=unit)
    diffs = np.diff(index.asi8)
    diffs = diffs[diffs > 0]
    if diffs.size == 0:
        raise DataError("cannot infer the bar frequency: all timestamps are equal")
    values, counts = np.unique(diffs, return_counts=True)
    return pd.Timedelta(int(values[np.argmax(counts)]), unit=unit)


def _even_step(values: np.ndarray, chunk: int = 1 << 16) -> int | None:
    """The positive step between consecutive values if it is always the same, else None;
    a chunk at a time (no temporary the size of the index; an uneven index stops early)."""
    step = int(values[1] - values[0])
    if step <= 0:
        return None
    for i in range(0, values.size - 1, chunk):
        if not (np.diff(values[i : i + chunk + 1]) == step).all():
            return None
    return step


NS_PER_DAY = 86_400_000_000_000
_MONTH = pd.Timedelta(days=365.25 / 12)  # an average month: monthly to yearly bars


def epoch_ns(index: pd.DatetimeIndex) -> np.ndarray:
    """The index's times as int64 nanoseconds from the epoch: a view of its own values when
    they are in nanoseconds already (``as_unit("ns")`` copies them even then)."""
    return index.asi8 if index.unit == "ns" else index.as_unit("ns").asi8


def periods_per_year(index: pd.DatetimeIndex) -> float:
    """Bars per year, used to annualise returns and volatility.

    Weekly bars: 52. Bars of 25 days or more are a whole number of months (the spacing in
    average months of 365.25 / 12 days, rounded): monthly 12, quarterly 4, half-yearly 2,
    yearly 1 (a quarter's 90 to 92 days and a year's 365 or 366 count alike). Daily
    bars: 252 (trading days) when the data skip weekends (an exchange calendar), 365 when
    they trade every day (crypto, synthetic data). Intraday bars: the median number of
    bars per calendar day (UTC) times 365 when the data have bars on a Saturday and on a
    Sunday, or a weekend day with at least half that many bars, else 252. A market that
    trades every day has 365 daily returns a year (vectorbt's default year of 365 days;
    :mod:`workbench.data.synthetic`'s year), so the same data annualise alike at any bar
    length; 252 there would understate the volatility by ``sqrt(252 / 365)``. A few bars
    of one weekend day are a weekday's session running past midnight UTC, not weekend
    trading: New York's extended hours (until 20:00, 01:00 UTC in winter: Friday's evening
    on Saturday), a futures week that opens on Sunday evening; a thinly traded crypto pair
    has fewer bars on weekends, but on both days.
    """
    interval = bar_interval(index)
    day = pd.Timedelta(days=1)
    if interval >= pd.Timedelta(days=25):
        months = max(1, round(interval / _MONTH))
        return 12.0 / months
    if interval >= pd.Timedelta(days=5):
        return 52.0
    if interval >= day:
        weekend = bool((index.day_of_week >= 5).any())
        return 365.0 if weekend else 252.0
    if index.tz is not None and str(index.tz) == "UTC" and index.is_monotonic_increasing:
        # the bars of each day from the epoch, found by a binary search of each midnight
        # (one per calendar day spanned): small arrays, not one the size of the index
        ns = epoch_ns(index)
        first, last = int(ns[0]) // NS_PER_DAY, int(ns[-1]) // NS_PER_DAY
        midnights = np.arange(first + 1, last + 1, dtype=np.int64) * NS_PER_DAY
        starts = np.concatenate(([0], np.searchsorted(ns, midnights), [ns.size]))
        counts = np.diff(starts)
        days = np.flatnonzero(counts)  # the days with bars
        return _intraday_per_year(counts[days], (days + first + 3) % 7)  # 1970-01-01: Thursday
    per_day = pd.Series(1, index=index).groupby(index.normalize()).size()
    return _intraday_per_year(per_day.to_numpy(), per_day.index.day_of_week.to_numpy())


def _intraday_per_year(per_day: np.ndarray, weekday: np.ndarray) -> float:
    """The median bars a day times 365 if the weekends trade, else 252: bars on a Saturday
    and on a Sunday, or a weekend day with half a typical day's bars or more.

    ``per_day``: the bar count of each day with bars; ``weekday``: its day (Monday 0)."""
    typical = float(np.median(per_day))
    both = bool((weekday == 5).any() and (weekday == 6).any())
    weekend = both or bool(((weekday >= 5) & (per_day >= typical / 2)).any())
    return typical * (365.0 if weekend else 252.0)


def data_fingerprint(bars: Mapping[str, pd.DataFrame]) -> dict[str, Any]:
    """A hash of the bars (index and OHLCV) and their range, per symbol: the same hash, the
    same data (a bundle's manifest, a report's data table, a walk-forward fold's inputs)."""
    out = {}
    for sym, frame in bars.items():
        cols = frame[list(COLUMNS)]
        digest = hashlib.sha256(frame.index.as_unit("ns").asi8.tobytes())
        digest.update(cols.to_numpy(dtype="float64").tobytes())
        out[sym] = {
            "sha256": digest.hexdigest(),
            "start": frame.index[0].isoformat(),
            "end": frame.index[-1].isoformat(),
            "bars": len(frame),
        }
    return out
