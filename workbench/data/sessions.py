"""Exchange sessions, and bars resampled on them: the one place that says what a bar is.

**Sessions** come from ``exchange_calendars`` (``XNYS`` by default): each trading day's
regular open and close in UTC, holidays absent, early closes (e.g. 2023-11-24, 13:00
New York) at their real time. :class:`Sessions` answers "is the market open at t?",
"which session holds t?", "when does it next open / close?" for the live runner, the
emulator's ``/v2/clock`` and ``/v2/calendar``, and the synthetic session data.

**Bars on the session calendar** (:func:`session_resample`, used by ``workbench backtest
--timeframe`` *and* by the live feeds' :class:`~workbench.data.aggregate.BarAggregator`,
so research and production cannot disagree on a bar):

- only bars inside a regular session count (``session="regular"``); ``"all"`` keeps
  every bar and cuts intraday periods on the UTC clock;
- ``1Day``: one bar per session, labelled 00:00 UTC of the session's date (as every
  daily bar in the workbench); it is over at the session's close (13:00 New York on an
  early close). With ``"all"`` a day is the calendar's local day (:func:`calendar_zone`:
  New York for ``XNYS``, UTC for ``24/7``), cut at local midnight as Alpaca cuts its
  daily bars (stock bars stamped 04:00/05:00 UTC, New York midnight; crypto bars at
  midnight UTC): the extended hours of an evening (19:00-20:00 New York, after
  midnight UTC in winter) stay in their own day's bar, which is over at the next local
  midnight;
- intraday timeframes (``5Min``, ``15Min``, ``1Hour``) are cut on the clock, as Alpaca
  cuts its bars: an hourly bar covers 10:00-11:00 New York and is labelled by that
  start. The session's first hour is the partial 09:30-10:00, labelled 09:00 (Alpaca's
  09:00 bar, without the pre-market); a bar never runs past the session's close, so the
  last hour of an early close ends at 13:00. A period is over at ``min(label + length,
  close)``.

Aggregation: ``open`` first, ``high`` max, ``low`` min, ``close`` last, ``volume`` sum.
"""

from __future__ import annotations

import functools
import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.data.bars import as_bars, bar_interval
from workbench.errors import ConfigError, DataError
from workbench.timeframe import Timeframe, parse_timeframe

log = logging.getLogger(__name__)

NEW_YORK = "America/New_York"
DEFAULT_CALENDAR = "XNYS"
SESSION_RULES = ("regular", "all")
SESSIONS_PER_YEAR = 252
_ONE_DAY = pd.Timedelta(days=1)
#: The zones of the calendars runs name by default (US equities, crypto), so that a
#: backtest's risk engine learns its day without importing ``exchange_calendars`` (about
#: 0.15 s of a run); a test holds them equal to the library's.
KNOWN_ZONES = {DEFAULT_CALENDAR: NEW_YORK, "24/7": "UTC"}
_AGG = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}


