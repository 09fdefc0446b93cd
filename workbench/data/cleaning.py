"""Explicit cleaning: :func:`clean` changes only what a :class:`CleanPolicy` asks for.

Nothing is fixed silently: every change is listed in the :class:`CleanReport` (what, how
many rows, which timestamps) and logged; the default policy changes nothing. Steps run in
this order, each on the result of the one before:

1. ``sort``: sort rows by time (stable, so duplicates keep their file order);
2. ``drop_duplicates``: keep the ``"first"`` or ``"last"`` row of each repeated timestamp;
3. ``ffill_missing=N``: fill rows with missing OHLCV values, in runs of at most ``N``
   consecutive such rows (longer runs are left alone: an outage should stay visible).
   A missing close is the previous close; a missing open is the previous bar's close;
   a missing high/low is the max/min of the row's open and close; a missing volume is 0
   (a fully missing bar becomes a flat bar at the previous close with no volume);
4. ``drop_missing``: drop rows still holding missing values;
5. ``drop_invalid``: drop rows with a price <= 0, a negative volume, or inconsistent
   OHLC (high below open/close, low above open/close, high < low).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from workbench.data.bars import COLUMNS, inconsistent_ohlc
from workbench.errors import ConfigError, DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CleanPolicy:
    """What :func:`clean` may change; every field off by default."""

    sort: bool = False
    drop_duplicates: Literal["first", "last"] | None = None
    ffill_missing: int = 0
    drop_missing: bool = False
    drop_invalid: bool = False

    def __post_init__(self) -> None:
        if self.drop_duplicates not in (None, "first", "last"):
            raise ConfigError(
                f"drop_duplicates={self.drop_duplicates!r}", hint="use 'first', 'last' or None"
            )
        if not isinstance(self.ffill_missing, int) or self.ffill_missing < 0:
            raise ConfigError(
                f"ffill_missing={self.ffill_missing!r}", hint="the longest run to fill, e.g. 3"
            )


@dataclass(frozen=True)
class Change:
    """One thing :func:`clean` did."""

    action: str
    rows: int
    timestamps: tuple[pd.Timestamp, ...]
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "rows": self.rows,
            "message": self.message,
            "timestamps": [t.isoformat() for t in self.timestamps],
        }


@dataclass
class CleanReport:
    """Every change :func:`clean` made, in the order it made them."""

    rows_before: int
    rows_after: int = 0
    changes: list[Change] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_before": self.rows_before,
            "rows_after": self.rows_after,
            "changes": [c.to_dict() for c in self.changes],
        }

    def __str__(self) -> str:
        head = f"clean: {self.rows_before} -> {self.rows_after} rows"
        if not self.changes:
            return head + ", no changes"
        lines = [head]
        for c in self.changes:
            shown = ", ".join(str(t) for t in c.timestamps[:3])
            more = " ..." if len(c.timestamps) > 3 else ""
            lines.append(f"  {c.action:<16} {c.rows:>6}  {c.message}: {shown}{more}")
        return "\n".join(lines)


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start positions and lengths of the runs of True in a boolean array."""
    flags = np.concatenate(([0], np.asarray(mask, dtype=np.int8), [0]))
    edges = np.flatnonzero(np.diff(flags))
    starts, stops = edges[0::2], edges[1::2]
    return starts, stops - starts


def invalid_rows(values: pd.DataFrame) -> dict[str, np.ndarray]:
    """Boolean masks of rows failing each value rule (NaN compares as valid here).

    ``ohlc`` is the rule every trading path refuses (:func:`inconsistent_ohlc`, with its
    relative tolerance of 1e-9 for rounding in adjusted data): what is dropped here is what
    a backtest would refuse, no more and no less.
    """
    o, h, lo, c, v = (values[k].to_numpy(np.float64) for k in COLUMNS)
    ohlc = inconsistent_ohlc(o, h, lo, c)
    with np.errstate(invalid="ignore"):
        non_positive = np.zeros(len(values), dtype=bool)
        for col in (o, h, lo, c):
            non_positive |= col <= 0
        negative_volume = v < 0
    return {"non_positive": non_positive, "ohlc": ohlc, "negative_volume": negative_volume}


