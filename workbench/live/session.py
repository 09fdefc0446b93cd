"""A live session against the emulator, stepped one bar at a time.

The runner runs in a thread; each bar is published only once the runner has finished
the one before (recorded, decided, sent), as a prompt runner would on minute bars. The
demo and the tests that trade through alpaca-py against the emulator use it. When the
runner trades a coarser timeframe than the emulator's bars (a daily bundle on minute
data), one runner bar is several emulator steps: :func:`steps_per_bar` counts them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.data.sessions import DEFAULT_CALENDAR, periods
from workbench.live.chaos import finished_bars
from workbench.progress import progress as progress_bar


def _wait(done: Any, failure: list[BaseException], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if failure:
            raise RuntimeError(f"the live runner failed: {failure[0]!r}") from failure[0]
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.005)


def drive(
    runner: Any,
    emulator: Any,
    state_path: str | Path,
    n: int,
    *,
    progress: bool = False,
    timeout: float = 30.0,
    steps: Sequence[int] | None = None,
) -> Any:
    """Run ``runner`` for ``n`` bars while stepping ``emulator``; its run summary.

    ``steps[i]`` is how many emulator steps make the runner's bar ``i`` (default one).
    Waits (at most ``timeout`` seconds each) for the runner's two streams to connect
    and for every bar to be finished; raises what the runner raised, or TimeoutError.
    """
    failure: list[BaseException] = []
    summary: list[Any] = []

    def run() -> None:
        try:
            summary.append(runner.run(max_bars=n))
        except BaseException as exc:  # raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="live-runner", daemon=True)
    thread.start()

    def ready() -> bool:
        c = emulator.state()["connections"]
        return c["trading_ready"] >= 1 and c["data_ready"] >= 1

    _wait(ready, failure, "the runner's streams to connect", timeout)
    for i in progress_bar(range(n), desc="live bars", unit="bar", show=progress):
        emulator.step(1 if steps is None else steps[i])
        _wait(lambda i=i: finished_bars(Path(state_path)) > i, failure, f"bar {i + 1}", timeout)
    thread.join(timeout)
    if failure or thread.is_alive() or not summary:
        raise RuntimeError(f"the live runner did not finish: {failure!r}")
    return summary[0]


def steps_per_bar(
    frames: Mapping[str, pd.DataFrame],
    timeframe: Any,
    *,
    session: str = "regular",
    calendar: str = DEFAULT_CALENDAR,
) -> list[int]:
    """How many emulator steps (bar times of ``frames``) make each bar of ``timeframe``.

    Steps outside the sessions count with the bar after them (the emulator publishes
    them, the runner never sees them).
    """
    times = pd.DatetimeIndex(
        np.unique(np.concatenate([f.index.as_unit("ns").asi8 for f in frames.values()])),
        tz="UTC",
    )
    labels = periods(times, timeframe, session=session, calendar=calendar).labels
    counts: list[int] = []
    carry, current = 0, None
    for label in labels.tolist():
        if label < 0:
            carry += 1
        elif label == current:
            counts[-1] += 1
        else:
            counts.append(1 + carry)
            carry, current = 0, label
    return counts
