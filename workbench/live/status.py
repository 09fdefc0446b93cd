"""What ``workbench live status`` and the dashboard show about a run, read from its state file."""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.errors import ConfigError
from workbench.live.state import StateStore


def read_status(path: str | Path) -> dict[str, Any]:
    """Running or stopped, last bar and its lag, heartbeat age, equity, positions, the
    risk state (active, reducing or halted, and why) and every fill (time, symbol, side,
    quantity, price, client order id)."""
    if not Path(path).is_file():
        raise ConfigError(f"no state file at {path}", hint="pass --state with the run's file")
    store = StateStore(path)
    try:
        meta = {k: store.get_meta(k) for k in ("strategy", "status", "bundle", "broker", "feed",
                                               "timeframe", "session",
                                               "started_at", "last_bar", "heartbeat",
                                               "heartbeat_unix", "stopped_by", "pennies",
                                               "scale")}  # fmt: skip
        beat = meta.pop("heartbeat_unix")
        age = time.time() - float(beat) if beat else None
        last_bar = meta.get("last_bar")
        lag = (
            (pd.Timestamp.now(tz="UTC") - pd.Timestamp(last_bar)).total_seconds()
            if last_bar
            else None
        )
        row = store.conn.execute(
            "SELECT time_ns, cash, equity, positions FROM equity ORDER BY time_ns DESC LIMIT 1"
        ).fetchone()
        open_orders = len(store.open_orders())
        fills = store.fill_records()
    finally:
        store.close()
    risk = _risk(path)
    return {
        **meta,
        "heartbeat_age_s": None if age is None else round(age, 1),
        "last_bar_lag_s": None if lag is None else round(lag, 1),
        "cash": None if row is None else row[1],
        "equity": None if row is None else row[2],
        "positions": {} if row is None else {k: v for k, v in json.loads(row[3]).items() if v},
        "open_orders": open_orders,
        "fill_count": len(fills),
        "fills": fills,
        "risk_state": None if risk is None else str(risk.trading),
        "risk_reason": None if risk is None else risk.reason or None,
        "peak_equity": None if risk is None else risk.peak_equity,
    }


def _risk(path: str | Path) -> Any:
    """The risk engine's state kept in the run's file (None before its first bar)."""
    from workbench.risk.state import DEFAULT_TABLE, SQLiteRiskStore

    with closing(sqlite3.connect(path)) as db:
        known = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (DEFAULT_TABLE,)
        ).fetchone()
    if known is None:
        return None
    with SQLiteRiskStore(path, create=False) as store:
        return store.load()
