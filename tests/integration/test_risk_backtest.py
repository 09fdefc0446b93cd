"""Risk in the backtester on the real S&P 500 sample: the 2008 drawdown halt, the CLI, plots."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench import backtest, load_bars
from workbench.cli.main import main
from workbench.logs import JsonFormatter
from workbench.risk import RiskConfig, RiskEngine, SQLiteRiskStore, TradingState

PARAMS = {"fast": 10, "slow": 50}


@pytest.fixture(scope="module")
def spx() -> pd.DataFrame:
    return load_bars("sample:SPX", start="2007-01-01", end="2008-12-31")


@pytest.fixture(scope="module")
def halted(spx: pd.DataFrame):
    return backtest("ma_crossover", spx, PARAMS, cash=10_000.0, risk={"max_drawdown": 0.10})


def test_drawdown_halt_in_2008_liquidates_and_nothing_trades_after(
    spx: pd.DataFrame, halted
) -> None:
    events = halted.risk_events
    halt = events[events["action"] == "halted"]
    assert len(halt) == 1
    halt_time = halt["time"].iloc[0]
    assert halt_time.year == 2008
    # the halt fires on the first close at least 10% below the peak (independent check)
    eq = halted.equity
    drop = 1 - eq / eq.cummax()
    assert halt_time == drop[drop >= 0.10].index[0]
    assert halt["reason"].iloc[0].startswith(f"equity {eq[halt_time]:,.2f} is ")
    # liquidation: one market sell of the whole position at the next bar's open
    next_bar = spx.index[spx.index.get_loc(halt_time) + 1]
    liquidation = halted.fills[halted.fills["reason"] == "risk=max_drawdown"]
    assert len(liquidation) == 1
    row = liquidation.iloc[0]
    assert row.time == next_bar and row.side == "sell"
    assert row.price == pytest.approx(spx.loc[next_bar, "open"])
    last_trade = halted.trades.iloc[-1]
    assert last_trade.exit_reason == "risk=max_drawdown" and last_trade.status == "closed"
    # no trade after it: the strategy still asked (its cross above was refused)
    assert (halted.fills["time"] <= next_bar).all()
    assert (pd.to_datetime(halted.orders["created_at"], utc=True) <= halt_time).all()
    refused = events[events["action"] == "refused"]
    assert len(refused) >= 1 and (refused["time"] > halt_time).all()
    assert (refused["rule"] == "max_drawdown").all()
    # flat in cash from the liquidation on: equity no longer moves
    after = halted.equity[halted.equity.index >= next_bar]
    assert np.allclose(after, after.iloc[0])
    assert np.allclose(halted.cash + halted.market_value, halted.equity)


def test_without_the_halt_the_strategy_keeps_trading(spx: pd.DataFrame, halted) -> None:
    free = backtest("ma_crossover", spx, PARAMS, cash=10_000.0)
    assert len(free.trades) > len(halted.trades)
    assert free.risk_events.empty


def test_rules_that_never_bind_change_nothing(spx: pd.DataFrame) -> None:
    plain = backtest("ma_crossover", spx, PARAMS, cash=10_000.0)
    loose = backtest(
        "ma_crossover",
        spx,
        PARAMS,
        cash=10_000.0,
        risk={"max_drawdown": 0.9, "daily_loss_limit": 0.5, "max_orders_per_day": 10},
    )
    assert loose.risk_events.empty
    pd.testing.assert_series_equal(plain.equity, loose.equity)
    pd.testing.assert_frame_equal(plain.trades, loose.trades)


def test_the_equity_plot_marks_risk_events(halted) -> None:
    fig = halted.plot()[0]
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "risk: halted (1)" in labels and "risk: liquidated (1)" in labels


def test_save_writes_the_risk_events(halted, tmp_path: Path) -> None:
    paths = halted.save(tmp_path / "out")
    saved = pd.read_csv(paths["risk_events"])
    assert list(saved.columns) == ["time", "rule", "action", "symbol", "reason", "signal"]
    assert list(saved["action"]) == list(halted.risk_events["action"])
    assert list(saved["signal"].fillna("")) == list(halted.risk_events["signal"])


def test_backtest_cli_with_risk_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "risk.yaml"
    config.write_text("max_drawdown: 0.10\n")
    code = main(
        [
            "backtest",
            "--strategy",
            "ma_crossover",
            "--data",
            "sample:SPX",
            "--param",
            "fast=10",
            "--param",
            "slow=50",
            "--start",
            "2007-01-01",
            "--end",
            "2008-12-31",
            "--cash",
            "10000",
            "--risk",
            str(config),
            "--json",
        ]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    events = doc["risk_events"]
    assert [e["action"] for e in events[:2]] == ["halted", "liquidated"]
    assert {"time", "rule", "action", "reason", "symbol"} <= set(events[0])
    assert events[0]["rule"] == "max_drawdown" and events[0]["symbol"] is None
    assert pd.Timestamp(events[0]["time"]).tz is not None
    assert doc["trades"][-1]["exit_reason"] == "risk=max_drawdown"


def test_backtest_cli_rejects_a_broken_risk_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "risk.yaml"
    config.write_text("max_draw_down: 0.1\n")
    code = main(["backtest", "--strategy", "ma_crossover", "--risk", str(config)])
    assert code == 2
    assert "unknown key max_draw_down" in capsys.readouterr().err


def test_a_persistent_engine_stays_halted_for_the_next_run(
    spx: pd.DataFrame, tmp_path: Path
) -> None:
    """The same engine and state file carried into a second run: still halted, nothing trades."""
    path = tmp_path / "state.sqlite"
    config = RiskConfig(max_drawdown=0.10)
    backtest(
        "ma_crossover", spx, PARAMS, cash=10_000.0, risk=RiskEngine(config, SQLiteRiskStore(path))
    )
    rebuilt = RiskEngine(config, SQLiteRiskStore(path))
    assert rebuilt.trading is TradingState.HALTED
    again = backtest("ma_crossover", spx, PARAMS, cash=10_000.0, risk=rebuilt)
    assert again.fills.empty
    assert (again.risk_events["action"] == "refused").all() and len(again.risk_events) > 0


def test_risk_lines_name_the_strategy_and_a_refused_orders_signal(
    spx: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    """The engine the backtest builds from the rules logs as the strategy its execution
    lines name; the refused cross after the halt carries its signal beside the reason."""
    with caplog.at_level(logging.INFO, logger="workbench.risk"):
        result = backtest("ma_crossover", spx, PARAMS, cash=10_000.0, risk={"max_drawdown": 0.10})
    fmt = JsonFormatter()
    lines = [json.loads(fmt.format(r)) for r in caplog.records if r.name == "workbench.risk"]
    assert [d["action"] for d in lines] == list(result.risk_events["action"])
    assert {d["strategy"] for d in lines} == {result.strategy} == {"ma_crossover"}
    refused = [d for d in lines if d["action"] == "refused"]
    assert refused and {d["signal"] for d in refused} == {"MA_CROSS_BUY"}
    assert all(d["reason"].startswith("trading halted since ") for d in refused)
    assert [d.get("signal") for d in lines[:2]] == [None, None]  # the halt, the liquidation
    # the result's table (risk_events.csv) says the same as the lines
    assert list(result.risk_events["signal"]) == [d.get("signal", "") for d in lines]
