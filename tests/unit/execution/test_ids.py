"""Client order ids name the decision's UTC instant (why: :mod:`workbench.execution.ids`)."""

from __future__ import annotations

import pandas as pd

from workbench.execution.ids import client_order_id


def ny(clock: str, *, ambiguous: bool = True) -> pd.Timestamp:
    return pd.Timestamp(clock).tz_localize("America/New_York", ambiguous=ambiguous)


def test_the_repeated_hour_when_summer_time_ends_gives_two_ids() -> None:
    first, second = ny("2024-11-03 01:30"), ny("2024-11-03 01:30", ambiguous=False)
    assert second - first == pd.Timedelta(hours=1)  # the same wall-clock time, twice
    ids = [client_order_id("s", "X", t, 0) for t in (first, second)]
    assert ids == ["wb-s-X-20241103T053000-0", "wb-s-X-20241103T063000-0"]


def test_an_evening_decision_carries_its_utc_instant() -> None:
    evening = ny("2024-01-10 19:30")  # past midnight UTC
    assert client_order_id("s", "X", evening, 0) == "wb-s-X-20240111T003000-0"
    assert client_order_id("s", "X", evening.tz_convert("UTC"), 0) == (
        client_order_id("s", "X", evening, 0)
    )
