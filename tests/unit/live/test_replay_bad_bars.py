"""A live replay (``--feed replay:SPEC``) refuses bars out of order, prices at or below zero
and inconsistent OHLC when the feed is made, as the backtest of the same data does."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.data.sources import load_symbols
from workbench.errors import DataError
from workbench.live.replay import ReplayFeed


def bars() -> pd.DataFrame:
    return load_symbols("synthetic:T?bars=60&freq=1D&seed=3")["T"]


def test_a_price_at_or_below_zero_is_refused() -> None:
    frame = bars()
    frame.iloc[30, frame.columns.get_loc("low")] = -1.0  # the venue traded at it
    with pytest.raises(DataError, match=r"^T \(synthetic:.*\): 1 bar\(s\) with a price at or"):
        ReplayFeed({"T": frame})


def test_a_close_above_the_high_is_refused() -> None:
    frame = bars()
    high = frame.iloc[30, frame.columns.get_loc("high")]
    frame.iloc[30, frame.columns.get_loc("close")] = high + 1.0  # the venue filled a stop at it
    with pytest.raises(
        DataError,
        match=r"^T \(synthetic:.*\): 1 bar\(s\) with open, high, low "
        r"and close that disagree, .*: close above high \(correct or remove",
    ):
        ReplayFeed({"T": frame})


@pytest.mark.parametrize(
    ("rows", "what"),
    [([0, 1, 2, 4, 3, 5], "is earlier than the bar before"), ([0, 1, 2, 2, 3], "repeats")],
    ids=["unsorted", "repeated"],
)
def test_bars_out_of_order_are_refused(rows: list[int], what: str) -> None:
    frame = bars().iloc[rows]  # replayed sorted; of a repeated bar the last row was kept
    with pytest.raises(DataError, match=f"T: the timestamps are out of order .* {what}"):
        ReplayFeed({"T": frame}, timeframe="1Day", session="all")


def test_clean_bars_replay_in_order() -> None:
    frame = bars()
    times = [group[0].time for group in ReplayFeed({"T": frame})]
    assert times == list(frame.index)
