"""The exploration widgets, headless: set values from Python, check that the outputs follow."""

from __future__ import annotations

import datetime as dt

import ipywidgets as w
import pytest

from workbench.backtesting.fastpath import run_vectorized
from workbench.research.widgets import Explorer, explore, param_control
from workbench.strategies.ma_crossover import MACrossover

COSTS = {"commission": 0.0005, "slippage": 2.0}


@pytest.fixture()
def explorer() -> Explorer:
    return explore(
        "ma_crossover",
        "sample:SPX",
        {"fast": 20, "slow": 100},
        ranges={"fast": (2, 200), "slow": (10, 400)},
        **COSTS,
    )


def test_controls_come_from_the_declared_parameters() -> None:
    space = MACrossover.param_space()
    fast = param_control(space.params["fast"], 50, n_bars=5031)
    assert isinstance(fast, w.IntSlider)
    assert (fast.min, fast.max, fast.value) == (1, 5031, 50)  # capped at the number of bars
    fraction = param_control(space.params["fraction"], 1.0, n_bars=5031)
    assert isinstance(fraction, w.FloatSlider) and (fraction.min, fraction.max) == (0.0001, 1.0)
    assert isinstance(param_control(space.params["allow_short"], False, 10), w.Checkbox)
    narrowed = param_control(space.params["slow"], 100, 5031, span=(10, 400))
    assert (narrowed.min, narrowed.max) == (10, 400)


def test_initial_view(explorer: Explorer) -> None:
    assert set(explorer.controls) == {
        *("fast", "slow", "allow_short", "fraction"),
        *("sl_stop", "tp_stop", "sl_trail"),  # stops: vectorbt's, in the kernel too
    }
    assert bytes(explorer.chart.value).startswith(b"\x89PNG")
    assert explorer.result is not None and explorer.result.params["fast"] == 20
    assert "sharpe" in explorer.metrics.value and "trades" in explorer.trades.value
    assert isinstance(explorer.widget, w.VBox)


def test_moving_a_slider_reruns_the_vectorized_backtest(explorer: Explorer) -> None:
    before_chart, before_metrics = explorer.chart.value, explorer.metrics.value
    explorer.controls["fast"].value = 35
    expected = run_vectorized("ma_crossover", explorer.bars(), explorer.params(), **COSTS)
    assert explorer.result.params["fast"] == 35
    assert explorer.result.final_equity == expected.final_equity
    assert explorer.chart.value != before_chart
    assert explorer.metrics.value != before_metrics
    assert f"{expected.final_equity:,.2f}" in explorer.metrics.value
    assert explorer.last_update_seconds > 0
    assert "ms" in explorer.status.value


def test_costs_dates_and_data_source(explorer: Explorer) -> None:
    free = explorer.result.final_equity
    explorer.commission.value = 0.002
    assert explorer.result.final_equity < free
    explorer.start.value = dt.date(2010, 1, 1)
    assert explorer.result.equity.index[0].year == 2010
    explorer.data.value = "sample:NASDAQ"
    nasdaq = run_vectorized(
        "ma_crossover", "sample:NASDAQ", explorer.params(), commission=0.002, slippage=2.0
    )
    assert explorer.result.final_equity == pytest.approx(nasdaq.final_equity, rel=1e-12)
    assert explorer.start.value == dt.date(1999, 1, 4)  # the new source's whole range


def test_invalid_combination_is_reported_and_clears_the_old_result(explorer: Explorer) -> None:
    explorer.controls["fast"].value = 150  # slow is 100
    assert "fast &lt; slow" in explorer.status.value
    # nothing on screen may pass for the result of these inputs
    assert explorer.result is None and bytes(explorer.chart.value) == b""
    assert "no result" in explorer.metrics.value and explorer.trades.value == ""
    assert explorer.source.value == ""
    explorer.controls["fast"].value = 50
    assert explorer.result is not None and bytes(explorer.chart.value).startswith(b"\x89PNG")


def test_the_data_shown_is_named_and_labels_fit(explorer: Explorer) -> None:
    assert "<b>SPX</b> from sample:SPX" in explorer.source.value
    assert "1999-01-04 to 2018-12-31, 5,031 bars" in explorer.source.value
    explorer.data.value = "sample:NASDAQ"
    assert "<b>NASDAQ</b> from sample:NASDAQ" in explorer.source.value
    for control in (explorer.slippage, explorer.commission, explorer.data, explorer.start):
        assert control.style.description_width == "initial"  # never cut to "slippage ..."
    assert explorer.confirm_button.layout.width == "auto"
    assert "+00:0" not in explorer.trades.value and "2018-" in explorer.trades.value


def test_sweep_panel_heatmap_cell_choice_and_confirm(explorer: Explorer) -> None:
    explorer.sweep_x_range.value = "10:40:10"
    explorer.sweep_y_range.value = "50:150:50"
    explorer.sweep_button.click()
    frame = explorer.sweep_frame
    assert frame is not None and len(frame) == 12
    assert bytes(explorer.heatmap.value).startswith(b"\x89PNG")
    best = frame.iloc[0]
    assert (explorer.controls["fast"].value, explorer.controls["slow"].value) == (
        best["fast"],
        best["slow"],
    )
    heatmap = explorer.heatmap.value
    explorer.cell_x.value = 10
    explorer.cell_y.value = 150
    assert explorer.result.params["fast"] == 10 and explorer.result.params["slow"] == 150
    row = frame[(frame["fast"] == 10) & (frame["slow"] == 150)].iloc[0]
    assert explorer.result.final_equity == pytest.approx(row["final_equity"], rel=1e-12)
    assert explorer.heatmap.value != heatmap  # the chosen cell is marked
    third = explorer.top_list.options[2][1]
    explorer.top_list.value = third
    assert explorer.controls["fast"].value == frame.loc[third, "fast"]
    explorer.confirm_button.click()
    assert explorer.parity is not None and explorer.parity.ok
    assert "parity OK" in explorer.parity_html.value
    assert explorer.parity.event.final_equity == pytest.approx(explorer.result.final_equity)


def test_headless_display_falls_back_to_a_static_view(explorer: Explorer) -> None:
    # executed by papermill and read without a widget manager (nbconvert, GitHub), the
    # explorer shows its chart and metrics, not ipywidgets' "VBox(children=...)" repr
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # JupyterLab: the widget
    assert "data:image/png;base64," in bundle["text/html"]
    assert "sharpe" in bundle["text/html"] and "sample:SPX" in bundle["text/html"]
    assert not bundle["text/plain"].startswith("VBox")
    assert "fast=20" in bundle["text/plain"]
