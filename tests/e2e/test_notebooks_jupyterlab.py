"""The notebooks as a user sees them: JupyterLab in headless chromium, a notebook run top to bottom.

A real ``jupyter lab`` on 127.0.0.1 (a token, a copy of ``notebooks/`` as its root), opened
in chromium through Playwright. For each notebook here: opening it does not mark it modified
(its kernel spec and language info are the installed kernel's), "Run All Cells" finishes in
the UI with the project's kernel, no cell shows an error or a stderr box, its plots are
displayed as images by the inline backend, and its widgets are rendered by JupyterLab's widget
manager.

Only what JupyterLab alone proves is run here, on two notebooks with nbval's small parameters
(``tests/notebooks/small_parameters.yaml``, injected by papermill as nbval does): 02 (its
figures through ``result.plot()``) and 03 (its figures and the ipywidgets explorer). nbval
(``tests/notebooks/``) runs every notebook, and its checks fail on any stderr output, which
covers what JupyterLab would show as a stderr box for the others (05's walk-forward kernels).
Bounded: each notebook must finish within ``RUN_TIMEOUT_S``.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "tests" / "notebooks" / "small_parameters.yaml"
#: notebook -> (the least number of images its run displays, of rendered widget views)
NOTEBOOKS = {
    "02_ma_crossover.ipynb": (4, 0),
    "03_parameter_sweep.ipynb": (3, 1),
}
RUN_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    root = tmp_path_factory.mktemp("lab") / "notebooks"
    shutil.copytree(ROOT / "notebooks", root)
    _small_parameters(root, list(NOTEBOOKS))
    token, runtime = secrets.token_hex(16), root.parent / "runtime"
    env = {**os.environ, "MPLBACKEND": "module://matplotlib_inline.backend_inline",
           "JUPYTER_CONFIG_DIR": str(root.parent / "config"),
           "JUPYTER_RUNTIME_DIR": str(runtime)}  # fmt: skip
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    log = (root.parent / "lab.log").open("w")
    # port 0: the server binds a port the system picks and says which in its runtime file
    # (a port chosen here and passed on could be taken meanwhile by a parallel test's
    # server, whose answers the readiness check below would then take for Lab's)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser",
         "--ServerApp.ip=127.0.0.1", "--ServerApp.port=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--LabApp.news_url=", "--ServerApp.port_retries=0",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    info = runtime / f"jpserver-{proc.pid}.json"
    try:
        deadline = time.monotonic() + 60
        while True:  # readiness: this server's runtime file, then its status API
            try:
                url = f"http://127.0.0.1:{json.loads(info.read_text())['port']}"
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
                    break
            except (OSError, ValueError, KeyError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"jupyter lab did not start: {(root.parent / 'lab.log').read_text()}"
                    )
                time.sleep(0.2)
        yield url, token, root
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _small_parameters(root: Path, names: list[str]) -> None:
    """Each notebook as nbval runs it: papermill injects its small parameters after the cell
    tagged ``parameters``; the kernel spec and language info are left as committed, but for
    the Python version, this interpreter's (the notebooks are committed with the project's:
    ``test_notebooks_clean``): on another Python, or another patch release, JupyterLab writes
    its kernel's version in on opening, whatever the notebook, so the check that opening
    modifies nothing is about what the project controls."""
    import nbformat
    import yaml
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    table = yaml.safe_load(SMALL.read_text())
    for name in names:
        nb = load_notebook_node(str(root / name))
        if table[name]:
            nb = parameterize_notebook(nb, table[name], kernel_name="python3")
        nb.metadata.language_info.version = platform.python_version()
        nbformat.write(nb, root / name)


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_notebook_runs_cleanly_in_jupyterlab(browser, lab, screenshots, name: str) -> None:
    url, token, _ = lab
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(f"{url}/lab/tree/{name}?reset&token={token}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        _wait_for_kernel(page)
        tab = page.locator(".lm-TabBar-tab.jp-mod-current")
        assert "jp-mod-dirty" not in (tab.get_attribute("class") or ""), "opening it modified it"
        _run_all_cells(page)
        _wait_until_done(page)
        errors = page.locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
        )
        shown = [errors.nth(i).inner_text()[:300] for i in range(errors.count())]
        page.screenshot(path=str(screenshots / f"jupyterlab_{name}.png"), full_page=True)
        assert shown == [], f"{name}: error or stderr boxes: {shown}"
        least_images, least_widgets = NOTEBOOKS[name]
        images = page.locator(".jp-OutputArea-output img")
        assert images.count() >= least_images, f"{name}: {images.count()} images displayed"
        widths = images.evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
        assert all(w > 200 for w in widths), widths
        # a widget view JupyterLab could not render shows its text/plain fallback instead
        views = page.locator(".jp-OutputArea-output .jupyter-widgets.widget-container")
        assert views.count() >= least_widgets, f"{name}: {views.count()} widgets rendered"
    finally:
        context.close()


def _wait_for_kernel(page) -> None:
    """The kernel has started and stayed idle for a second (its kernel info is applied)."""
    indicator = page.locator(".jp-Notebook-ExecutionIndicator").first
    deadline = time.monotonic() + 90
    idle_since = None
    while True:
        now = time.monotonic()
        if indicator.get_attribute("data-status") == "idle":
            idle_since = idle_since or now
            if now - idle_since >= 1.0:
                return
        else:
            idle_since = None
        if now > deadline:
            pytest.fail("the kernel did not start in 90 s")
        page.wait_for_timeout(250)


def _run_all_cells(page) -> None:
    """Run > Run All Cells, until the cells are queued (bounded).

    In a JupyterLab just started on a loaded machine, the notebook's commands can still be
    disabled for a moment after its kernel is idle: a click on the disabled menu item does
    nothing (every cell stayed ``[ ]:``). A queued cell shows ``[*]:`` at once, whatever the
    kernel's load, so the click is repeated only when nothing was queued.
    """
    deadline = time.monotonic() + 90
    while True:
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        label = page.locator(".lm-Menu-itemLabel", has_text="Run All Cells")
        item = page.locator(".lm-Menu-item", has=label).first
        item.wait_for()
        if "lm-mod-disabled" in (item.get_attribute("class") or ""):
            page.keyboard.press("Escape")
        else:
            item.click()
            for _ in range(10):  # up to 5 s for the prompts to show the queue
                prompts = page.locator(".jp-CodeCell .jp-InputArea-prompt").all_inner_texts()
                if any(p.strip() not in ("[ ]:", "") for p in prompts):
                    return
                page.wait_for_timeout(500)
        if time.monotonic() > deadline:
            pytest.fail("Run All Cells did not queue the cells in 90 s")
        page.wait_for_timeout(500)


def _wait_until_done(page) -> None:
    """Every code cell has an execution count, and the kernel is idle (bounded)."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    script = """() => {
        const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
            .map(p => p.textContent.trim());
        const idle = document.querySelector(
            ".jp-Notebook-ExecutionIndicator[data-status='idle']") !== null;
        return {prompts, idle};
    }"""
    while True:
        state = page.evaluate(script)
        done = state["prompts"] and all(p not in ("[ ]:", "[*]:", "") for p in state["prompts"])
        if done and state["idle"]:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the notebook did not finish in {RUN_TIMEOUT_S} s: {state}")
        page.wait_for_timeout(500)
