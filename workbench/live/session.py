"""A live session against the emulator, stepped one bar at a time.

The runner runs in a thread; each bar is published only once the runner has finished
the one before (recorded, decided, sent), as a prompt runner would on minute bars. The
demo and the tests that trade through alpaca-py against the emulator use it.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from workbench.live.chaos import finished_bars


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
) -> Any:
    """Run ``runner`` for ``n`` bars while stepping ``emulator``; its run summary.

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
    for i in tqdm(range(n), desc="live bars", unit="bar", disable=not progress):
        emulator.step()
        _wait(lambda i=i: finished_bars(Path(state_path)) > i, failure, f"bar {i + 1}", timeout)
    thread.join(timeout)
    if failure or thread.is_alive() or not summary:
        raise RuntimeError(f"the live runner did not finish: {failure!r}")
    return summary[0]
