"""Data quality: :func:`validate` reports problems, :func:`clean` fixes only what it is told.

``validate`` neve  r raises on bad data (only on bad arguments): it accepts a raw frame too
(naive or mixed time zones, missing columns, text values) and reports. Each check:

===================  ========  ==================================================================
check                severity  flags
===================  ========  ==================================================================
``empty``            error     a frame with no rows
``index``            error     an index that is not made of timestamps
``timezone``         error     naive timestamps, or a mix of zones (the frame is not normalised)
``columns``          error     a missing OHLCV column, or values that are not numbers
``duplicates``       error     rows whose timestamp repeats an earlier row
``order``            error     rows earlier than the row before them
``missing``          error     rows with NaN in open, high, low, close or volume
``infinite``         error     rows with +-inf in open, high, low, close or volume (no other check
                               can judge them: an infinite high passes the ``ohlc`` check)
``non_positive``     error     rows with a price <= 0
``negative_volume``  error     rows with volume < 0
``ohlc``             error     high below open or close, low above open or close, or high < low
``zero_volume``      warning   bars with volume 0
``gaps``             warning   missing bars: daily bars against the exchange calendar's sessions
                               (weekends and holidays are not gaps); intraday bars: a spacing
                               larger than the bar within one trading day; data that trade on
                               weekends (crypto, synthetic): any spacing larger than the bar;
                               weekly or longer bars: a spacing over 1.5 bars. With
                               ``calendar=None`` daily bars are checked against weekdays
``off_calendar``     warning   daily bars on days that are not sessions (or not weekdays)
``stale``            warning   runs of at least ``stale_run`` bars with an unchanged close
``close_only``       warning   data with closes only (``attrs["close_only"]``, e.g. sample:SP500):
                               open = high = low = close and no volume, so a decision on bar t
                               fills at bar t+1's close; stop and limit fills see no range
                               (``zero_volume`` is not reported for them)
===================  ========  ==================================================================

A report is :attr:`QualityReport.ok` when it has no errors; warnings are for a human to judge.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from workbench.data.bars import COLUMNS, bar_interval
from workbench.data.cleaning import CleanPolicy, CleanReport, clean, invalid_rows, runs
from workbench.errors import ConfigError, DataError

__all__ = [
    "CleanPolicy",
    "CleanReport",
    "Issue",
    "QualityReport",
    "clean",
    "format_interval",
    "validate",
]

log = logging.getLogger(__name__)

Severity = Literal["error", "warning"]
EXAMPLES = 5


@dataclass(frozen=True)
class Issue:
    """One failed check: how many rows, the first few of them, and what it means."""

    check: str
    severity: Severity
    count: int
    message: str
    rows: tuple[int, ...] = ()  # positions of the first offending rows
    examples: tuple[str, ...] = ()  # their timestamps (or what is missing)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity,
            "count": self.count,
            "message": self.message,
            "rows": list(self.rows),
            "examples": list(self.examples),
        }


@dataclass
class QualityReport:
    """What :func:`validate` found in one frame."""

    symbol: str
    rows: int
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    interval: pd.Timedelta | None = None
    calendar: str | None = None
    issues: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed)."""
        return not self.errors

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    def checks(self) -> set[str]:
        return {i.check for i in self.issues}

    def to_frame(self) -> pd.DataFrame:
        cols = ["check", "severity", "count", "message", "examples"]
        rows = [{**i.to_dict(), "examples": ", ".join(i.examples)} for i in self.issues]
        return pd.DataFrame(rows, columns=cols)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (timestamps as ISO strings)."""
        return {
            "symbol": self.symbol,
            "rows": self.rows,
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "interval": None if self.interval is None else str(self.interval),
            "calendar": self.calendar,
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "issues": [i.to_dict() for i in self.issues],
        }

    def summary(self) -> str:
        """One line: symbol, size, range and verdict."""
        span = f"{_day(self.start)} to {_day(self.end)}" if self.start is not None else "no dates"
        verdict = "OK" if self.ok else "ERRORS"
        every = format_interval(self.interval)
        return (
            f"{self.symbol}: {self.rows} bars, {span}, every {every}: {verdict}"
            f" ({len(self.errors)} errors, {len(self.warnings)} warnings)"
        )

    def __str__(self) -> str:
        lines = [self.summary()]
        if self.issues:
            width = max(len(i.check) for i in self.issues)
            for i in self.issues:
                shown = ", ".join(i.examples[:3]) + (" ..." if len(i.examples) > 3 else "")
                lines.append(f"  {i.severity:<7} {i.check:<{width}} {i.count:>6}  {i.message}")
                if shown:
                    lines.append(f"  {'':<7} {'':<{width}} {'':>6}  e.g. {shown}")
        return "\n".join(lines)


def _day(ts: pd.Timestamp | None) -> str:
    if ts is None:
        return "?"
    return str(ts.date()) if ts == ts.normalize() else str(ts)


def format_interval(value: pd.Timedelta | None) -> str:
    """A bar length for people: ``1min``, ``4h``, ``1 day``, ``7 days``, ``90s``."""
    if value is None:
        return "?"
    seconds = value.total_seconds()
    if seconds % 86400 == 0:
        days = int(seconds // 86400)
        return f"{days} day" + ("s" if days != 1 else "")
    for size, unit in ((3600, "h"), (60, "min"), (1, "s")):
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return str(value)


def validate(
    bars: pd.DataFrame,
    *,
    calendar: str | None = "XNYS",
    stale_run: int | None = 5,
    interval: str | pd.Timedelta | None = None,
) -> QualityReport:
    """Run every check on ``bars`` and return the report (see the module docstring).

    ``calendar`` is an ``exchange_calendars`` name used for daily gaps and the trading day of
    intraday bars (``None``: calendar days in UTC). ``interval`` overrides the inferred bar
    length; ``stale_run=None`` turns the stale check off.
    """
    if not isinstance(bars, pd.DataFrame):
        raise DataError(f"validate expects a DataFrame, got {type(bars).__name__}")
    symbol = str(bars.attrs.get("symbol", "ASSET"))
    report = QualityReport(symbol=symbol, rows=len(bars))
    issues = report.issues
    if bars.empty:
        issues.append(Issue("empty", "error", 0, "no bars (the frame has no rows)"))
    index = _utc_index(bars.index, issues)
    values = _numeric_columns(bars, issues)
    if index is not None and len(index):
        report.start, report.end = index.min(), index.max()
        _check_order(index, issues)
        unique = index.unique().sort_values()
        step = _step(unique, interval)
        report.interval = step
        if step is not None:
            report.calendar = _check_gaps(unique, step, calendar, issues)
    close_only = bool(bars.attrs.get("close_only"))
    if close_only:
        issues.append(
            Issue(
                "close_only",
                "warning",
                len(bars),
                "closes only: open = high = low = close and no volume, so a decision on bar t "
                "fills at bar t+1's close",
            )
        )
    if values is not None:
        _check_values(values, index, issues, close_only=close_only)
        if stale_run:
            _check_stale(values["close"], index, stale_run, issues)
    order = {"error": 0, "warning": 1}
    issues.sort(key=lambda i: order[i.severity])
    log.debug("validated %s: %d issues", symbol, len(issues))
    return report


def _stamps(index: pd.Index | None, rows: np.ndarray) -> tuple[str, ...]:
    if index is None:
        return tuple(f"row {r + 1}" for r in rows[:EXAMPLES])
    return tuple(str(index[r]) for r in rows[:EXAMPLES])


def _add(
    issues: list[Issue],
    check: str,
    severity: Severity,
    mask: np.ndarray,
    message: str,
    index: pd.Index | None,
) -> None:
    rows = np.flatnonzero(mask)
    if rows.size:
        issues.append(
            Issue(
                check,
                severity,
                int(rows.size),
                message,
                tuple(int(r) for r in rows[:EXAMPLES]),
                _stamps(index, rows),
            )
        )


def _utc_index(index: pd.Index, issues: list[Issue]) -> pd.DatetimeIndex | None:
    """The index in UTC (naive taken as UTC) so later checks run; zone problems reported."""
    n = len(index)
    if isinstance(index, pd.DatetimeIndex):
        if index.tz is None:
            message = "naive timestamps (no time zone); localize them or pass tz="
            issues.append(Issue("timezone", "error", n, message))
            return index.tz_localize("UTC")
        return index.tz_convert("UTC")
    not_time = Issue("index", "error", n, f"the index holds {index.dtype} values, not timestamps")
    if index.dtype != object:  # numbers, periods...: no time to check
        issues.append(not_time)
        return None
    zones = {str(v.tzinfo) for v in index if isinstance(v, dt.datetime)}
    if len(zones) > 1:
        detail = "naive and zoned" if "None" in zones else ", ".join(sorted(zones))
        message = f"mixed time zones in the index ({detail}); convert to one zone"
        issues.append(Issue("timezone", "error", n, message))
    if not zones:
        issues.append(not_time)  # e.g. strings: still checked below if they parse
    try:
        return pd.DatetimeIndex(pd.to_datetime(index, utc=True))
    except (TypeError, ValueError):
        return None


def _numeric_columns(bars: pd.DataFrame, issues: list[Issue]) -> pd.DataFrame | None:
    missing = [c for c in COLUMNS if c not in bars.columns]
    if missing:
        issues.append(
            Issue(
                "columns",
                "error",
                len(missing),
                f"missing column(s): {', '.join(missing)}",
                (),
                tuple(missing),
            )
        )
        return None
    out = {}
    for col in COLUMNS:
        series = bars[col]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            out[col] = series.to_numpy(np.float64)
            continue
        numbers = pd.to_numeric(series, errors="coerce")
        bad = (numbers.isna() & series.notna()).to_numpy()
        _add(issues, "columns", "error", bad, f"{col} holds values that are not numbers", None)
        out[col] = numbers.to_numpy(np.float64)
    return pd.DataFrame(out)


def _check_order(index: pd.DatetimeIndex, issues: list[Issue]) -> None:
    _add(
        issues,
        "duplicates",
        "error",
        index.duplicated(keep="first"),
        "timestamps that repeat an earlier row",
        index,
    )
    values = index.asi8
    back = np.zeros(len(values), dtype=bool)
    back[1:] = values[1:] < values[:-1]
    _add(issues, "order", "error", back, "rows earlier than the row before (not sorted)", index)


def _check_values(
    values: pd.DataFrame, index: pd.Index | None, issues: list[Issue], *, close_only: bool = False
) -> None:
    nan = values.isna()
    counts = {c: int(n) for c, n in nan.sum().items() if n}
    detail = ", ".join(f"{c} {n}" for c, n in counts.items())
    _add(
        issues,
        "missing",
        "error",
        nan.any(axis=1).to_numpy(),
        f"rows with missing values ({detail})",
        index,
    )
    inf = np.isinf(values.to_numpy(np.float64))
    counts = {c: int(n) for c, n in zip(values.columns, inf.sum(axis=0), strict=True) if n}
    _add(
        issues,
        "infinite",
        "error",
        inf.any(axis=1),
        "rows with infinite values ("
        + ", ".join(f"{c} {n}" for c, n in counts.items())
        + "): make them NaN (frame.replace([np.inf, -np.inf], np.nan)), then clean",
        index,
    )
    bad = invalid_rows(values)
    _add(issues, "non_positive", "error", bad["non_positive"], "rows with a price <= 0", index)
    _add(issues, "negative_volume", "error", bad["negative_volume"], "rows with volume < 0", index)
    _add(
        issues,
        "ohlc",
        "error",
        bad["ohlc"],
        "high below open/close, low above open/close, or high < low",
        index,
    )
    _add(
        issues,
        "zero_volume",
        "warning",
        (values["volume"] == 0).to_numpy() & (not close_only),
        "bars with zero volume",
        index,
    )


def _check_stale(
    close: pd.Series, index: pd.Index | None, length: int, issues: list[Issue]
) -> None:
    same = np.zeros(len(close), dtype=bool)
    values = close.to_numpy()
    same[1:] = values[1:] == values[:-1]
    starts, lengths = runs(same)
    long = lengths >= max(length - 1, 1)
    if long.any():
        first = starts[long] - 1  # the run includes the bar before the first repeat
        bars_in = lengths[long] + 1
        mask = np.zeros(len(close), dtype=bool)
        mask[first] = True
        _add(
            issues,
            "stale",
            "warning",
            mask,
            f"runs of >= {length} bars with an unchanged close (longest {bars_in.max()})",
            index,
        )


def _step(index: pd.DatetimeIndex, interval: str | pd.Timedelta | None) -> pd.Timedelta | None:
    if interval is not None:
        return pd.Timedelta(interval)
    try:
        return bar_interval(index)
    except DataError:
        return None


@functools.lru_cache(maxsize=16)
def _calendar(name: str, start: pd.Timestamp, end: pd.Timestamp) -> Any:
    import exchange_calendars as xc  # ~0.1 s: only when a calendar is needed

    if name not in xc.get_calendar_names():
        raise ConfigError(
            f"unknown exchange calendar {name!r}",
            hint="use an exchange_calendars name such as XNYS, XLON, XTKS, or None",
        )
    try:
        with warnings.catch_warnings():  # exchange_calendars' own pandas deprecations
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            return xc.get_calendar(name, start=start, end=end)
    except (ValueError, xc.errors.CalendarError) as exc:
        log.warning("calendar %s cannot cover %s..%s: %s", name, start.date(), end.date(), exc)
        return None


def _check_gaps(
    index: pd.DatetimeIndex, step: pd.Timedelta, calendar: str | None, issues: list[Issue]
) -> str | None:
    """Gaps in a sorted unique index; returns the calendar name if one was used."""
    if len(index) < 2:
        return None
    day, week = pd.Timedelta(days=1), pd.Timedelta(days=5)
    # Trades at weekends (crypto, synthetic) if over 10% of bars fall on them; a stray
    # Saturday bar in exchange data is reported as off-calendar instead.
    weekend = bool((index.day_of_week >= 5).mean() > 0.1)
    cal = None
    if calendar and not weekend and step < week:
        # Whole years, so that checks of nearby ranges share one cached calendar.
        start = pd.Timestamp(year=index[0].year - 1, month=12, day=1)
        end = pd.Timestamp(year=index[-1].year + 1, month=1, day=31)
        cal = _calendar(calendar, start, end)
    if day <= step < week and not weekend:
        dates = index.tz_localize(None).normalize()
        if cal is not None:
            expected, label = cal.sessions_in_range(dates[0], dates[-1]), f"{calendar} sessions"
        else:
            expected, label = pd.bdate_range(dates[0], dates[-1]), "weekdays"
        missing = expected.difference(dates)
        if len(missing):
            examples = tuple(str(d.date()) for d in missing[:EXAMPLES])
            issues.append(
                Issue("gaps", "warning", len(missing), f"{label} with no bar", (), examples)
            )
        off = ~dates.isin(expected)
        _add(issues, "off_calendar", "warning", off, f"bars on days that are not {label}", index)
        return calendar if cal is not None else None
    diffs = np.diff(index.asi8)
    span = pd.Timedelta(1, unit=index.unit)
    if step >= week:
        gap = diffs * span > 1.5 * step
    else:
        gap = diffs * span > step
        if step < day and not weekend:  # only within one trading day
            local = index.tz_convert(cal.tz) if cal is not None else index
            days = local.tz_localize(None).normalize().asi8
            gap &= days[1:] == days[:-1]
    mask = np.zeros(len(index), dtype=bool)
    mask[:-1] = gap
    if mask.any():
        largest = pd.Timedelta(int(diffs[gap].max()), unit=index.unit)
        message = (
            f"spacing larger than the {format_interval(step)} bar "
            f"(largest {format_interval(largest)}); examples: the bar before each gap"
        )
        _add(issues, "gaps", "warning", mask, message, index)
    return calendar if cal is not None else None
