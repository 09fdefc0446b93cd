"""How the execution engine behaves: the conflict policy, the retry policy, the limits.

Frozen settings, read by :class:`~workbench.execution.engine.ExecutionEngine` and built
by the run spec and the composition root, apart from the engine so they can be named
without it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum

from workbench.errors import ConfigError

__all__ = ["ConflictPolicy", "ExecutionConfig", "RetryPolicy"]


class ConflictPolicy(StrEnum):
    CANCEL_REPLACE = "cancel_replace"
    WAIT = "wait"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter: ``base * 2**(attempt-1)``, capped, times 1 ± jitter."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.25

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"retry max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_delay < 0 or self.max_delay < 0 or not 0 <= self.jitter < 1:
            raise ConfigError("retry delays must be >= 0 and jitter in [0, 1)")

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        backoff = min(self.base_delay * 2 ** (attempt - 1), self.max_delay)
        backoff *= 1 + self.jitter * (2 * rng.random() - 1)
        return max(backoff, retry_after or 0.0)


@dataclass(frozen=True, slots=True)
class ExecutionConfig:
    conflict: ConflictPolicy = ConflictPolicy.CANCEL_REPLACE
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Consecutive failed submissions (after retries) that put a symbol in ERROR.
    max_failures: int = 1
    lot_size: float | None = None
    #: Send a protective exit for what a bracket/oto entry filled before it ended.
    protect_partial_fills: bool = True
