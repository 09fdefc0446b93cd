"""Is the bot alive? Judged from its heartbeat's age, not only from its last words.

A runner killed by the machine (a full disk, the OOM killer, a power cut) cannot write
``failed``: its state keeps saying ``running``. The runner writes a heartbeat every
``heartbeat_every`` seconds while it is healthy (:class:`~workbench.live.runner.LiveRunner`),
with its pid and host; ``live status`` and the dashboard judge the run with :func:`judge`.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workbench.errors import StateStoreError
from workbench.live.systemd import Watchdog

#: Statuses of a runner at work (``degraded``: the venue is out, the runner waits on it).
LIVE_STATUSES = ("running", "degraded")
#: A runner's heartbeat is stale after this many of its heartbeat intervals, at least
#: ``STALE_MIN_S``; state files of runners without a periodic heartbeat use ``STALE_OLD_S``.
STALE_BEATS = 4
STALE_MIN_S = 60.0
STALE_OLD_S = 120.0


@dataclass(frozen=True)
class Health:
    """What a run is doing, judged from its heartbeat's age and not only from what the
    runner managed to write: a runner killed by the machine leaves ``running`` behind.

    ``state``: ``running`` or ``degraded`` (beating), ``stale`` (silent for longer than
    ``stale_after_s``: hung, or gone on another machine), ``failed`` (it says so, or its
    process is gone from this machine while the file still says it works: told at once,
    whatever the heartbeat's age), ``stopped``, ``not started``. ``reason`` says why, for a person.
    """

    state: str
    runner: str
    heartbeat_age_s: float | None
    stale_after_s: float
    reason: str | None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def judge(meta: dict[str, str], now: float | None = None) -> Health:
    """The run's health from its meta (:meth:`StateStore.meta`) at ``now`` (Unix time)."""
    now = time.time() if now is None else now
    runner = meta.get("status") or "not started"
    beat = meta.get("heartbeat_unix")
    age = max(now - float(beat), 0.0) if beat else None
    every = float(meta.get("heartbeat_every") or 0.0)
    limit = max(STALE_BEATS * every, STALE_MIN_S) if every else STALE_OLD_S
    if runner == "failed":
        return Health("failed", runner, age, limit, meta.get("error") or meta.get("stopped_by"))
    if runner not in LIVE_STATUSES:
        return Health(runner, runner, age, limit, None)
    pid, host = meta.get("pid"), meta.get("host")
    if pid and host == socket.gethostname() and not _alive(int(pid)):
        why = (f"the runner (pid {pid}) is gone but the state says {runner}: it died "
               f"without writing its status; see its log")  # fmt: skip
        return Health("failed", runner, age, limit, why)
    if age is None or age <= limit:
        return Health(runner, runner, age, limit, None)
    why = (f"no heartbeat for {age:.0f} s (stale after {limit:.0f} s): the runner is hung "
           "or gone")  # fmt: skip
    return Health("stale", runner, age, limit, why)


class Heartbeat(Watchdog):
    """Writes the run's heartbeat every ``every`` seconds while the runner is healthy
    (waiting for a bar, or not stuck in one for longer than two beats), from its own
    thread. A state file that cannot be written calls ``on_fault`` (the runner's stop)
    and keeps the error in :attr:`fault` for the runner to raise."""

    def __init__(self, state: Any, every: float, on_fault: Callable[[], None]) -> None:
        super().__init__(2 * every, notify=self._beat)
        self.state = state
        self.on_fault = on_fault
        self.fault: StateStoreError | None = None

    def _beat(self, _: str) -> None:
        try:
            self.state.heartbeat()
        except StateStoreError as exc:
            if self.fault is None:
                self.fault = exc
                self.on_fault()
