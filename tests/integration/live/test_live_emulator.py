"""The live runner against the Alpaca emulator through alpaca-py: its state file agrees with
the venue's account to the cent, and it closes its streams when it stops."""

from __future__ import annotations

import json

import pytest

from workbench.compose import LiveOptions, build_runner
from workbench.emulator.testing import wait_until
from workbench.live.chaos import (
    CASH,
    KEY,
    SECRET,
    ChaosReport,
    chaos_bars,
    chaos_emulator,
    check,
    reference_orders,
    write_chaos_bundle,
)
from workbench.live.session import drive

pytestmark = pytest.mark.slow
BARS = 150


def test_a_session_ends_with_the_state_equal_to_the_venue(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("APCA_API_KEY_ID", KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    bars = chaos_bars(BARS)
    bundle = write_chaos_bundle(tmp_path)
    state = tmp_path / "live.sqlite"
    log_file = tmp_path / "live.jsonl"
    with chaos_emulator(bars) as emu:
        runner, _ = build_runner(
            LiveOptions(bundle=str(bundle.path), broker="alpaca", feed="alpaca",
                        state=str(state), alpaca_url=emu.base_url,
                        log_file=str(log_file))
        )  # fmt: skip
        summary = drive(runner, emu, state, BARS)
        assert summary.stopped_by == "max bars"
        # the runner closed both streams itself
        wait_until(lambda: emu.state()["connections"]["trading"] == 0, 10, "trading closed")
        wait_until(lambda: emu.state()["connections"]["data"] == 0, 10, "data closed")
        venue = emu.state()
    store = runner.state
    assert store.get_meta("log_file") == str(log_file)
    assert store.get_meta("status") == "stopped"
    # the last snapshot and the recorded fills are the venue's account, exactly
    curve = store.equity_curve()
    last = curve.iloc[-1]
    account = venue["account"]
    assert last["cash"] == pytest.approx(float(account["cash"]), rel=1e-12)
    assert last["equity"] == pytest.approx(float(account["equity"]), rel=1e-12)
    held = {p["symbol"]: float(p["qty"]) for p in venue["positions"]}
    assert {s: q for s, q in json.loads(last["positions"]).items() if q} == held
    fills = store.fills()
    signed = fills["quantity"].where(fills["side"] == "buy", -fills["quantity"])
    assert signed.sum() == pytest.approx(held.get("SPX", 0.0), abs=1e-9)
    assert CASH - (signed * fills["price"]).sum() == pytest.approx(float(account["cash"]), 1e-12)
    # it traded several times, each order of the reference exactly once
    assert len(venue["orders"]) == len(reference_orders(bars)) > 20
    assert len(fills) == venue["fills"]
    assert store.orders()["decision_ns"].notna().all()  # every order's request came first
    report = ChaosReport(bars=BARS)
    check(state, venue, bars, report)
    assert report.violations == []
    store.close()
