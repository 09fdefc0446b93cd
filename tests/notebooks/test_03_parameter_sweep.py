"""The sweep notebook runs top to bottom in a real kernel (its asserts are checks too)."""

from __future__ import annotations

import json
from pathlib import Path

import papermill as pm
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
SOURCE = NOTEBOOKS / "03_parameter_sweep.ipynb"


def test_notebook_is_committed_without_outputs() -> None:
    doc = json.loads(SOURCE.read_text())
    assert doc["metadata"]["kernelspec"]["name"] == "python3"
    for cell in doc["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


@pytest.mark.slow
def test_parameter_sweep_notebook_executes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")
    out = tmp_path / "03_parameter_sweep.ipynb"
    pm.execute_notebook(
        str(SOURCE),
        str(out),
        parameters={
            "data": "sample:NASDAQ",
            "fast_range": "10:50:10",
            "slow_range": "40:200:40",
            "parity_engine": "vectorbt",
        },
        kernel_name="python3",
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    text = out.read_text()
    assert "23 combinations run, 2 skipped" in text
    assert "parity OK" in text
    assert "update: median" in text
    assert "application/vnd.jupyter.widget-view+json" in text  # the explorer was displayed
    assert "image/png" in text  # the heatmap
