"""The dashboard's "today" is the run's trading day: the calendar's local day of the last bar.

A US-equity run's equity at 16:00 New York on Wednesday, 18:00 on Thursday and 19:30 on
Thursday (00:30 UTC on Friday): on New York's clock the last bar is Thursday's, whose day
began at Wednesday's close; on UTC's it would be Friday's, begun at 18:00 Thursday.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from workbench.dashboard import snapshot
from workbench.data.days import TradingDays
from workbench.live.state import StateStore

POINTS = [("2024-01-03 21:00", 10_000.0), ("2024-01-04 23:00", 9_500.0),
          ("2024-01-05 00:30", 9_400.0)]  # fmt: skip


def _state(tmp_path, meta: dict[str, str], calendar: str | None) -> str:
    bundle = tmp_path / "promoted" / "x" / "1"
    bundle.mkdir(parents=True)
    spec = {"risk": {"daily_loss_limit": 0.05}} | ({"calendar": calendar} if calendar else {})
    (bundle / "manifest.json").write_text(json.dumps({"run_spec": spec}))
    path = tmp_path / "live.sqlite"
    with StateStore(path) as store:
        store.set_meta(bundle=str(bundle), status="running", timeframe="1Min", **meta)
        for when, equity in POINTS:
            store.record_equity(pd.Timestamp(when, tz="UTC").value, equity, equity, {})
    return str(path)


@pytest.mark.parametrize(
    ("meta", "calendar", "start"),
    [
        (TradingDays.of("XNYS").meta(), "XNYS", 10_000.0),  # what a run records
        ({}, "XNYS", 10_000.0),  # a state file written before: the bundle's calendar
        (TradingDays.of("24/7").meta(), "24/7", 9_500.0),  # crypto keeps UTC days
        ({}, None, 9_500.0),  # nothing to go by: UTC days, as runs then counted
    ],
    ids=["recorded", "bundle", "24/7", "unknown"],
)
def test_today_is_the_calendar_day_of_the_last_bar(
    tmp_path, meta: dict[str, str], calendar: str | None, start: float
) -> None:
    account = snapshot(_state(tmp_path, meta, calendar))["account"]
    assert account["day_start_equity"] == start
    assert account["pnl_today"] == pytest.approx(9_400.0 - start)
    assert account["daily_loss"] == pytest.approx(1.0 - 9_400.0 / start)
