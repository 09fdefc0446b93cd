"""The emulator's time-in-force dates on New York's calendar, across daylight-saving changes."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.emulator.tif import aged


@pytest.mark.parametrize(
    ("sent", "expires"),
    [
        ("2024-01-01 19:00", "2024-03-31 16:15"),  # across March's change (spring forward)
        ("2024-09-01 12:00", "2024-11-30 16:15"),  # across November's (a 25-hour day)
        ("2024-08-10 03:00", "2024-11-08 16:15"),
        ("2024-12-20 15:00", "2025-03-20 16:15"),
        ("2024-05-01 23:30", "2024-07-30 16:15"),  # no change in between
    ],
)
def test_a_gtc_order_ages_90_new_york_days_whatever_the_clock_change(sent, expires):
    now = pd.Timestamp(sent, tz="America/New_York").tz_convert("UTC")
    assert aged(now) == pd.Timestamp(expires, tz="America/New_York")
