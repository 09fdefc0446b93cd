"""Frame columns from objects: each the column pandas infers from the same values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from workbench.backtesting.columns import time_column
from workbench.stamps import utc

NS = 1_700_000_000_123_456_789
STAMPS = [utc(NS + k * 60_000_000_000) for k in range(5)]


def same_as_pandas(values: list) -> None:
    pd.testing.assert_series_equal(time_column(values), pd.Series(values), check_exact=True)


@pytest.mark.parametrize(
    "values",
    [
        STAMPS,
        [*STAMPS, pd.NaT],  # an open trade's exit
        [pd.NaT, *STAMPS[:2], pd.NaT],
        [pd.Timestamp("2024-01-02 15:30:00.000000001", tz="UTC")],
    ],
    ids=["stamps", "then-NaT", "NaT-around", "parsed"],
)
def test_nanosecond_utc_timestamps_are_made_from_their_integers(values: list) -> None:
    """The backtest's case (the fast path): the column pandas infers, to the nanosecond."""
    same_as_pandas(values)
    assert time_column(values).dtype == pd.DatetimeTZDtype("ns", UTC)


@pytest.mark.parametrize(
    "values",
    [
        [],
        [pd.NaT, pd.NaT],
        [s.as_unit("s").floor("s") for s in STAMPS],  # another unit
        [STAMPS[0], STAMPS[1].as_unit("us")],  # units mixed
        [s.tz_convert("America/New_York") for s in STAMPS],  # another zone
        [STAMPS[0], STAMPS[1].tz_convert("Europe/Paris")],  # zones mixed
        [s.tz_localize(None) for s in STAMPS],  # naive
        [STAMPS[0], None],
        [datetime(2024, 1, 2, tzinfo=UTC), STAMPS[0]],
        [pd.Timestamp(NS, tz=timezone(timedelta(0), "UTC"))],  # equal to UTC, not it
        ["2024-01-02", STAMPS[0]],
        [np.datetime64(NS, "ns")],
    ],
)
def test_anything_else_is_inferred_by_pandas(values: list) -> None:
    """The fallback: whatever pandas makes of them (another unit or zone, naive, None,
    datetimes, strings, all NaT)."""
    same_as_pandas(values)


def test_orders_and_fills_frames_hold_the_enums_as_text() -> None:
    """Side, type, time in force and status are taken as the StrEnum members they are:
    pandas stores them as their text, a str column, as ``str(member)`` would be."""
    from workbench import backtest
    from workbench.strategy import Strategy

    class Twice(Strategy):
        name = "twice"

        def on_bar(self, ctx) -> None:  # type: ignore[no-untyped-def]
            if len(ctx.close) in (2, 4):
                ctx.target(quantity=1.0 if len(ctx.close) == 2 else 0.0)
            if len(ctx.close) == 3:
                ctx.order("buy", 1.0, type="limit", limit=1.0, tif="day")

    index = pd.date_range("2024-01-01", periods=6, freq="D", tz="UTC")
    bars = pd.DataFrame(
        {"open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": 1e6}, index=index
    )
    result = backtest(Twice, bars)
    orders, fills = result.orders, result.fills
    for frame, columns in ((orders, ("side", "type", "tif", "status")), (fills, ("side",))):
        for c in columns:
            assert frame[c].dtype == pd.StringDtype(na_value=np.nan), c
            assert all(type(v) is str for v in frame[c]), c
    assert orders[["side", "type", "tif"]].values.tolist() == [
        ["buy", "market", "gtc"], ["buy", "limit", "day"], ["sell", "market", "gtc"]
    ]  # fmt: skip
    assert orders["status"].tolist() == ["filled", "canceled", "filled"]
    assert orders["created_at"].dtype == pd.DatetimeTZDtype("ns", UTC)
    assert fills["time"].dtype == pd.DatetimeTZDtype("ns", UTC)