@dataclass(frozen=True, eq=False)
class Sessions:
    """Regular sessions of one exchange calendar: open and close times (UTC, ns)."""

    calendar: str
    dates: pd.DatetimeIndex  # session dates, 00:00 UTC
    opens: np.ndarray  # int64 ns
    closes: np.ndarray  # int64 ns

    def __len__(self) -> int:
        return len(self.dates)

    def index_of(self, t: pd.Timestamp | int) -> int:
        """The session holding instant ``t`` (open <= t < close), or -1."""
        ns = t if isinstance(t, int) else _utc(t).value
        i = int(np.searchsorted(self.opens, ns, side="right")) - 1
        return i if i >= 0 and ns < self.closes[i] else -1

    def is_open(self, t: pd.Timestamp) -> bool:
        return self.index_of(t) >= 0

    def open_at(self, i: int) -> pd.Timestamp:
        return pd.Timestamp(int(self.opens[i]), tz="UTC")

    def close_at(self, i: int) -> pd.Timestamp:
        return pd.Timestamp(int(self.closes[i]), tz="UTC")

    def next_open(self, t: pd.Timestamp) -> pd.Timestamp | None:
        """The first open strictly after ``t`` (None past the calendar's end)."""
        i = int(np.searchsorted(self.opens, _utc(t).value, side="right"))
        return self.open_at(i) if i < len(self) else None

    def next_close(self, t: pd.Timestamp) -> pd.Timestamp | None:
        """The first close strictly after ``t``."""
        i = int(np.searchsorted(self.closes, _utc(t).value, side="right"))
        return self.close_at(i) if i < len(self) else None

    def last_close(self, t: pd.Timestamp) -> pd.Timestamp | None:
        """The latest close at or before ``t``."""
        i = int(np.searchsorted(self.closes, _utc(t).value, side="right")) - 1
        return self.close_at(i) if i >= 0 else None

    def between(self, start: Any, end: Any) -> Sessions:
        """The sessions whose date lies in ``[start, end]`` (dates, inclusive)."""
        lo = _day(start) if start is not None else self.dates[0]
        hi = _day(end) if end is not None else self.dates[-1]
        keep = (self.dates >= lo) & (self.dates <= hi)
        return Sessions(self.calendar, self.dates[keep], self.opens[keep], self.closes[keep])

    def minutes(self, freq: str | pd.Timedelta = "1min") -> pd.DatetimeIndex:
        """Start times of every ``freq`` bar inside the sessions (UTC)."""
        step = pd.Timedelta(freq).value
        counts = (self.closes - self.opens + step - 1) // step
        starts = np.repeat(self.opens, counts)
        first = np.repeat(np.cumsum(counts) - counts, counts)
        offsets = (np.arange(int(counts.sum())) - first) * step
        return pd.DatetimeIndex(starts + offsets, tz="UTC", name="time")


def sessions_from(
    name: str, days: list[tuple[pd.Timestamp, pd.Timestamp]], zone: str = NEW_YORK
) -> Sessions:
    """Sessions from ``(open, close)`` pairs (a venue's calendar), dated in ``zone``."""
    days = sorted(days)
    opens = np.array([_utc(o).value for o, _ in days], dtype=np.int64)
    closes = np.array([_utc(c).value for _, c in days], dtype=np.int64)
    dates = pd.DatetimeIndex(
        [_utc(o).tz_convert(zone).tz_localize(None).normalize() for o, _ in days], name="time"
    ).tz_localize("UTC")
    return Sessions(name, dates, opens, closes)


def sessions(calendar: str = DEFAULT_CALENDAR, start: Any = None, end: Any = None) -> Sessions:
    """The regular sessions of ``calendar`` from ``start`` to ``end`` (dates, inclusive).

    Without bounds: from 1998 to the calendar library's default end (a year ahead).
    """
    first = FIRST_YEAR if start is None else min(max(_day(start).year, FIRST_YEAR), _this_year())
    full = _calendar(calendar.upper(), first)
    return full.between(start, end) if start is not None or end is not None else full


#: The first year of every calendar's sessions.
FIRST_YEAR = 1998


def _this_year() -> int:
    return pd.Timestamp.now(tz="UTC").year


@functools.lru_cache(maxsize=8)
def _calendar(name: str, first_year: int = FIRST_YEAR) -> Sessions:
    """Every session of ``name`` from ``first_year`` on. Building a calendar costs in
    proportion to its years (its holiday rules evaluated for each: 0.28 s for XNYS from
    1998, in every fresh process or fold kernel), so a bounded request builds from its
    start's year only; each session is the same whatever the span it was built in. The
    sessions are kept on disk for the day (:mod:`workbench.data.session_cache`)."""
    from workbench.data import session_cache

    kept = session_cache.path_for(name, first_year)
    rows = session_cache.load(kept)
    if rows is None:
        rows = _build(name, first_year)
        session_cache.store(kept, rows)
    dates = pd.DatetimeIndex(rows[0], tz="UTC", name="time")
    return Sessions(name, dates, rows[1].copy(), rows[2].copy())


