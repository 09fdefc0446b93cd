"""Resample bars to a coarser frequency.

``open`` is the first open, ``high`` the max, ``low`` the min, ``close`` the last close and
``volume`` the sum; ``adj_close`` (if present) the last; ``trade_count`` (Alpaca's ``n``)
the sum and ``vwap`` (Alpaca's ``vw``) the volume-weighted mean of the bars' vwaps, over
the bars whose vwap is known (NaN when their volume is 0). Each bar goes to the period holding
its start time, and the result is labelled by the **period's start**, like every bars
frame: weekly bars (``W``, weeks ending Sunday) are labelled Monday 00:00 UTC, monthly bars
(``ME`` or ``MS``) the 1st. Periods with no bars are dropped (a holiday week does not
become a bar of NaN). Periods are UTC calendar periods.

Accepted rules: fixed lengths (``5min``, ``1h``, ``4h``, ``1D``; a multiple of the bar),
weeks (``W``, ``W-FRI``, ``2W``), months, quarters and years (``ME``/``MS``, ``QE``/``QS``,
``YE``/``YS``). A rule finer than the bars is refused: finer bars cannot be made up.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pandas as pd
from pandas.tseries import offsets
from pandas.tseries.frequencies import to_offset

from workbench.data.bars import COLUMNS, as_bars, bar_interval
from workbench.errors import ConfigError, DataError

log = logging.getLogger(__name__)

AGG: dict[str, str] = {
    "open": "first",
    "high": "max",
    "low": "min",
    "close": "last",
    "volume": "sum",
    "adj_close": "last",
    "trade_count": "sum",
}
_END_ANCHORED = (offsets.Week, offsets.MonthEnd, offsets.QuarterEnd, offsets.YearEnd)
_START_ANCHORED = (offsets.MonthBegin, offsets.QuarterBegin, offsets.YearBegin)


def resample(
    bars: pd.DataFrame | Mapping[str, pd.DataFrame],
    rule: str,
    *,
    extra: Mapping[str, str] | None = None,
) -> pd.DataFrame | dict[str, pd.DataFrame]:
    """Bars at the coarser frequency ``rule`` (a dict of frames gives a dict back).

    ``extra`` maps other columns to a pandas aggregation (e.g. ``{"trades": "sum"}``);
    columns not in :data:`AGG` or ``extra`` are dropped.
    """
    if isinstance(bars, Mapping):
        return {sym: _resample_one(frame, rule, extra) for sym, frame in bars.items()}
    return _resample_one(bars, rule, extra)


def _resample_one(bars: pd.DataFrame, rule: str, extra: Mapping[str, str] | None) -> pd.DataFrame:
    frame = as_bars(bars, name=str(bars.attrs.get("symbol", "bars")))
    if frame.empty:
        raise DataError("resample: no bars", hint="load some data first")
    if not frame.index.is_monotonic_increasing or frame.index.has_duplicates:
        raise DataError(
            "resample: the bars are not sorted or have duplicate timestamps",
            hint="clean(bars, CleanPolicy(sort=True, drop_duplicates='first')) first",
        )
    offset = _offset(rule)
    _check_coarser(frame.index, offset, rule)
    how = {c: a for c, a in AGG.items() if c in frame.columns}
    how.update({c: a for c, a in (extra or {}).items() if c in frame.columns})
    vwap = "vwap" in frame.columns and "vwap" not in how
    if vwap:  # volume-weighted: sum price x volume and the volume it covers
        known = frame["vwap"].notna().to_numpy()
        frame = frame.assign(
            _pv=(frame["vwap"] * frame["volume"]).where(known, 0.0),
            _pv_volume=frame["volume"].where(known, 0.0),
        )
        how.update(_pv="sum", _pv_volume="sum")
    dropped = [c for c in frame.columns if c not in how and c != "vwap"]
    if dropped:
        log.debug("resample: dropping columns %s", dropped)
    if isinstance(offset, _END_ANCHORED):
        # pandas labels these by the period's end date; relabel by the period's start.
        grouper = frame.resample(offset, closed="right", label="right")
    else:
        grouper = frame.resample(offset, closed="left", label="left")
    out = grouper.agg(how)
    counts = grouper.size()
    out = out[counts.to_numpy() > 0]
    if vwap:
        pv, covered = out.pop("_pv"), out.pop("_pv_volume")
        out["vwap"] = (pv / covered).where(covered > 0)
    if isinstance(offset, _END_ANCHORED):
        out.index = out.index - offset + pd.Timedelta(days=1)
    out.index = out.index.rename(frame.index.name)
    out = out.astype({c: "float64" for c in COLUMNS})
    out.attrs = dict(bars.attrs)
    return out


def _offset(rule: str) -> offsets.BaseOffset:
    try:
        offset = to_offset(rule)
    except (TypeError, ValueError):
        raise ConfigError(
            f"resample rule {rule!r} is not a frequency",
            hint="use e.g. 5min, 1h, 1D, W, ME, QE, YE",
        ) from None
    fixed = isinstance(offset, offsets.Tick | offsets.Day)
    if not (fixed or isinstance(offset, _END_ANCHORED + _START_ANCHORED)) or offset.n < 1:
        raise ConfigError(
            f"resample rule {rule!r} is not supported",
            hint="use a fixed length (5min, 1h, 1D), W, ME/MS, QE/QS or YE/YS",
        )
    if isinstance(offset, offsets.Week) and offset.weekday is None:
        raise ConfigError(f"resample rule {rule!r}: use W or W-DAY", hint="e.g. W or W-FRI")
    return offset


def _check_coarser(index: pd.DatetimeIndex, offset: offsets.BaseOffset, rule: str) -> None:
    if len(index) < 2:
        return
    step = bar_interval(index)
    if isinstance(offset, offsets.Tick | offsets.Day):
        length = pd.Timedelta(offset)
    else:
        ref = pd.Timestamp("2001-01-01")
        length = ((ref + 12 * offset) - ref) / 12
    if length < step:
        raise ConfigError(
            f"resample rule {rule!r} ({length}) is finer than the bars ({step})",
            hint="resample only to coarser frequencies; finer bars cannot be made from coarser",
        )
    if isinstance(offset, offsets.Tick | offsets.Day) and length % step:
        raise ConfigError(
            f"resample rule {rule!r} is not a multiple of the bar length ({step})",
            hint=f"use a multiple of {step}, so that no bar straddles two periods",
        )
