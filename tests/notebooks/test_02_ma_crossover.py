"""The crossover notebook runs top to bottom in a real kernel (its asserts are checks too)."""

from __future__ import annotations

import os
from pathlib import Path

import papermill as pm
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.mark.slow
def test_ma_crossover_notebook_executes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")
    out = tmp_path / "02_ma_crossover.ipynb"
    pm.execute_notebook(
        str(NOTEBOOKS / "02_ma_crossover.ipynb"),
        str(out),
        parameters={"data": "sample:SPX", "fast": 50, "slow": 200},
        kernel_name="python3",
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    text = out.read_text()
    assert "every entry fills at the open of the bar after the signal" in text
    assert os.path.getsize(out) > 10_000  # plots were rendered into the notebook
