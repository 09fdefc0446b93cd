"""The walk-forward report's pieces that are not drawing: the times it shades."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.data.spec import to_utc


@pytest.mark.parametrize(
    "text",
    ["2022-01-03T17:30:00+00:00", "2022-01-03T12:30:00-05:00", "2022-01-03 17:30:00", "2022-01-03"],
)
def test_a_summary_time_is_shaded_where_pandas_puts_it(text):
    """As ``pd.to_datetime(text, utc=True)`` reads it (a time without a zone is UTC): the
    stitched-equity figure reads each test window's ends with ``to_utc``."""
    expected = pd.to_datetime(text, utc=True).tz_localize(None)
    got = to_utc(text, name="test_first").tz_localize(None)
    assert got == expected
    assert got.tz is None
