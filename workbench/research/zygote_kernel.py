"""The kernel side of :mod:`workbench.research.zygote`: a jupyter_client provisioner whose
kernels the zygote forks, and the handle it keeps of each (what ``Popen`` would be).

Kept apart from the zygote itself so that starting one (in a walk-forward's parent process,
before the pool forks) does not import jupyter_client there.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning import LocalProvisioner

from workbench.research.zygote import ANSWER_TIMEOUT, status_path
from workbench.research.zygote_fork import wait_polling

__all__ = ["ForkedKernel", "ZygoteProvisioner"]

log = logging.getLogger(__name__)

#: The kernel command a zygote can stand in for: ``python -m ipykernel_launcher ...``.
LAUNCHER = ("-m", "ipykernel_launcher")


class ZygoteProvisioner(LocalProvisioner):  # type: ignore[misc]
    """Launches the kernel by asking the zygote at ``address`` for one (the answer comes once
    the zygote's imports are done); the usual launch when the zygote gives none, or when the
    command is not this interpreter's ipykernel."""

    address: str = ""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        if not self.address or tuple(cmd[1:3]) != LAUNCHER or cmd[0] != sys.executable:
            return await super().launch_kernel(cmd, **kwargs)
        env = dict(kwargs.get("env") or os.environ)
        env["JPY_PARENT_PID"] = str(os.getpid())  # as jupyter_client's launcher sets it
        cwd = str(kwargs.get("cwd") or Path.cwd())
        pid = _ask(self.address, {"argv": cmd[3:], "env": env, "cwd": cwd})
        if pid is None:
            return await super().launch_kernel(cmd, **kwargs)
        self.process = ForkedKernel(pid, status_path(self.address, pid))
        self.pid = self.pgid = pid  # its own session: the kernel and what it starts
        self.cwd = cwd
        return self.connection_info


def _ask(address: str, request: dict[str, Any]) -> int | None:
    """The pid of the kernel the zygote forked for ``request``, or None (logged)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(ANSWER_TIMEOUT)
            connection.connect(address)
            connection.sendall(json.dumps(request).encode() + b"\n")
            answer = json.loads(connection.makefile().readline() or "{}")
    except (OSError, ValueError) as exc:
        answer = {"error": repr(exc)}
    if not answer.get("pid"):
        log.warning(
            "no kernel from the zygote (%s): launched as usual", answer.get("error", "no answer")
        )
        return None
    return int(answer["pid"])


class ForkedKernel:
    """What jupyter_client's provisioner expects of its ``Popen``, for a forked kernel (not
    this process's child: the zygote waits for it, and then its pid is gone). Its
    ``returncode`` is the one the zygote wrote down at ``status`` (``-N``: killed by signal
    N); ``known`` is False when there was none (the zygote itself gone): 0 then."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int, status: str) -> None:
        self.pid = pid
        self.status = status
        self.returncode: int | None = None
        self.known = False

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                self.returncode, self.known = _read_status(self.status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        return wait_polling(self.poll, timeout, "kernel")

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # it ended since: nothing to signal
                os.killpg(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


def _read_status(path: str) -> tuple[int, bool]:
    """The exit code the zygote wrote at ``path`` (the file then removed) and True; 0 and
    False when there is none."""
    try:
        with open(path, encoding="utf-8") as status:
            code = int(status.read())
    except (OSError, ValueError):
        return 0, False
    with contextlib.suppress(OSError):
        os.unlink(path)
    return code, True
