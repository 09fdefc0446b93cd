"""The risk engine's quiet band: the bars on which its bar update has nothing to decide.

On most bars of a run the marked equity is below its peak and far from every limit,
the trading day has not changed and nobody touched the trading state: the risk engine's
bar update (:meth:`~workbench.risk.RiskEngine.on_bar_ns`) then only remembers the
equity. :class:`QuietBand` is where the engine keeps what tells such a bar apart, so
that the bar kernel can test it inline, without a call, on every bar (a quiet bar is
the hot path of a long backtest). The engine owns every field; the caller reads them
and, on a quiet bar, records the bar exactly as :meth:`QuietBand.observe` does. Any
other bar goes to the engine, which takes the full step (rules, events, state).
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["QuietBand"]


class QuietBand:
    """A bar at ``time_ns`` with marked ``equity`` is quiet when
    ``floor <= equity <= peak`` and ``start_ns <= time_ns < end_ns`` and
    ``store._state is seen`` (the in-memory state is still the one the engine left).

    ``floor`` sits just above the drawdown and daily-loss thresholds (see
    :meth:`~workbench.risk.RiskEngine.on_bar_ns`); it is ``inf`` (closed) while the
    engine must see every bar: before its first full step, when trading is not
    ``ACTIVE``, with a kill-switch file or a state store other processes can change.
    A quiet bar is recorded in ``last`` (its equity), ``at`` (its time) and ``dirty``
    (the state does not hold ``last`` yet); the engine writes them to its state when
    anyone reads it.
    """

    __slots__ = ("at", "dirty", "end_ns", "floor", "last", "peak", "seen", "start_ns", "store")

    def __init__(self, store: Any = None) -> None:
        self.store = store
        self.seen: Any = None
        self.floor = math.inf
        self.peak = -math.inf
        self.start_ns = self.end_ns = 0
        self.last = 0.0
        self.dirty = False
        self.at: int | None = None  # the last bar the engine observed, UTC epoch ns

    def close(self) -> None:
        """Every bar goes to the engine until it opens the band again."""
        self.floor = math.inf

    def observe(self, time_ns: int, equity: float) -> bool:
        """Record a quiet bar and say True; False if the bar is not quiet (the engine's
        full step must see it). The bar kernel inlines this test and record."""
        if (
            self.floor <= equity <= self.peak
            and self.start_ns <= time_ns < self.end_ns
            and self.store._state is self.seen
        ):
            self.last = equity
            self.dirty = True
            self.at = time_ns
            return True
        return False
