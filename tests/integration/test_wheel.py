"""The wheel works outside the checkout: built from the sources, installed in a fresh virtual
environment in a temporary folder (no system site-packages, nothing from the checkout), then
used as a new user would: the lean core runs a backtest, a live replay and the dashboard;
with ``[research]`` added, a two-fold walk-forward runs its shipped notebook templates.

Packages come from the registry through pip's cache, as in CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
import venv
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
#: No byte-compiling at install: pip would compile every module of every dependency (most of
#: the install's CPU); what runs compiles what it imports, as Python does without a .pyc.
PIP_INSTALL = ["-m", "pip", "install", "--quiet", "--no-compile"]


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{args[:4]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the sources (the checkout gets no build/ folder)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(  # not the checkout's own build of the compiled read (*.so)
        ROOT / "workbench", src / "workbench", ignore=shutil.ignore_patterns("__pycache__", "*.so")
    )
    dist = tmp_path_factory.mktemp("dist")
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), "."]
    _run(pip, src, dict(os.environ))
    (built,) = dist.glob("workbench-*.whl")
    return built


def test_the_wheel_holds_the_templates_and_no_tests(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for template in ("backtest_run", "walk_forward_fold", "walk_forward_report"):
        assert f"workbench/templates/{template}.ipynb" in names
    assert "workbench/data/gics_sectors.csv" in names
    assert [n for n in names if re.fullmatch(r"workbench/_reads\..*\.so", n)], names  # compiled
    assert not [n for n in names if n.startswith(("tests/", "notebooks/"))]
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "Provides-Extra: research" in meta and "Provides-Extra: dev" in meta


def test_a_fresh_environment_runs_backtest_live_dashboard_then_walk_forward(
    wheel: Path, tmp_path: Path, first_line: Callable[[IO[str], float], str]
) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True, system_site_packages=False)
    bin_dir = env_dir / "bin"
    python, workbench = str(bin_dir / "python"), str(bin_dir / "workbench")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(PATH=f"{bin_dir}:{env['PATH']}", MPLBACKEND="Agg", PYTHONNOUSERSITE="1")
    work = tmp_path / "work"  # a user's folder: nothing of the checkout around
    work.mkdir()
    _run([python, *PIP_INSTALL, str(wheel)], work, env)  # the lean core
    where = _run([python, "-c", "import workbench; print(workbench.__file__)"], work, env)
    assert where.startswith(str(env_dir)), where
    compiled = "import workbench.series as s; print(s.COMPILED)"
    assert _run([python, "-c", compiled], work, env).strip() == "True"  # the wheel's build
    lean = "import importlib.util as u; print([m for m in ('vectorbt', 'papermill', 'jupyterlab') if u.find_spec(m)])"  # noqa: E501
    assert _run([python, "-c", lean], work, env).strip() == "[]"
    assert _run([workbench, "--version"], work, env).startswith("workbench ")

    out = _run([workbench, "backtest", "--strategy", "ma_crossover", "--data", "sample:SPX",
                "--param", "fast=10", "--param", "slow=30", "--json"], work, env)  # fmt: skip
    result = json.loads(out)
    assert len(result["trades"]) > 10

    bundle = (
        "from workbench.bundle import write_bundle\n"
        "from workbench.runspec import RunSpec\n"
        "from workbench.strategy import make_strategy\n"
        "spec = RunSpec(symbols=['SPX'], timeframe='1Day', session='all', cash=50000.0,\n"
        "               risk={'max_drawdown': 0.5})\n"
        "b = write_bundle('promoted', make_strategy('ma_crossover', {'fast': 10, 'slow': 30}),\n"
        "    data={'spec': 'sample:SPX', 'symbols': {'SPX': {'bars': 5031}}}, gates=[],\n"
        "    metrics={}, report='# wheel test', run_spec=spec)\n"
        "print(b.path)\n"
    )
    path = _run([python, "-c", bundle], work, env).strip()
    _run([workbench, "live", "--bundle", path, "--broker", "sim", "--feed", "replay:sample:SPX",
          "--max-bars", "300", "--state", "live.sqlite"], work, env)  # fmt: skip
    status = json.loads(_run([workbench, "live", "status", "--state", "live.sqlite", "--json"],
                             work, env))  # fmt: skip
    assert status["status"] == "stopped" and status["fill_count"] == len(status["fills"]) > 0

    # port 0: the system's choice, which the command prints once bound (a free port picked
    # here and passed on was taken once by a parallel test's server before it could bind)
    server = subprocess.Popen(
        [workbench, "dashboard", "--state", "live.sqlite", "--port", "0"],
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = first_line(server.stdout, 120)
        where = re.search(r"on (http://127\.0\.0\.1:\d+/)", line)
        assert where, line or (server.stderr.read() if server.poll() is not None else "no answer")
        url = where.group(1)
        with urllib.request.urlopen(url + "api/status", timeout=30) as r:
            doc = json.load(r)
        assert doc["status"]["strategy"] == "ma_crossover"
        with urllib.request.urlopen(url, timeout=30) as r:
            assert r.status == 200 and "Recent fills" in r.read().decode()
            assert r.headers["Server"] == "workbench"  # waitress, not werkzeug's dev server
    finally:
        server.terminate()
        server.wait(30)

    _run([python, *PIP_INSTALL, f"workbench[research] @ {wheel.as_uri()}"], work, env)
    _run([workbench, "walkforward", "--strategy", "ma_crossover", "--data", "sample:SPX",
          "--start", "2015-01-01", "--end", "2016-12-31", "--train", "252", "--test", "126",
          "--grid", "fast=10,20", "--grid", "slow=40,80", "--jobs", "1", "--out", "wf"],
         work, env)  # fmt: skip
    summary = json.loads((work / "wf" / "summary.json").read_text())
    assert len(summary["folds"]) == 2
    assert (work / "wf" / "folds").is_dir()
