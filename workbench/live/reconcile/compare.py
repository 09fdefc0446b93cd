"""Pairing the trades of both sides and naming each difference (categories: package docstring)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from workbench.live.reconcile.lone import Decided, why_lone
from workbench.live.reconcile.model import RISK_KINDS, Tolerances
from workbench.live.reconcile.resent import ShortOrder
from workbench.live.reconcile.roundtrips import Span, leg_spans
from workbench.sim.costs import Commission


def annotate(
    trips: pd.DataFrame,
    decisions: dict[str, int],
    spans: dict[str, Span],
    index: pd.DatetimeIndex,
    equity: pd.Series,
) -> pd.DataFrame:
    """Add decision and fill bars per leg and the size as a fraction of equity."""
    out = leg_spans(trips, spans, decisions)
    eq = equity.reindex(index).to_numpy()
    at = out["entry_decision"].fillna(0).astype(int).clip(0, len(index) - 1)
    out["decision_equity"] = eq[at]
    out["size"] = out["quantity"] * out["entry_price"] / eq[at]
    return out


def pair(live: pd.DataFrame, bt: pd.DataFrame, window: int) -> list[tuple[int | None, int | None]]:
    """Pairs of row numbers (live, backtest), per symbol and direction, in decision order.

    A trade whose entry decision is unknown (none of its entry orders has a recorded
    decision: placed outside the runner's plans) is paired with nothing: it is reported
    missing or extra (:func:`lone_detail` says why), as no decision bar places it."""
    pairs: list[tuple[int | None, int | None]] = []
    unknown = live["entry_decision"].isna(), bt["entry_decision"].isna()
    pairs += [(x, None) for x in live.index[unknown[0].to_numpy()]]
    pairs += [(None, y) for y in bt.index[unknown[1].to_numpy()]]
    live, bt = live[~unknown[0]], bt[~unknown[1]]
    keys = set(zip(live["symbol"], live["direction"], strict=True))
    keys |= set(zip(bt["symbol"], bt["direction"], strict=True))
    for sym, direction in sorted(keys):
        a = live[(live["symbol"] == sym) & (live["direction"] == direction)]
        b = bt[(bt["symbol"] == sym) & (bt["direction"] == direction)]
        a = a.sort_values("entry_decision", kind="stable")
        b = b.sort_values("entry_decision", kind="stable")
        ia, ib = list(a.index), list(b.index)
        i = j = 0
        while i < len(ia) and j < len(ib):
            da, db = a.at[ia[i], "entry_decision"], b.at[ib[j], "entry_decision"]
            if abs(int(da) - int(db)) <= window:
                pairs.append((ia[i], ib[j]))
                i, j = i + 1, j + 1
            elif da < db:
                pairs.append((ia[i], None))
                i += 1
            else:
                pairs.append((None, ib[j]))
                j += 1
        pairs += [(x, None) for x in ia[i:]] + [(None, y) for y in ib[j:]]
    return pairs


def _bps(live: float, bt: float, sign: float) -> float:
    """``live`` against ``bt`` in basis points, positive when worse for the trader."""
    if not (np.isfinite(live) and np.isfinite(bt)) or bt == 0:
        return float("nan")
    return sign * (live - bt) / bt * 1e4


class SideTrades:
    """One side's trades with what the comparison needs about their orders and fill bars
    (``short``: its orders that ended with part of their quantity filled; ``decided``:
    its orders with a decision bar, :mod:`~workbench.live.reconcile.lone`; ``replaced``:
    a replacement of an order that filled nothing -> that order,
    :mod:`~workbench.live.reconcile.replaced`)."""

    def __init__(
        self,
        trades: pd.DataFrame,
        bars: dict[str, pd.DataFrame],
        index: pd.DatetimeIndex,
        short: Mapping[str, ShortOrder] | None = None,
        decided: list[Decided] | None = None,
        replaced: Mapping[str, str] | None = None,
    ) -> None:
        self.trades = trades
        self.bars = bars
        self.index = index
        self.short = dict(short or {})
        self.decided = list(decided or [])
        self.replaced = dict(replaced or {})

    def sent_again(self, t: pd.Series, leg: str) -> str:
        """The leg's orders that replaced one that filled nothing, in words ("" none)."""
        return ", ".join(f"{o} replaced {self.replaced[o]}, which filled nothing"
                         for o in _orders(t, leg) if o in self.replaced)  # fmt: skip

    def partial(self, t: pd.Series, leg: str) -> str:
        """How the trade's leg ended short (its orders that filled part of their quantity,
        the last one among them: its rest never came), or "" when it did not."""
        orders = _orders(t, leg)
        if not orders or orders[-1] not in self.short:
            return ""
        return ", ".join(f"order {o} {self.short[o].describe()}" for o in orders
                         if o in self.short)  # fmt: skip

    def slip_bps(self, row: pd.Series, leg: str, sign: float) -> float:
        """The leg's price against the open of the first bar it filled in (realised slippage)."""
        first = row[f"{leg}_first"]
        if pd.isna(first):
            return float("nan")
        frame = self.bars[row["symbol"]]
        k = min(int(frame.index.searchsorted(self.index[int(first)])), len(frame) - 1)
        return _bps(float(row[f"{leg}_price"]), float(frame["open"].iloc[k]), sign)

    def when(self, bar: Any) -> Any:
        """The time of bar number ``bar`` (NaT for none)."""
        if bar is None or pd.isna(bar):
            return pd.NaT
        return self.index[min(int(bar), len(self.index) - 1)]


def event_bars(events: pd.DataFrame, index: pd.DatetimeIndex) -> list[dict[str, Any]]:
    """Live events with the bar they concern when their detail names one."""
    out = []
    for row in events.itertuples(index=False):
        try:
            detail = json.loads(row.detail) if row.detail else {}
        except ValueError:
            detail = {}
        when = detail.get("bar_time") or detail.get("time") if isinstance(detail, dict) else None
        bar = None
        if when:
            try:
                ts = pd.Timestamp(when)
                bar = int(
                    index.searchsorted(ts.tz_convert("UTC") if ts.tzinfo else ts.tz_localize("UTC"))
                )
            except (ValueError, TypeError):
                bar = None
        reason = detail.get("reason", "") if isinstance(detail, dict) else ""
        risky = any(k in str(row.kind).lower() for k in RISK_KINDS)
        out.append({"kind": row.kind, "symbol": row.symbol, "bar": bar, "at": row.at,
                    "reason": str(reason), "risk": risky})  # fmt: skip
    return out


_SIDE_COLUMNS = ("status", "entry_time", "exit_time", "entry_price", "exit_price", "quantity",
                 "size", "fees", "pnl", "entries", "entry_order_id", "exits",
                 "exit_order_id", "episode")  # fmt: skip


def compare(
    live: SideTrades,
    bt: SideTrades,
    pairs: list[tuple[int | None, int | None]],
    legs: dict[str, tuple[float, float]],
    dropped: dict[str, str],
    commission: Commission,
    tol: Tolerances,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """One row per pair (both sides side by side) and one entry per difference."""
    rows: list[dict[str, Any]] = []
    diffs: list[dict[str, Any]] = []
    ordered = sorted(pairs, key=lambda p: _order_key(live, bt, p))
    for no, (i, j) in enumerate(ordered, start=1):
        a = live.trades.loc[i] if i is not None else None
        b = bt.trades.loc[j] if j is not None else None
        ref = a if a is not None else b
        sign = 1.0 if ref["direction"] == "long" else -1.0
        row: dict[str, Any] = {"trade": no, "symbol": ref["symbol"], "direction": ref["direction"]}
        for prefix, side, t in (("live", live, a), ("bt", bt, b)):
            for col in _SIDE_COLUMNS:
                row[f"{prefix}_{col}"] = t[col] if t is not None else None
            for leg, leg_sign in (("entry", sign), ("exit", -sign)):
                row[f"{prefix}_{leg}_decision"] = (
                    live.when(t[f"{leg}_decision"]) if t is not None else pd.NaT
                )
                row[f"{prefix}_{leg}_slip_bps"] = (
                    side.slip_bps(t, leg, leg_sign) if t is not None else np.nan
                )
        if a is None:
            why = lone_detail(b, live, "the live run", tol)
            found = [
                (
                    "missing",
                    "",
                    f"backtest {b['direction']} trade entered "
                    f"{b['entry_time']} is not in the live run" + (f": {why}" if why else ""),
                )
            ]
        elif b is None:
            why = lone_detail(a, bt, "the backtest", tol)
            found = [("extra", "", f"live {a['direction']} trade entered {a['entry_time']} "
                      "is not in the backtest" + (f": {why}" if why else ""))]  # fmt: skip
        else:
            found = _differences(a, b, row, (live, bt), sign, legs, dropped, commission, tol)
            row["pnl_diff"] = float(a["pnl"]) - float(b["pnl"])
            row.update(pnl_parts(a, b, sign, moved=_moved(a, b)))
        row["match"] = (
            "matched" if a is not None and b is not None else ("missing" if a is None else "extra")
        )
        row["differences"] = ";".join(sorted({c for c, _, _ in found}))
        for category, leg, detail in found:
            decision = ref["exit_decision" if leg == "exit" else "entry_decision"]
            diffs.append(
                {
                    "trade": no,
                    "symbol": ref["symbol"],
                    "category": category,
                    "leg": leg,
                    "decision_bar": None if pd.isna(decision) else int(decision),
                    "detail": detail,
                }
            )
        rows.append(row)
    return pd.DataFrame(rows), diffs


def lone_detail(trade: pd.Series, other: SideTrades, name: str, tol: Tolerances) -> str:
    """Why ``trade`` has no counterpart in ``other`` (the run called ``name``): its entry
    decision is unknown, so nothing was paired with it, or what :func:`why_lone` reads
    from that run's orders ("" when they do not tell)."""
    if pd.isna(trade["entry_decision"]):
        return (
            "its entry decision is unknown (no order of its entry has a recorded decision), "
            "so it was not paired"
        )
    return why_lone(trade, other.decided, name, tol.window_bars, other.when)


def pnl_parts(a: pd.Series, b: pd.Series, sign: float, moved: set[str]) -> dict[str, float]:
    """A matched pair's P&L difference (live - backtest), split so the parts add up to it:
    the live quantity times each leg's price difference, as ``pnl_timing`` for the legs in
    ``moved`` (filled on other bars than the backtest's: decided or filled later or
    earlier) and as ``pnl_price`` for the rest (an open trade's exit is the last close on
    both sides); ``pnl_quantity`` the quantity difference times the backtest's price move
    (entry to exit or to the last close); ``pnl_fees`` the fee difference."""
    qa, qb = float(a["quantity"]), float(b["quantity"])
    parts = {"pnl_price": 0.0, "pnl_timing": 0.0}
    for leg, leg_sign in (("entry", -sign), ("exit", sign)):
        value = leg_sign * qa * (float(a[f"{leg}_price"]) - float(b[f"{leg}_price"]))
        parts["pnl_timing" if leg in moved else "pnl_price"] += value
    move_b = float(b["exit_price"]) - float(b["entry_price"])
    parts["pnl_quantity"] = sign * (qa - qb) * move_b
    parts["pnl_fees"] = -(float(a["fees"]) - float(b["fees"]))
    return parts


def _moved(a: pd.Series, b: pd.Series) -> set[str]:
    """The legs both sides filled, on bars that differ."""
    out = set()
    for leg in ("entry", "exit"):
        ends = [a[f"{leg}_first"], a[f"{leg}_last"], b[f"{leg}_first"], b[f"{leg}_last"]]
        if not any(pd.isna(x) for x in ends) and ends[:2] != ends[2:]:
            out.add(leg)
    return out


def _fill_shift(a: pd.Series, b: pd.Series, leg: str) -> tuple[int, int] | None:
    """How many bars later live filled the leg than the backtest, counted from each side's
    decision (from the bar itself when a side's decision is unknown): (first fill, last
    fill). None when a side never filled it."""
    ends = [a[f"{leg}_first"], a[f"{leg}_last"], b[f"{leg}_first"], b[f"{leg}_last"]]
    if any(pd.isna(x) for x in ends):
        return None
    da, db = a[f"{leg}_decision"], b[f"{leg}_decision"]
    known = pd.notna(da) and pd.notna(db)
    off_a, off_b = (int(da), int(db)) if known else (0, 0)
    fa, la, fb, lb = (int(x) for x in ends)
    return (fa - off_a) - (fb - off_b), (la - off_a) - (lb - off_b)


def _differences(
    a: pd.Series,
    b: pd.Series,
    row: dict[str, Any],
    sides: tuple[SideTrades, SideTrades],
    sign: float,
    legs: dict[str, tuple[float, float]],
    dropped: dict[str, str],
    commission: Commission,
    tol: Tolerances,
) -> list[tuple[str, str, str]]:
    """The differences of a matched pair: (category, leg, detail); fills ``row``'s numbers."""
    found: list[tuple[str, str, str]] = []
    live = sides[0]
    if a["status"] != b["status"]:
        found.append(_exit_difference(a, b, sides))
    for leg in ("entry", "exit"):
        da, db = a[f"{leg}_decision"], b[f"{leg}_decision"]
        if pd.notna(da) and pd.notna(db) and abs(int(da) - int(db)) > tol.decision_bars:
            found.append(
                (
                    "decision_time",
                    leg,
                    f"{leg} decided at {live.when(da)} live, "
                    f"{live.when(db)} in the backtest ({int(da) - int(db):+d} bars)",
                )
            )
    late = set()
    for leg in ("entry", "exit"):
        shift = _fill_shift(a, b, leg)
        if shift is None:
            continue
        row[f"{leg}_fill_shift"] = moved = shift[1] or shift[0]
        if moved:
            late.add(leg)
            leg_sign = sign if leg == "entry" else -sign
            found.append(("fill_time", leg, _late_detail(a, b, leg, moved, sides, leg_sign)))
    for leg, leg_sign in (("entry", sign), ("exit", -sign)):
        gone = [o for o in _orders(a, leg) if o in dropped]
        if gone:
            found.extend(("dropped_fill", leg, f"{leg} order {o}: {dropped[o]}") for o in gone)
            continue
        if leg == "exit" and not a["status"] == b["status"] == "closed":
            continue
        diff = _bps(float(a[f"{leg}_price"]), float(b[f"{leg}_price"]), leg_sign)
        row[f"{leg}_price_bps"] = diff
        if leg in late:  # the market's move between the bars: told by fill_time
            continue
        if np.isfinite(diff) and abs(diff) > tol.price_bps:
            found.append(
                (
                    "fill_price",
                    leg,
                    f"{leg} price {a[f'{leg}_price']:.6g} live vs "
                    f"{b[f'{leg}_price']:.6g} ({diff:+.2f} bps, {_cost(a, b, leg, leg_sign)}; "
                    f"slippage "
                    f"{row[f'live_{leg}_slip_bps']:+.2f} bps realised vs "
                    f"{row[f'bt_{leg}_slip_bps']:+.2f} modelled)",
                )
            )
    model = 0.0  # the bundle's commission model on the live legs, pro rata to this trade
    shares = {**a["entry_quantities"], **a["exit_quantities"]}
    for oid, part in shares.items():
        if oid in legs:
            qty, notional = legs[oid]
            model += commission.total(qty, notional) * part / qty
    row["live_fees_model"] = model
    row["fee_diff"] = fee_diff = float(a["fees"]) - model
    touched = bool(set(shares) & set(dropped))
    if not touched and abs(fee_diff) > tol.fee_abs + tol.fee_rel * model:
        found.append(
            (
                "fee",
                "",
                f"live fees {a['fees']:.4f} vs {model:.4f} by the bundle's "
                f"commission model ({fee_diff:+.4f})",
            )
        )
    row["size_rel"] = size_rel = float(a["size"]) / float(b["size"]) - 1.0 if b["size"] else np.nan
    # sizes rounded to whole lots may differ by one lot when the equities differ
    whole = all(float(q).is_integer() for q in (a["quantity"], b["quantity"]))
    lot = float(a["entry_price"]) / float(a["decision_equity"]) if whole else 0.0
    allowed = tol.size_rel * float(b["size"]) + lot
    if not touched and np.isfinite(size_rel) and abs(a["size"] - b["size"]) > allowed:
        found.append(_size_difference(a, b, sides, size_rel))
    return found


def _smaller(
    a: pd.Series, b: pd.Series, sides: tuple[SideTrades, SideTrades], qa: float, qb: float
) -> tuple[str, pd.Series, SideTrades]:
    """The side with the smaller quantity ``qa`` (live) or ``qb`` (backtest)."""
    return ("live", a, sides[0]) if qa < qb else ("backtest", b, sides[1])


def _size_difference(
    a: pd.Series, b: pd.Series, sides: tuple[SideTrades, SideTrades], size_rel: float
) -> tuple[str, str, str]:
    """A size difference; ``partial_fill`` when the smaller side's entry ended short."""
    qa, qb = float(a["quantity"]), float(b["quantity"])
    name, t, side = _smaller(a, b, sides, qa, qb)
    how = side.partial(t, "entry")
    if how:
        return ("partial_fill", "entry", f"entered {qa:g} live vs {qb:g} in the backtest "
                f"(size {size_rel:+.2%}): {name} {how}")  # fmt: skip
    detail = f"size {a['size']:.4%} of equity live vs {b['size']:.4%} ({size_rel:+.2%})"
    return ("size", "entry", detail)


def _exit_difference(
    a: pd.Series, b: pd.Series, sides: tuple[SideTrades, SideTrades]
) -> tuple[str, str, str]:
    """Statuses differ: ``partial_fill`` when the less closed side is partly closed by an
    exit that ended short, else ``exit``."""
    qa, qb = (sum(t["exit_quantities"].values()) for t in (a, b))
    name, t, side = _smaller(a, b, sides, qa, qb)
    how = side.partial(t, "exit") if t["status"] == "partly closed" else ""
    if how:
        left = float(t["quantity"]) - min(qa, qb)
        return ("partial_fill", "exit", f"closed {qa:g} live vs {qb:g} in the backtest, "
                f"{left:g} left open {name}: {name} {how}")  # fmt: skip
    return ("exit", "exit", f"live trade is {a['status']}, backtest trade is {b['status']}")


def _orders(t: pd.Series, leg: str) -> list[str]:
    return list(t[f"{leg}_orders"])


def _late_detail(
    a: pd.Series,
    b: pd.Series,
    leg: str,
    moved: int,
    sides: tuple[SideTrades, SideTrades],
    sign: float,
) -> str:
    """What a trader reads about a leg filled on other bars than the backtest's."""

    def span(t: pd.Series, side: SideTrades) -> str:
        first, last = side.when(t[f"{leg}_first"]), side.when(t[f"{leg}_last"])
        orders = len(_orders(t, leg))
        how = f" by {orders} orders" if orders > 1 else ""
        again = side.sent_again(t, leg)
        how += f" ({again})" if again else ""
        return f"{first}{how}" if first == last else f"from {first} to {last}{how}"

    bars = f"{abs(moved)} bar{'s' if abs(moved) > 1 else ''} {'later' if moved > 0 else 'earlier'}"
    price = _bps(float(a[f"{leg}_price"]), float(b[f"{leg}_price"]), sign)
    return (
        f"{leg} filled {bars} than in the backtest, counted from its decision: "
        f"{span(a, sides[0])} live, {span(b, sides[1])} in the backtest (price "
        f"{price:+.2f} bps, {_cost(a, b, leg, sign)}, + = worse: the market's move between "
        f"the bars, not slippage)"
    )


def _cost(a: pd.Series, b: pd.Series, leg: str, sign: float) -> str:
    """The leg's price difference in money on the live quantity (+ = worse for the trader:
    what it took from the trade's P&L, the leg's part of ``pnl_price`` or ``pnl_timing``)."""
    qty = float(a["quantity"])
    cost = sign * qty * (float(a[f"{leg}_price"]) - float(b[f"{leg}_price"]))
    return f"{cost:+,.2f} on {qty:g}"


def _order_key(live: SideTrades, bt: SideTrades, pair: tuple[int | None, int | None]) -> tuple:
    i, j = pair
    t = live.trades.loc[i] if i is not None else bt.trades.loc[j]
    d = t["entry_decision"]
    return (-1 if pd.isna(d) else int(d), t["symbol"])


def risk_differences(
    events: list[dict[str, Any]], bt_events: pd.DataFrame, index: pd.DatetimeIndex
) -> tuple[list[dict[str, Any]], set[int]]:
    """Risk events on one side only (matched by bar and symbol when the live event has a bar),
    and the positions in ``events`` of the live risk events the backtest has too: those
    happened on both sides, so they explain no difference between them."""
    bt = [
        {"bar": int(index.searchsorted(r.time)), "symbol": r.symbol, "action": str(r.action),
         "rule": str(r.rule), "reason": str(r.reason)}
        for r in bt_events.itertuples(index=False)
    ]  # fmt: skip
    used: set[int] = set()
    both: set[int] = set()
    out = []
    for n, e in enumerate(events):
        if not e["risk"]:
            continue
        hit = next(
            (k for k, x in enumerate(bt) if k not in used and e["bar"] is not None
             and x["bar"] == e["bar"] and (e["symbol"] is None or x["symbol"] == e["symbol"])),
            None,
        )  # fmt: skip
        if hit is not None:
            used.add(hit)
            both.add(n)
            continue
        out.append(
            {
                "trade": None,
                "symbol": e["symbol"],
                "category": "risk_event",
                "leg": "",
                "decision_bar": e["bar"],
                "detail": f"live only: {e['kind']} at {e['at']} {e['reason']}".strip(),
            }
        )
    unplaced = any(e["risk"] and e["bar"] is None for e in events)
    for k, x in enumerate(bt):
        if k in used or unplaced:
            continue
        at = index[min(x["bar"], len(index) - 1)]
        detail = f"backtest only: {x['action']} {x['rule']} at {at}: {x['reason']}"
        out.append({"trade": None, "symbol": x["symbol"], "category": "risk_event", "leg": "",
                    "decision_bar": x["bar"], "detail": detail})  # fmt: skip
    return out, both
