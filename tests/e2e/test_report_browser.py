"""A backtest report opened in chromium with the network off: everything renders from the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench import backtest


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    result = backtest("ma_crossover", "sample:SPX", {"fast": 20, "slow": 100},
                      start="2004-01-01", end="2012-12-31", progress=False)  # fmt: skip
    result.save(out)
    return out


def test_the_report_opens_offline_with_every_figure_drawn(
    browser: object, report_dir: Path, screenshots: Path
) -> None:
    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 1000})  # type: ignore[attr-defined]
    requested: list[str] = []
    context.on("request", lambda r: requested.append(r.url))
    page = context.new_page()
    try:
        page.goto((report_dir / "report.html").as_uri())
        page.wait_for_load_state("load")
        # every request is the file itself or an inlined image: nothing from a network
        assert all(u.startswith(("file://", "data:")) for u in requested), requested
        figures = page.eval_on_selector_all(
            "figure img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.alt])"
        )
        assert len(figures) == 5 and all(done and width > 400 for done, width, _ in figures)
        metrics = json.loads((report_dir / "metrics.json").read_text())["metrics"]
        shown = page.get_attribute('#metrics tr[data-metric="sharpe"]', "data-value")
        assert float(shown) == metrics["sharpe"]
        assert page.is_visible("#trade-list") and page.is_visible("#data")
        page.click("nav >> text=Monthly returns")
        assert page.evaluate("location.hash") == "#monthly"
        page.screenshot(path=str(screenshots / "backtest_report.png"), full_page=True)
    finally:
        context.close()


def test_the_dashboard_serves_the_bundle_report_with_its_figures(
    browser: object, report_dir: Path, tmp_path: Path, serve
) -> None:
    """Its content security policy lets the report's inlined images through, nothing else."""
    import shutil

    from workbench.dashboard import create_app
    from workbench.live.state import StateStore

    bundle = tmp_path / "promoted" / "ma_crossover" / "1"
    bundle.mkdir(parents=True)
    (bundle / "manifest.json").write_text("{}")
    shutil.copy(report_dir / "report.html", bundle / "report.html")
    store = StateStore(tmp_path / "live.sqlite")
    store.set_meta(strategy="ma_crossover", status="stopped", bundle=str(bundle))
    store.close()
    with serve(create_app(tmp_path / "live.sqlite")) as url:
        page = browser.new_page()  # type: ignore[attr-defined]
        try:
            page.goto(url)
            page.click("a.bundle-report >> text=report.html")
            page.wait_for_selector("#metrics")
            widths = page.eval_on_selector_all("figure img", "i => i.map(x => x.naturalWidth)")
            assert len(widths) == 5 and all(w > 400 for w in widths), widths
        finally:
            page.close()
