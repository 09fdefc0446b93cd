"""Notebook 05 runs top to bottom in a real kernel: a small walk-forward, the gates, a bundle,
a live session on the simulated broker, its log and equity curve (its asserts are checks too)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from workbench.bundle import load_bundle

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
SOURCE = NOTEBOOKS / "05_promote_and_go_live.ipynb"


def test_notebook_is_committed_without_outputs() -> None:
    nb = nbformat.read(SOURCE, as_version=4)
    assert nb.metadata.kernelspec.name == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [(c.outputs, c.execution_count) for c in code] == [([], None)] * len(code)
    assert "parameters" in code[0].metadata.get("tags", [])


@pytest.mark.slow
def test_promote_and_go_live_notebook_executes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")
    out = tmp_path / "run"
    executed = tmp_path / "05_promote_and_go_live.ipynb"
    pm.execute_notebook(
        str(SOURCE),
        str(executed),
        parameters={
            "out": str(out),
            "start": "2016-01-01",
            "train": 252,
            "test": 126,
            "fast": "10,20",
            "slow": "30,50",
            "live_bars": 150,
        },
        kernel_name="python3",
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    cells = json.loads(executed.read_text())["cells"]
    shown = "".join(
        "".join(o.get("data", {}).get("text/plain", ""))
        + "".join(o.get("data", {}).get("text/html", ""))  # the styled fold table
        + "".join(o.get("text", ""))
        for c in cells
        for o in c.get("outputs", [])
    )
    for label in ("OOS sharpe", "lookahead_audit", "walk_forward_efficiency", "max bars",
                  "order_submitted", "match: 0 unexplained"):  # fmt: skip
        assert label in shown, label  # the fold table, gate table, status, log lines, verdict
    assert any("image/png" in o.get("data", {}) for c in cells for o in c.get("outputs", []))
    (bundle,) = (out / "promoted" / "ma_crossover").iterdir()
    assert load_bundle(bundle).manifest["name"] == "ma_crossover"  # verifies its hashes
    assert (out / "walkforward" / "summary.json").is_file()
    assert (out / "live" / "live.jsonl").stat().st_size > 0