def clean(
    bars: pd.DataFrame, policy: CleanPolicy | None = None
) -> tuple[pd.DataFrame, CleanReport]:
    """Apply ``policy`` to a copy of ``bars``; return it with the report of every change."""
    policy = policy or CleanPolicy()
    missing = [c for c in COLUMNS if c not in bars.columns]
    if missing:
        raise DataError(
            f"clean: missing column(s) {', '.join(missing)}",
            hint=f"a bars frame needs columns {', '.join(COLUMNS)}",
        )
    frame = bars.copy()
    report = CleanReport(rows_before=len(frame))

    def record(action: str, stamps: pd.Index, message: str) -> None:
        if len(stamps):
            change = Change(action, len(stamps), tuple(stamps), message)
            report.changes.append(change)
            log.info("clean %s: %s %d rows", bars.attrs.get("symbol", ""), action, len(stamps))

    if policy.sort and not frame.index.is_monotonic_increasing:
        order = np.argsort(frame.index.asi8, kind="stable")
        moved = order != np.arange(len(order))
        record("sort", frame.index[order][moved], "rows moved into time order")
        frame = frame.iloc[order]
    if policy.drop_duplicates:
        dup = frame.index.duplicated(keep=policy.drop_duplicates)
        record("drop_duplicates", frame.index[dup], f"kept the {policy.drop_duplicates} row")
        frame = frame[~dup]
    if policy.ffill_missing:
        frame = _ffill(frame, policy.ffill_missing, record)
    if policy.drop_missing:
        nan = frame[list(COLUMNS)].isna().any(axis=1).to_numpy()
        record("drop_missing", frame.index[nan], "rows with missing values dropped")
        frame = frame[~nan]
    if policy.drop_invalid:
        masks = invalid_rows(frame)
        bad = masks["non_positive"] | masks["ohlc"] | masks["negative_volume"]
        record("drop_invalid", frame.index[bad], "rows with bad prices, volume or OHLC dropped")
        frame = frame[~bad]
    frame.attrs = dict(bars.attrs)
    report.rows_after = len(frame)
    return frame, report


def _ffill(frame: pd.DataFrame, limit: int, record: Any) -> pd.DataFrame:
    cols = frame[list(COLUMNS)]
    incomplete = cols.isna().any(axis=1).to_numpy()
    if not incomplete.any():
        return frame
    starts, lengths = runs(incomplete)
    fill = np.zeros(len(frame), dtype=bool)
    for start, length in zip(starts, lengths, strict=True):
        if length <= limit and start > 0:
            fill[start : start + length] = True
    skipped = incomplete & ~fill
    record(
        "ffill_skipped",
        frame.index[skipped],
        f"left as they are (run longer than {limit} bars, or no earlier bar)",
    )
    if not fill.any():
        return frame
    close = cols["close"].ffill()
    prev_close = close.shift(1)
    new = cols.copy()
    new["close"] = cols["close"].fillna(close)
    new["open"] = cols["open"].fillna(prev_close)
    new["high"] = cols["high"].fillna(new[["open", "close"]].max(axis=1))
    new["low"] = cols["low"].fillna(new[["open", "close"]].min(axis=1))
    new["volume"] = cols["volume"].fillna(0.0)
    new["high"] = new[["open", "high", "close"]].max(axis=1)
    new["low"] = new[["open", "low", "close"]].min(axis=1)
    out = frame.copy()
    for col in COLUMNS:
        out.loc[fill, col] = new.loc[fill, col].to_numpy()
    record("ffill_missing", frame.index[fill], "missing values filled from the previous close")
    return out
