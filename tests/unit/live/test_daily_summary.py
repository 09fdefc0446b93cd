"""The daily summary reports the day that ended, as its last bar left it.

The runner calls its end-of-day tasks once the first bar of the next trading day has been
handled: by then that bar's equity and fills are in the state file. The summary of Thursday
must read Thursday's P&L and positions, not the few minutes of Friday.
"""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from workbench.data.days import TradingDays
from workbench.live.notify import daily_summary
from workbench.live.state import StateStore
from workbench.orders import Fill, Side

DAYS = TradingDays.of("XNYS")
#: Wednesday's close, Thursday's bars, then Friday's first bar (a bought share, a drop)
POINTS = [("2024-01-03 21:00", 10_000.0, 0.0), ("2024-01-04 15:00", 10_150.0, 2.0),
          ("2024-01-04 21:00", 10_200.0, 2.0), ("2024-01-05 14:31", 9_000.0, 7.0)]  # fmt: skip
FILLS = [("2024-01-04 15:00", 2.0), ("2024-01-05 14:31", 5.0)]


@pytest.fixture
def state(tmp_path) -> str:
    path = tmp_path / "live.sqlite"
    with StateStore(path) as store:
        store.set_meta(status="running", timeframe="1Min", **DAYS.meta())
        for when, equity, held in POINTS:
            at = pd.Timestamp(when, tz="UTC").value
            store.record_equity(at, equity, equity, {"SPY": held} if held else {})
        for k, (when, quantity) in enumerate(FILLS):
            fill = Fill(
                f"o{k}", "SPY", Side.BUY, quantity, 470.0, 0.0, pd.Timestamp(when, tz="UTC")
            )
            store.record_fill(fill, f"c{k}", f"k{k}")
    return str(path)


def test_the_summary_is_the_day_that_ended_not_the_next_day_s_first_bar(state, caplog) -> None:
    caplog.set_level(logging.INFO, logger="workbench.live.notify")
    thursday = DAYS.start(DAYS.on(pd.Timestamp("2024-01-04").date()))  # as the runner gives it
    daily_summary(state)(thursday)
    (record,) = [r for r in caplog.records if getattr(r, "event", None) == "daily_summary"]
    message = record.getMessage()
    assert message.startswith("daily summary 2024-01-04:")
    assert "P&L today +200.00" in message  # Thursday's: 10,200 against Wednesday's close
    assert "equity 10200.00" in message and "SPY 2" in message  # Friday's fill not yet
    assert record.equity == 10_200.0
