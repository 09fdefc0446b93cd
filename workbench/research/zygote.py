"""Kernels forked from one process that has already imported what they need (a zygote).

With 2 jobs, a walk-forward starts two warm kernels at once, and each spends about 1.2
CPU-seconds importing ipykernel, numpy, pandas, numba and the fold's modules: on 2 cores
the second kernel's imports delay both first folds and cost a core-second and more. A
:class:`Zygote` is one Python process that makes those imports once (the jobs' preload),
then forks a kernel per request: each forked kernel starts with them in memory
(copy-on-write), ready in a tenth of a second.
:class:`~workbench.research.zygote_kernel.ZygoteProvisioner` is the jupyter_client kernel
provisioner that asks the zygote for a kernel instead of starting
``python -m ipykernel_launcher``, and waits for it (the zygote answers once its imports are
done); it falls back to that launch when the zygote gives no kernel, so a kernel is always
started one way or the other.

A forked kernel is the kernel ``python -m ipykernel_launcher -f FILE ...`` would be: its
own session and process group, the manager's environment and working directory,
``sys.path`` as ipykernel_launcher leaves it (IPython adds ``''``), numpy's global random
state reseeded (Python's own ``random`` reseeds itself after a fork), stdin from
``/dev/null``. What it shares with its siblings is what a fork shares: the modules the
zygote imported, and the hash seed.

Lifetimes: the zygote's children are killed (their process groups) when the zygote ends;
it ends when its owner closes it, or when its owner dies (its stdin, a pipe from the
owner, reads end-of-file). It waits for its children as they exit, so a dead kernel leaves
no zombie (a provisioner tells a kernel's death by its pid being gone) and its CPU time
is counted, as a launched kernel's is, in its owner's ``RUSAGE_CHILDREN``. POSIX only
(``os.fork``); used by the local process pool of
:class:`~workbench.research.notebook_runner.NotebookRunner` on Linux.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
from typing import Any

__all__ = ["ANSWER_TIMEOUT", "Zygote", "serve"]

log = logging.getLogger(__name__)

#: How long a request waits for the zygote's answer (its imports come first).
ANSWER_TIMEOUT = 60.0


class Zygote:
    """A zygote process owned by this one: started at once, its imports run while the
    caller goes on; :meth:`close` ends it and every kernel it forked."""

    def __init__(self, preload: str | None = None) -> None:
        self._folder = tempfile.mkdtemp(prefix="wb-zygote-")
        self.address = os.path.join(self._folder, "zygote.sock")
        # listening before the zygote runs: a request made at once waits in the backlog
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(self.address)
            listener.listen(64)
            code = "from workbench.research.zygote import serve; serve()"
            self._process = subprocess.Popen(  # this interpreter, our own module
                [sys.executable, "-c", code, str(listener.fileno()), preload or ""],
                stdin=subprocess.PIPE,
                pass_fds=(listener.fileno(),),
                start_new_session=True,  # a Ctrl-C at the terminal is the owner's to handle
            )
        except OSError:
            _remove(self.address)
            raise
        finally:
            listener.close()  # the zygote's now
        log.debug("zygote started", extra={"event": "zygote_start"})

    def close(self) -> None:
        """End the zygote (it kills its kernels first) and wait for it."""
        process = self._process
        try:
            if process.stdin is not None:
                process.stdin.close()
            process.wait(timeout=ANSWER_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
        _remove(self.address)


def serve() -> None:
    """The zygote's main: listen, import, then fork a kernel per request until the owner
    closes stdin. Run as ``python -c ... FD PRELOAD`` by :class:`Zygote`; ``FD`` is the
    socket it listens on, bound and listening already."""
    listener = socket.socket(fileno=int(sys.argv[1]))  # requests queue while we import
    preload = sys.argv[2]
    if sys.path and sys.path[0] == "":
        del sys.path[0]  # as ipykernel_launcher does (IPython puts '' back, in its place)
    import ipykernel.kernelapp  # noqa: F401

    if preload:
        try:
            exec(compile(preload, "<preload>", "exec"), {"__name__": "__preload__"})
        except Exception as exc:  # the kernels' own preload and notebooks show it
            log.debug("zygote preload failed: %r", exc)
    children: list[int] = []
    signal.signal(signal.SIGCHLD, lambda *_: _reap())  # waited for (their CPU time counted)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(sys.stdin, selectors.EVENT_READ)
    try:
        while True:
            ready = [key.fileobj for key, _ in selector.select()]
            if sys.stdin in ready and not sys.stdin.buffer.read1(4096):
                return  # the owner closed us, or died
            if listener in ready:
                connection, _ = listener.accept()
                with connection:
                    pid = _fork_kernel(connection, listener)
                    if pid:
                        children.append(pid)
    finally:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for pid in children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        _remove(listener.getsockname())  # the owner does too; first if it died
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # no teardown of the modules imported for the kernels


def _remove(address: str) -> None:
    """The socket file and its folder, if still there."""
    with contextlib.suppress(OSError):
        os.unlink(address)
    with contextlib.suppress(OSError):
        os.rmdir(os.path.dirname(address))


def _reap() -> None:
    """Wait for every child that has exited (a kernel's pid is then gone for its provisioner)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _fork_kernel(connection: socket.socket, listener: socket.socket) -> int | None:
    """Read one request, fork its kernel, answer with its pid; in the child, run it."""
    try:
        request = json.loads(connection.makefile().readline())
        pid = os.fork()
    except (OSError, ValueError) as exc:
        _answer(connection, {"error": repr(exc)})
        return None
    if pid == 0:  # the kernel
        code = 1
        try:
            listener.close()
            connection.close()
            _become_kernel(request)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)  # never the zygote's exit handlers
    _answer(connection, {"pid": pid})
    return pid


def _answer(connection: socket.socket, answer: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # the asker is gone: its kernel dies with the zygote
        connection.sendall(json.dumps(answer).encode() + b"\n")


def _become_kernel(request: dict[str, Any]) -> None:
    """In the forked child: what ``python -m ipykernel_launcher ARGV`` would have been."""
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.argv = ["ipykernel_launcher", *request["argv"]]
    if "numpy" in sys.modules:  # its global random state is not reseeded by a fork
        sys.modules["numpy"].random.seed()
    from ipykernel.kernelapp import IPKernelApp

    # read from the environment when ipykernel was imported (the zygote's): given here
    parent = int(request["env"].get("JPY_PARENT_PID") or 0)
    IPKernelApp.launch_instance(argv=request["argv"], parent_handle=parent)
