"""What ``workbench live status`` and the dashboard show about a run, read from its state file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.live.health import judge
from workbench.live.state import StateStore


def read_status(path: str | Path) -> dict[str, Any]:
    """Running, degraded, stale, failed or stopped (judged from the heartbeat's age, not
    only from what the runner wrote: :func:`~workbench.live.health.judge`), last bar and
    its lag, heartbeat age, equity, positions, the risk state (active, reducing or halted,
    and why) and every fill (time, symbol, side, quantity, price, client order id);
    ``holdings``: the last comparison of the broker's positions and open orders with the
    state (match, mismatch or adopted, when); ``degraded_since``: when the venue stopped
    answering, while status is ``degraded``."""
    with StateStore.reader(path) as store:
        stored = store.meta()
        meta = {k: stored.get(k) for k in ("strategy", "status", "bundle", "broker", "feed",
                                           "timeframe", "session",
                                           "started_at", "last_bar", "heartbeat",
                                           "heartbeat_unix", "stopped_by", "pennies",
                                           "scale", "holdings")}  # fmt: skip
        last = store.equity_points(last=True)
        open_orders = len(store.open_orders())
        fills = store.fill_records()
    meta["degraded_since"] = stored.get("degraded_since") or None  # a venue outage began
    meta.pop("heartbeat_unix")
    health = judge(stored)
    last_bar = meta.get("last_bar")
    lag = (
        (pd.Timestamp.now(tz="UTC") - pd.Timestamp(last_bar)).total_seconds() if last_bar else None
    )
    risk = _risk(path)
    snap = last[0] if last else None
    age = health.heartbeat_age_s
    return {
        **meta,
        "status": health.state,  # judged: a dead runner's file may still say running
        "written_status": health.runner,
        "status_reason": health.reason,
        "error": stored.get("error") or None,
        "heartbeat_age_s": None if age is None else round(age, 1),
        "stale_after_s": health.stale_after_s,
        "last_bar_lag_s": None if lag is None else round(lag, 1),
        "cash": None if snap is None else snap.cash,
        "equity": None if snap is None else snap.equity,
        "positions": {} if snap is None else {k: v for k, v in snap.positions.items() if v},
        "open_orders": open_orders,
        "fill_count": len(fills),
        "fills": fills,
        "risk_state": None if risk is None else str(risk.trading),
        "risk_reason": None if risk is None else risk.reason or None,
        "peak_equity": None if risk is None else risk.peak_equity,
    }


def _risk(path: str | Path) -> Any:
    """The risk engine's state kept in the run's file (None before its first bar)."""
    from workbench.risk.state import DEFAULT_SCOPE, stored_states

    rows = stored_states(path)
    row = next((r for r in rows or () if r.scope == DEFAULT_SCOPE), None)
    return None if row is None else row.load()


#: How many of the latest fills the text status lists (``--json`` has them all).
FILLS_SHOWN = 10


def status_lines(status: Mapping[str, Any]) -> list[str]:
    """:func:`read_status` as ``workbench live status`` prints it: a field a line (one not
    known or not set shows ``-``, as ``None`` says nothing to an operator), then the
    latest :data:`FILLS_SHOWN` fills, one a line."""
    lines = [
        f"{key:<20} {'-' if value is None else value}"
        for key, value in status.items()
        if key != "fills"
    ]
    lines += [
        f"  fill {fill['time']} {fill['side']:<4} {fill['quantity']:g} "
        f"{fill['symbol']} @ {fill['price']:g}  {fill['client_order_id']}"
        for fill in (status.get("fills") or [])[-FILLS_SHOWN:]
    ]
    return lines
