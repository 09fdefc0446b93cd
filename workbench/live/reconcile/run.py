"""Replay the live bars through the backtest, compare, and the runner's daily check."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.backtesting.result import BacktestResult
from workbench.backtesting.trades import build_trades
from workbench.bundle import Bundle, load_bundle
from workbench.compose import run_backtest
from workbench.data.days import TradingDays
from workbench.errors import ConfigError, DataError, WorkbenchError
from workbench.live.reconcile.compare import (
    SideTrades,
    annotate,
    compare,
    event_bars,
    pair,
    risk_differences,
)
from workbench.live.reconcile.livestate import (
    LiveRun,
    bar_index,
    decision_bar,
    live_fills,
    read_state,
)
from workbench.live.reconcile.lone import decided_orders
from workbench.live.reconcile.model import CATEGORIES, Reconciliation, Tolerances, Verdict
from workbench.live.reconcile.replaced import backtest_cancels, carried_decisions, sent_orders
from workbench.live.reconcile.resent import PlacedFill, resent_entries, short_orders
from workbench.live.reconcile.roundtrips import (
    fill_spans,
    placed_bar,
    position_episodes,
    round_trips,
)
from workbench.live.state import StateStore
from workbench.orders import Side

log = logging.getLogger(__name__)

#: What the report says about the live run, from its state file's meta.
RUN_KEYS = ("strategy", "broker", "feed", "started_at", "status", "pennies", "scale")


def _replay(bundle: Bundle, live: LiveRun) -> tuple[BacktestResult, list[str]]:
    """The backtest over the live bars, with the bundle's run spec (costs, venue settings,
    risk rules, execution policy) and the live start equity, on the trading days the run
    counted. The bars are the live run's as it saw them (already of the spec's timeframe
    and session): not made again."""
    notes = []
    cash = float(live.equity["equity"].iloc[0])
    first_positions = {k: v for k, v in json.loads(live.equity["positions"].iloc[0]).items() if v}
    if first_positions:
        notes.append(f"the live account held {first_positions} at the first bar; "
                     "the backtest starts flat")  # fmt: skip
    spec = bundle.run_spec.replace(symbols=tuple(live.bars), timeframe=None, cash=cash)
    days = TradingDays.from_meta(live.meta)
    result = run_backtest(bundle.make_strategy(), live.bars, spec, progress=False, days=days)
    return result, notes


def _same_run(path: Path, live: LiveRun, bundle: Bundle) -> None:
    """Refuse a bundle of another strategy or timeframe than the run's: its backtest would
    differ from the run everywhere, and the report would blame the live run for it."""
    fix = "pass the bundle the run traded (--bundle), or the state file of this bundle's run"
    ran, name = live.meta.get("strategy"), bundle.manifest.get("name")
    if ran and name and ran != name:
        raise ConfigError(
            f"{path} is a run of strategy {ran!r}; bundle {bundle.path} is {name!r}", hint=fix
        )
    ran, timeframe = live.meta.get("timeframe"), str(bundle.run_spec.timeframe)
    if ran and ran != timeframe:
        raise ConfigError(
            f"{path} is a run on {ran} bars; bundle {bundle.path} trades {timeframe} bars",
            hint=fix,
        )


def reconcile(
    state_path: str | Path,
    *,
    tolerances: Tolerances | None = None,
    bundle: str | Path | None = None,
    until: Any = None,
) -> Reconciliation:
    """Replay the live run's bars through the backtest and diff the trades (module docstring).

    ``bundle`` overrides the one recorded in the state; ``until`` (UTC) cuts the run
    there (bars, decisions and the fills that belong to them), as the daily check does.
    """
    tol = tolerances or Tolerances()
    path = Path(state_path)
    cut = None if until is None else pd.Timestamp(until)
    if cut is not None and cut.tzinfo is None:
        cut = cut.tz_localize("UTC")
    live = read_state(path, cut)
    where = bundle or live.meta.get("bundle")
    if not where:
        raise ConfigError(f"{path} names no bundle", hint="pass --bundle promoted/<name>/<version>")
    promoted = load_bundle(where)
    spec = promoted.run_spec
    _same_run(path, live, promoted)
    commission = spec.commission
    result, notes = _replay(promoted, live)
    index = bar_index(live.bars)

    fills, dropped = live_fills(live, commission)
    last = {s: float(f["close"].iloc[-1]) for s, f in live.bars.items()}
    # the broker's id, else (an order the broker never took: refused) the client's
    live_ids = [str(o.order_id) if pd.notna(o.order_id) and o.order_id else str(o.client_order_id)
                for o in live.orders.itertuples(index=False)]  # fmt: skip
    live_decided = {
        oid: decision_bar(index, d)
        for oid, d in zip(live_ids, live.orders["decision_ns"], strict=True) if pd.notna(d)
    }  # fmt: skip
    bt_ids = [str(o) for o in result.orders["id"]]
    created = result.orders["created_at"]
    bt_decided = {oid: int(index.searchsorted(t)) for oid, t in zip(bt_ids, created, strict=True)}
    # a replacement of an order that filled nothing carries that order's decision
    live_carried = carried_decisions(
        sent_orders(live.orders, live_ids),
        {o: decision_bar(index, t) for o, t in live.canceled_ns.items()}, live_decided,
    )  # fmt: skip
    bt_carried = carried_decisions(
        sent_orders(result.orders, bt_ids), backtest_cancels(result.orders, bt_ids, index),
        bt_decided,
    )  # fmt: skip
    live_decisions, bt_decisions = live_carried.decisions, bt_carried.decisions
    live_curve = live.equity["equity"]
    live_spans = fill_spans(((f.order_id, f.time) for f in fills), index, live_decisions)
    bt_spans = fill_spans(zip(result.fills["order_id"], result.fills["time"], strict=True),
                          index, bt_decisions)  # fmt: skip
    live_short, bt_short = short_orders(live.orders, live_ids), short_orders(result.orders, bt_ids)
    live_trips = _round_trips(
        build_trades(fills, last, index),
        ((f.order_id, f.symbol, f.side, f.time, f.quantity) for f in fills),
        {o: s.rest for o, s in live_short.items()}, index, live_decisions,
        live_carried.more,
    )  # fmt: skip
    bt_fills = result.fills[["order_id", "symbol", "side", "time", "quantity"]].itertuples(
        index=False
    )
    bt_trips = _round_trips(
        result.trades, bt_fills, {o: s.rest for o, s in bt_short.items()}, index, bt_decisions,
        bt_carried.more,
    )  # fmt: skip
    live_trades = annotate(live_trips, live_decisions, live_spans, index, live_curve)
    bt_trades = annotate(bt_trips, bt_decisions, bt_spans, index, result.equity)
    legs: dict[str, tuple[float, float]] = {}
    for f in fills:
        q, n = legs.get(f.order_id, (0.0, 0.0))
        legs[f.order_id] = (q + f.quantity, n + f.quantity * f.price)
    pairs = pair(live_trades, bt_trades, int(tol.window_bars))
    table, diffs = compare(
        SideTrades(live_trades, live.bars, index, live_short,
                   decided_orders(live.orders, live_ids, live_decided), live_carried.replaced),
        SideTrades(bt_trades, live.bars, index, bt_short,
                   decided_orders(result.orders, bt_ids, bt_decided), bt_carried.replaced),
        pairs, legs, dropped, commission, tol,
    )  # fmt: skip
    events = event_bars(live.events, index)
    risk_diffs, in_backtest = risk_differences(events, result.risk_events, index)
    diffs += risk_diffs
    for n, e in enumerate(events):
        e["in_backtest"] = n in in_backtest
    # only what happened live alone explains a difference (a risk decision both sides
    # made, a position cap clipping every entry say, explains none)
    explain = {(e["symbol"], e["bar"]): f"{e['kind']}: {e['reason']}".rstrip(": ")
               for e in events if e["bar"] is not None and not e["in_backtest"]}  # fmt: skip
    for d in diffs:
        why = ""
        if d["category"] != "risk_event":
            why = explain.get((d["symbol"], d["decision_bar"])) or explain.get(
                (None, d["decision_bar"]), ""
            )
        d["explained_by"] = why
    columns = ["trade", "symbol", "category", "leg", "decision_bar", "detail", "explained_by"]
    differences = pd.DataFrame(diffs, columns=columns)
    if not table.empty:
        why = {
            trade: "; ".join(x for x in group if x)
            for trade, group in differences.groupby("trade")["explained_by"]
        }
        table["explained_by"] = [why.get(t, "") for t in table["trade"]]
    equity = pd.DataFrame({"live": live_curve, "backtest": result.equity.reindex(live_curve.index)})
    counts = {c: int((differences["category"] == c).sum()) for c in CATEGORIES}
    pnl = _pnl(table, float(live_curve.iloc[-1]) - float(result.equity.iloc[-1]))
    unexplained = int((differences["explained_by"] == "").sum())
    summary = {
        "verdict": "match" if unexplained == 0 else "differences",
        "unexplained": unexplained,
        "explained": int(len(differences) - unexplained),
        "counts": counts,
        "trades": {
            "live": len(live_trades), "backtest": len(bt_trades),
            "matched": int(sum(1 for i, j in pairs if i is not None and j is not None)),
        },
        "fills": {"live": len(live.fills), "backtest": len(result.fills), "dropped": len(dropped)},
        "equity": {
            "start": float(live_curve.iloc[0]),
            "live_final": float(live_curve.iloc[-1]),
            "backtest_final": float(result.equity.iloc[-1]),
        },
        "pnl": pnl,
        "bars": {"count": len(index), "first": index[0].isoformat(), "last": index[-1].isoformat(),
                 "symbols": sorted(live.bars)},
        "bundle": {"path": str(promoted.path), "name": promoted.manifest.get("name"),
                   "version": promoted.manifest.get("version"), "params": promoted.params},
        "costs": {"commission": asdict(commission), "slippage": asdict(spec.slippage)},
        "venue": {"volume_limit": spec.volume_limit, "lot_size": spec.lot_size,
                  "margin": spec.margin},
        "risk": spec.risk.to_dict() or None,
        "run": {k: live.meta.get(k) for k in RUN_KEYS},
        "tolerances": asdict(tol),
        "until": None if cut is None else cut.isoformat(),
        "notes": notes,
        "generated_at": pd.Timestamp.now(tz="UTC").isoformat(),
    }  # fmt: skip
    events_frame = pd.DataFrame(
        events, columns=["kind", "symbol", "bar", "at", "reason", "risk", "in_backtest"]
    )
    return Reconciliation(summary, table, differences, equity, events_frame, result)


def _round_trips(
    trades: pd.DataFrame,
    fills: Iterable[tuple[Any, str, Any, Any, float]],
    short: dict[str, float],
    index: pd.DatetimeIndex,
    decisions: dict[str, int],
    carried: dict[str, tuple[str, float]],
) -> pd.DataFrame:
    """One side's round trips from its :func:`build_trades` rows and (order id, symbol, side,
    time, quantity) fills, the rest of an entry sent again counted in its trade (``short``:
    the orders that ended with part of their quantity filled, and what each left unfilled;
    ``carried``: replacements that carry an unfilled order and an add), each with its
    position episode."""
    placed, signed = [], []
    for oid, symbol, side, t, qty in fills:
        sign = Side(side).sign
        placed.append(
            PlacedFill(str(oid), symbol, sign, placed_bar(index, t, decisions.get(str(oid))))
        )
        signed.append((str(oid), symbol, sign * float(qty), pd.Timestamp(t)))
    same = resent_entries(trades, placed, short, decisions, carried)
    return round_trips(trades, same, position_episodes(signed))


def _pnl(table: pd.DataFrame, equity_difference: float) -> dict[str, float]:
    """The trades' P&L on both sides and what their difference is made of: price, timing
    (legs filled on other bars), quantity and fees of the matched trades, the missing
    trades (backtest only) and the extra ones (live only). The parts add up to
    ``difference``; ``equity_difference`` (final equity, live - backtest) is the same
    number when the live account started flat."""

    def total(column: str, where: Any = slice(None)) -> float:
        if table.empty or column not in table:
            return 0.0
        return float(pd.to_numeric(table.loc[where, column], errors="coerce").fillna(0).sum())

    live, bt = total("live_pnl"), total("bt_pnl")
    match = table["match"] if not table.empty else pd.Series(dtype=object)
    return {
        "live": live,
        "backtest": bt,
        "difference": live - bt,
        "price": total("pnl_price"),
        "timing": total("pnl_timing"),
        "quantity": total("pnl_quantity"),
        "fees": total("pnl_fees"),
        "missing_trades": 0.0 - total("bt_pnl", match == "missing"),
        "extra_trades": total("live_pnl", match == "extra"),
        "equity_difference": equity_difference,
    }


def reconcile_daily(
    state_path: str | Path,
    *,
    day: Any = None,
    out_root: str | Path | None = None,
    tolerances: Tolerances | None = None,
) -> Verdict:
    """The runner's end-of-day check: reconcile up to the end of ``day`` (default: the day
    of the last bar), write the report to ``<out_root>/<day>/`` (default ``reconcile/``
    beside the state file) and log the verdict. Never raises: a failure is in ``error``.

    A day is one of the run's trading days (the calendar's local day, as the state file
    records, :meth:`TradingDays.from_meta`): ``day`` is an instant in it (a tz-aware
    timestamp: what the runner passes, the day's first instant) or its date."""
    path = Path(state_path)
    try:
        if not path.is_file():
            raise ConfigError(f"no state file at {path}", hint="pass the run's --state file")
        store = StateStore(path)
        try:
            last, meta = store.last_bar_ns(), store.meta()
        finally:
            store.close()
        days = TradingDays.from_meta(meta)
        if day is None:
            if last is None:
                raise DataError(f"{path}: the run has not seen a bar yet")
            ended = days.day(last)
        else:
            when = pd.Timestamp(day)
            ended = days.on(when.date()) if when.tzinfo is None else days.day(when.value)
        rec = reconcile(path, tolerances=tolerances, until=pd.Timestamp(ended.end_ns - 1, tz="UTC"))
        root = Path(out_root) if out_root else path.resolve().parent / "reconcile"
        report = rec.write(root / ended.iso)
    except WorkbenchError as exc:
        log.error(
            "daily reconciliation failed: %s", exc, extra={"event": "reconcile", "reason": str(exc)}
        )
        return Verdict(False, -1, {}, None, str(exc))
    verdict = rec.verdict(report)
    counts = ", ".join(f"{k} {v}" for k, v in verdict.counts.items() if v) or "none"
    log.log(
        logging.INFO if verdict.ok else logging.WARNING,
        "reconciliation %s: %s; %d unexplained difference(s) (%s); report %s",
        ended.iso, rec.summary["verdict"], verdict.unexplained, counts, report,
        extra={"event": "reconcile", "state": rec.summary["verdict"], "reason": counts},
    )  # fmt: skip
    return verdict
