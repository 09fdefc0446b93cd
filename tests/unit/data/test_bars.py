"""The bars format's helpers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.data.bars import epoch_ns


def test_epoch_ns_is_a_view_in_nanoseconds_and_converted_otherwise() -> None:
    """Nanosecond indexes give their own values (no copy of a 1M-bar index); other units
    are converted to the same nanoseconds."""
    ns = pd.date_range("2024-03-01 14:30", periods=5, freq="1min", tz="UTC").as_unit("ns")
    out = epoch_ns(ns)
    assert np.shares_memory(out, ns.asi8)
    assert out.tolist() == [t.value for t in ns]
    for unit in ("s", "ms", "us"):
        assert epoch_ns(ns.as_unit(unit)).tolist() == out.tolist()
    eastern = ns.tz_convert("America/New_York")
    assert epoch_ns(eastern).tolist() == out.tolist()
