"""Frame columns from Python objects: what pandas infers from them, made more cheaply where
the objects are the ones a backtest records.

A run of 1M minute bars records ~6,400 orders and as many fills, each with one or two
timestamps: pandas converts a list of ``pd.Timestamp`` one object at a time (~0.35 us
each, checking every time zone), where their nanoseconds make the same column at a
third of the cost.
"""

from __future__ import annotations

from datetime import UTC
from operator import attrgetter
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["time_column"]

_NAT_TYPE = type(pd.NaT)
_VALUE = attrgetter("value")
_TZINFO = attrgetter("tzinfo")
_UNIT = attrgetter("unit")


def time_column(values: list[Any]) -> pd.Series:
    """``pd.Series(values)``: the same dtype and values. Made from their nanoseconds when
    every value is a ``pd.Timestamp`` in nanoseconds and UTC, or NaT (every time a
    backtest records), with at least one timestamp; anything else is pandas' to infer."""
    if not _utc_nanoseconds(values):
        return pd.Series(values)
    ns = np.fromiter(map(_VALUE, values), np.int64, len(values))  # NaT's value is NaT's
    return pd.Series(pd.DatetimeIndex(ns.view("M8[ns]")).tz_localize(UTC))


def _utc_nanoseconds(values: list[Any]) -> bool:
    """Whether ``values`` are nanosecond timestamps in UTC (the one ``datetime.UTC``: an
    equal zone of another kind may be inferred otherwise) or NaT, at least one not NaT."""
    kinds = set(map(type, values))
    if kinds == {pd.Timestamp}:
        stamps = values
    elif kinds == {pd.Timestamp, _NAT_TYPE}:
        stamps = [v for v in values if v is not pd.NaT]
    else:
        return False
    return set(map(_UNIT, stamps)) == {"ns"} and all(tz is UTC for tz in map(_TZINFO, stamps))
