"""What a reconciliation returns: tolerances, the verdict, both sides and their differences."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.backtesting.result import BacktestResult
from workbench.errors import ConfigError

#: Each category of difference and what it tells a trader (the report's words).
MEANINGS = {
    "missing": "a backtest trade the live run does not have; the detail names the live "
               "order decided for it that filled nothing (and how it ended), or says none "
               "was decided near it",
    "extra": "a live trade the backtest does not have; the detail names the backtest's "
             "order decided for it that filled nothing, or says none was decided near it",
    "exit": "the same entry, but one side closed the trade (or all of it) and the other "
            "did not",
    "decision_time": "the strategy decided the entry or exit on another bar live",
    "fill_time": "filled a bar or more later (or earlier) after its decision than in the "
                 "backtest: a limit touched later, the rest of a partial fill on the next "
                 "bar (the same order, or sent again as another), an order delayed by an "
                 "outage; the price difference of that leg is the market's move between the "
                 "bars (P&L part 'timing'), so it is not also a fill_price difference",
    "fill_price": "filled on the same bar at a price apart by more than the tolerance: "
                  "realised slippage against the modelled one",
    "fee": "the live commission against the bundle's commission model on the live fills",
    "size": "the position size, as a fraction of equity at the decision, differs",
    "partial_fill": "an order filled part of its quantity and its rest was canceled or "
                    "expired, never sent again: one side entered (or closed) less than the "
                    "other; the detail names the order, what it filled and how it ended",
    "dropped_fill": "a fill the runner never recorded (the broker's orders or positions "
                    "show it)",
    "risk_event": "a risk decision only one side made",
}  # fmt: skip
CATEGORIES = tuple(MEANINGS)
#: Event kinds (substrings) that are risk decisions rather than bookkeeping.
RISK_KINDS = ("risk", "kill", "halt", "block", "refus", "reduc", "liquidat")
EPS = 1e-9


@dataclass(frozen=True)
class Tolerances:
    """How far live may drift from the backtest before a difference counts."""

    price_bps: float = 1.0  # fill price, per leg, in basis points
    fee_abs: float = 0.01  # commission, per trade, in account currency ...
    fee_rel: float = 1e-6  # ... plus this fraction of the modelled commission
    size_rel: float = 0.01  # position size (fraction of equity), relative
    decision_bars: int = 0  # decision-time difference allowed, in bars
    window_bars: int = 5  # decisions this close may still be the same trade

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"tolerance {name} must be a non-negative number, got {value!r}")
        if self.window_bars < self.decision_bars:
            raise ConfigError(
                f"window_bars ({self.window_bars}) is below decision_bars ({self.decision_bars})",
                hint="trades must be matchable over at least the allowed decision difference",
            )


@dataclass(frozen=True)
class Verdict:
    """What the runner logs after its daily reconciliation."""

    ok: bool
    unexplained: int
    counts: dict[str, int]
    report: Path | None = None
    error: str | None = None


@dataclass
class Reconciliation:
    """Both sides and their differences. ``trades`` has one row per paired (or lone) trade."""

    summary: dict[str, Any]
    trades: pd.DataFrame
    differences: pd.DataFrame
    equity: pd.DataFrame  # live and backtest equity on the live bars
    events: pd.DataFrame  # the live run's events
    backtest: BacktestResult = field(repr=False)

    @property
    def unexplained(self) -> int:
        return int((self.differences["explained_by"] == "").sum())

    @property
    def ok(self) -> bool:
        return self.unexplained == 0

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def verdict(self, report: Path | None = None) -> Verdict:
        return Verdict(self.ok, self.unexplained, dict(self.summary["counts"]), report)

    def write(self, out: str | Path) -> Path:
        """summary.json, trades.csv, differences.csv, plots and report.html in ``out``."""
        from workbench.live.reconcile.report import write_report

        return write_report(self, Path(out))
