"""The demo's data steps: samples, quality reports, the crossover backtest and its report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workbench import demo

DATA_STEPS = [demo.load_data, demo.check_quality, demo.summarise, demo.backtest_crossover,
              demo.write_report]  # fmt: skip


def test_demo_prints_reports_and_writes_the_backtest_report(capsys, tmp_path):
    state = demo.run_demo(tmp_path, steps=DATA_STEPS)
    assert all(r.ok for r in state["reports"].values())
    out = capsys.readouterr().out
    assert "SPX: 5031 bars" in out and "NASDAQ: 5031 bars" in out
    assert "zero_volume" in out
    assert "annualised vol" in out
    assert "ma_crossover (fast=50, slow=200" in out
    report = tmp_path / "backtest_ma_crossover_spx"
    assert state["outputs"] == {"backtest report": report}
    metrics = json.loads((report / "metrics.json").read_text())["metrics"]
    assert metrics["number_of_trades"] >= 8
    for name in ("trades.csv", "equity.csv", "equity.png", "trades_SPX.png"):
        assert (report / name).stat().st_size > 0


def test_main_lists_the_outputs_and_exits_zero(monkeypatch, capsys, tmp_path: Path) -> None:
    """``main`` on a stand-in pipeline: the summary and the exit code, not the steps again."""

    def fake(out: Path, **_: Any) -> dict[str, Any]:
        return {
            "outputs": {"bundle": out / "b"},
            "reports": {},
            "reconciliation": {"unexplained": 0},
        }

    monkeypatch.setattr(demo, "run_demo", fake)
    monkeypatch.setattr(demo, "OUT", tmp_path)
    assert demo.main() == 0
    assert f"bundle                 {tmp_path / 'b'}" in capsys.readouterr().out
