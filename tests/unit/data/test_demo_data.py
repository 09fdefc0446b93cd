"""The demo runs end to end: samples, quality reports, the crossover backtest and its report."""

from __future__ import annotations

import json

from workbench import demo


def test_demo_prints_reports_and_writes_the_backtest_report(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(demo, "OUT", tmp_path)
    assert demo.main() == 0
    out = capsys.readouterr().out
    assert "SPX: 5031 bars" in out and "NASDAQ: 5031 bars" in out
    assert "zero_volume" in out
    assert "annualised vol" in out
    assert "ma_crossover (fast=50, slow=200" in out
    report = tmp_path / "backtest_ma_crossover_spx"
    metrics = json.loads((report / "metrics.json").read_text())["metrics"]
    assert metrics["number_of_trades"] >= 8
    for name in ("trades.csv", "equity.csv", "equity.png", "trades_SPX.png"):
        assert (report / name).stat().st_size > 0
