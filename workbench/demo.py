"""The demo run by ``make demo``: one small function per step, called in order by :func:`main`.

Steps so far: load the bundled samples, check their quality, print a one-line summary of
each. Later steps (a backtest, a report) are added as functions and listed in :data:`STEPS`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import pandas as pd

from workbench.data.quality import QualityReport, validate
from workbench.data.sources import load_symbols

SAMPLE_SPEC = "sample:SPX,NASDAQ"

State = dict[str, Any]


def load_data(state: State) -> None:
    """Load both bundled samples (real S&P 500 and Nasdaq Composite daily bars)."""
    state["bars"] = load_symbols(SAMPLE_SPEC)
    print(
        f"loaded {SAMPLE_SPEC}: "
        + ", ".join(f"{s} {len(b)} bars" for s, b in state["bars"].items())
    )


def check_quality(state: State) -> None:
    """Validate each sample against the NYSE calendar and print the report."""
    reports: dict[str, QualityReport] = {s: validate(b) for s, b in state["bars"].items()}
    state["reports"] = reports
    for report in reports.values():
        print(report)


def summarise(state: State) -> None:
    """One line per symbol: range, total return, annualised volatility, worst day."""
    for symbol, bars in state["bars"].items():
        close = bars["close"]
        returns = close.pct_change().dropna()
        total = close.iloc[-1] / close.iloc[0] - 1.0
        vol = returns.std() * 252**0.5
        worst = returns.idxmin()
        print(
            f"{symbol}: {bars.index[0].date()} to {bars.index[-1].date()}, "
            f"total return {total:+.1%}, annualised vol {vol:.1%}, "
            f"worst day {worst.date()} ({returns[worst]:+.1%})"
        )


STEPS: list[Callable[[State], None]] = [load_data, check_quality, summarise]


def main(argv: list[str] | None = None) -> int:
    """Run every step; exit 1 if a quality report has errors."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    state: State = {}
    with pd.option_context("display.width", 120):
        for step in STEPS:
            print(f"\n== {step.__name__.replace('_', ' ')}")
            step(state)
    reports = state.get("reports", {})
    return 0 if all(r.ok for r in reports.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
