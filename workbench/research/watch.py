"""A strategy seen from outside: each bar's decisions, observed or held back, untouched inside.

The audit records every decision a strategy makes; the walk-forward holds back the
decisions made during a test window's warm-up. Both wrap the strategy rather than the
engine, so they work with any engine configuration (risk rules included) and never
change what the strategy itself computes.
"""

from __future__ import annotations

from collections.abc import Callable

from workbench.context import Context
from workbench.strategy import Strategy

__all__ = ["Watched"]


class Watched(Strategy):
    """Runs ``inner`` and then ``after(ctx)``, which sees (and may edit) ``ctx.intents``.

    The engine clears ``ctx.intents`` after executing them, so after ``on_bar`` they are
    exactly this bar's decisions.
    """

    def __init__(self, inner: Strategy, after: Callable[[Context], None]) -> None:
        self.inner = inner
        self.p = inner.p
        self._after = after

    def label(self) -> str:  # type: ignore[override]
        return self.inner.label()

    def init(self, ctx: Context) -> None:
        self.inner.init(ctx)

    def on_bar(self, ctx: Context) -> None:
        self.inner.on_bar(ctx)
        self._after(ctx)

    def __repr__(self) -> str:
        return f"Watched({self.inner!r})"
