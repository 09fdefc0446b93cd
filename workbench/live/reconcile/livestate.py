"""The live side of a reconciliation, read from the run's state file.

Besides the bars, orders, fills and equity snapshots as stored, this finds fills the
runner never recorded: the orders table says an order filled but the fills table does
not have it (a lost row), or the broker's positions moved with no recorded fill (a
trade update lost on the stream). Each becomes a fill marked as dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import DataError
from workbench.live.reconcile.replaced import plan_cancels
from workbench.live.state import StateStore
from workbench.orders import Fill, Side
from workbench.sim.costs import Commission

EPS = 1e-9


@dataclass
class LiveRun:
    meta: dict[str, str]
    bars: dict[str, pd.DataFrame]
    orders: pd.DataFrame
    fills: pd.DataFrame
    equity: pd.DataFrame
    events: pd.DataFrame
    canceled_ns: dict[str, int]  # order id -> time of the written plan that canceled it


def read_state(path: Path, until: pd.Timestamp | None) -> LiveRun:
    with StateStore.reader(path) as store:
        keys = ("bundle", "strategy", "timeframe", "broker", "feed", "started_at", "status",
                "pennies", "scale", "day_zone", "daily_bars")  # fmt: skip
        stored = store.meta()
        meta = {k: stored[k] for k in keys if k in stored}
        bars, orders, fills = store.bars(), store.orders(), store.fills()
        equity, events = store.equity_curve(), store.events()
        plans = store.plans()
    # the decision bar of each order: from the written plans (orders.decision_ns when set)
    decided = {
        step["client_order_id"]: plan.time_ns
        for plan in plans
        for step in plan.intents
        if step.get("kind") == "submit" and step.get("client_order_id")
    }
    orders["decision_ns"] = pd.array(
        [int(d) if pd.notna(d) else decided.get(c) for d, c in
         zip(orders["decision_ns"], orders["client_order_id"], strict=True)],
        dtype="Int64",
    )  # fmt: skip
    if not bars or equity.empty:
        raise DataError(f"{path}: the run has not seen a bar yet", hint="reconcile after it has")
    if until is not None:
        all_times = pd.DatetimeIndex(sorted({t for f in bars.values() for t in f.index}))
        later = all_times[all_times > until]
        bars = {s: f.loc[:until] for s, f in bars.items() if not f.loc[:until].empty}
        equity = equity.loc[:until]
        if not bars or equity.empty:
            raise DataError(
                f"{path}: the run has no bar up to --until {until} (its first is {all_times[0]})",
                hint="give a later --until, or none for the whole run",
            )
        last = max(f.index[-1] for f in bars.values()) if bars else until
        # the run went on: an order decided on the window's last bar fills after the window
        # (the backtest of the window cannot fill it either), so it belongs to the next one
        cut = last.value if len(later) else until.value + 1
        orders = orders[orders["decision_ns"].fillna(0) < cut]
        fill_times = pd.to_datetime(fills["time"], utc=True, format="ISO8601")
        fills = fills[fill_times < later[0]] if len(later) else fills
    canceled = plan_cancels((plan.time_ns, plan.intents) for plan in plans)
    return LiveRun(meta, bars, orders.reset_index(drop=True), fills.reset_index(drop=True),
                   equity, events, canceled)  # fmt: skip


def bar_index(bars: dict[str, pd.DataFrame]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(sorted({t for f in bars.values() for t in f.index}))


def fill_bar(index: pd.DatetimeIndex, time: pd.Timestamp) -> int:
    """The bar a fill happened in: the last bar starting at or before its time."""
    return max(int(index.searchsorted(time, side="right")) - 1, 0)


def decision_bar(index: pd.DatetimeIndex, time_ns: Any) -> int:
    return int(index.searchsorted(pd.Timestamp(int(time_ns), tz="UTC")))


def live_fills(live: LiveRun, commission: Commission) -> tuple[list[Fill], dict[str, str]]:
    """The live fills as Fill objects, plus fills the runner never recorded (order id -> why).

    A fill is missing when the orders table says more filled than the fills table holds
    (its price follows from the order's average), or when the broker's positions moved
    without a recorded fill for two snapshots running (priced at the fill bar's open:
    flagged, never compared).
    """
    index = bar_index(live.bars)
    fills: list[Fill] = []
    recorded: dict[str, tuple[float, float]] = {}
    for row in live.fills.itertuples(index=False):
        time = pd.Timestamp(row.time).tz_convert("UTC")
        fills.append(Fill(row.order_id, row.symbol, Side(row.side), float(row.quantity),
                          float(row.price), float(row.commission), time,
                          row.reason or ""))  # fmt: skip
        q, n = recorded.get(row.order_id, (0.0, 0.0))
        recorded[row.order_id] = (q + float(row.quantity), n + float(row.quantity * row.price))
    dropped: dict[str, str] = {}

    def synthesize(order: Any, qty: float, price: float | None, why: str) -> None:
        at = min(decision_bar(index, order.decision_ns) + 1, len(index) - 1)
        if price is None:  # the fill bar's open: the market order's reference price
            frame = live.bars[order.symbol]
            price = float(
                frame["open"].iloc[min(frame.index.searchsorted(index[at]), len(frame) - 1)]
            )
        oid = order.order_id or order.client_order_id
        fee = commission.total(qty, qty * price)
        fills.append(Fill(oid, order.symbol, Side(order.side), qty, price, fee, index[at],
                          order.reason or ""))  # fmt: skip
        dropped[oid] = why
        q, n = recorded.get(oid, (0.0, 0.0))
        recorded[oid] = (q + qty, n + qty * price)

    planned = live.orders[live.orders["decision_ns"].notna()]
    for order in planned.itertuples(index=False):
        q, n = recorded.get(order.order_id, (0.0, 0.0))
        missing = float(order.filled_quantity or 0.0) - q
        if missing > EPS * max(1.0, q):
            price = (float(order.average_price) * float(order.filled_quantity) - n) / missing
            synthesize(order, missing, price, "filled at the broker, fill not recorded")
    for symbol in live.bars:
        for _ in range(len(planned)):  # each pass explains the first unexplained move
            gap = position_gap(live.equity, fills, symbol)
            if gap is None:
                break
            time, qty = gap
            side = "buy" if qty > 0 else "sell"
            mine = planned[(planned["symbol"] == symbol) & (planned["side"] == side)
                           & (planned["decision_ns"] < time.value)]  # fmt: skip
            if mine.empty:
                break
            synthesize(next(mine.iloc[::-1].itertuples(index=False)), abs(qty), None,
                       "the broker's position moved without a recorded fill")  # fmt: skip
    fills.sort(key=lambda f: f.time)
    return fills, dropped


def position_gap(
    equity: pd.DataFrame, fills: list[Fill], symbol: str
) -> tuple[pd.Timestamp, float] | None:
    """The first snapshot whose position differs from the recorded fills (and the next too)."""
    held = equity["positions"].map(lambda p: float(json.loads(p).get(symbol, 0.0))).to_numpy()
    mine = sorted((f.time.value, f.side.sign * f.quantity) for f in fills if f.symbol == symbol)
    times = equity.index.as_unit("ns").asi8
    cum = np.concatenate([[0.0], np.cumsum([q for _, q in mine])])
    fill_ns = np.array([t for t, _ in mine], dtype=np.int64)
    # fills up to the next snapshot belong to this one (a real broker fills during the bar)
    nxt = np.append(times[1:], np.iinfo(np.int64).max)
    expected = cum[np.searchsorted(fill_ns, nxt, side="left")]
    off = np.abs(held - expected) > 1e-6 * np.maximum(1.0, np.abs(expected))
    persistent = off & np.append(off[1:], True)
    if not persistent.any():
        return None
    k = int(np.argmax(persistent))
    return equity.index[k], float(held[k] - expected[k])
