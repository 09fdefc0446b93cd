"""``make demo`` end to end, smaller: every output is there and they agree with each other.

One run of :func:`workbench.demo.run_demo` (2 walk-forward folds, 120 live bars on the
Alpaca emulator); the tests read what it printed and wrote.
"""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import pandas as pd
import pytest

from workbench import demo
from workbench.bundle import load_bundle, verify
from workbench.live.status import read_status

pytestmark = pytest.mark.slow
FOLDS = 2
BARS = 120


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("demo")
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(printed):
        mp.setenv("MPLBACKEND", "Agg")
        state = demo.run_demo(out, bars=BARS, folds=FOLDS, jobs=2)
    return state, printed.getvalue()


def test_every_output_exists_under_the_out_folder(run) -> None:
    state, printed = run
    out = state["config"].out
    expected = {
        "backtest report", "sweep results", "sweep heatmap", "walk-forward folds",
        "walk-forward summary", "walk-forward report", "bundle", "live state", "live log",
        "emulator account", "reconciliation",
    }  # fmt: skip
    assert set(state["outputs"]) == expected
    for name, path in state["outputs"].items():
        assert path.is_relative_to(out) and path.exists(), name
        assert path.is_dir() or path.stat().st_size > 0, name
        assert str(path) in printed, name  # each output says where it is


def test_the_sweep_and_the_walk_forward_are_consistent(run) -> None:
    state, _ = run
    results = pd.read_csv(state["outputs"]["sweep results"])
    assert len(results) > 100 and {"fast", "slow", "sharpe"} <= set(results.columns)
    summary = json.loads(state["outputs"]["walk-forward summary"].read_text())
    assert summary["n_folds"] == FOLDS and summary["n_failed"] == 0
    assert len(list(state["outputs"]["walk-forward folds"].glob("fold_*.ipynb"))) == FOLDS
    last = summary["folds"][-1]
    assert state["chosen"] == last["params"]
    assert last["test_last"][:10] <= demo.RESEARCH_END  # research never sees the live bars


def test_the_bundle_verifies_and_says_whether_it_was_forced(run) -> None:
    state, printed = run
    bundle = load_bundle(state["outputs"]["bundle"])  # raises if it does not verify
    assert verify(bundle) == []
    manifest = bundle.manifest
    assert bundle.params == {**bundle.params, **state["chosen"]}
    failed = [g["name"] for g in manifest["gates"] if not g["passed"]]
    assert manifest["forced"] == bool(failed)
    if failed:
        assert manifest["forced_reason"] == demo.FORCE_REASON
        assert f"THE GATES FAILED ({', '.join(failed)})" in printed
    assert "gates:" in printed and "lookahead_audit" in printed


def test_the_live_session_ends_where_the_emulator_account_is(run) -> None:
    state, printed = run
    status = read_status(state["outputs"]["live state"])
    assert status["status"] == "stopped" and status["stopped_by"] == "max bars"
    assert status["broker"] == "alpaca" and status["feed"] == "alpaca"
    venue = json.loads(state["outputs"]["emulator account"].read_text())
    assert status["positions"] == {p["symbol"]: float(p["qty"]) for p in venue["positions"]}
    assert status["equity"] == pytest.approx(float(venue["account"]["equity"]), rel=1e-9)
    assert status["fill_count"] == len(status["fills"]) == venue["fills"] > 0
    lines = [json.loads(x) for x in state["outputs"]["live log"].read_text().splitlines()]
    assert sum(x.get("event") == "fill" for x in lines) == venue["fills"]
    assert demo.SECRET not in state["outputs"]["live log"].read_text()
    assert "$ workbench live status" in printed


def test_the_reconciliation_finds_no_unexplained_difference(run) -> None:
    state, printed = run
    s = state["reconciliation"]
    assert s["verdict"] == "match" and s["unexplained"] == 0
    assert s["trades"]["live"] == s["trades"]["backtest"] == s["trades"]["matched"] >= 1
    assert s["bars"]["count"] == BARS
    written = json.loads((state["outputs"]["reconciliation"].parent / "summary.json").read_text())
    assert written["verdict"] == "match"
    assert "match: 0 unexplained" in printed


def test_the_live_status_shown_is_the_commands(run) -> None:
    state, printed = run
    shown = printed.split(f"$ workbench live status --state {state['live']}\n", 1)[1]
    shown = shown.split("\n  live state", 1)[0].splitlines()
    fills = read_status(state["live"])["fills"]
    assert [line for line in shown if line.startswith("  fill ")] == [
        f"  fill {f['time']} {f['side']:<4} {f['quantity']:g} {f['symbol']} @ {f['price']:g}"
        f"  {f['client_order_id']}"
        for f in fills[-10:]
    ]
    assert not any(line.startswith("fills") or " None" in line for line in shown)
