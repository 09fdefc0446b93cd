"""The project's set-up files agree with each other and the package stays light to import."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _pyproject_requirements() -> set[str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return set(meta["dependencies"]) | set(meta["optional-dependencies"]["dev"])


def _environment_requirements() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return {r for r in pip if not r.startswith("-e")}


def test_environment_yml_matches_pyproject() -> None:
    assert _environment_requirements() == _pyproject_requirements()


def test_environment_python_matches_requires_python() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "python=3.11" in env["dependencies"]
    assert meta["requires-python"] == ">=3.11"


def test_import_workbench_is_light() -> None:
    code = (
        "import sys, workbench; "
        "heavy = [m for m in ('vectorbt', 'pandas', 'alpaca', 'matplotlib', 'papermill') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_names_resolve() -> None:
    import workbench

    for name in workbench.__all__:
        assert getattr(workbench, name) is not None, name


@pytest.mark.parametrize("module", ["workbench.cli.main", "workbench"])
def test_cli_help_lists_commands(module: str) -> None:
    out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for command in ("data", "backtest", "live", "reconcile", "dashboard"):
        assert command in out.stdout


def test_top_level_functions_are_not_shadowed_by_subpackages() -> None:
    code = (
        "import workbench.backtesting.engine, workbench.data.resample, workbench; "
        "from workbench import backtest, resample; "
        "assert callable(backtest) and callable(resample), (backtest, resample)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