def _build(name: str, first_year: int) -> np.ndarray:
    """The sessions of ``name`` from ``first_year`` as exchange_calendars gives them today:
    dates, opens and closes (int64 ns, UTC), one row each."""
    try:
        import exchange_calendars as xcals
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ConfigError(
            "exchange_calendars is not installed", hint="pip install exchange_calendars"
        ) from exc
    try:
        with warnings.catch_warnings():  # the library's own pandas deprecations
            warnings.simplefilter("ignore")
            cal = xcals.get_calendar(name, start=f"{first_year}-01-01")
    except Exception as exc:  # the library raises its own InvalidCalendarName
        raise ConfigError(
            f"exchange calendar {name!r} is not known ({exc})",
            hint="use an exchange_calendars code such as XNYS (New York), XLON, XTKS",
        ) from None
    schedule = cal.schedule
    dates = pd.DatetimeIndex(schedule.index).tz_localize(None).tz_localize("UTC")
    opens = pd.DatetimeIndex(schedule["open"]).tz_convert("UTC").as_unit("ns").asi8
    closes = pd.DatetimeIndex(schedule["close"]).tz_convert("UTC").as_unit("ns").asi8
    return np.vstack([dates.as_unit("ns").asi8, opens, closes])


def check_session_rule(session: str) -> str:
    if session not in SESSION_RULES:
        raise ConfigError(
            f"session {session!r} is not known", hint="use regular (exchange hours) or all"
        )
    return session


@dataclass(frozen=True)
class Periods:
    """The period of each bar: its label (ns, -1 for a bar outside every session) and
    the instant it is over (ns)."""

    labels: np.ndarray
    ends: np.ndarray


def periods(
    index: pd.DatetimeIndex,
    timeframe: Any,
    *,
    session: str = "regular",
    calendar: str = DEFAULT_CALENDAR,
    days: bool | None = None,
) -> Periods:
    """Which period of ``timeframe`` each bar start in ``index`` belongs to (module rules).

    ``days``: whether ``index`` holds daily bars (labelled 00:00 UTC of their date, so
    already days; None: judged from its spacing, a lone bar from being at midnight UTC).
    """
    tf = _timeframe(timeframe)
    check_session_rule(session)
    ns = index.tz_convert("UTC").as_unit("ns").asi8 if len(index) else np.zeros(0, np.int64)
    length = tf.length.value
    if session == "all":
        if not tf.intraday:
            if _are_days(index) if days is None else days:
                labels = ns - ns % _ONE_DAY.value
                return Periods(labels, labels + _ONE_DAY.value)
            return _local_days(ns, calendar_zone(calendar))
        labels = ns - ns % length
        return Periods(labels, labels + length)
    cal = sessions(calendar)
    i = np.searchsorted(cal.opens, ns, side="right") - 1
    inside = (i >= 0) & (ns < cal.closes[np.maximum(i, 0)])
    j = np.maximum(i, 0)
    close = cal.closes[j]
    if tf.intraday:
        labels = ns - ns % length
        ends = np.minimum(labels + length, close)
    else:
        labels = cal.dates.as_unit("ns").asi8[j] if len(cal) else ns
        ends = close
    labels = np.where(inside, labels, -1)
    return Periods(labels, ends)


def bars_per_year(timeframe: Any, calendar: str = DEFAULT_CALENDAR, start: Any = None) -> float:
    """Bars of ``timeframe`` a year on ``calendar``'s regular sessions (a year of them from
    ``start``: :func:`session_year`), to annualise a run's returns.

    :func:`sessions_per_year` sessions, an intraday timeframe counting the median number
    of its periods (cut on the clock, as :func:`periods` cuts them) that a session
    touches: 7 hours for XNYS's 09:30-16:00, 24 for ``24/7``, 9 for London's 08:00-16:30.
    """
    tf = _timeframe(timeframe)
    cal = session_year(calendar, start)
    per_year = sessions_per_year(cal)
    if not tf.intraday:
        return per_year
    length = tf.length.value
    touched = (cal.closes - 1 - (cal.opens - cal.opens % length)) // length + 1
    return per_year * float(np.median(touched))


