"""The demo's data steps run and report both samples."""

from __future__ import annotations

from workbench import demo


def test_demo_prints_reports_and_summaries(capsys):
    assert demo.main() == 0
    out = capsys.readouterr().out
    assert "SPX: 5031 bars" in out and "NASDAQ: 5031 bars" in out
    assert "zero_volume" in out
    assert "annualised vol" in out
