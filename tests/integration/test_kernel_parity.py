"""Backtest and live replay run the same bar kernel: the same fills and risk events, one by one.

Both runs go through the same hourly bars of two symbols with whole-share lots and the
risk rules that act on their own (the daily loss limit, the drawdown halt, the kill
switch, the per-order cap): every fill (time, symbol, side, quantity, price) and every
risk event (time, rule, action, symbol) must be equal, in order.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from workbench import backtest
from workbench.context import Context
from workbench.data.sources import load_symbols
from workbench.execution.config import ExecutionConfig
from workbench.live.replay import ReplayFeed, SimulatedVenueFeed
from workbench.live.runner import LiveRunner
from workbench.live.state import StateStore
from workbench.risk import RiskConfig, RiskEngine, SQLiteRiskStore
from workbench.sim.broker import SimulatedBroker
from workbench.strategy import Param, Strategy

LOT = 1.0
SPEC = "synthetic:AAA,BBB?bars=400&freq=1h&seed=11&vol=0.9&price=37.3"


class Swing(Strategy):
    """Long a symbol when its close is above its 6-bar mean, flat otherwise; trades often.

    It waits while an order of the symbol is working, so it sees whether the risk engine's
    own orders of this bar were sent before it decides (they must not be: live plans them
    with the strategy's, after ``on_bar``).

    ``touch_at`` (set on the instance): at that bar it creates ``touch_file``, as an
    operator touching the kill-switch file during the bar would.
    """

    name = "swing"
    params = (Param("window", int, 6, low=2), Param("weight", float, 0.45, low=0.0, high=1.0))

    touch_at: pd.Timestamp | None = None
    touch_file: Path | None = None

    def on_bar(self, ctx: Context) -> None:
        if self.touch_at is not None and ctx.time == self.touch_at:
            assert self.touch_file is not None
            self.touch_file.touch()
        for sym in ctx.symbols:
            close = ctx.data(sym)["close"]
            if len(close) < self.p.window or ctx.open_orders(sym):
                continue  # warming up, or an order is still working
            mean = sum(close[-self.p.window :]) / self.p.window
            weight = self.p.weight if close[-1] > mean else 0.0
            ctx.target(sym, percent=weight, reason="above" if weight else "below")


def _fills(frame: pd.DataFrame) -> list[tuple]:
    """Fills in time order; within one bar by symbol (the backtest books a bar's sells
    first, the replayed venue in order of arrival: the same fills either way)."""
    rows = [
        (pd.Timestamp(r.time), r.symbol, str(r.side), round(float(r.quantity), 9),
         round(float(r.price), 9))
        for r in frame.itertuples()
    ]  # fmt: skip
    return sorted(rows, key=lambda f: (f[0], f[1]))


def _name(symbol: object) -> str | None:
    return symbol if isinstance(symbol, str) and symbol else None


def _events(frame: pd.DataFrame) -> list[tuple]:
    return [
        (pd.Timestamp(r.time), r.rule, str(r.action), _name(r.symbol)) for r in frame.itertuples()
    ]


def _live_events(state: StateStore) -> list[tuple]:
    rows = state.events("risk")
    return [
        (pd.Timestamp(d["bar_time"]), d["rule"], d["action"], _name(sym))
        for d, sym in zip(map(json.loads, rows["detail"]), rows["symbol"], strict=True)
    ]


def _run_both(tmp_path: Path, risk: dict, touch_at: pd.Timestamp | None = None):
    bars = load_symbols(SPEC)
    out = []
    for where in ("backtest", "live"):
        folder = tmp_path / where
        folder.mkdir()
        config = dict(risk)
        if "kill_switch_file" in config:
            config["kill_switch_file"] = str(folder / "KILL")
        strategy = Swing()
        strategy.touch_at, strategy.touch_file = touch_at, folder / "KILL"
        if where == "backtest":
            result = backtest(strategy, bars, risk=config, lot_size=LOT)
            out.append((_fills(result.fills), _events(result.risk_events)))
            continue
        path = folder / "live.sqlite"
        broker = SimulatedBroker(100_000.0, lot_size=LOT)
        state = StateStore(path)
        engine = RiskEngine(RiskConfig.coerce(config), SQLiteRiskStore(path))
        feed = SimulatedVenueFeed(ReplayFeed(bars), broker)
        runner = LiveRunner(
            strategy, list(bars), broker, feed, state,
            execution=ExecutionConfig(lot_size=LOT), risk=engine,
        )  # fmt: skip
        runner.run()
        out.append((_fills(state.fills()), _live_events(state)))
    return out


def _assert_same(backtest_run, live_run, must_see: set[str]) -> None:
    (bt_fills, bt_events), (live_fills, live_events) = backtest_run, live_run
    assert len(bt_fills) > 20
    assert {q for *_, q, _ in bt_fills} and all(q == int(q) for *_, q, _ in bt_fills)
    for i, (a, b) in enumerate(zip(bt_fills, live_fills, strict=False)):
        assert a == b, f"fill {i} differs: backtest {a} live {b}"
    assert len(bt_fills) == len(live_fills)
    for i, (a, b) in enumerate(zip(bt_events, live_events, strict=False)):
        assert a == b, f"risk event {i} differs: backtest {a} live {b}"
    assert len(bt_events) == len(live_events)
    seen = {(rule, action) for _, rule, action, _ in bt_events}
    assert must_see <= {f"{r}:{a}" for r, a in seen}, seen


def test_daily_loss_limit_and_drawdown_halt(tmp_path: Path) -> None:
    risk = {"daily_loss_limit": 0.01, "max_drawdown": 0.04, "max_order_notional": 30_000.0}
    bt, live = _run_both(tmp_path, risk)
    _assert_same(bt, live, {"daily_loss_limit:reducing", "max_drawdown:halted",
                            "max_drawdown:liquidated", "max_order_notional:resized"})  # fmt: skip


def test_kill_switch(tmp_path: Path) -> None:
    bars = load_symbols(SPEC)
    touch = bars["AAA"].index[300]
    bt, live = _run_both(tmp_path, {"kill_switch_file": "KILL"}, touch_at=touch)
    _assert_same(bt, live, {"kill_switch:kill_switch", "kill_switch:liquidated"})
    # seen at the next bar's risk update, liquidated at the open of the one after; then nothing
    last = [f for f in bt[0] if f[0] > touch + pd.Timedelta(hours=1)]
    assert {(t, side) for t, _, side, *_ in last} == {(touch + pd.Timedelta(hours=2), "sell")}


def test_lot_sizes_reach_the_risk_check_in_both(tmp_path: Path) -> None:
    """A resized order is rounded down to whole lots in both runs (risk.check gets lot_size)."""
    bt, live = _run_both(tmp_path, {"max_order_notional": 1_234.5})
    _assert_same(bt, live, {"max_order_notional:resized"})