def session_year(calendar: str = DEFAULT_CALENDAR, start: Any = None) -> Sessions:
    """A year of ``calendar``'s sessions from ``start`` (a date; the last year without),
    where its typical session and its weekends show; the whole calendar if it has none."""
    first = _day(start) if start is not None else _day(pd.Timestamp.now(tz="UTC")) - 365 * _ONE_DAY
    cal = sessions(calendar, first, first + 364 * _ONE_DAY)
    return cal if len(cal) else sessions(calendar)


def sessions_per_year(cal: Sessions) -> float:
    """252 sessions a year (:data:`SESSIONS_PER_YEAR`), 365 for a calendar with sessions on
    weekends (``24/7``), as :func:`workbench.data.bars.periods_per_year` counts days."""
    return 365.0 if bool((cal.dates.day_of_week >= 5).any()) else float(SESSIONS_PER_YEAR)


def period_end(
    label: pd.Timestamp,
    timeframe: Any,
    *,
    session: str = "regular",
    calendar: str = DEFAULT_CALENDAR,
    within: Sessions | None = None,
) -> pd.Timestamp | None:
    """When the period labelled ``label`` is over (None: no such regular-session period).

    A daily label is a session date (its close); an intraday label is the start of a
    clock period that overlaps a session (the 09:00 hour holds 09:30-10:00). ``within``
    gives the sessions to use (a venue's calendar) instead of ``calendar``'s. With
    ``session="all"`` a day is over at the next midnight of the calendar's zone, an
    intraday period at ``label + length``.
    """
    tf = _timeframe(timeframe)
    if check_session_rule(session) == "all":
        t = _utc(label).value
        if tf.intraday:
            return pd.Timestamp(t + tf.length.value, tz="UTC")
        ends = _midnights_after(_day(label).as_unit("ns").value, calendar_zone(calendar))
        return pd.Timestamp(int(ends[0]), tz="UTC")
    cal = within if within is not None else sessions(calendar)
    t = _utc(label).value
    if not tf.intraday:
        i = int(np.searchsorted(cal.dates.as_unit("ns").asi8, t))
        if i < len(cal) and cal.dates.as_unit("ns").asi8[i] == t:
            return cal.close_at(i)
        return None
    end = t + tf.length.value
    i = int(np.searchsorted(cal.closes, t, side="right"))  # first session closing after t
    if i >= len(cal) or cal.opens[i] >= end:
        return None
    return pd.Timestamp(min(end, int(cal.closes[i])), tz="UTC")


def session_resample(
    bars: pd.DataFrame,
    timeframe: Any,
    *,
    session: str = "regular",
    calendar: str = DEFAULT_CALENDAR,
    days: bool | None = None,
) -> pd.DataFrame:
    """Bars of ``timeframe`` made from finer bars on the session calendar (module rules).

    Bars outside the sessions are dropped (``session="regular"``); a period with no bar
    gives no bar. Bars already of the timeframe come back unchanged (after the session
    filter). Other columns than OHLCV are dropped (``adj_close`` is kept, last). The
    bars must be a bars frame (:func:`~workbench.data.bars.as_bars`: a tz-aware index,
    every OHLCV column); a naive index is refused, not read as UTC. ``days`` as for
    :func:`periods`.
    """
    tf = _timeframe(timeframe)
    bars = as_bars(bars, name=str(getattr(bars, "attrs", {}).get("symbol", "bars")))
    if bars.empty:
        raise DataError("session_resample: no bars", hint="load some data first")
    index = bars.index
    if not index.is_monotonic_increasing or index.has_duplicates:
        raise DataError(
            "session_resample: the bars are not sorted or have duplicate timestamps",
            hint="clean(bars, CleanPolicy(sort=True, drop_duplicates='first')) first",
        )
    _check_finer(index, tf)
    p = periods(index, tf, session=session, calendar=calendar, days=days)
    inside = p.labels >= 0
    if not inside.all():
        dropped = int((~inside).sum())
        log.debug("session_resample: %d bar(s) outside the %s sessions dropped", dropped, calendar)
    if not inside.any():
        raise DataError(
            f"no bar falls inside a {calendar} session",
            hint="daily bars are labelled 00:00 UTC: resample them with --session all "
            "(session='all' in Python), or load intraday bars",
        )
    frame = bars.iloc[inside]
    how = {c: a for c, a in _AGG.items() if c in frame.columns}
    if "adj_close" in frame.columns:
        how["adj_close"] = "last"
    labels = pd.DatetimeIndex(p.labels[inside], tz="UTC", name=index.name or "time")
    out = frame[list(how)].groupby(labels, sort=True).agg(how)
    out.index = out.index.rename(index.name or "time")
    out = out.astype({c: "float64" for c in how})
    out.attrs = {**bars.attrs, "timeframe": tf.name, "session": session, "calendar": calendar}
    return out


