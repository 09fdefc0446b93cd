"""The fast UTC timestamp constructor builds exactly what ``pd.Timestamp(ns, tz=UTC)`` does."""

from __future__ import annotations

from datetime import UTC

import pandas as pd
import pytest

from workbench import stamps
from workbench.stamps import utc


@pytest.mark.parametrize(
    "ns",
    [0, 1, -1, -86_400_000_000_001, 1_704_205_800_000_000_000, 1_700_000_000_123_456_789,
     2**62],
)  # fmt: skip
def test_utc_is_the_public_constructor(ns: int) -> None:
    got, want = utc(ns), pd.Timestamp(ns, tz=UTC)
    assert type(got) is pd.Timestamp
    assert got == want and got.value == want.value == ns
    assert got.unit == want.unit == "ns"
    assert got.tzinfo is want.tzinfo
    assert hash(got) == hash(want) and repr(got) == repr(want)
    assert got.isoformat() == want.isoformat()
    assert got + pd.Timedelta(1, "min") == want + pd.Timedelta(1, "min")


def test_the_fast_constructor_is_the_one_chosen_on_this_pandas() -> None:
    """On the pinned pandas the private constructor passes its import check (else every
    order would pay the public one's parsing, a silent slowdown)."""
    assert utc is not stamps._public


def test_a_pandas_whose_private_constructor_differs_falls_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pandas._libs.tslibs.timestamps as ts

    monkeypatch.setattr(ts, "_unpickle_timestamp", lambda v, f, tz, r: pd.Timestamp(v))
    assert stamps._choose() is stamps._public
    monkeypatch.delattr(ts, "_unpickle_timestamp")
    assert stamps._choose() is stamps._public
