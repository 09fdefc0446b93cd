"""The brackets notebook runs top to bottom in a real kernel (its asserts are checks too)."""

from __future__ import annotations

import json
from pathlib import Path

import papermill as pm
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOK = NOTEBOOKS / "07_brackets.ipynb"


def test_committed_notebook_has_no_outputs() -> None:
    nb = json.loads(NOTEBOOK.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


@pytest.mark.slow
def test_brackets_notebook_executes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")
    out = tmp_path / NOTEBOOK.name
    pm.execute_notebook(
        str(NOTEBOOK), str(out), kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=False
    )
    text = out.read_text()
    assert "the emulator filled the bracket as the backtest did" in text
    assert "stopped out on the entry bar" in text
    cells = json.loads(text)["cells"]
    images = [o for c in cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 2  # entries and exits, fixed vs trailing equity
