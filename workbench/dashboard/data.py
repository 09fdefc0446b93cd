"""Everything the dashboard shows, read from a live run's state file: :func:`snapshot`.

One function builds one plain dict (JSON types only) that both the HTML pages and
``/api/status`` render, so the pages and the API can never disagree. The state file
is read through the state store's read-only reader (:meth:`StateStore.reader`), in one
read transaction (a consistent moment, which in WAL mode never blocks the runner): the
dashboard never creates tables or writes to it, and knows nothing of the schema. Parts
written by other components are read defensively: no risk table means "risk: not
configured", no ``log_file`` in meta means no log tail. No value from the
environment is ever put on a page, and free text from the state (failure messages, reasons,
events, log lines) goes through :func:`workbench.logs.redact`, so no key or secret can
reach a page.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import deque
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.backtesting.trades import build_trades
from workbench.data.days import TradingDays
from workbench.errors import ConfigError
from workbench.live.health import judge
from workbench.live.state import EquityPoint, EventRecord, StateStore
from workbench.logs import redact
from workbench.orders import Fill, Side
from workbench.risk.state import DEFAULT_SCOPE, StoredRiskState, stored_states

log = logging.getLogger(__name__)

#: Meta keys shown on the status page (never the bundle's files or any credential).
META_KEYS = (
    "status", "strategy", "bundle", "broker", "feed", "started_at", "heartbeat",
    "heartbeat_unix", "last_bar", "stopped_by", "log_file", "kill_requested", "error",
)  # fmt: skip
RECENT_FILLS = 20
RECENT_EVENTS = 20
LOG_LINES = 200


def _iso(ns: int | None) -> str | None:
    return None if ns is None else pd.Timestamp(int(ns), tz="UTC").isoformat()


def _num(value: Any) -> float | None:
    """A finite float or None (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def snapshot(
    state_path: str | Path,
    *,
    reports_dir: str | Path | None = None,
    now: float | None = None,
    day: date | None = None,
) -> dict[str, Any]:
    """The dashboard's data: status, risk, account and P&L, positions, orders, fills, events.

    ``day``: the account and positions as they stood at the end of that trading day (the
    run's, :func:`_days`) rather than at the last bar: a day's summary, written once a bar
    of the next day has been handled, reports the day that ended, not that bar's."""
    now = time.time() if now is None else now
    # one read transaction: every figure from the same moment, not a fill booked between
    # two reads without the position it made (WAL: the runner's writes go on meanwhile)
    with StateStore.reader(state_path) as store, store.reading():
        meta = store.meta()
        equity_rows = store.equity_points()
        fills = store.fill_records()
        open_orders = store.open_orders()
        last_close = store.last_closes()
        events = store.recent_events(RECENT_EVENTS)
    risk_rows = stored_states(state_path)
    run_spec = _bundle_spec(meta.get("bundle"))
    risk_config = run_spec.get("risk")
    risk_config = risk_config if isinstance(risk_config, dict) else {}
    days = _days(meta, run_spec)
    if day is not None:  # what the bars and fills of later days had not changed yet
        end = days.on(day).end_ns
        equity_rows = [r for r in equity_rows if r.time_ns < end]
        fills = [f for f in fills if pd.Timestamp(f["time"]).value < end]
    account = _account(equity_rows, risk_config, days)
    risk = _risk(risk_rows, risk_config)
    positions = _positions(fills, equity_rows, last_close)
    return {
        "generated_at": pd.Timestamp(now, unit="s", tz="UTC").floor("s").isoformat(),
        "status": _status(meta, now, risk),
        "risk": risk,
        "account": account,
        "positions": positions,
        "sectors": sector_exposure(positions, account.get("equity"), risk_config),
        "open_orders": [_order_row(o) for o in open_orders],
        "recent_fills": [_fill_row(f) for f in reversed(fills[-RECENT_FILLS:])],
        "events": [_event_row(e) for e in events],
        "report": latest_report(reports_dir, state_path),
        "bundle_reports": bundle_reports(meta.get("bundle")),
    }


def _status(meta: dict[str, str], now: float, risk: dict[str, Any]) -> dict[str, Any]:
    health = judge(meta, now)
    beat = meta.get("heartbeat_unix")
    age = health.heartbeat_age_s
    last_bar = meta.get("last_bar")
    lag = (now - pd.Timestamp(last_bar).timestamp()) if last_bar else None
    started = meta.get("started_at")
    run = meta.get("status") or "not started"
    uptime = None
    if started:
        until = now if run in ("running", "degraded") else (float(beat) if beat else now)
        uptime = max(until - pd.Timestamp(started).timestamp(), 0.0)
    halted = risk.get("trading") == "HALTED"
    state = health.state  # a silent runner is stale or failed, whatever the file says
    if halted and state not in ("stale", "failed"):
        state = "halted"
    bundle = meta.get("bundle")
    return {
        "state": state,
        "runner": run,
        "halted": halted,
        "halt_reason": risk.get("reason") if halted else None,  # redacted by _risk
        "strategy": meta.get("strategy"),
        "bundle": "/".join(Path(bundle).parts[-2:]) if bundle else None,
        "bundle_path": bundle,
        "broker": meta.get("broker"),
        "feed": meta.get("feed"),
        "started_at": started,
        "uptime_s": None if uptime is None else round(uptime, 1),
        "last_bar": last_bar,
        "feed_lag_s": None if lag is None else round(lag, 1),
        "heartbeat": meta.get("heartbeat"),
        "heartbeat_age_s": None if age is None else round(age, 1),
        "stale_after_s": health.stale_after_s,
        "state_reason": _redacted(health.reason),
        "error": _redacted(meta.get("error")),
        "stopped_by": meta.get("stopped_by"),
        "kill_requested": meta.get("kill_requested"),
        "log_file": meta.get("log_file"),
    }


def _redacted(text: Any) -> str | None:
    """Free text from the state (a failure as raised, a halt's reason), secrets masked."""
    return redact(str(text)) if text else None


def _bundle_spec(bundle: str | None) -> dict[str, Any]:
    """The bundle's run spec (read as data, never executed); empty if unreadable."""
    if not bundle:
        return {}
    try:
        manifest = json.loads((Path(bundle) / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    spec = manifest.get("run_spec") if isinstance(manifest, dict) else None
    return spec if isinstance(spec, dict) else {}


def _days(meta: dict[str, str], run_spec: dict[str, Any]) -> TradingDays:
    """The run's trading days, as its state file records them; a state file written
    before runs recorded them: the days of the bundle's calendar (UTC if unknown)."""
    calendar = run_spec.get("calendar")
    try:
        return TradingDays.from_meta(meta, calendar=calendar if isinstance(calendar, str) else None)
    except (ConfigError, LookupError, ValueError):  # a zone or calendar this host lacks
        return TradingDays()


def _risk(rows: list[StoredRiskState] | None, config: dict[str, Any]) -> dict[str, Any]:
    limits = {
        "max_drawdown": _num(config.get("max_drawdown")),
        "daily_loss_limit": _num(config.get("daily_loss_limit")),
    }
    if rows is None:
        return {"configured": False, "trading": None, "reason": None, "limits": limits}
    if not rows:
        return {"configured": True, "trading": "ACTIVE", "reason": None, "limits": limits}
    row = next((r for r in rows if r.scope == DEFAULT_SCOPE), rows[0])
    state = row.state
    trading = str(state.get("trading") or "UNKNOWN")
    return {
        "configured": True,
        "scope": row.scope,
        "trading": trading,
        "rule": state.get("rule") or None,
        "reason": _redacted(state.get("reason")),
        "since": state.get("since"),
        "until_day": state.get("until_day"),
        "peak_equity": _num(state.get("peak_equity")),
        "day_start_equity": _num(state.get("day_start_equity")),
        "updated_at": row.updated_at,
        "limits": limits,
    }


def _account(
    rows: list[EquityPoint], risk_config: dict[str, Any], days: TradingDays
) -> dict[str, Any]:
    """Equity, P&L today (the trading day of the last bar: the calendar's local day, as
    the risk engine's) and in total, drawdown, the day's loss."""
    if not rows:
        empty = ("time", "cash", "equity", "start_equity", "day_start_equity", "pnl_total",
                 "pnl_today", "peak_equity", "drawdown", "max_drawdown", "daily_loss")  # fmt: skip
        return {
            **dict.fromkeys(empty),
            "drawdown_limit": _num(risk_config.get("max_drawdown")),
            "daily_loss_limit": _num(risk_config.get("daily_loss_limit")),
            "points": 0,
        }
    equity = pd.Series([r.equity for r in rows], dtype=float)
    last = rows[-1]
    times = [r.time_ns for r in rows]
    day_ns = days.day(times[-1]).start_ns
    before = [r for r in rows if r.time_ns < day_ns]
    day_start = before[-1].equity if before else next(r for r in rows if r.time_ns >= day_ns).equity
    peak = equity.cummax()
    drawdown = 1.0 - equity / peak
    loss = max(0.0, 1.0 - last.equity / day_start) if day_start > 0 else None
    return {
        "time": _iso(last.time_ns),
        "cash": _num(last.cash),
        "equity": _num(last.equity),
        "start_equity": _num(rows[0].equity),
        "day_start_equity": _num(day_start),
        "pnl_total": _num(last.equity - rows[0].equity),
        "pnl_today": _num(last.equity - day_start),
        "peak_equity": _num(peak.iloc[-1]),
        "drawdown": _num(drawdown.iloc[-1]),
        "max_drawdown": _num(drawdown.max()),
        "daily_loss": _num(loss),
        "drawdown_limit": _num(risk_config.get("max_drawdown")),
        "daily_loss_limit": _num(risk_config.get("daily_loss_limit")),
        "points": len(rows),
    }  # fmt: skip


def _fills(rows: list[dict[str, Any]]) -> list[Fill]:
    return [
        Fill(r["order_id"], r["symbol"], Side(r["side"]), float(r["quantity"]), float(r["price"]),
             float(r["commission"]), pd.Timestamp(r["time"]).tz_convert("UTC"), r["reason"] or "")
        for r in rows
    ]  # fmt: skip


def _positions(
    fills: list[dict[str, Any]], equity_rows: list[EquityPoint], last_close: dict[str, float]
) -> list[dict[str, Any]]:
    """Held quantity (the broker's, from the last snapshot), FIFO entry price and P&L."""
    held = equity_rows[-1].positions if equity_rows else {}
    trades = build_trades(_fills(fills), last_close)
    out = []
    for symbol in sorted(set(held) | set(trades["symbol"])):
        mine = trades[trades["symbol"] == symbol]
        open_ = mine[mine["status"] == "open"]
        qty = float(held.get(symbol, 0.0))
        if not qty and open_.empty:
            continue
        sign = (open_["direction"] == "long").map({True: 1.0, False: -1.0})
        open_qty = float((open_["quantity"] * sign).sum())
        avg = (
            float((open_["entry_price"] * open_["quantity"]).sum() / open_["quantity"].sum())
            if not open_.empty
            else None
        )
        price = last_close.get(symbol)
        out.append(
            {
                "symbol": symbol,
                "quantity": qty,
                "recorded_quantity": open_qty,
                "avg_price": _num(avg),
                "last_price": _num(price),
                "market_value": _num(qty * price) if price is not None else None,
                "unrealized_pnl": _num(open_["pnl"].sum()) if not open_.empty else 0.0,
                "realized_pnl": _num(mine.loc[mine["status"] == "closed", "pnl"].sum()),
            }
        )
    return out


def sector_exposure(
    positions: list[dict[str, Any]], equity: float | None, risk_config: dict[str, Any]
) -> list[dict[str, Any]]:
    """Gross market value per sector, its share of equity and the bundle's cap on it.

    Sectors are the groups of the bundle's ``group_exposure`` rule, else the GICS sectors
    shipped for ``sample:SP500``; a symbol in neither is ``unclassified``.
    """
    from workbench.data.sp500 import gics_sectors

    rule = risk_config.get("group_exposure") or {}
    groups = rule.get("groups") if isinstance(rule.get("groups"), dict) else None
    names = groups or gics_sectors()
    limits = rule.get("limits") or {}
    default = rule.get("default")
    totals: dict[str, float] = {}
    for p in positions:
        value = p.get("market_value")
        if value:
            sector = names.get(p["symbol"], "unclassified")
            totals[sector] = totals.get(sector, 0.0) + abs(value)
    return [
        {
            "sector": sector,
            "market_value": _num(value),
            "weight": _num(value / equity) if equity else None,
            "limit": _num(limits.get(sector, default)) if groups else None,
        }
        for sector, value in sorted(totals.items(), key=lambda kv: -kv[1])
    ]


def _order_row(o: dict[str, Any]) -> dict[str, Any]:
    return {
        "client_order_id": o["client_order_id"],
        "order_id": o["order_id"],
        "symbol": o["symbol"],
        "side": o["side"],
        "type": o["type"],
        "quantity": _num(o["quantity"]),
        "notional": _num(o["notional"]),
        "limit_price": _num(o["limit_price"]),
        "stop_price": _num(o["stop_price"]),
        "status": o["status"],
        "filled_quantity": _num(o["filled_quantity"]),
        "reason": o["reason"],
        "decision": _iso(o["decision_ns"]),
    }


def _fill_row(f: dict[str, Any]) -> dict[str, Any]:
    return {
        "time": f["time"],
        "symbol": f["symbol"],
        "side": f["side"],
        "quantity": _num(f["quantity"]),
        "price": _num(f["price"]),
        "commission": _num(f["commission"]),
        "order_id": f["order_id"],
        "client_order_id": f["client_order_id"],
        "reason": f["reason"],
    }


def _event_row(e: EventRecord) -> dict[str, Any]:
    return {"at": e.at, "kind": e.kind, "symbol": e.symbol, "detail": redact(e.detail)}


def equity_curve(state_path: str | Path) -> pd.DataFrame:
    """Time-indexed equity and cash of the run (for the plot)."""
    with StateStore.reader(state_path) as store:
        return store.equity_curve()[["cash", "equity"]]


def log_tail(log_file: str | None, lines: int = LOG_LINES) -> list[dict[str, Any]]:
    """The last ``lines`` lines of the run's JSON log (meta ``log_file``), newest first.

    Each line is parsed when it is JSON and kept as text otherwise; every message goes
    through :func:`workbench.logs.redact` again, in case a secret reached the file.
    """
    if not log_file:
        return []
    path = Path(log_file)
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(size - 512 * lines, 0))
            tail = deque(fh.read().decode("utf-8", "replace").splitlines(), maxlen=lines)
    except OSError as exc:
        log.warning("cannot read the log file %s: %s", path, exc)
        return []
    out = []
    for raw in reversed(tail):
        if not raw.strip():
            continue
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            out.append({"ts": "", "level": "", "logger": "", "msg": redact(raw), "fields": ""})
            continue
        fields = {k: v for k, v in doc.items() if k not in ("ts", "level", "logger", "msg")}
        out.append(
            {
                "ts": str(doc.get("ts", "")),
                "level": str(doc.get("level", "")),
                "logger": str(doc.get("logger", "")),
                "msg": redact(str(doc.get("msg", ""))),
                "fields": redact(" ".join(f"{k}={v}" for k, v in fields.items())),
            }
        )
    return out


#: The reports a promotion bundle keeps (workbench.promote), by file name and label.
BUNDLE_REPORTS = {"report.html": "Promotion report", "walkforward.html": "Walk-forward report"}


def bundle_reports(bundle: str | None) -> list[dict[str, str]]:
    """The HTML reports the run's bundle was promoted on, those that exist."""
    if not bundle:
        return []
    folder = Path(bundle)
    return [
        {"file": name, "label": label}
        for name, label in BUNDLE_REPORTS.items()
        if (folder / name).is_file()
    ]


def reports_root(reports_dir: str | Path | None, state_path: str | Path) -> Path:
    """Where reconciliation reports live: ``reports_dir`` or ``reconcile/`` beside the state."""
    return Path(reports_dir) if reports_dir else Path(state_path).resolve().parent / "reconcile"


def latest_report(reports_dir: str | Path | None, state_path: str | Path) -> dict[str, Any] | None:
    """The newest ``*/summary.json`` under the reports folder: its verdict and counts."""
    root = reports_root(reports_dir, state_path)
    if not root.is_dir():
        return None
    found = sorted(root.glob("*/summary.json"), key=lambda p: p.stat().st_mtime)
    if not found:
        return None
    path = found[-1]
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return {
        "name": path.parent.name,
        "verdict": summary.get("verdict"),
        "unexplained": summary.get("unexplained"),
        "generated_at": summary.get("generated_at"),
        "has_html": (path.parent / "report.html").is_file(),
    }
