"""An entry with its stop-loss and take-profit attached, sent on the signal's bar, trades
the same in a backtest, a live replay on the simulated broker, and a live run through
alpaca-py against the emulator: the same fills, price for price, bar for bar."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from workbench import backtest, load_bars
from workbench.bundle import write_bundle
from workbench.compose import LiveOptions, build_runner
from workbench.emulator import Emulator
from workbench.live.session import drive
from workbench.runspec import RunSpec
from workbench.strategies.bracket_breakout import BracketBreakout

pytestmark = pytest.mark.slow
KEY, SECRET = "bracket-key", "bracket-secret"
CASH = 100_000.0
BARS = 260  # 1999: breakouts stopped out and taken profit, some on the entry bar
PARAMS = {"window": 10, "take_profit": 0.03, "stop_loss": 0.015}


def _bundle(root: Path):
    return write_bundle(
        root / "promoted", BracketBreakout(**PARAMS),
        data={"spec": "sample:SPX", "symbols": {"SPX": {}}}, gates=[], metrics={},
        report="# brackets\n", run_spec=RunSpec(symbols=("SPX",), timeframe="1Day", cash=CASH),
    )  # fmt: skip


def _fills(frame: pd.DataFrame) -> list[tuple[str, float, float]]:
    """(side, quantity, price) of each fill, in order (each path stamps times its own way:
    the sequence of prices pins the bars)."""
    return [
        (str(f.side), float(f.quantity), round(float(f.price), 6))
        for f in frame.itertuples(index=False)
    ]


def test_brackets_fill_alike_in_backtest_replay_and_emulator(tmp_path, monkeypatch) -> None:
    bars = load_bars("sample:SPX", start="1999-01-01").iloc[:BARS]
    result = backtest(BracketBreakout, bars, PARAMS, cash=CASH)
    want = _fills(result.fills)
    exits = result.orders[result.orders["type"] != "market"]
    assert (exits["status"] == "filled").sum() >= 4, "the fixture must take both exits"
    assert {"limit", "stop"} <= set(exits.loc[exits["status"] == "filled", "type"])
    entry_day = result.orders.groupby("updated_at")["status"].apply(lambda s: (s == "filled").sum())
    assert (entry_day >= 2).any(), "an entry and its exit on the same bar"

    bundle = _bundle(tmp_path)
    replay_state = tmp_path / "replay.sqlite"
    runner, _ = build_runner(
        LiveOptions(bundle=str(bundle.path), broker="sim", feed="replay:sample:SPX",
                    state=str(replay_state), cash=CASH, start=bars.index[0], end=bars.index[-1])
    )  # fmt: skip
    runner.run(max_bars=BARS)
    replayed = runner.state.fills()
    assert _fills(replayed) == want
    # the simulated venue fills at the same bars as the backtest, to the timestamp
    assert pd.to_datetime(replayed["time"]).tolist() == result.fills["time"].tolist()
    runner.state.close()

    monkeypatch.setenv("APCA_API_KEY_ID", KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    state = tmp_path / "live.sqlite"
    with Emulator({"SPX": bars}, key=KEY, secret=SECRET, cash=CASH) as emu:
        runner, _ = build_runner(
            LiveOptions(bundle=str(bundle.path), broker="alpaca", feed="alpaca",
                        state=str(state), alpaca_url=emu.base_url,
                        clock_ttl=0.0)
        )  # fmt: skip
        drive(runner, emu, state, BARS)
        venue = emu.state()
    assert _fills(runner.state.fills()) == want
    assert venue["fills"] == len(want)
    runner.state.close()


def test_stops_relative_to_the_fill_trade_alike_in_backtest_and_live_replay(tmp_path) -> None:
    """``ma_crossover`` with vectorbt-style stops: the runner sends the entries with exits
    relative to the fill (GTC legs on DAY notional entries), and the simulated venue fills
    them as in the backtest; the plan written before sending keeps them."""
    from workbench.strategies.ma_crossover import MACrossover

    params = {"fast": 10, "slow": 30, "sl_stop": 0.02, "tp_stop": 0.04}
    bars = load_bars("sample:SPX", start="1999-01-01").iloc[:BARS]
    result = backtest(MACrossover, bars, params, cash=CASH)
    exits = result.orders[result.orders["type"] != "market"]
    assert {"limit", "stop"} <= set(exits.loc[exits["status"] == "filled", "type"])
    bundle = write_bundle(
        tmp_path / "promoted", MACrossover(**params),
        data={"spec": "sample:SPX", "symbols": {"SPX": {}}}, gates=[], metrics={},
        report="# stops\n", run_spec=RunSpec(symbols=("SPX",), timeframe="1Day", cash=CASH),
    )  # fmt: skip
    runner, _ = build_runner(
        LiveOptions(bundle=str(bundle.path), broker="sim", feed="replay:sample:SPX",
                    state=str(tmp_path / "replay.sqlite"), cash=CASH, start=bars.index[0],
                    end=bars.index[-1])
    )  # fmt: skip
    runner.run(max_bars=BARS)
    replayed = runner.state.fills()
    assert _fills(replayed) == _fills(result.fills)
    assert pd.to_datetime(replayed["time"]).tolist() == result.fills["time"].tolist()
    runner.state.close()
