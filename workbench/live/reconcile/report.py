"""The files of a reconciliation: what a person reads and what tools parse.

``summary.json`` (verdict, counts, the P&L difference split into price, timing, quantity,
fees, missing and extra trades, tolerances, settings), ``trades.csv`` (one row per round
trip with both sides and their differences), ``differences.csv``, ``equity.png``
(live and backtest equity and their gap), ``fills.png`` (per-trade fill-price
differences and realised against modelled slippage), and ``report.html``: all of it in
one self-contained page (plots inlined), every value escaped, on the skeleton every report
shares (:mod:`workbench.reports.html`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workbench.live.reconcile.model import MEANINGS

if TYPE_CHECKING:
    from workbench.live.reconcile import Reconciliation

TRADE_COLUMNS = [
    "trade", "symbol", "direction", "match", "differences", "explained_by",
    "bt_entry_decision", "live_entry_decision", "bt_entry_time", "live_entry_time",
    "entry_fill_shift", "bt_entries", "live_entries", "bt_entry_order_id",
    "live_entry_order_id", "bt_entry_price", "live_entry_price", "entry_price_bps",
    "bt_entry_slip_bps", "live_entry_slip_bps", "bt_exit_decision", "live_exit_decision",
    "bt_exit_time", "live_exit_time", "exit_fill_shift", "bt_exits", "live_exits",
    "bt_exit_order_id", "live_exit_order_id", "bt_exit_price", "live_exit_price",
    "exit_price_bps", "bt_exit_slip_bps", "live_exit_slip_bps", "bt_status", "live_status",
    "bt_quantity", "live_quantity", "bt_size", "live_size", "size_rel", "bt_fees", "live_fees",
    "live_fees_model", "fee_diff", "bt_pnl", "live_pnl", "pnl_diff", "pnl_price", "pnl_timing",
    "pnl_quantity", "pnl_fees", "bt_episode", "live_episode",
]  # fmt: skip
SHOWN = ["trade", "symbol", "direction", "match", "differences", "bt_entry_time",
         "live_entry_time", "entry_fill_shift", "live_entries", "entry_price_bps",
         "live_entry_slip_bps", "bt_entry_slip_bps", "bt_exit_time", "live_exit_time",
         "exit_fill_shift", "live_exits", "exit_price_bps", "live_exit_slip_bps",
         "bt_exit_slip_bps", "fee_diff", "size_rel", "pnl_diff", "explained_by"]  # fmt: skip
#: What the shown columns that are not plain say, under the trades table.
COLUMN_NOTES = (
    "One row per round trip: its entry orders (live_entries counts them: the rest of a partly "
    "filled entry sent again as another order is the same trade) with every order that "
    "closed it (live_exits counts them); the entry time is the first entry's. "
    "*_fill_shift: bars live filled the leg later (+) or earlier (-) than the "
    "backtest, counted from each side's decision. *_price_bps: live against backtest fill "
    "price, + = worse for the trader. *_slip_bps: the fill against its bar's open. "
    "trades.csv has every column of both sides."
)


def trade_table(rec: Reconciliation) -> pd.DataFrame:
    return rec.trades.reindex(columns=TRADE_COLUMNS)


def write_report(rec: Reconciliation, out: Path) -> Path:
    """Write every file into ``out`` (created); returns the path of ``report.html``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(rec.summary, indent=2, default=str) + "\n")
    trade_table(rec).to_csv(out / "trades.csv", index=False)
    rec.differences.to_csv(out / "differences.csv", index=False)
    plots = {"equity.png": _equity_plot(rec), "fills.png": _fills_plot(rec)}
    for name, png in plots.items():
        (out / name).write_bytes(png)
    page = out / "report.html"
    page.write_text(_html(rec, plots))
    return page


def _png(fig: Any) -> bytes:
    from workbench.reports.html import figure_png

    fig.tight_layout()
    return figure_png(fig)


def _equity_plot(rec: Reconciliation) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 5), dpi=100)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.2]})
    eq = rec.equity
    top.plot(eq.index, eq["backtest"].to_numpy(), lw=1.2, color="#6e7781", label="backtest")
    top.plot(eq.index, eq["live"].to_numpy(), lw=1.0, color="#1f6feb", ls="--", label="live")
    top.set_ylabel("equity")
    top.legend(loc="upper left", frameon=False)
    top.grid(alpha=0.3)
    bottom.plot(eq.index, (eq["live"] - eq["backtest"]).to_numpy(), color="#cf222e", lw=1)
    bottom.axhline(0, color="black", lw=0.5)
    bottom.set_ylabel("live - backtest")
    bottom.grid(alpha=0.3)
    return _png(fig)


