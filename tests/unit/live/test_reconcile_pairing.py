"""Pairing live and backtest trades: table-driven, by entry decision bar within a window."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.live.reconcile.compare import pair


def trades(*decisions: int, symbol: str = "SPX", direction: str = "long") -> pd.DataFrame:
    return pd.DataFrame(
        {"symbol": symbol, "direction": direction, "entry_decision": list(decisions)},
        index=pd.RangeIndex(len(decisions)),
    ).astype({"entry_decision": "Int64"})


def labelled(live: pd.DataFrame, bt: pd.DataFrame, window: int) -> list[tuple]:
    """Pairs as (live decision or None, backtest decision or None)."""
    out = []
    for i, j in pair(live, bt, window):
        a = None if i is None else int(live.at[i, "entry_decision"])
        b = None if j is None else int(bt.at[j, "entry_decision"])
        out.append((a, b))
    return sorted(out, key=lambda p: min(x for x in p if x is not None))


CASES = [
    # live decisions, backtest decisions, window, expected pairs
    ((3, 10, 20), (3, 10, 20), 5, [(3, 3), (10, 10), (20, 20)]),
    ((3, 20), (3, 10, 20), 5, [(3, 3), (None, 10), (20, 20)]),  # a missing trade
    ((3, 10, 15, 20), (3, 10, 20), 2, [(3, 3), (10, 10), (15, None), (20, 20)]),  # an extra one
    ((3, 12, 20), (3, 10, 20), 5, [(3, 3), (12, 10), (20, 20)]),  # decided 2 bars late
    ((3, 19, 20), (3, 10, 20), 5, [(3, 3), (None, 10), (19, 20), (20, None)]),
    ((), (4, 9), 5, [(None, 4), (None, 9)]),
    ((4, 9), (), 5, [(4, None), (9, None)]),
    ((5,), (5,), 0, [(5, 5)]),
    ((6,), (5,), 0, [(None, 5), (6, None)]),  # window 0: one bar apart is not the same trade
]


@pytest.mark.parametrize(("live", "bt", "window", "expected"), CASES)
def test_pairs(live, bt, window, expected) -> None:
    assert labelled(trades(*live), trades(*bt), window) == expected


def test_symbols_and_directions_are_never_paired_across() -> None:
    live = pd.concat([trades(3), trades(3, symbol="QQQ")], ignore_index=True)
    bt = pd.concat([trades(3, direction="short"), trades(3, symbol="QQQ")], ignore_index=True)
    pairs = pair(live, bt, 5)
    assert (1, 1) in pairs  # QQQ long with QQQ long
    assert (0, None) in pairs and (None, 0) in pairs  # SPX long vs SPX short: no pair
