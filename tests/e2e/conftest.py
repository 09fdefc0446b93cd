"""Browser tests: Debian's chromium driven by Playwright, the dashboard served on real sockets.

``make test`` installs chromium first (``tests/e2e/install_browser.sh``); without it these
tests skip and say so, except under CI (``CI`` set), where a missing browser is a failure:
a CI run must not pass without its browser tests. Playwright's own browser download is
never used (it cannot work offline): Playwright launches the system chromium. Screenshots go to
``test-output/screenshots/`` at the repository root, for a reviewer to look at.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]  # fmt: skip
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if path is None:
        why = (
            "chromium is not installed: run tests/e2e/install_browser.sh "
            "(apt-get install chromium), which `make test` does"
        )
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(why)
        pytest.skip(why)
    return path


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[object]:
    """Per module: Playwright's sync API keeps an event loop running in this thread while it
    is open, which ``asyncio.run`` in later tests would trip over."""
    from playwright import sync_api

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})  # type: ignore[attr-defined]
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    folder = REPO / "test-output" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def serve() -> Callable[..., object]:
    """``with serve(app[, host]) as url``: the dashboard under waitress, as in production."""
    from workbench.dashboard.app import serving

    return serving
