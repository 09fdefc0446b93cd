"""Small hand-made bars for the data tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

MakeBars = Callable[..., pd.DataFrame]


def bars_on(index: pd.DatetimeIndex, symbol: str = "TEST") -> pd.DataFrame:
    """Clean, consistent bars on ``index``: rising closes, high/low one point outside."""
    n = len(index)
    open_ = 100.0 + np.arange(n, dtype=float)
    close = open_ + 0.5
    frame = pd.DataFrame(
        {
            "open": open_,
            "high": close + 1.0,
            "low": open_ - 1.0,
            "close": close,
            "volume": np.full(n, 1000.0),
        },
        index=index.rename("time"),
    )
    frame.attrs = {"symbol": symbol}
    return frame


@pytest.fixture(name="bars_on")
def bars_on_fixture() -> Callable[..., pd.DataFrame]:
    """:func:`bars_on` as a fixture (test modules cannot import this conftest by name)."""
    return bars_on


@pytest.fixture
def make_bars() -> MakeBars:
    """``make_bars(n=8, start="2024-01-02", freq="B")``: weekday bars, all XNYS sessions."""

    def make(
        n: int = 8, start: str = "2024-01-02", freq: str = "B", tz: str = "UTC"
    ) -> pd.DataFrame:
        return bars_on(pd.date_range(start, periods=n, freq=freq, tz=tz))

    return make
