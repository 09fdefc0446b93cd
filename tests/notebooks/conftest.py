"""Validate the notebooks with nbval, each with small parameters.

nbval turns every code cell of a notebook into a test item run in order in one real kernel, so
a failure names the cell that broke. Its own collection runs a notebook as committed (the full
data, minutes of work); here each notebook is collected from ``small_parameters.yaml`` instead:
papermill injects the small parameters after the cell tagged ``parameters`` (as a walk-forward
fold gets its own), and after the last cell an item runs the notebook's checks from
``notebook_checks.py`` on the outputs the kernel produced. Committed notebooks keep no outputs
(``test_notebooks_clean.py``), so nbval runs them in its lax mode: every cell must run without
an error, and the checks say what it must have shown.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
TABLE = "small_parameters.yaml"


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name == TABLE:
        return NotebookSuite.from_parent(parent, path=file_path)
    return None


class NotebookSuite(pytest.File):
    """The notebooks listed in the table, each collected by nbval with its parameters."""

    def collect(self):
        import yaml

        table: dict[str, dict[str, Any]] = yaml.safe_load(self.path.read_text()) or {}
        committed = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
        missing = [name for name in committed if name not in table]
        unknown = [name for name in table if name not in committed]
        if missing or unknown:
            raise pytest.UsageError(
                f"{self.path}: no small parameters for {missing}, no notebook for {unknown}; "
                "list every notebooks/*.ipynb (and only those) so nbval validates each"
            )
        for name in committed:
            yield SmallNotebook.from_parent(
                self, path=NOTEBOOKS / name, parameters=table[name] or {}
            )


def _checks_module():
    spec = importlib.util.spec_from_file_location(
        "workbench_notebook_checks", Path(__file__).with_name("notebook_checks.py")
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _nbval_file():
    from nbval.plugin import IPyNbFile

    return IPyNbFile


class SmallNotebook(_nbval_file()):
    """One notebook under nbval: its cells with the parameters injected, then its checks."""

    def __init__(self, *args: Any, parameters: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.compare_outputs = False  # nbval's lax mode: committed notebooks have no outputs
        self.tmp = Path(tempfile.mkdtemp(prefix=f"nbval-{self.path.stem[:2]}-"))
        self.parameters = {
            key: value.replace("{tmp}", str(self.tmp)) if isinstance(value, str) else value
            for key, value in parameters.items()
        }

    def setup(self) -> None:
        os.environ.setdefault("MPLBACKEND", "Agg")  # the kernel inherits it: no GUI windows
        super().setup()

    def collect(self):
        from papermill.iorw import load_notebook_node
        from papermill.parameterize import parameterize_notebook

        nb = load_notebook_node(str(self.path))  # as papermill reads it: tags made explicit
        if self.parameters:
            nb = parameterize_notebook(nb, self.parameters, kernel_name="python3")
        self.nb = nb
        cells = []
        for item in self._cells(nb):
            cells.append(item)
            yield item
        yield NotebookChecks.from_parent(self, name="checks", cells=cells)

    def _cells(self, nb):
        # nbval's collect() reads the file from disk; give it the parameterized notebook
        from nbval.plugin import IPyNbCell

        number = 0
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            options = defaultdict(bool, check=False)  # lax: run it, compare nothing
            item = IPyNbCell.from_parent(
                self, name=f"Cell {number}", cell_num=number, cell=cell, options=options
            )
            item.add_marker(pytest.mark.slow)
            yield item
            number += 1

    def teardown(self) -> None:
        super().teardown()
        shutil.rmtree(self.tmp, ignore_errors=True)


class NotebookChecks(pytest.Item):
    """What the notebook must have shown, checked on the outputs of its cells."""

    def __init__(self, *args: Any, cells: list, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cells = cells
        self.add_marker(pytest.mark.slow)

    def runtest(self) -> None:
        checks = _checks_module()
        ran = [getattr(cell, "test_outputs", None) for cell in self.cells]
        if any(outputs is None for outputs in ran):
            pytest.fail("a cell did not run (see the failing cell above)")
        outputs = checks.Outputs(ran)
        check = checks.CHECKS[self.parent.path.name]
        check(outputs, self.parent.tmp)
        # what JupyterLab would show as a stderr box: log lines, kernels' warnings, tracebacks
        assert outputs.stderr == [], f"cells wrote to stderr: {outputs.stderr}"

    def reportinfo(self):
        return self.parent.path, 0, f"{self.parent.path.name}: checks"
