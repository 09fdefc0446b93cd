"""Real pennies against the Alpaca emulator through alpaca-py: tiny real orders, full-size books.

Live sessions with ``pennies=100`` on bundles of $100,000 (scale 0.001): the emulator
(the real HTTP and WebSocket servers, the unmodified SDK) receives every order of the
full-size reference run at a thousandth of its size; the state file holds the virtual,
full-size account (fills, positions, cash, equity); and the reconciliation of a
session against the backtest of the same bars finds no difference.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from workbench import backtest
from workbench.bundle import Bundle, write_bundle
from workbench.compose import LiveOptions, build_runner
from workbench.live.chaos import (
    CASH,
    COSTS,
    KEY,
    SECRET,
    chaos_bars,
    chaos_emulator,
    reference_orders,
    write_chaos_bundle,
)
from workbench.live.reconcile import reconcile
from workbench.live.session import drive
from workbench.live.state import StateStore
from workbench.runspec import RunSpec
from workbench.strategy import make_strategy

pytestmark = pytest.mark.slow
BARS = 60
PENNIES = 100.0
SCALE = PENNIES / CASH


def run_session(root: Path, bundle: Bundle, bars: Any) -> tuple[StateStore, dict[str, Any]]:
    """A whole pennies session, bar by bar; the state store and the emulator's final dump."""
    state = root / "live.sqlite"
    with chaos_emulator(bars) as emu:
        runner, _ = build_runner(
            LiveOptions(bundle=str(bundle.path), broker="alpaca", feed="alpaca",
                        state=str(state), alpaca_url=emu.base_url,
                        retry_delay=0.02, pennies=PENNIES)
        )  # fmt: skip
        summary = drive(runner, emu, state, len(bars))
        assert summary.stopped_by == "max bars"
        return runner.state, emu.state()


def test_the_venue_gets_the_reference_orders_scaled_and_the_state_is_virtual(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("APCA_API_KEY_ID", KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    bars = chaos_bars(BARS)  # whole-share targets re-sized on most bars: entries and reductions
    store, venue = run_session(tmp_path, write_chaos_bundle(tmp_path), bars)
    assert json.loads(store.get_meta("pennies")) == PENNIES
    assert json.loads(store.get_meta("scale")) == SCALE

    # the venue's orders: the full-size reference's, each a thousandth of its size
    stamps = {s.strftime("%Y%m%dT%H%M%S") for s in bars.index}  # the sessions' labels
    orders = venue["orders"]
    got = [(o["side"], float(o["qty"]), o["client_order_id"].rsplit("-", 2)[-2]) for o in orders]
    expected = [(side, round(qty * SCALE, 9), stamp) for side, qty, stamp in reference_orders(bars)]
    assert got == expected and len(got) > 20
    assert {stamp for *_, stamp in got} <= stamps
    assert {o["time_in_force"] for o in orders} == {"day"}  # fractional at the venue

    # the state's fills: the venue's divided by the scale, at the venue's prices
    fills = store.fills()
    assert len(fills) == venue["fills"]
    by_order = fills.assign(notional=fills["quantity"] * fills["price"]).groupby("order_id")
    for o in orders:
        filled = float(o["filled_qty"])
        assert by_order["quantity"].sum()[o["id"]] == pytest.approx(filled / SCALE, rel=1e-9)
        avg = by_order["notional"].sum()[o["id"]] / by_order["quantity"].sum()[o["id"]]
        assert avg == pytest.approx(float(o["filled_avg_price"]), rel=1e-12)

    # the last snapshot: the virtual account, consistent with the real one
    last = store.equity_curve().iloc[-1]
    account = venue["account"]
    held = {p["symbol"]: float(p["qty"]) / SCALE for p in venue["positions"]}
    snap = {s: q for s, q in json.loads(last["positions"]).items() if q}
    assert snap == pytest.approx(held, rel=1e-9)
    assert last["cash"] == pytest.approx(CASH + (float(account["cash"]) - CASH) / SCALE, rel=1e-9)
    assert last["equity"] == pytest.approx(
        CASH + (float(account["equity"]) - CASH) / SCALE, rel=1e-9
    )
    signed = fills["quantity"].where(fills["side"] == "buy", -fills["quantity"])
    assert last["cash"] == pytest.approx(CASH - (signed * fills["price"]).sum(), rel=1e-9)
    store.close()


def test_a_pennies_session_reconciles_with_the_backtest(tmp_path, monkeypatch) -> None:
    """Notional entries (all the equity) and whole-position exits: the real orders are the
    backtest's at a thousandth, and the reconciliation finds nothing to explain."""
    monkeypatch.setenv("APCA_API_KEY_ID", KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    bars = chaos_bars(120)
    strategy = make_strategy("ma_crossover", {"fast": 5, "slow": 15})
    bundle = write_bundle(
        tmp_path / "promoted", strategy, data={"spec": "sample:SPX", "symbols": {"SPX": {}}},
        gates=[], metrics={}, report="# pennies\n",
        run_spec=RunSpec(symbols=("SPX",), timeframe="1Day", **COSTS),
    )  # fmt: skip
    store, venue = run_session(tmp_path, bundle, bars)
    store.close()
    reference = backtest(strategy, bars, cash=CASH, slippage=COSTS["slippage"]["bps"]).orders
    orders = venue["orders"]
    assert [o["side"] for o in orders] == reference["side"].tolist() and len(orders) >= 10
    for o, ref in zip(orders, reference.itertuples(index=False), strict=True):
        if o["notional"] is not None:  # an entry: the virtual notional, in cents rounded down
            wanted = ref.notional * SCALE
            assert wanted - 0.01 - 1e-9 <= float(o["notional"]) <= wanted + 1e-9
        else:  # an exit: the whole real position (its entry may be a cent short)
            assert float(o["qty"]) == pytest.approx(ref.quantity * SCALE, rel=0.011 / 90)
    rec = reconcile(store.path)
    s = rec.summary
    assert s["verdict"] == "match" and s["unexplained"] == 0, rec.differences.to_string()
    assert s["trades"]["live"] == s["trades"]["backtest"] == s["trades"]["matched"] >= 5
    assert s["fills"]["live"] == s["fills"]["backtest"] and s["fills"]["dropped"] == 0
    assert s["equity"]["live_final"] == pytest.approx(s["equity"]["backtest_final"], rel=1e-4)
