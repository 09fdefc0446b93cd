"""The portfolio notebook runs top to bottom in a real kernel, with small parameters."""

from __future__ import annotations

import json
from pathlib import Path

import papermill as pm
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.mark.slow
def test_portfolio_notebook_executes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")
    out = tmp_path / "06_portfolio.ipynb"
    pm.execute_notebook(
        str(NOTEBOOKS / "06_portfolio.ipynb"),
        str(out),
        parameters={
            "start": "2016-01-01",
            "end": "2022-12-31",
            "lookbacks": [63, 126],
            "top_ks": [3, 5],
            "wf_train": 504,
            "wf_test": 252,
            "wf_out": str(tmp_path / "wf"),
            "wf_jobs": 1,
        },
        kernel_name="python3",
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    cells = json.loads(out.read_text())["cells"]
    shown = "".join(
        "".join(o.get("data", {}).get("text/plain", "")) + "".join(o.get("text", ""))
        for c in cells
        for o in c.get("outputs", [])
    )
    images = sum("image/png" in o.get("data", {}) for c in cells for o in c.get("outputs", []))
    assert images >= 6  # 4 portfolio figures, the heatmap, the capped sector exposure
    for label in ("momentum rotation", "information_ratio", "parity OK", "group_exposure"):
        assert label in shown, label
    assert "20 stocks" in shown and "close_only" in shown
    summary = json.loads((tmp_path / "wf" / "summary.json").read_text())
    assert summary["n_failed"] == 0 and "alpha" in summary["out_of_sample"]
