"""Round trips from fills (FIFO), with fees split pro rata."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.backtesting.trades import build_trades
from workbench.orders import Fill, Side


def t(day: int) -> pd.Timestamp:
    return pd.Timestamp(f"2024-01-{day:02d}", tz="UTC")


def fill(
    order: str, side: Side, qty: float, price: float, day: int, fee: float = 0.0, reason: str = ""
) -> Fill:
    return Fill(order, "X", side, qty, price, fee, t(day), reason)


def test_one_round_trip() -> None:
    trades = build_trades(
        [fill("1", Side.BUY, 10, 100, 2, 1.0, "IN"), fill("2", Side.SELL, 10, 110, 5, 1.0, "OUT")]
    )
    row = trades.iloc[0]
    assert len(trades) == 1
    assert (row.direction, row.status, row.entry_reason, row.exit_reason) == (
        "long",
        "closed",
        "IN",
        "OUT",
    )
    assert row.entry_time == t(2) and row.exit_time == t(5)
    assert row.pnl == pytest.approx(100 - 2.0)
    assert row.fees == pytest.approx(2.0)
    assert row["return"] == pytest.approx(98 / 1000)


def test_partial_fills_merge_into_one_lot_and_fifo_exits() -> None:
    fills = [
        fill("1", Side.BUY, 4, 100, 2, 0.4),
        fill("1", Side.BUY, 6, 110, 3, 0.6),  # same order: one lot at 106
        fill("2", Side.BUY, 5, 120, 4, 0.5),
        fill("3", Side.SELL, 12, 130, 5, 1.2),
    ]
    trades = build_trades(fills, {"X": 125.0})
    closed = trades[trades.status == "closed"]
    assert list(closed.quantity) == [10, 2]
    assert closed.iloc[0].entry_price == pytest.approx(106.0)
    opened = trades[trades.status == "open"].iloc[0]
    assert opened.quantity == pytest.approx(3) and opened.exit_price == 125.0
    total_fees = sum(f.commission for f in fills)
    assert trades.fees.sum() == pytest.approx(total_fees)
    gross = 10 * (130 - 106) + 2 * (130 - 120) + 3 * (125 - 120)
    assert trades.pnl.sum() == pytest.approx(gross - total_fees)


def test_flip_from_long_to_short_in_one_fill() -> None:
    trades = build_trades(
        [fill("1", Side.BUY, 5, 100, 2), fill("2", Side.SELL, 8, 90, 3)], {"X": 80.0}
    )
    assert list(trades.direction) == ["long", "short"]
    assert trades.iloc[0].pnl == pytest.approx(-50)
    assert trades.iloc[1].quantity == pytest.approx(3) and trades.iloc[1].pnl == pytest.approx(30)


def test_no_fills_gives_typed_empty_frame() -> None:
    trades = build_trades([])
    assert trades.empty and "pnl" in trades.columns
    assert str(trades["entry_time"].dtype) == "datetime64[ns, UTC]"
