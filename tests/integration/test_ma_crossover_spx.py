"""On the real S&P 500 sample, the crossover follows the stated timing exactly."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from workbench import backtest, load_bars
from workbench.cli.main import main


@pytest.fixture(scope="module")
def spx() -> pd.DataFrame:
    return load_bars("sample:SPX")


def test_entries_and_exits_are_the_open_after_each_cross(spx: pd.DataFrame) -> None:
    result = backtest("ma_crossover", spx, {"fast": 50, "slow": 200})
    close = spx["close"]
    # independent of workbench.indicators: pandas rolling means
    fast = close.rolling(50).mean()
    slow = close.rolling(200).mean()
    above = (fast > slow) & (fast.shift(1) <= slow.shift(1))
    below = (fast < slow) & (fast.shift(1) >= slow.shift(1))
    next_bar = pd.Series(
        spx.index[1:].append(pd.DatetimeIndex([pd.NaT], tz="UTC")), index=spx.index
    )
    entries = list(next_bar[above])
    exits = list(next_bar[below & (below.cumsum() > 0)])
    trades = result.trades
    closed = trades[trades.status == "closed"]
    # long-only: each entry follows a cross above, each exit the next cross below
    assert list(trades.entry_time) == [t for t in entries if not pd.isna(t)][: len(trades)]
    first_entry = trades.entry_time.iloc[0]
    later_exits = [t for t in exits if t > first_entry]
    assert list(closed.exit_time) == later_exits[: len(closed)]
    np.testing.assert_allclose(trades.entry_price, spx["open"].reindex(trades.entry_time))
    np.testing.assert_allclose(closed.exit_price, spx["open"].reindex(closed.exit_time))
    assert len(trades) >= 8


def test_cli_json_document(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "backtest",
            "--strategy",
            "ma_crossover",
            "--data",
            "sample:SPX",
            "--param",
            "fast=50",
            "--param",
            "slow=200",
            "--start",
            "2005-01-01",
            "--json",
        ]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) >= {"metrics", "trades", "final_equity"}
    first = doc["trades"][0]
    assert {
        "entry_time",
        "exit_time",
        "entry_price",
        "exit_price",
        "quantity",
        "pnl",
        "fees",
    } <= set(first)
    assert pd.Timestamp(first["entry_time"]).tzinfo is not None
    assert doc["final_equity"] == pytest.approx(
        100_000 + sum(t["pnl"] for t in doc["trades"]), rel=1e-9
    )


def test_cli_out_writes_the_report(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code = main(
        ["backtest", "--strategy", "ma_crossover", "--data", "sample:SPX", "--out", str(out)]
    )
    assert code == 0
    for name in (
        "trades.csv",
        "orders.csv",
        "equity.csv",
        "metrics.json",
        "equity.png",
        "trades_SPX.png",
    ):
        assert (out / name).stat().st_size > 0, name
    assert "sharpe" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--param", "fast=300", "--param", "slow=200"], "violate the constraint fast < slow"),
        (["--param", "fast=0"], "fast=0 is out of range"),
        (["--param", "speed=3"], "unknown parameter(s) of ma_crossover: speed"),
        (["--param", "fast=ten"], "fast='ten' is not a valid int"),
    ],
)
def test_cli_parameter_errors_are_one_line(
    args, fragment, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["backtest", "--strategy", "ma_crossover", "--data", "sample:SPX", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert fragment in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
