"""``workbench live`` applies the bundle's risk rules, and an outside kill switch halts it.

The runner is built the way the command line builds it (``build_runner``): the bundle's
risk config, with its state in the run's SQLite file, where ``workbench risk kill`` and the
dashboard's button write a halt.
"""

from __future__ import annotations

import json
import logging

import pytest

from workbench import backtest, load_bars
from workbench.bundle import write_bundle
from workbench.compose import LiveOptions, build_runner
from workbench.dashboard.control import halt
from workbench.live.status import read_status
from workbench.logs import JsonFormatter
from workbench.risk import SQLiteRiskStore, TradingState
from workbench.runspec import RunSpec
from workbench.strategy import make_strategy

PARAMS = {"fast": 10, "slow": 50}
COSTS = {"cash": 100_000.0, "commission": {"percent": 0.001}, "slippage": {"bps": 1.0}}


def _bundle(root, risk):
    return write_bundle(
        root / "promoted", make_strategy("ma_crossover", PARAMS),
        data={"spec": "sample:SPX", "symbols": {"SPX": {}}}, gates=[], metrics={},
        report="# test\n",
        run_spec=RunSpec(symbols=("SPX",), timeframe="1Day", session="all", risk=risk, **COSTS),
    )  # fmt: skip


def test_the_bundles_drawdown_halt_applies_as_in_the_backtest(tmp_path) -> None:
    risk = {"max_drawdown": 0.10}
    bundle = _bundle(tmp_path, risk)
    bars = load_bars("sample:SPX", start="2007-01-01", end="2008-12-31")
    options = LiveOptions(
        bundle=str(bundle.path), state=str(tmp_path / "live.sqlite"),
        start="2007-01-01", end="2008-12-31",
    )  # fmt: skip
    runner, _ = build_runner(options)
    runner.run()
    expected = backtest(
        "ma_crossover", bars, PARAMS, cash=100_000.0, commission=0.001, slippage=1.0, risk=risk
    )
    fills = runner.state.fills()
    assert len(fills) == len(expected.fills)
    assert list(fills["price"]) == pytest.approx(list(expected.fills["price"]), rel=1e-12)
    assert runner.broker.get_account().equity == pytest.approx(expected.final_equity, rel=1e-12)
    events = runner.state.events("risk")
    assert "max_drawdown" in set(events["detail"].str.extract(r'"rule": "(\w+)"')[0])
    with SQLiteRiskStore(runner.state.path) as store:
        assert store.load().trading is TradingState.HALTED


def test_an_outside_kill_switch_halts_and_flattens_the_run(tmp_path) -> None:
    bundle = _bundle(tmp_path, None)  # no rules: the kill switch works all the same
    state = tmp_path / "live.sqlite"
    runner, _ = build_runner(
        LiveOptions(bundle=str(bundle.path), feed="replay:sample:SPX", state=str(state))
    )
    inner, killed = runner.feed, {}

    def feed():  # a person presses the kill switch once the run holds a position
        for n, group in enumerate(inner):
            yield group
            if n >= 100 and not killed and runner.broker.get_positions():
                killed["at"] = group[0].time
                halt(state, reason="pressed in a test", source="test")

    runner.feed = feed()
    runner.run(max_bars=400)
    assert killed, "the run never held a position"
    assert not runner.broker.get_positions(), "positions left after the kill switch"
    orders = runner.state.orders()
    after = orders[orders["decision_ns"] >= killed["at"].value]
    assert len(after) == 1 and after["reason"].iloc[0].startswith("risk=")
    with SQLiteRiskStore(state) as store:
        s = store.load()
    assert s.trading is TradingState.HALTED and s.rule == "kill_switch"
    status = read_status(state)
    assert status["risk_state"] == "HALTED" and "pressed in a test" in status["risk_reason"]


def test_risk_lines_name_the_bundle_and_a_refused_orders_signal(tmp_path, caplog) -> None:
    """The risk engine the run is built with logs as the run's strategy; a refusal carries
    the signal of the order it refused beside the rule's reason (a kill-switch file that
    exists from the first bar: every cross is refused)."""
    kill = tmp_path / "KILL"
    kill.write_text("")
    bundle = _bundle(tmp_path, {"kill_switch_file": str(kill)})
    options = LiveOptions(
        bundle=str(bundle.path), state=str(tmp_path / "live.sqlite"),
        start="2007-01-01", end="2007-12-31",
    )  # fmt: skip
    runner, _ = build_runner(options)
    with caplog.at_level(logging.INFO, logger="workbench"):
        runner.run()
    fmt = JsonFormatter()
    lines = [json.loads(fmt.format(r)) for r in caplog.records if r.name == "workbench.risk"]
    assert [d["action"] for d in lines[:2]] == ["kill_switch", "refused"]
    assert runner.name == bundle.manifest["name"]
    assert {d["strategy"] for d in lines} == {runner.name}
    refused = [d for d in lines if d["action"] == "refused"]
    assert {d["signal"] for d in refused} == {"MA_CROSS_BUY"}
    assert all(d["reason"].startswith("trading halted since ") for d in refused)
    assert "signal" not in lines[0]  # the halt judged no order
