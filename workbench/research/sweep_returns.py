"""A vectorized sweep's trial returns, built when first read rather than during the sweep.

The returns matrix is the largest thing a sweep makes (4 bytes per bar and trial: 400 MB
for 100 combinations over 1M bars) and most sweeps are read for their metrics only (the
table, the heatmap, the widgets); fresh memory of that size costs more to fault in than the
kernel takes to fill it. A :class:`ReturnsRecipe` holds what the sweep ran on, and builds
the matrix with the same kernel on the same inputs: the same float32 values, bit for bit,
as a sweep that wrote them on the way (``sweep(..., returns_now=True)``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, cast

import pandas as pd

log = logging.getLogger(__name__)


@dataclass(eq=False)
class ReturnsRecipe:
    """The inputs of one vectorized sweep: its strategy class, bars, combinations and options."""

    cls: type
    bars: pd.DataFrame
    combos: list[dict[str, Any]]
    options: dict[str, Any]  # run_vectorized_sweep's keywords but keep_returns and progress
    progress: bool

    def __post_init__(self) -> None:
        # a shallow copy is copy-on-write: the caller changing its frame in place later
        # changes its own copy, not these bars
        self.bars = self.bars.copy(deep=False)
        self.combos = list(self.combos)
        self.options = {k: v for k, v in self.options.items() if k != "keep_returns"}

    def build(self) -> pd.DataFrame:
        """The trial returns (float32, bars 1..T-1 by trial), as the sweep would have kept them."""
        from workbench.research._sweep_run import run_vectorized_sweep

        started = time.perf_counter()
        _, returns = run_vectorized_sweep(
            self.cls, self.bars, self.combos, keep_returns=True, progress=self.progress,
            **self.options,
        )  # fmt: skip
        log.info(
            "trial returns of %d combinations over %d bars built on first use in %.2fs",
            len(self.combos),
            len(self.bars),
            time.perf_counter() - started,
        )
        return cast(pd.DataFrame, returns)