@functools.lru_cache(maxsize=16)
def calendar_zone(calendar: str = DEFAULT_CALENDAR) -> str:
    """The time zone of ``calendar``'s days (``America/New_York`` for ``XNYS``, ``UTC``
    for ``24/7``): where a day of ``session="all"`` begins and ends. Alpaca cuts a
    stock's daily bar at New York midnight (it stamps it 04:00 or 05:00 UTC) and a
    crypto pair's at midnight UTC, so a run on ``XNYS`` or ``24/7`` sees Alpaca's days.
    Those two are :data:`KNOWN_ZONES`; any other is asked of ``exchange_calendars`` over
    a few days, once per process."""
    known = KNOWN_ZONES.get(calendar.upper())
    if known is not None:
        return known
    try:
        import exchange_calendars as xcals

        with warnings.catch_warnings():  # the library's own pandas deprecations
            warnings.simplefilter("ignore")
            start = pd.Timestamp(f"{_this_year()}-01-01")
            cal = xcals.get_calendar(calendar.upper(), start=start, end=start + 10 * _ONE_DAY)
    except Exception as exc:  # the library raises its own InvalidCalendarName
        raise ConfigError(
            f"exchange calendar {calendar!r} is not known ({exc})",
            hint="use an exchange_calendars code such as XNYS (New York), 24/7 (crypto)",
        ) from None
    return str(cal.tz)


def _are_days(index: pd.DatetimeIndex) -> bool:
    if len(index) < 2:
        return len(index) == 1 and index[0] == index[0].normalize()
    return bar_interval(index) >= _ONE_DAY


def local_dates(ns: np.ndarray, zone: str) -> np.ndarray:
    """Each instant's (UTC ns) date on the wall clock of ``zone``, in days since the epoch:
    the day it counts on where days begin at local midnight (:func:`calendar_zone`)."""
    if zone == "UTC":
        return ns // _ONE_DAY.value
    local = pd.DatetimeIndex(ns, tz="UTC").tz_convert(zone).tz_localize(None)
    return local.as_unit("ns").asi8 // _ONE_DAY.value


def _local_days(ns: np.ndarray, zone: str) -> Periods:
    """Each instant's local day in ``zone``: labelled 00:00 UTC of the local date, over at
    the next local midnight."""
    labels = local_dates(ns, zone) * _ONE_DAY.value
    if zone == "UTC":
        return Periods(labels, labels + _ONE_DAY.value)
    return Periods(labels, _midnights_after(labels, zone))


def _midnights_after(dates: np.ndarray | int, zone: str) -> np.ndarray:
    """The local midnight ending each date (ns of 00:00 UTC of the date), in UTC ns."""
    nxt = pd.DatetimeIndex(np.atleast_1d(dates), tz=None) + _ONE_DAY
    local = nxt.tz_localize(zone, ambiguous=False, nonexistent="shift_forward")
    return local.tz_convert("UTC").as_unit("ns").asi8


def _check_finer(index: pd.DatetimeIndex, tf: Timeframe) -> None:
    if len(index) < 2:
        return
    step = bar_interval(index)
    if step > tf.length or (tf.intraday and tf.length % step):
        raise ConfigError(
            f"cannot make {tf.name} bars from bars of {step}",
            hint="resample only to a coarser timeframe that is a multiple of the bars",
        )


def _timeframe(value: Any) -> Timeframe:
    return parse_timeframe(value)


def _utc(t: Any) -> pd.Timestamp:
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _day(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.normalize().tz_localize("UTC")
