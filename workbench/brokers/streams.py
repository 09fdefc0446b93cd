"""Running alpaca-py's WebSocket streams in a thread, and stopping them promptly.

alpaca-py's ``stop()`` only sets a flag that the receive loop reads between 5-second
``recv`` timeouts, so a plain stop takes up to 5 s. Cancelling the loop's tasks after
it ends the stream at once; the thread then returns quietly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import Any


def run_stream(stream: Any, log: logging.Logger, what: str) -> None:
    """The body of a stream's thread: ``stream.run()``, logging an unexpected end."""
    try:
        stream.run()
    except asyncio.CancelledError:  # stop_stream cancelled it
        pass
    except Exception:  # the stream thread must not die silently
        log.exception("%s stopped", what)


def stop_stream(stream: Any, thread: threading.Thread, timeout: float = 5.0) -> None:
    """Stop ``stream`` (running in ``thread``) and wait for the thread, at most ``timeout``."""
    deadline = time.monotonic() + timeout
    while getattr(stream, "_loop", None) is None and time.monotonic() < deadline:
        if not thread.is_alive():
            return
        time.sleep(0.05)
    with contextlib.suppress(Exception):
        stream.stop()
    loop = getattr(stream, "_loop", None)
    if loop is not None:
        with contextlib.suppress(RuntimeError):  # the loop has already ended
            loop.call_soon_threadsafe(_cancel_all, loop)
    thread.join(max(deadline - time.monotonic(), 0.1))


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    for task in asyncio.all_tasks(loop):
        task.cancel()
