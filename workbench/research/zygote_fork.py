"""A zygote forked from its owner, when that is safe: it inherits the owner's imports.

The owner of a walk-forward's zygote (the CLI, a benchmark, a user's script) has already
imported numpy, pandas and workbench, about 0.7 s that a zygote started as
``python -c ...`` pays again before its first kernel. Forked from the owner instead, the
zygote only imports ipykernel and runs the kernels' preload. A fork copies a whole process,
so it is taken only when it is safe (:func:`fork_refusal` says why not, and the zygote is
spawned as before): on Linux, from the main thread of a process running no other thread
(a thread holding a lock at the fork would leave it held forever in the child), and not
from an IPython shell or kernel (a user running a walk-forward from a notebook: ipykernel's
singletons, its stdout, its zmq sockets) nor from inside a running asyncio loop, nor once
matplotlib is imported (a GUI backend's connection, settings made for this process: a
kernel sets up its own).

What the forked zygote sheds of its owner, so that it and the kernels it forks are what a
spawned zygote's are (:func:`_shed`): its own session (a Ctrl-C at the owner's terminal is
the owner's to handle); no file descriptor but stdio, its listener and the owner's pipe on
its stdin (the owner's SQLite files, sockets and log files closed); no logging handler of the
owner's (a kernel must not write to its log file or its streams), the root logger back at
WARNING; fresh stdio objects on descriptors 0-2; signal handlers back to the interpreter's
defaults and no wakeup descriptor; no atexit handler, multiprocessing finalizer or child
of the owner's, nor its multiprocessing resource tracker, forkserver, parent or start
method; no asyncio loop of the owner's; ``sys.path`` without the entry the owner's
interpreter put first (its script's folder, or the folder it started in). It ends with
``os._exit``, as the spawned one does.

The owner's objects stay in the child's memory, untouched: a descriptor closed here still
belongs to one of them, and such an object freed in the child would close whatever
descriptor has taken its number since. So nothing of the owner's is freed: every object
is moved out of the cyclic collector's sight at once (``gc.freeze``), and what is replaced
here (handlers, streams, the loop policy) is kept referenced until the zygote exits.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import gc
import io
import itertools
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["ForkedProcess", "fork_refusal", "fork_zygote", "name_process"]

#: What the forked zygote replaced of its owner's, kept alive until it exits (see above).
_KEPT: list[Any] = []


def fork_refusal() -> str | None:
    """Why a zygote cannot be forked from this process now, or None when it can."""
    if sys.platform != "linux" or not hasattr(os, "fork"):
        return f"forking a zygote is done on Linux only (this is {sys.platform})"
    ipython = sys.modules.get("IPython")
    kernelapp = sys.modules.get("ipykernel.kernelapp")
    if (ipython is not None and getattr(ipython, "get_ipython", lambda: None)() is not None) or (
        kernelapp is not None and kernelapp.IPKernelApp.initialized()
    ):
        return "this process runs an IPython shell or kernel"
    if "matplotlib" in sys.modules:  # a GUI backend's connection, the user's rcParams
        return "matplotlib is imported here: its backend and settings are not a kernel's"
    if threading.current_thread() is not threading.main_thread():
        return "called from a thread other than the main one"
    if threading.active_count() > 1:
        return f"{threading.active_count()} threads run in this process"
    aio = sys.modules.get("asyncio")
    if aio is not None and aio._get_running_loop() is not None:
        return "called from inside a running asyncio loop"
    return None


class ForkedProcess:
    """What the owner keeps of a zygote it forked, shaped as the ``Popen`` of a spawned one:
    its ``pid``, its ``stdin`` (the owner's end of the pipe: closing it ends the zygote),
    ``poll``, ``wait``, ``kill``."""

    def __init__(self, pid: int, stdin: io.RawIOBase) -> None:
        self.pid = pid
        self.stdin = stdin
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by someone else: gone all the same
                self.returncode = 0
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        return wait_polling(self.poll, timeout, "zygote")

    def kill(self) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


def wait_polling(poll: Callable[[], int | None], timeout: float | None, what: str) -> int:
    """``Popen.wait`` for a process this one cannot wait for with a blocking call (not its
    child, or reaped elsewhere): ``poll`` until it answers, 0.5 ms first and twice as long
    each time up to 50 ms, so a process killed a moment ago is seen gone within a
    millisecond or two, and a long wait costs little. Its exit code (None as 0)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.0005
    while (code := poll()) is None:
        if deadline is not None and time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(what, timeout or 0.0)
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return int(code or 0)


def fork_zygote(listener: socket.socket, serve: Callable[[socket.socket], None]) -> ForkedProcess:
    """Fork a zygote that sheds this process's state and runs ``serve`` on ``listener``
    (bound and listening); its stdin is a pipe from here. Raises OSError when the fork fails.
    Check :func:`fork_refusal` first."""
    read, write = os.pipe()
    for stream in (sys.stdout, sys.stderr):  # not written twice by the child
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        pid = os.fork()
    except OSError:
        os.close(read)
        os.close(write)
        raise
    if pid == 0:  # the zygote: never returns to the owner's code
        code = 1
        try:
            serve(_shed(read, write, listener))
            code = 0
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)  # never the owner's exit handlers
    os.close(read)
    return ForkedProcess(pid, os.fdopen(write, "wb", buffering=0))


