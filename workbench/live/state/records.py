"""The typed rows the state store's reads return (the dashboard and ``live status`` use them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EquityPoint:
    """One equity snapshot: cash, marked equity and the broker's positions at a bar."""

    time_ns: int
    cash: float
    equity: float
    positions: dict[str, float]


@dataclass(frozen=True)
class Plan:
    """A written decision: its intents (steps of the execution plan) and whether it is done."""

    time_ns: int
    intents: list[dict[str, Any]]
    done: bool


@dataclass(frozen=True)
class EventRecord:
    at: str
    kind: str
    symbol: str | None
    detail: str
