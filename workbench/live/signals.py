"""How a person or systemd stops ``workbench live``: by a signal, never as a failure.

- **SIGTERM** (systemd's stop, ``kill``): the runner finishes the bar in progress (its
  plan written, its orders sent and recorded), reconciles its orders once more, writes
  ``stopped`` (``stopped_by``: ``stop requested``) and closes its streams; exit code 0.
- **Ctrl-C** (SIGINT), the first: the same, logged at once, with ``stopped_by`` saying
  it was Ctrl-C; exit code 130 (128 + SIGINT, what a shell reports for a program that
  Ctrl-C ended), as freqtrade and nautilus_trader treat Ctrl-C as a graceful stop.
- **Ctrl-C again** while stopping: interrupt at once (``KeyboardInterrupt`` wherever the
  runner is). It writes ``stopped`` with ``stopped_by`` ``interrupted``, never ``failed``:
  a person asked. Each step of a bar is its own transaction, so what was written stays;
  a bar left half done is finished by the next start, as after a crash.

Only :meth:`LiveRunner.run(handle_signals=True) <workbench.live.runner.LiveRunner.run>`
(the CLI) installs these handlers, and puts the previous ones back when it returns; a
library caller keeps Python's default (Ctrl-C raises ``KeyboardInterrupt`` at once, also
written as ``interrupted``) and calls ``runner.stop()`` itself.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from queue import SimpleQueue
from types import FrameType
from typing import Any

#: ``stopped_by`` of a stop asked by SIGTERM or by ``runner.stop()``.
STOP_REQUESTED = "stop requested"
#: ``stopped_by`` of a stop asked by a first Ctrl-C.
CTRL_C = "stop requested by Ctrl-C (SIGINT)"
#: ``stopped_by`` of a run interrupted at once (a second Ctrl-C, a library's KeyboardInterrupt).
INTERRUPTED = "interrupted"
#: What the runner logs on a first Ctrl-C, after the reason.
CTRL_C_AGAIN = "Ctrl-C again interrupts at once"


def exit_code(signum: int | None) -> int:
    """The exit code of a run stopped by ``signum`` (None: no signal): 130 for Ctrl-C, as
    shells report it; 0 otherwise (systemd's SIGTERM is a clean stop, not an error)."""
    return 128 + signal.SIGINT if signum == signal.SIGINT else 0


@dataclass
class StopSignals:
    """While entered, SIGTERM and SIGINT ask ``stop(reason, note)`` to finish the bar; a
    SIGINT once a signal asked, or once ``stopping()``, raises ``KeyboardInterrupt``.
    ``received``: the first signal (None: none came). Enter on the main thread only.

    The handler only notes the signal and queues it (``SimpleQueue.put`` is reentrant);
    ``stop`` runs on a thread of this object's. A handler runs between two bytecodes of the
    main thread, which may hold a lock ``stop`` needs (an ``Event``'s, a log stream's):
    calling it there could deadlock, or re-enter a write in progress.
    """

    stop: Callable[[str, str], None]
    stopping: Callable[[], bool]
    received: int | None = None
    _asked: SimpleQueue[int | None] = field(default_factory=SimpleQueue, repr=False)
    _previous: dict[int, Any] = field(default_factory=dict, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def __enter__(self) -> StopSignals:
        self._thread = threading.Thread(target=self._serve, name="stop-signals", daemon=True)
        self._thread.start()
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            if handler is not None:  # None: installed outside Python, nothing to put back
                signal.signal(signum, handler)
        self._previous.clear()
        self._asked.put(None)
        if self._thread is not None:
            self._thread.join(timeout=5.0)  # a stop in progress, at most

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and (self.received is not None or self.stopping()):
            raise KeyboardInterrupt
        if self.received is None:
            self.received = signum
            self._asked.put(signum)

    def _serve(self) -> None:
        while (signum := self._asked.get()) is not None:
            if signum == signal.SIGINT:
                self.stop(CTRL_C, CTRL_C_AGAIN)
            else:
                self.stop(STOP_REQUESTED, "")
