"""systemd integration without dependencies: readiness, status and the watchdog.

``sd_notify`` writes to the socket systemd names in ``NOTIFY_SOCKET`` (nothing happens
when it is not set, e.g. in a terminal). The :class:`Watchdog` thread pings systemd at
half the ``WATCHDOG_USEC`` interval *unless* the runner has been busy with one bar for
longer than that interval: a hang inside a bar (a broker call that never returns) stops
the pings, and systemd restarts the service; the crash-safe state makes that harmless.
"""

from __future__ import annotations

import os
import socket
import threading
import time


def sd_notify(message: str) -> bool:
    """Send ``message`` (e.g. ``READY=1``) to systemd; False when not under systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)  # never let a slow reader stall trading
        try:
            sock.connect(address)
            sock.send(message.encode())
        except (BlockingIOError, ConnectionRefusedError, FileNotFoundError):
            return False
    return True


def watchdog_interval() -> float | None:
    """The watchdog interval systemd asked for, in seconds (None when there is none)."""
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = os.environ.get("WATCHDOG_PID")
    if pid and int(pid) != os.getpid():
        return None
    return int(usec) / 1_000_000


class Watchdog:
    """Pings systemd while the runner is healthy (waiting for bars, or quick with each)."""

    def __init__(self, interval: float, notify=sd_notify, clock=time.monotonic) -> None:
        self.interval = interval
        self._notify = notify
        self._clock = clock
        self._busy_since: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def busy(self) -> None:
        self._busy_since = self._clock()

    def idle(self) -> None:
        self._busy_since = None

    def alive(self) -> None:
        """The runner waits on purpose (a venue outage): restart its busy clock, if busy."""
        if self._busy_since is not None:
            self._busy_since = self._clock()

    def healthy(self) -> bool:
        since = self._busy_since
        return since is None or self._clock() - since < self.interval

    def tick(self) -> bool:
        """Ping once if healthy; returns whether it pinged."""
        if self.healthy():
            self._notify("WATCHDOG=1")
            return True
        return False

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.wait(self.interval / 2):
                self.tick()

        self._thread = threading.Thread(target=loop, name="systemd-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
