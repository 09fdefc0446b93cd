"""explore() over a universe: the symbol picker, the weights chart, confirm with parity."""

from __future__ import annotations

import pytest

from workbench.research.portfolio_widgets import PortfolioExplorer
from workbench.research.widgets import Explorer, explore

SPEC = "sample:SP500?symbols=AAPL,JPM,KO,XOM,PFE,MSFT"


@pytest.fixture(scope="module")
def explorer() -> PortfolioExplorer:
    return explore(
        "momentum_rotation", SPEC, {"lookback": 63, "skip": 5, "top_k": 2}, start="2016-01-01"
    )


def test_a_universe_opens_the_portfolio_explorer(explorer):
    assert isinstance(explorer, PortfolioExplorer)
    assert set(explorer.controls) >= {"lookback", "skip", "top_k", "band", "schedule"}
    assert explorer.symbols.options == ("AAPL", "JPM", "KO", "XOM", "PFE", "MSFT")
    assert explorer.chart.value[:4] == b"\x89PNG"
    assert "information_ratio" in explorer.metrics.value
    assert "6 symbols" in explorer.status.value
    assert isinstance(explore("ma_crossover", "sample:SPX"), Explorer)


def test_picking_symbols_and_moving_a_slider_re_simulate(explorer):
    before = explorer.result.metrics["final_equity"]
    explorer.symbols.value = ("AAPL", "MSFT", "XOM")
    assert set(explorer.result.bars) == {"AAPL", "MSFT", "XOM"}
    assert set(explorer.result.fills["symbol"]) <= {"AAPL", "MSFT", "XOM"}
    assert explorer.result.metrics["final_equity"] != before
    explorer.controls["top_k"].value = 1
    held = explorer.result.fills.groupby("time")["symbol"].nunique()
    assert held.max() <= 2  # one sold and one bought on a rebalance at most
    report = explorer.confirm()
    assert report is not None and report.ok, report.summary()
    assert "parity OK" in explorer.parity_html.value
    explorer.symbols.value = ()
    assert "no symbol chosen" in explorer.status.value


def test_headless_display_falls_back_to_a_static_view(explorer):
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "data:image/png;base64," in bundle["text/html"]
    assert "information_ratio" in bundle["text/html"]
    assert not bundle["text/plain"].startswith("VBox")
