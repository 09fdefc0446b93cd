"""Committed notebooks are as JupyterLab would save them, without outputs.

Opening a notebook in JupyterLab must not mark it modified: its kernel spec is the installed
one ("Python 3 (ipykernel)", name python3) and its ``language_info`` the kernel's on the
project's Python (``environment.yml``'s; on another Python JupyterLab writes that one's
version into the notebook, as it does for any notebook). And what
a person ran while exploring is not committed: no outputs, no execution counts. To clean a
notebook after working in it::

    jupyter nbconvert --clear-output --inplace notebooks/NAME.ipynb
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted(
    (ROOT / "workbench" / "templates").glob("*.ipynb")
)
FIX = "jupyter nbconvert --clear-output --inplace"


def project_python() -> list[str]:
    """The project's Python, major and minor, as ``environment.yml`` pins it (``python=3.11``)."""
    pin = re.search(
        r"^\s*-\s*python\s*=\s*(\d+)\.(\d+)\s*$", (ROOT / "environment.yml").read_text(), re.M
    )
    assert pin, "environment.yml pins no python=X.Y"
    return [pin[1], pin[2]]


def installed_kernelspec() -> dict:
    spec = Path(sys.prefix) / "share" / "jupyter" / "kernels" / "python3" / "kernel.json"
    return json.loads(spec.read_text())


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 8


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path: Path) -> None:
    doc = json.loads(path.read_text())
    dirty = [
        i
        for i, cell in enumerate(doc["cells"])
        if cell["cell_type"] == "code" and (cell["outputs"] or cell["execution_count"] is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} keep outputs; run `{FIX} {path}`"
    assert all(cell.get("id") for cell in doc["cells"]), f"{path.name}: a cell has no id"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_kernel_spec_and_language_info_are_the_installed_ones(path: Path) -> None:
    meta = json.loads(path.read_text())["metadata"]
    spec = installed_kernelspec()
    assert meta["kernelspec"] == {
        "display_name": spec["display_name"],
        "language": spec["language"],
        "name": "python3",
    }
    info = meta["language_info"]
    assert info["name"] == "python" and info["pygments_lexer"] == "ipython3"
    assert info["codemirror_mode"] == {"name": "ipython", "version": 3}
    # committed as the project's Python shows them, whichever Python runs the tests
    assert info["version"].split(".")[:2] == project_python()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_holds_the_parameters(path: Path) -> None:
    # papermill (walk-forward folds, nbval's small parameters) injects values after this cell;
    # without the tag it would inject them first and the notebook's defaults would win
    code = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    tags = code[0].get("metadata", {}).get("tags", [])
    assert "parameters" in tags, f"{path.name}: tag its first code cell `parameters`"


@pytest.mark.parametrize(
    "path", [p for p in NOTEBOOKS if p.parent.name == "notebooks"], ids=lambda p: p.name
)
def test_first_cell_says_what_it_shows_and_how_long_it_takes(path: Path) -> None:
    first = json.loads(path.read_text())["cells"][0]
    text = "".join(first["source"])
    assert first["cell_type"] == "markdown" and text.startswith("# "), f"{path.name}: no title"
    took = re.search(r"\bRuns top to bottom in (about|under) \d+ ?(s|min)\b", text)
    assert took, f"{path.name}: say how long it runs ('Runs top to bottom in about ...')"
