"""What each notebook must show when nbval runs it with its small parameters.

The notebooks assert their own invariants in their cells; these checks add what a reader must
see: the figures, the tables and the sentences a cell prints. ``conftest.py`` calls
``CHECKS[name](outputs, tmp)`` after the notebook's last cell, with the outputs nbval captured
from the kernel and the notebook's scratch folder (``{tmp}`` in ``small_parameters.yaml``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Outputs:
    """The outputs of a notebook's code cells, in order, as nbval captured them."""

    cells: list[list[dict]]

    def _all(self) -> list[dict]:
        return [out for cell in self.cells for out in cell]

    @property
    def shown(self) -> str:
        """Everything printed or displayed as text or HTML."""
        parts = []
        for out in self._all():
            data = out.get("data", {})
            parts.append(_text(data.get("text/plain", "")))
            parts.append(_text(data.get("text/html", "")))
            parts.append(_text(out.get("text", "")))
        return "".join(parts)

    @property
    def stderr(self) -> list[tuple[int, str]]:
        """(cell number, text) of what each cell wrote to stderr: a box in JupyterLab."""
        return [
            (number, _text(out.get("text", ""))[:300])
            for number, cell in enumerate(self.cells)
            for out in cell
            if out.get("output_type") == "stream" and out.get("name") == "stderr"
        ]

    def count(self, mime: str) -> int:
        return sum(mime in out.get("data", {}) for out in self._all())


def _text(value: str | list[str]) -> str:
    return value if isinstance(value, str) else "".join(value)


def _all_in(labels: tuple[str, ...], shown: str) -> None:
    for label in labels:
        assert label in shown, f"the notebook did not show {label!r}"


def explore_data(out: Outputs, tmp: Path) -> None:
    _all_in(("SPX: 5031 bars", "whole sample 0.887"), out.shown)
    assert out.count("image/png") == 4  # prices+volume, return histogram, volatility, correlation


def ma_crossover(out: Outputs, tmp: Path) -> None:
    _all_in(("every entry fills at the open of the bar after the signal",), out.shown)
    assert out.count("image/png") >= 2  # equity and drawdown, the trades on the price


def parameter_sweep(out: Outputs, tmp: Path) -> None:
    labels = ("23 combinations run, 2 skipped", "parity OK", "update: median")
    _all_in((*labels, "samples drawn", "distinct trials", "fast="), out.shown)  # + searches
    assert out.count("application/vnd.jupyter.widget-view+json") >= 1  # the explorer
    assert out.count("image/png") >= 2  # the heatmap, the searches compared


def risk(out: Outputs, tmp: Path) -> None:
    shown = out.shown
    _all_in(("later entries refused", "no risk", "daily loss limit", "drawdown halt"), shown)
    _all_in(("max_drawdown",), shown)  # the comparison table and the events table
    assert "8.000000" not in shown and "%</td>" in shown  # counts and percentages formatted


def promote_and_go_live(out: Outputs, tmp: Path) -> None:
    from workbench.bundle import load_bundle

    labels = ("OOS sharpe", "lookahead_audit", "walk_forward_efficiency", "max bars",
              "order_submitted", "match: 0 unexplained")  # fmt: skip
    _all_in(labels, out.shown)  # the fold table, gate table, status, log lines, verdict
    assert out.count("image/png") >= 1
    run = tmp / "run"
    (bundle,) = (run / "promoted" / "ma_crossover").iterdir()
    assert load_bundle(bundle).manifest["name"] == "ma_crossover"  # verifies its hashes
    assert (run / "walkforward" / "summary.json").is_file()
    assert (run / "live" / "live.jsonl").stat().st_size > 0


def portfolio(out: Outputs, tmp: Path) -> None:
    labels = ("momentum rotation", "information_ratio", "parity OK", "group_exposure")
    _all_in((*labels, "20 stocks", "close_only"), out.shown)
    assert out.count("image/png") >= 6  # 4 portfolio figures, the heatmap, sector exposure
    summary = json.loads((tmp / "wf" / "summary.json").read_text())
    assert summary["n_failed"] == 0 and "alpha" in summary["out_of_sample"]


def brackets(out: Outputs, tmp: Path) -> None:
    labels = (
        "the emulator filled the bracket as the backtest did",
        "stopped out on the entry bar",
        "parity OK: ma_crossover",  # the best stops, swept, and the event engine agree
    )
    _all_in(labels, out.shown)
    assert out.count("image/png") == 2  # entries and exits, fixed vs trailing equity


CHECKS: dict[str, Callable[[Outputs, Path], None]] = {
    "01_explore_data.ipynb": explore_data,
    "02_ma_crossover.ipynb": ma_crossover,
    "03_parameter_sweep.ipynb": parameter_sweep,
    "04_risk.ipynb": risk,
    "05_promote_and_go_live.ipynb": promote_and_go_live,
    "06_portfolio.ipynb": portfolio,
    "07_brackets.ipynb": brackets,
}
