"""Plots: the right panels, lines and markers exist, and the figures save to PNG."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from workbench.backtesting.plots import plot_equity, plot_trades
from workbench.errors import DataError

matplotlib.use("Agg")  # headless: no window, PNG output

INDEX = pd.date_range("2024-01-01", periods=60, freq="D", tz="UTC")


@pytest.fixture
def figures() -> Iterator[list[Figure]]:
    """Collects the figures a test makes and closes them afterwards."""
    made: list[Figure] = []
    yield made
    for fig in made:
        plt.close(fig)


def equity() -> pd.Series:
    rng = np.random.default_rng(0)
    return pd.Series(1000 * np.cumprod(1 + rng.normal(0, 0.01, INDEX.size)), index=INDEX)


def bars() -> pd.DataFrame:
    close = equity().to_numpy() / 10
    frame = pd.DataFrame(
        {"open": close, "high": close * 1.01, "low": close * 0.99, "close": close, "volume": 1.0},
        index=INDEX,
    )
    frame.attrs["symbol"] = "TEST"
    return frame


def trades(direction: list[str] | None = None) -> pd.DataFrame:
    close = bars()["close"]
    entries, exits = [3, 20, 45], [10, 30, None]
    frame = pd.DataFrame(
        {
            "entry_time": INDEX[entries],
            "exit_time": [INDEX[i] if i is not None else pd.NaT for i in exits],
            "entry_price": close.iloc[entries].to_numpy(),
            "exit_price": [close.iloc[i] if i is not None else np.nan for i in exits],
            "quantity": [1.0, 2.0, 1.0],
            "pnl": [1.0, -1.0, 0.5],
            "fees": [0.0, 0.0, 0.0],
        }
    )
    if direction is not None:
        frame["direction"] = direction
    return frame


def saves(fig: Figure, path: Path) -> bool:
    fig.savefig(path)
    return path.stat().st_size > 0


def test_equity_with_drawdown_panel(figures: list[Figure], tmp_path: Path) -> None:
    fig = plot_equity(equity(), title="run 1")
    figures.append(fig)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    top, bottom = fig.axes
    assert [line.get_label() for line in top.lines] == ["equity"]
    assert top.get_shared_x_axes().joined(top, bottom)
    assert top.get_title() == "run 1"
    dd = bottom.lines[0].get_ydata()
    assert np.max(dd) <= 0 and np.min(dd) < 0  # in percent below the peak
    assert len(bottom.collections) == 1  # the filled area
    assert saves(fig, tmp_path / "x.png")


def test_benchmark_starts_where_equity_starts(figures: list[Figure], tmp_path: Path) -> None:
    curve = equity()
    benchmark = pd.Series(np.linspace(50, 80, INDEX.size), index=INDEX, name="SPY")
    fig = plot_equity(curve, benchmark=benchmark)
    figures.append(fig)
    top = fig.axes[0]
    assert [line.get_label() for line in top.lines] == ["equity", "benchmark (SPY)"]
    assert top.lines[1].get_ydata()[0] == pytest.approx(curve.iloc[0])
    assert saves(fig, tmp_path / "x.png")


def test_risk_events_get_one_legend_entry_per_action(figures: list[Figure], tmp_path: Path) -> None:
    events = pd.DataFrame(
        {
            "time": INDEX[[5, 12, 40]],
            "rule": ["max_drawdown", "max_drawdown", "daily_loss"],
            "action": ["halt", "reduce", "halt"],
            "reason": ["", "", ""],
        }
    )
    fig = plot_equity(equity(), risk_events=events)
    figures.append(fig)
    top = fig.axes[0]
    lines = {c.get_label(): len(c.get_segments()) for c in top.collections}
    assert lines == {"risk: halt (2)": 2, "risk: reduce (1)": 1}
    legend = [t.get_text() for t in top.get_legend().get_texts()]
    assert legend == ["equity", "risk: halt (2)", "risk: reduce (1)"]
    assert saves(fig, tmp_path / "x.png")


def test_empty_risk_events_are_fine(figures: list[Figure]) -> None:
    empty = pd.DataFrame(columns=["time", "rule", "action", "reason"])
    fig = plot_equity(equity(), risk_events=empty)
    figures.append(fig)
    assert len(fig.axes[0].collections) == 0


def test_trades_on_price_with_indicators(figures: list[Figure], tmp_path: Path) -> None:
    frame = bars()
    fast = frame["close"].rolling(5).mean()
    fig = plot_trades(frame, trades(), indicators={"sma5": fast})
    figures.append(fig)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["close", "sma5"]
    markers = {c.get_label(): len(c.get_offsets()) for c in ax.collections}
    assert markers == {"entry": 3, "exit": 2}  # the open trade has no exit yet
    entry = next(c for c in ax.collections if c.get_label() == "entry")
    assert entry.get_offsets()[0][1] == pytest.approx(trades()["entry_price"].iloc[0])
    assert ax.get_title() == "TEST"
    assert saves(fig, tmp_path / "x.png")


def test_short_trades_are_told_apart(figures: list[Figure], tmp_path: Path) -> None:
    fig = plot_trades(bars(), trades(["long", "short", "long"]), title="TEST daily")
    figures.append(fig)
    ax = fig.axes[0]
    markers = {c.get_label(): len(c.get_offsets()) for c in ax.collections}
    assert markers == {"entry (long)": 2, "exit (long)": 1, "entry (short)": 1, "exit (short)": 1}
    short_entry = next(c for c in ax.collections if c.get_label() == "entry (short)")
    assert short_entry.get_facecolors().size == 0 or short_entry.get_facecolors()[0][3] == 0
    assert ax.get_title() == "TEST daily"
    assert saves(fig, tmp_path / "x.png")


def test_no_trades(figures: list[Figure], tmp_path: Path) -> None:
    fig = plot_trades(bars(), trades().iloc[:0])
    figures.append(fig)
    assert len(fig.axes[0].collections) == 0
    assert saves(fig, tmp_path / "x.png")


def test_malformed_inputs_are_data_errors() -> None:
    with pytest.raises(DataError, match="empty"):
        plot_equity(pd.Series([], index=INDEX[:0], dtype=float))
    with pytest.raises(DataError, match="close"):
        plot_trades(bars().drop(columns="close"), trades())
    with pytest.raises(DataError, match="exit_price"):
        plot_trades(bars(), trades().drop(columns="exit_price"))
