"""The project's set-up files agree with each other and the package stays light to import."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _meta() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _pyproject_requirements() -> set[str]:
    meta = _meta()
    extras = meta["optional-dependencies"]
    return set(meta["dependencies"]).union(*extras.values())


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imported_third_party(folder: Path) -> dict[str, set[str]]:
    """Top-level modules imported anywhere under ``folder`` -> the files importing them."""
    found: dict[str, set[str]] = {}
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "workbench":
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_imported_package_is_declared() -> None:
    from importlib.metadata import packages_distributions

    owners = packages_distributions()
    declared = {_name(r) for r in _pyproject_requirements()}
    missing = {}
    for module, files in _imported_third_party(ROOT / "workbench").items():
        dists = {d.lower().replace("_", "-") for d in owners.get(module, [module])}
        if not dists & declared:
            missing[module] = sorted(files)
    assert missing == {}, f"imported but not declared in pyproject.toml: {missing}"


def test_the_core_is_lean_and_research_tools_are_an_extra() -> None:
    meta = _meta()
    core = {_name(r) for r in meta["dependencies"]}
    research = {_name(r) for r in meta["optional-dependencies"]["research"]}
    heavy = {"vectorbt", "papermill", "jupyterlab", "ipywidgets", "ipykernel", "distributed"}
    assert heavy <= research and not heavy & core
    assert not {"pytest", "hypothesis", "scipy", "playwright"} & (core | research)
    # a bound on the SDK whose private attributes the Alpaca adapter relies on
    alpaca = next(r for r in meta["dependencies"] if _name(r) == "alpaca-py")
    assert ">=" in alpaca and "<" in alpaca.replace("<=", "")
    makefile = (ROOT / "Makefile").read_text()
    assert '-e ".[research,dev]"' in makefile  # make still installs everything


def test_templates_are_package_data() -> None:
    from workbench.resources import template_names, template_path

    assert {"backtest_run.ipynb", "walk_forward_fold.ipynb", "walk_forward_report.ipynb"} <= set(
        template_names()
    )
    assert template_path("backtest_run").is_file()
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "templates/*.ipynb" in data["package-data"]["workbench"]


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
