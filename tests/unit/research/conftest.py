"""Fixtures shared by the research tests."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench import load_bars


@pytest.fixture(scope="module")
def spx() -> pd.DataFrame:
    """Twelve years of the bundled daily S&P 500 sample (a module may define its own span)."""
    return load_bars("sample:SPX", start="2003-01-01", end="2014-12-31")
