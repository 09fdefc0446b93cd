"""Round-trip trades from fills, matched first-in first-out per symbol.

Each opening order becomes a lot (its partial fills merged at their average price);
closing fills consume the oldest lots first, and every (lot, closing order) pair is
one trade row. Commissions are split pro rata to quantity, so the trades' ``pnl``
(net of fees) plus the open trades' unrealised ``pnl`` adds up to the change in equity.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.backtesting.columns import time_column
from workbench.orders import Fill
from workbench.portfolio import QUANTITY_EPSILON

COLUMNS = [
    "symbol",
    "direction",
    "status",
    "entry_time",
    "exit_time",
    "entry_price",
    "exit_price",
    "quantity",
    "pnl",
    "return",
    "fees",
    "entry_reason",
    "exit_reason",
    "entry_order_id",
    "exit_order_id",
    "bars_held",
]
#: The columns the matching makes (the rest are computed from them).
_ROW_COLUMNS = [c for c in COLUMNS if c not in ("pnl", "return", "bars_held")]
_PRICE_QUANTITY = ("entry_price", "exit_price", "quantity")
#: Where a trade's row keeps the values a later partial fill of its closing order adds to.
_EXIT_TIME, _EXIT_VALUE, _QUANTITY, _FEES = (
    _ROW_COLUMNS.index(c) for c in ("exit_time", "exit_price", "quantity", "fees")
)
_DIRECTION = {1: "long", -1: "short"}


@dataclass(slots=True)
class _Lot:
    direction: int
    quantity: float
    price: float
    fees: float  # entry commission not yet assigned to a trade
    time: pd.Timestamp
    reason: str
    order_id: str
    serial: int  # identifies the lot: one order may open several lots
    touched: bool = False  # partly closed: later fills of its order open a new lot


def build_trades(
    fills: list[Fill],
    last_prices: dict[str, float] | None = None,
    index: pd.DatetimeIndex | None = None,
) -> pd.DataFrame:
    """Trades from ``fills`` (in time order); open lots are marked at ``last_prices``."""
    lots: dict[str, deque[_Lot]] = {}
    # one list per trade, its values in _ROW_COLUMNS order (a partial fill adds to its
    # exit value, quantity and fees); the exit price holds the exit value until the end
    rows: list[list[Any]] = []
    exit_row: dict[tuple[int, str], list[Any]] = {}  # (lot, closing order) -> its trade
    serial = 0
    for fill in fills:
        queue = lots.get(fill.symbol)
        if queue is None:
            queue = lots[fill.symbol] = deque()
        sign = fill.side.sign
        qty = fill.quantity
        fee_per_unit = fill.commission / fill.quantity if fill.quantity else 0.0
        while qty > QUANTITY_EPSILON and queue and queue[0].direction != sign:
            lot = queue[0]
            take = min(qty, lot.quantity)
            entry_fee = lot.fees * take / lot.quantity
            exit_fee = fee_per_unit * take
            key = (lot.serial, fill.order_id)
            row = exit_row.get(key)
            if row is None:
                row = exit_row[key] = [
                    fill.symbol, _DIRECTION[lot.direction], "closed", lot.time, fill.time,
                    lot.price, 0.0, 0.0, 0.0, lot.reason, fill.reason, lot.order_id,
                    fill.order_id,
                ]  # fmt: skip
                rows.append(row)
            row[_EXIT_VALUE] += fill.price * take
            row[_QUANTITY] += take
            row[_FEES] += entry_fee + exit_fee
            row[_EXIT_TIME] = fill.time
            lot.quantity -= take
            lot.fees -= entry_fee
            lot.touched = True
            qty -= take
            if lot.quantity <= QUANTITY_EPSILON:
                queue.popleft()
        if qty > QUANTITY_EPSILON:
            fees = fee_per_unit * qty
            last = queue[-1] if queue else None
            if last is not None and last.order_id == fill.order_id and not last.touched:
                total = last.quantity + qty
                last.price = (last.price * last.quantity + fill.price * qty) / total
                last.quantity = total
                last.fees += fees
            else:
                serial += 1
                queue.append(
                    _Lot(sign, qty, fill.price, fees, fill.time, fill.reason, fill.order_id, serial)
                )
    for row in rows:
        row[_EXIT_VALUE] = row[_EXIT_VALUE] / row[_QUANTITY]  # now the exit price
    for symbol, queue in lots.items():
        mark = (last_prices or {}).get(symbol, np.nan)
        for lot in queue:
            rows.append([
                symbol, _DIRECTION[lot.direction], "open", lot.time, pd.NaT, lot.price, mark,
                lot.quantity, lot.fees, lot.reason, "", lot.order_id, "",
            ])  # fmt: skip
    if not rows:
        return empty_trades(
            COLUMNS, ("entry_price", "exit_price", "quantity", "pnl", "return", "fees", "bars_held")
        )
    # each column inferred as the same values in row dicts would be; numbers as arrays
    values = map(list, zip(*rows, strict=True))  # the rows turned into columns
    columns: dict[str, Any] = dict(zip(_ROW_COLUMNS, values, strict=True))
    for c in ("entry_time", "exit_time"):
        columns[c] = pd.to_datetime(time_column(columns[c]), utc=True)
    entry, exit_, qty = (np.array(columns[c], dtype=float) for c in _PRICE_QUANTITY)
    fees = np.array(columns["fees"], dtype=float)
    direction = np.where(np.array(columns["direction"]) == "long", 1.0, -1.0)
    pnl = (exit_ - entry) * qty * direction - fees
    columns["pnl"] = pnl
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero cost: inf or NaN, as pandas
        columns["return"] = pnl / (entry * qty)
    if index is not None and len(index):
        start = index.searchsorted(columns["entry_time"])
        end = columns["exit_time"].fillna(index[-1])
        columns["bars_held"] = (index.searchsorted(end) - start).astype(float)
    else:
        columns["bars_held"] = np.full(len(rows), np.nan)
    frame = pd.DataFrame({c: columns[c] for c in COLUMNS})
    if not _in_order(frame["entry_time"], frame["exit_time"]):
        frame = frame.sort_values(
            ["entry_time", "exit_time"], kind="stable", na_position="last", ignore_index=True
        )
    return frame


def empty_trades(columns: list[str], numbers: tuple[str, ...]) -> pd.DataFrame:
    """A table of no trades with ``columns``: entry and exit times as UTC datetimes,
    ``numbers`` as floats, the rest objects (the dtypes a table of trades has)."""
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    for c in ("entry_time", "exit_time"):
        frame[c] = pd.Series(dtype="datetime64[ns, UTC]")
    for c in numbers:
        frame[c] = pd.Series(dtype=float)
    return frame


def _in_order(entry: pd.Series, exit_: pd.Series) -> bool:
    """Whether the rows already are sorted by entry then exit time (open trades last among
    equal entries): the sort would keep them as they are."""
    e = entry.array.asi8
    x = np.where(exit_.isna().to_numpy(), np.iinfo(np.int64).max, exit_.array.asi8)
    same = e[1:] == e[:-1]
    return bool((e[1:] >= e[:-1]).all() and (x[1:][same] >= x[:-1][same]).all())