def _fills_plot(rec: Reconciliation) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.5), dpi=100)
    left, right = fig.subplots(1, 2)
    t = rec.trades
    if t.empty:
        left.text(0.5, 0.5, "no trades", ha="center")
    else:
        x = t["trade"].to_numpy()
        for col, label, off in (
            ("entry_price_bps", "entry", -0.2),
            ("exit_price_bps", "exit", 0.2),
        ):
            y = pd.to_numeric(t[col], errors="coerce") if col in t else pd.Series(np.nan, t.index)
            y = y.to_numpy(dtype=float)
            left.bar(x + off, np.nan_to_num(y), width=0.4, label=label)
        left.axhline(rec.summary["tolerances"]["price_bps"], color="#cf222e", ls=":", lw=1)
        left.axhline(-rec.summary["tolerances"]["price_bps"], color="#cf222e", ls=":", lw=1)
        left.set_xlabel("trade")
        left.set_ylabel("live vs backtest fill price (bps, + = worse)")
        left.legend(frameon=False)
        for leg, marker in (("entry", "o"), ("exit", "s")):
            bt = pd.to_numeric(t[f"bt_{leg}_slip_bps"], errors="coerce")
            lv = pd.to_numeric(t[f"live_{leg}_slip_bps"], errors="coerce")
            right.scatter(bt, lv, marker=marker, label=leg, alpha=0.7)
        both = pd.concat([t["bt_entry_slip_bps"], t["live_entry_slip_bps"]]).astype(float)
        lo, hi = np.nanmin(both.to_numpy()), np.nanmax(both.to_numpy())
        if np.isfinite(lo) and np.isfinite(hi):
            right.plot([lo, hi], [lo, hi], color="black", lw=0.5)
        right.set_xlabel("modelled slippage vs open (bps)")
        right.set_ylabel("realised slippage vs open (bps)")
        right.legend(frameon=False)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    return _png(fig)


def _table(frame: pd.DataFrame) -> str:
    from workbench.reports.html import table

    return table(frame)


def _html(rec: Reconciliation, plots: dict[str, bytes]) -> str:
    from workbench.reports.html import Section, escape, facts, page, paragraph, png_image

    s = rec.summary
    ok = s["verdict"] == "match"
    counts = pd.DataFrame(
        {
            "category": list(s["counts"]),
            "count": list(s["counts"].values()),
            "meaning": [MEANINGS.get(c, "") for c in s["counts"]],
        }
    )
    rows = {
        "strategy": f"{s['bundle']['name']} v{s['bundle']['version']} {s['bundle']['params']}",
        "bars": f"{s['bars']['count']} ({s['bars']['first']} to {s['bars']['last']})",
        "trades live / backtest / matched": "{live} / {backtest} / {matched}".format(**s["trades"]),
        "final equity live / backtest": "{live_final:,.2f} / {backtest_final:,.2f}".format(
            **s["equity"]
        ),
        "trade P&L live / backtest": "{live:,.2f} / {backtest:,.2f}".format(**s["pnl"]),
        "P&L difference": (
            "{difference:+,.2f} = price {price:+,.2f}, timing {timing:+,.2f}, quantity "
            "{quantity:+,.2f}, fees "
            "{fees:+,.2f}, missing trades {missing_trades:+,.2f}, extra trades "
            "{extra_trades:+,.2f} (final equity difference {equity_difference:+,.2f})"
        ).format(**s["pnl"]),
        "costs": json.dumps(s["costs"]),
        "risk config": json.dumps(s["risk"]),
        "tolerances": json.dumps(s["tolerances"]),
        "broker / feed": f"{s['run'].get('broker')} / {s['run'].get('feed')}",
    }
    notes = "".join(f"<li>{escape(n)}</li>" for n in s["notes"])
    verdict = (
        f'<p class="verdict {"good" if ok else "bad"}" id="verdict">{escape(s["verdict"])}: '
        f"{s['unexplained']} unexplained difference(s), {s['explained']} explained</p>"
    )
    images = "".join(
        png_image(png, name, name=name.removesuffix(".png")) for name, png in plots.items()
    )
    shown = rec.trades.reindex(columns=SHOWN)
    summary = verdict + facts(rows) + (f"<ul>{notes}</ul>" if notes else "")
    none = paragraph("none")
    sections = [
        Section("summary", "Verdict", summary),
        Section("counts", "Differences by category", _table(counts)),
        Section("plots", "Plots", images),
        Section("differences", "Differences",
                _table(rec.differences) if len(rec.differences) else none),
        Section("trades", "Trades",
                _table(shown) + paragraph(COLUMN_NOTES, cls="note")
                if len(shown) else paragraph("no trades")),
        Section("events", "Live events", _table(rec.events) if len(rec.events) else none),
    ]  # fmt: skip
    return page(
        f"Reconciliation: {s['bundle']['name']}",
        sections,
        subtitle=f"live versus backtest, reconciled at {s['generated_at']}",
        kind="reconciliation",
    )
