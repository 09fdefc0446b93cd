"""What the risk engine did and why: one event per refusal, resize, halt, liquidation, reset.

Every event is also logged on the ``workbench.risk`` logger as
``<action>: <rule>: <reason>`` (for example
``refused: daily_loss_limit: loss 5.3% of start-of-day equity 10,000.00 > limit 5.0%``),
with the structured fields in ``extra`` for the JSON formatter: the engine's strategy, and
for a refused or resized order the strategy's own reason for it as ``signal`` (the field
the order and fill lines name it by), so the rule's verdict stays the ``reason``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pandas as pd

log = logging.getLogger("workbench.risk")

#: Columns of the events table of a backtest result (``signal``: the judged order's, as on
#: the event's log line; empty for the engine's own decisions).
EVENT_COLUMNS = ["time", "rule", "action", "symbol", "reason", "signal"]


class RiskAction(StrEnum):
    REFUSED = "refused"
    RESIZED = "resized"
    HALTED = "halted"
    LIQUIDATED = "liquidated"
    CANCELED = "canceled"
    REDUCING = "reducing"
    RESUMED = "resumed"
    RESET = "reset"
    KILL_SWITCH = "kill_switch"


_LEVEL = {
    RiskAction.REFUSED: logging.INFO,
    RiskAction.RESIZED: logging.INFO,
    RiskAction.CANCELED: logging.INFO,
    RiskAction.RESUMED: logging.INFO,
    RiskAction.LIQUIDATED: logging.INFO,
    RiskAction.REDUCING: logging.INFO,
    RiskAction.HALTED: logging.WARNING,
    RiskAction.RESET: logging.WARNING,
    RiskAction.KILL_SWITCH: logging.WARNING,
}


@dataclass(frozen=True, slots=True)
class RiskEvent:
    """One decision of the risk engine. ``details`` holds the numbers behind ``reason``;
    ``signal`` is the reason of the strategy's order it judged (empty for the engine's
    own decisions: halts, liquidations, resets)."""

    time: pd.Timestamp
    rule: str
    action: RiskAction
    reason: str
    symbol: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    signal: str = ""

    @property
    def message(self) -> str:
        return f"{self.action}: {self.rule}: {self.reason}"

    def log(self, strategy: str | None = None) -> None:
        """One line on ``workbench.risk``, naming ``strategy`` (the engine's) if given."""
        d = self.details
        log.log(
            _LEVEL[self.action],
            self.message,
            extra={
                "event": "risk",
                "strategy": strategy,
                "rule": self.rule,
                "action": str(self.action),
                "reason": self.reason,
                "signal": self.signal or None,
                "symbol": self.symbol,
                "side": d.get("side"),
                "quantity": d.get("quantity"),
                "price": d.get("price"),
                "equity": d.get("equity"),
                "bar_time": self.time,
            },
        )


def events_frame(events: Iterable[RiskEvent]) -> pd.DataFrame:
    """A table of events: time (UTC), rule, action, symbol (None if global), reason, and the
    signal of the strategy's order judged (empty for halts, liquidations, resets)."""
    events = list(events)
    return pd.DataFrame(
        {
            "time": pd.DatetimeIndex([e.time for e in events], tz="UTC"),
            "rule": pd.Series([e.rule for e in events], dtype=object),
            "action": pd.Series([str(e.action) for e in events], dtype=object),
            "symbol": pd.Series([e.symbol for e in events], dtype=object),
            "reason": pd.Series([e.reason for e in events], dtype=object),
            "signal": pd.Series([e.signal for e in events], dtype=object),
        },
        columns=EVENT_COLUMNS,
    )
