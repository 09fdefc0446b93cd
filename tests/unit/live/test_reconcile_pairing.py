"""Pairing live and backtest trades: table-driven, by entry decision bar within a window."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.backtesting.trades import build_trades
from workbench.live.reconcile.compare import SideTrades, annotate, compare, pair
from workbench.live.reconcile.model import Tolerances
from workbench.live.reconcile.roundtrips import fill_spans, round_trips
from workbench.orders import Fill, Side
from workbench.sim.costs import Commission


def trades(*decisions: int | None, symbol: str = "SPX", direction: str = "long") -> pd.DataFrame:
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


def test_a_trade_whose_entry_decision_is_unknown_is_paired_with_nothing() -> None:
    """No decision bar places it (its entry orders have no recorded decision): it stands
    alone, the other trades pair as before."""
    live = trades(3, None)
    bt = pd.concat([trades(3, 10), trades(None, symbol="QQQ")], ignore_index=True)
    assert sorted(pair(live, bt, 5), key=str) == sorted(
        [(0, 0), (1, None), (None, 1), (None, 2)], key=str
    )


def test_an_unknown_entry_decision_is_reported_as_a_difference_with_why() -> None:
    index = pd.date_range("2024-01-01", periods=10, freq="D", tz="UTC")
    bars = {"SPX": pd.DataFrame({"open": 100.0, "close": 100.0}, index=index)}

    def side(decisions: dict[str, int]) -> SideTrades:
        fills = [Fill(o, "SPX", Side(s), 30.0, 100.0, 0.0, index[bar])
                 for o, s, bar in (("e", "buy", 2), ("x", "sell", 5))]  # fmt: skip
        trips = round_trips(build_trades(fills, {"SPX": 100.0}, index))
        spans = fill_spans(((f.order_id, f.time) for f in fills), index, decisions)
        equity = pd.Series(10_000.0, index=index)
        return SideTrades(annotate(trips, decisions, spans, index, equity), bars, index)

    live, bt = side({"x": 4}), side({"e": 1, "x": 4})  # live: its entry's decision unknown
    _, diffs = compare(
        live, bt, pair(live.trades, bt.trades, 5), {}, {}, Commission(), Tolerances()
    )
    assert [d["category"] for d in diffs] == ["extra", "missing"]
    assert diffs[0]["detail"].endswith(
        "is not in the backtest: its entry decision is unknown (no order of its entry has a "
        "recorded decision), so it was not paired"
    )
    assert diffs[0]["decision_bar"] is None and diffs[1]["decision_bar"] == 1
