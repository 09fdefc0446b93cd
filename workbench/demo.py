"""The demo run by ``make demo``: one small function per step, called in order by :func:`main`.

Steps: load the bundled samples, check their quality, summarise them, then backtest the
moving-average crossover on ``sample:SPX`` and write its report (CSV files, metrics and
plots) under ``out/demo/``. Each step is a function listed in :data:`STEPS`.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.backtesting.api import backtest
from workbench.data.quality import QualityReport, validate
from workbench.data.sources import load_symbols

SAMPLE_SPEC = "sample:SPX,NASDAQ"
#: Where the demo writes its outputs (override with WORKBENCH_DEMO_OUT).
OUT = Path(os.environ.get("WORKBENCH_DEMO_OUT", "out/demo"))

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


def backtest_crossover(state: State) -> None:
    """The reference strategy on the S&P 500: SMA 50/200, next-open fills, small costs."""
    result = backtest(
        "ma_crossover",
        state["bars"]["SPX"],
        {"fast": 50, "slow": 200},
        cash=100_000,
        commission=0.0005,
        slippage=2.0,
    )
    state["backtest"] = result
    print(result.summary())
    print(result.trades[["entry_time", "exit_time", "entry_price", "exit_price", "pnl"]].tail())


def write_report(state: State) -> None:
    """Trades, orders, fills, equity, metrics and plots of the backtest, as files."""
    out = OUT / "backtest_ma_crossover_spx"
    paths = state["backtest"].save(out)
    print(f"wrote {len(paths)} files to {out}/")
    for name, path in paths.items():
        print(f"  {name:<16} {path}")


STEPS: list[Callable[[State], None]] = [
    load_data,
    check_quality,
    summarise,
    backtest_crossover,
    write_report,
]


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