def name_process(name: str) -> None:
    """What ``ps -o comm`` and ``top`` show for this process (Linux; nothing elsewhere)."""
    with contextlib.suppress(OSError), open("/proc/self/comm", "w", encoding="utf-8") as comm:
        comm.write(name[:15])


def _shed(owner: int, other_end: int, listener: socket.socket) -> socket.socket:
    """In the forked child: leave the owner's session, descriptors, logging, signals and exit
    hooks (the module's docstring); the listener, as the child's own object."""
    gc.freeze()  # first: no object of the owner's is collected here (the module's docstring)
    os.setsid()
    kept = _descriptors(owner, other_end, listener)
    _stdio()
    _logging()
    _signals()
    atexit._clear()
    _multiprocessing()
    _asyncio()
    if not sys.flags.safe_path and sys.path:
        del sys.path[0]  # the owner's script folder (or start folder), not the kernels'
    return socket.socket(fileno=kept)


def _descriptors(owner: int, other_end: int, listener: socket.socket) -> int:
    """Stdin from the owner's pipe; the listener above stdio (its number returned); every
    other descriptor closed. ``other_end``: the owner's end of the pipe, never kept here."""
    number = listener.detach()  # this copy of the object forgets it: never closed by it
    kept = fcntl.fcntl(number, fcntl.F_DUPFD, 3)
    os.dup2(owner, 0)
    for stdio in (1, 2):  # an owner with stdio closed: the pipe or listener took its number
        if stdio in (owner, other_end, number):
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, stdio)
            os.close(null)
    keep = {0, 1, 2, kept}
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            with contextlib.suppress(OSError):  # the listing's own descriptor is gone already
                os.close(fd)
    return kept


def _stdio() -> None:
    """Stream objects of the child's own on descriptors 0-2 (the owner's may be a progress
    bar's, a test's capture, a notebook's: nothing a zygote should write through)."""
    _KEPT.extend((sys.stdin, sys.stdout, sys.stderr))
    sys.stdin = sys.__stdin__ = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stdout = sys.__stdout__ = open(  # noqa: SIM115
        1, "w", encoding="utf-8", closefd=False, buffering=1
    )
    sys.stderr = sys.__stderr__ = open(  # noqa: SIM115
        2, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1
    )
    import faulthandler

    if faulthandler.is_enabled():  # on a descriptor of the owner's, closed: on stderr now
        faulthandler.enable(sys.stderr)
    with contextlib.suppress(AttributeError):
        faulthandler.cancel_dump_traceback_later()


def _logging() -> None:
    """No handler of the owner's anywhere (a library's NullHandler, which writes nothing, is
    kept as its import made it); the root logger at its default level."""
    root = logging.getLogger()
    loggers = [root, *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        handlers = getattr(logger, "handlers", None)
        if handlers:
            _KEPT.append(list(handlers))
            handlers[:] = [h for h in handlers if type(h) is logging.NullHandler]
    root.filters.clear()
    root.setLevel(logging.WARNING)
    logging.disable(logging.NOTSET)
    if getattr(logging, "_warnings_showwarning", None) is not None:
        logging.captureWarnings(False)


def _signals() -> None:
    """Every signal the owner handles in Python back to its default (SIGINT to the
    interpreter's KeyboardInterrupt); ignored signals stay ignored, as across an exec."""
    for signum in signal.valid_signals():
        with contextlib.suppress(OSError, ValueError, TypeError):
            if callable(signal.getsignal(signum)):
                default = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
                signal.signal(signum, default)
    with contextlib.suppress(ValueError):
        signal.set_wakeup_fd(-1)


def _multiprocessing() -> None:
    """No finalizer of the owner's (they would close its queues and pools), none of its
    children, and an authentication key of the child's own, as a launched interpreter has.

    Nor any helper process of the owner's: its resource tracker's pipe and its forkserver's
    descriptors are closed here, and their numbers are soon another's. A kernel's first
    semaphore (tqdm's lock) would find the tracker's dead and close that number: zmq's epoll
    descriptor by then, and zmq aborts the kernel. They start their own when they need one.
    Nor the owner's parent (a spawned owner's: its sentinel descriptor), its temporary
    folder (removed when the owner exits) or its start method (a spawned owner's is spawn).
    """
    if "multiprocessing" not in sys.modules:
        return
    from multiprocessing import context, process, util

    _KEPT.append((dict(util._finalizer_registry), process._children, process._parent_process))
    util._finalizer_registry.clear()
    process._children = set()
    process._parent_process = None
    process._process_counter = itertools.count(1)
    current = process.current_process()
    current.authkey = os.urandom(32)
    current._config.pop("tempdir", None)
    context._default_context._actual_context = None
    for module, name, kind in _HELPERS:
        helper = getattr(sys.modules.get(module), name, None)
        if helper is not None:  # as a launched interpreter's: no process, no descriptor
            _KEPT.append(dict(vars(helper)))
            fresh = vars(getattr(sys.modules[module], kind)())
            vars(helper).clear()
            vars(helper).update(fresh)


#: The owner's multiprocessing helpers a forked zygote forgets: (module, instance, class).
_HELPERS = (
    ("multiprocessing.resource_tracker", "_resource_tracker", "ResourceTracker"),
    ("multiprocessing.forkserver", "_forkserver", "ForkServer"),
)


def _asyncio() -> None:
    """The owner's event loop (if it set one) is not the kernels': a fresh policy."""
    aio = sys.modules.get("asyncio")
    if aio is None:
        return
    _KEPT.append(aio.get_event_loop_policy())
    aio.set_event_loop_policy(None)
