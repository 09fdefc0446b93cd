"""Risk management the strategy cannot bypass: rules, trading state, halts that persist.

::

    strategy intents ──► RiskEngine.check ──► execution ──► broker
                            │  rules (rules.py): trading state, orders per day, order value,
                            │  sizing by risk, group and correlation caps, open positions
    marked equity ─────► RiskEngine.on_bar ──► cancel all / liquidate (reason risk=<rule>)
                            │  drawdown halt, daily loss limit, kill-switch file
                            ▼
                         RiskStore (memory | SQLite): state survives restarts

Configure with :class:`RiskConfig` (``RiskConfig.load("risk.yaml")``; every key is
documented in ``examples/risk.yaml``). The backtester applies it with
``backtest(..., risk=...)``; the live runner with the same engine and a
:class:`SQLiteRiskStore`. ``workbench risk status|kill|reset|reduce`` acts on a state file.
"""

from __future__ import annotations

from workbench.risk.config import Correlation, GroupExposure, PositionSizing, RiskConfig
from workbench.risk.engine import RiskEngine
from workbench.risk.events import RiskAction, RiskEvent, events_frame
from workbench.risk.state import (
    MemoryRiskStore,
    RiskState,
    RiskStore,
    SQLiteRiskStore,
    TradingState,
)
from workbench.risk.views import Account, ContextMarket, FrameMarket, Market

__all__ = [
    "Account",
    "ContextMarket",
    "Correlation",
    "FrameMarket",
    "GroupExposure",
    "Market",
    "MemoryRiskStore",
    "PositionSizing",
    "RiskAction",
    "RiskConfig",
    "RiskEngine",
    "RiskEvent",
    "RiskState",
    "RiskStore",
    "SQLiteRiskStore",
    "TradingState",
    "events_frame",
]
