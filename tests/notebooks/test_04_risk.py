"""The risk notebook runs top to bottom in a real kernel (its asserts are checks too)."""

from __future__ import annotations

import json
from pathlib import Path

import papermill as pm
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.mark.slow
def test_risk_notebook_executes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")
    out = tmp_path / "04_risk.ipynb"
    pm.execute_notebook(
        str(NOTEBOOKS / "04_risk.ipynb"),
        str(out),
        parameters={"data": "sample:SPX", "start": "2007-01-01", "end": "2009-12-31"},
        kernel_name="python3",
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    text = out.read_text()
    assert "later entries refused" in text
    cells = json.loads(text)["cells"]
    shown = "".join(
        "".join(o.get("data", {}).get("text/plain", ""))
        + "".join(o.get("data", {}).get("text/html", ""))  # the styled tables
        + "".join(o.get("text", ""))
        for c in cells
        for o in c.get("outputs", [])
    )
    for label in ("no risk", "daily loss limit", "drawdown halt", "max_drawdown"):
        assert label in shown  # the comparison table and the events table were shown
    assert "8.000000" not in shown and "%</td>" in shown  # counts and percentages formatted


def test_risk_notebook_is_committed_without_outputs() -> None:
    nb = json.loads((NOTEBOOKS / "04_risk.ipynb").read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
