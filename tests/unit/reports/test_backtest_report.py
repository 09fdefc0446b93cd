"""The backtest report: written by ``save``/``--out`` and ``result.report``, self-contained,
its numbers equal to ``metrics.json``, every figure present."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench import backtest
from workbench.cli.main import main
from workbench.data.bars import data_fingerprint
from workbench.reports.figures import monthly_returns
from workbench.reports.html import table
from workbench.reports.read import read_report

PNG = b"\x89PNG\r\n\x1a\n"
FIGURES = {"equity", "monthly", "rolling_sharpe", "exposure", "trades_SPX"}
SECTIONS = ["summary", "equity", "monthly", "rolling", "exposure", "trades", "parameters",
            "costs", "data"]  # fmt: skip


@pytest.fixture(scope="module")
def result():
    return backtest(
        "ma_crossover", "sample:SPX", {"fast": 20, "slow": 60}, start="2006-01-01",
        end="2010-12-31", commission=0.0005, slippage=2, progress=False,
    )  # fmt: skip


def test_save_writes_a_report_whose_numbers_are_metrics_json(result, tmp_path: Path) -> None:
    paths = result.save(tmp_path)
    assert paths["report"] == tmp_path / "report.html"
    doc = json.loads((tmp_path / "metrics.json").read_text())
    report = read_report(tmp_path / "report.html")
    assert report.kind == "backtest"
    assert report.sections == SECTIONS
    assert report.external == []  # nothing to fetch: opens offline
    assert set(report.figures) == FIGURES
    assert all(png.startswith(PNG) and len(png) > 5_000 for png in report.figures.values())
    assert set(report.metrics) == set(doc["metrics"])
    for key, value in doc["metrics"].items():
        shown = report.metrics[key]
        if value is None:
            assert shown is None, key
        else:
            assert shown == value, key  # the exact value, not a rounded one


def test_trade_list_parameters_costs_and_fingerprint(result, tmp_path: Path) -> None:
    path = result.report(tmp_path / "sub" / "r.html")
    text = path.read_text()
    report = read_report(path)
    trades = report.tables["trade-list"]
    assert len(trades) == len(result.trades) > 0
    # the 9th column shown is pnl; rows carry their exact values
    assert [row[8][1] for row in trades] == pytest.approx(result.trades["pnl"].tolist())
    (row,) = report.tables["data"]
    fingerprint = data_fingerprint(result.bars)["SPX"]
    assert row[0][0] == "SPX" and row[4][0] == fingerprint["sha256"]
    assert row[3][1] == fingerprint["bars"]
    assert "percent=0.0005" in text and "bps=2" in text  # the costs
    assert ">fast<" in text and ">60<" in text  # the parameters
    assert "std(r, ddof=1) * sqrt(P)" in text  # a metric's definition


def test_monthly_returns_compound_to_the_total_return() -> None:
    index = pd.date_range("2020-01-01", "2021-06-30", freq="D", tz="UTC")
    equity = pd.Series(100.0 * np.exp(np.linspace(0, 0.3, len(index))), index=index)
    table_ = monthly_returns(equity)
    assert list(table_.index) == [2020, 2021]
    assert math.isnan(table_.loc[2021, "Dec"])
    jan = equity.loc["2020-01-31"] / equity.iloc[0] - 1
    assert table_.loc[2020, "Jan"] == pytest.approx(jan)
    total = (1 + table_["Year"]).prod() - 1
    assert total == pytest.approx(equity.iloc[-1] / equity.iloc[0] - 1)


def test_cells_are_escaped() -> None:
    html = table(pd.DataFrame({"name": ["<script>alert(1)</script>"], "x": [1.5]}))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'data-value="1.5"' in html


def test_cli_backtest_out_writes_the_report(tmp_path: Path, capsys) -> None:
    out = tmp_path / "bt"
    argv = ["backtest", "--strategy", "ma_crossover", "--data", "sample:NASDAQ",
            "--start", "2015-01-01", "--param", "fast=10", "--param", "slow=40",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    report = read_report(out / "report.html")
    doc = json.loads((out / "metrics.json").read_text())
    assert report.metrics["sharpe"] == doc["metrics"]["sharpe"]
    assert "trades_NASDAQ" in report.figures


def test_plot_displays_in_a_notebook(result, monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw: shown.append(obj))
    figs = result.plot()
    figs._ipython_display_()  # what IPython calls for a cell's last expression
    assert len(shown) == len(figs) == 2
    assert all(bundle["image/png"].startswith(PNG) for bundle in shown)


def test_benchmark_relative_figures_are_in_the_report(tmp_path: Path) -> None:
    result = backtest("ma_crossover", "sample:SPX", {"fast": 20, "slow": 60}, start="2006-01-01",
                      end="2010-12-31", benchmark="sample:NASDAQ", progress=False)  # fmt: skip
    result.save(tmp_path)
    doc = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    report = read_report(tmp_path / "report.html")
    for key in ("excess_return", "beta", "alpha", "information_ratio", "tracking_error"):
        assert report.metrics[key] == doc[key], key
    text = (tmp_path / "report.html").read_text()
    assert "cov(r, b) / var(b)" in text  # beta's definition, from the benchmark module
    assert "against benchmark" in text  # the equity plot draws the benchmark asked for
