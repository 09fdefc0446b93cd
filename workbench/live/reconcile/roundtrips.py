"""Round trips: the entry orders of a trade with every exit order that closed it, as a
trader counts trades.

:func:`~workbench.backtesting.trades.build_trades` gives one row per (entry lot, closing
order). An entry closed by two exit orders (a partial fill's remainder sent again on the
next bar, a bracket's take-profit leg and then its stop, a protective exit after a
strategy's own) is two rows there, and beside the backtest's single exit one of them read
as an extra trade. Likewise an entry whose rest was sent again as a second entry order
(:mod:`~workbench.live.reconcile.resent`) is two lots. Here the rows of one trade's
entry orders are one round trip, as freqtrade counts a trade with several entry and exit
orders and as nautilus counts a position: quantities, fees and P&L summed, prices
averaged by quantity (so ``pnl = sign * (exit - entry) * quantity - fees`` still holds
and the P&L breakdown still adds up), the entry and exit orders listed.

Each leg also gets the bars its fills took (first and last): an order that filled a bar
later than the backtest's (a limit touched later, the rest of a partial fill, an outage)
is told apart from one decided later. And each trade its position episode (per symbol,
flat to flat, a reversal starting the next), the position as nautilus counts it: an entry
and its adds (trades of their own, as the backtest counts them) share one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from workbench.backtesting.trades import empty_trades
from workbench.live.reconcile.livestate import fill_bar
from workbench.live.reconcile.resent import Parts

#: (first, last) bar of an order's fills.
Span = tuple[int, int]
EPS = 1e-9
COLUMNS = ["symbol", "direction", "status", "entry_time", "exit_time", "entry_price",
           "exit_price", "quantity", "pnl", "fees", "entry_order_id", "entry_orders",
           "entry_quantities", "entries", "exit_order_id", "exit_orders", "exit_quantities",
           "exits", "episode", "head"]  # fmt: skip


def fill_spans(
    fills: Iterable[tuple[str, pd.Timestamp]], index: pd.DatetimeIndex, decisions: dict[str, int]
) -> dict[str, Span]:
    """The first and last bar of each order's fills ((order id, time) pairs). A fill is
    never placed before the bar after its order's decision, whatever the venue's clock
    stamped (as the realised slippage is measured)."""
    spans: dict[str, Span] = {}
    for oid, time in fills:
        k = placed_bar(index, time, decisions.get(oid))
        first, last = spans.get(oid, (k, k))
        spans[oid] = (min(first, k), max(last, k))
    return spans


def placed_bar(index: pd.DatetimeIndex, time: Any, decided: Any) -> int:
    """The bar of a fill at ``time`` of an order decided on bar ``decided`` (or None)."""
    k = fill_bar(index, pd.Timestamp(time))
    if decided is not None and not pd.isna(decided):
        k = max(k, min(int(decided) + 1, len(index) - 1))
    return k


def round_trips(
    trades: pd.DataFrame,
    same: Mapping[str, Parts] | None = None,
    episodes: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """One row per trade (and symbol, direction) from :func:`build_trades` rows: per entry
    order, or per group of entry orders ``same`` maps to their first one (the rest of an
    entry sent again, :func:`~workbench.live.reconcile.resent.resent_entries`; an order
    that carries a rest and an add is split between two trades in proportion).

    ``status`` is ``closed`` or ``open`` when every part is, else ``partly closed``;
    ``entry_orders`` and ``exit_orders`` list the orders in fill order,
    ``entry_quantities`` and ``exit_quantities`` what each gave this round trip,
    ``entry_order_id`` and ``exit_order_id`` join them with ``+``; ``episode`` the position
    episode of its first entry order (``episodes``, :func:`position_episodes`; 0 unknown)."""
    if trades.empty:
        numbers = ("entry_price", "exit_price", "quantity", "pnl", "fees", "entries", "exits",
                   "episode")  # fmt: skip
        return empty_trades(COLUMNS, numbers)
    episodes = episodes or {}
    rows: list[dict[str, Any]] = []
    keyed = _parts(trades, same or {})
    for (symbol, direction, head), g in keyed.groupby(
        ["symbol", "direction", "_trade"], sort=False, dropna=False
    ):
        qty = g["quantity"].to_numpy(dtype=float)
        total = float(qty.sum())
        closed = g[g["status"] == "closed"].sort_values("exit_time", kind="stable")
        entries = _by_order(g["entry_order_id"], g["quantity"])
        parts = _by_order(closed["exit_order_id"], closed["quantity"])
        status = (
            "closed" if len(closed) == len(g) else ("open" if closed.empty else "partly closed")
        )
        rows.append(
            {
                "symbol": symbol,
                "direction": direction,
                "status": status,
                "entry_time": g["entry_time"].min(),
                "exit_time": closed["exit_time"].max() if len(closed) else pd.NaT,
                "entry_price": _mean(g["entry_price"], qty, total),
                "exit_price": _mean(g["exit_price"], qty, total),
                "quantity": total,
                "pnl": float(g["pnl"].sum()),
                "fees": float(g["fees"].sum()),
                "entry_order_id": "+".join(entries),
                "entry_orders": tuple(entries),
                "entry_quantities": entries,
                "entries": float(len(entries)),
                "exit_order_id": "+".join(parts),
                "exit_orders": tuple(parts),
                "exit_quantities": parts,
                "exits": float(len(parts)),
                "head": str(head),
            }
        )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["episode"] = [episodes.get(o[0], 0) if o else 0 for o in frame["entry_orders"]]
    for c in ("entry_time", "exit_time"):
        frame[c] = pd.to_datetime(frame[c], utc=True)
    return frame.sort_values("entry_time", kind="stable", ignore_index=True)


def position_episodes(fills: Iterable[tuple[str, str, float, Any]]) -> dict[str, int]:
    """Entry order id -> the position episode it opened or added to, from (order id,
    symbol, signed quantity, time) fills: per symbol, numbered from 1, a new one each time
    the position leaves flat or reverses."""
    out: dict[str, int] = {}
    held: dict[str, float] = {}
    count: dict[str, int] = {}
    for oid, symbol, qty, _ in sorted(fills, key=lambda f: f[3]):
        before = held.get(symbol, 0.0)
        after = before + qty
        if abs(after) <= EPS * max(1.0, abs(before)):
            after = 0.0
        held[symbol] = after
        if after == 0.0 or (abs(after) <= abs(before) and before * after > 0):
            continue  # flat, or reduced: an exit
        if before == 0.0 or before * after < 0:  # opened, or reversed
            count[symbol] = count.get(symbol, 0) + 1
        out.setdefault(str(oid), count[symbol])
    return out


def _parts(trades: pd.DataFrame, same: Mapping[str, Parts]) -> pd.DataFrame:
    """``trades`` with each row's trade (``_trade``), a row of an order in two trades
    made two rows, its quantity, P&L and fees split by the fractions (prices unchanged,
    so each part's P&L is still its price move times its quantity)."""
    ids = trades["entry_order_id"].astype(str)
    split = [(n, parts) for n, oid in enumerate(ids) if len(parts := same.get(oid, ())) > 1]
    whole = trades.assign(_trade=[same[o][0][0] if o in same else o for o in ids])
    if not split:
        return whole
    kept = np.ones(len(whole), dtype=bool)
    kept[[n for n, _ in split]] = False
    pieces = [whole[kept]]
    for n, parts in split:
        row = trades.iloc[[n]]
        for head, share in parts:
            part = row.assign(_trade=head)
            for column in ("quantity", "pnl", "fees"):
                part[column] = part[column] * share
            pieces.append(part)
    return pd.concat(pieces).sort_index(kind="stable")


def _by_order(orders: pd.Series, quantities: pd.Series) -> dict[str, float]:
    """Each order's quantity in this round trip, in the rows' order."""
    parts: dict[str, float] = {}
    for oid, q in zip(orders, quantities, strict=True):
        parts[str(oid)] = parts.get(str(oid), 0.0) + float(q)
    return parts


def _mean(values: pd.Series, qty: np.ndarray, total: float) -> float:
    """Quantity-weighted mean (P&L is linear in it, so the parts still add up)."""
    if total <= 0:
        return float(values.iloc[0])
    return float((values.to_numpy(dtype=float) * qty).sum() / total)


def leg_spans(
    trips: pd.DataFrame, spans: dict[str, Span], decisions: dict[str, int]
) -> pd.DataFrame:
    """Add each leg's decision bar and the first and last bar its orders filled in, over
    every entry order and every exit order (a leg's decision is the earliest of its
    orders' that have one: the first entry's, the first exit's; an entry's, of its
    ``head`` too: the order it was keyed by, one that filled nothing and was sent
    again)."""
    out = trips.copy()
    for leg in ("entry", "exit"):
        legs = [[spans[o] for o in orders if o in spans] for orders in out[f"{leg}_orders"]]
        out[f"{leg}_first"] = pd.array([min(s[0] for s in x) if x else None for x in legs],
                                       dtype="Int64")  # fmt: skip
        out[f"{leg}_last"] = pd.array([max(s[1] for s in x) if x else None for x in legs],
                                      dtype="Int64")  # fmt: skip
        heads = out["head"] if leg == "entry" and "head" in out else [None] * len(out)
        out[f"{leg}_decision"] = pd.array(
            [min((decisions[o] for o in (*orders, head) if o in decisions), default=None)
             for orders, head in zip(out[f"{leg}_orders"], heads, strict=True)],
            dtype="Int64",
        )  # fmt: skip
    return out
