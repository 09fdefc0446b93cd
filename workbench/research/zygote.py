"""Kernels forked from one process that has already imported what they need (a zygote).

With 2 jobs, a walk-forward starts two warm kernels at once, and each spends about 1.2
CPU-seconds importing ipykernel, numpy, pandas, numba and the fold's modules: on 2 cores
the second kernel's imports delay both first folds and cost a core-second and more. A
:class:`Zygote` is one Python process that makes those imports once (the jobs' preload),
then forks a kernel per request: each forked kernel starts with them in memory
(copy-on-write), ready in a tenth of a second (its start: 0.06 s, what else it imports
as it starts imported by the zygote too, :data:`STARTUP_IMPORTS`).
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

The zygote itself is forked from its owner when that is safe, inheriting the owner's
imports (numpy, pandas, workbench: 0.7 s a spawned one imports again), or else spawned as
``python -c ...`` (:mod:`workbench.research.zygote_fork` says when, and what a forked one
leaves of its owner). Either way it is named ``wb-zygote`` for ``ps`` and ``top``.

Lifetimes: the zygote's children are killed (their process groups) when the zygote ends;
it ends when its owner closes it, or when its owner dies (its stdin, a pipe from the
owner, reads end-of-file). It waits for its children as they exit, so a dead kernel leaves
no zombie (a provisioner tells a kernel's death by its pid being gone) and its CPU time
is counted, as a launched kernel's is, in its owner's ``RUSAGE_CHILDREN``; before it does,
it writes the kernel's exit status down next to its socket (:func:`status_path`), where the
provisioner reads how a kernel it lost ended (killed by which signal, or its exit status).
POSIX only (``os.fork``); on Linux, used by the local process pool of
:class:`~workbench.research.notebook_runner.NotebookRunner` (one zygote for its workers'
kernels, closed with it) and by a process's own warm kernel with 1 job
(:mod:`workbench.research.warm_kernel`: a zygote of its own, only when it can be forked,
kept for the process's later kernels).
"""

from __future__ import annotations

import contextlib
import importlib
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

from workbench.research.zygote_fork import fork_refusal, fork_zygote, name_process

__all__ = ["ANSWER_TIMEOUT", "Zygote", "serve", "status_path"]

log = logging.getLogger(__name__)

#: How long a request waits for the zygote's answer (its imports come first).
ANSWER_TIMEOUT = 60.0


class Zygote:
    """A zygote process owned by this one: started at once, its imports run while the
    caller goes on; :meth:`close` ends it and every kernel it forked.

    Forked from this process when that is safe (``fork``, the default; see
    :mod:`workbench.research.zygote_fork`): it then inherits what this process imported and
    only imports ipykernel and runs ``preload``. Otherwise, or when the fork fails, spawned
    as ``python -c ...``, which imports all of it again. ``forked`` says which.
    """

    def __init__(self, preload: str | None = None, *, fork: bool = True) -> None:
        self._owner = os.getpid()
        self._folder = tempfile.mkdtemp(prefix="wb-zygote-")
        self.address = os.path.join(self._folder, "zygote.sock")
        # listening before the zygote runs: a request made at once waits in the backlog
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        refusal = fork_refusal() if fork else "asked to spawn"
        try:
            listener.bind(self.address)
            listener.listen(64)
            self._process: Any = None
            if refusal is None:
                try:
                    self._process = fork_zygote(listener, lambda own: _serve(own, preload))
                except OSError as exc:
                    refusal = f"the fork failed ({exc!r})"
            if self._process is None:
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
        self.forked = refusal is None
        log.debug(
            "zygote %s%s",
            "forked" if self.forked else "spawned",
            "" if self.forked else f" ({refusal})",
            extra={"event": "zygote_start"},
        )

    @property
    def pid(self) -> int:
        return int(self._process.pid)

    def running(self) -> bool:
        """True until the zygote has ended (closed, killed, or its imports failed)."""
        return self._process.poll() is None

    def end(self) -> None:
        """Tell the zygote to end, without waiting: it kills its kernels at once and exits
        (their owners can release what is theirs meanwhile); :meth:`close` waits for it.
        Nothing in a process forked from its owner."""
        if os.getpid() != self._owner:
            return
        stdin = self._process.stdin
        if stdin is not None and not stdin.closed:
            with contextlib.suppress(OSError):  # gone already: nothing to end
                stdin.write(END)
                stdin.flush()
            with contextlib.suppress(OSError):
                stdin.close()

    def close(self) -> None:
        """End the zygote (it kills its kernels first) and wait for it. Nothing in a process
        forked from its owner (a pool worker, a user's fork): the zygote is not its own."""
        if os.getpid() != self._owner:
            return
        process = self._process
        try:
            self.end()
            process.wait(timeout=ANSWER_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
        _remove(self.address)


def serve() -> None:
    """The spawned zygote's main: ``python -c ... FD PRELOAD``, run by :class:`Zygote`;
    ``FD`` is the socket it listens on, bound and listening already."""
    listener = socket.socket(fileno=int(sys.argv[1]))  # requests queue while we import
    if sys.path and sys.path[0] == "":
        del sys.path[0]  # as ipykernel_launcher does (IPython puts '' back, in its place)
    _serve(listener, sys.argv[2])


def _serve(listener: socket.socket, preload: str | None) -> None:
    """Import, then fork a kernel per request until the owner writes :data:`END` on the
    zygote's stdin, closes it or dies (end-of-file); then kill the kernels and exit, with no
    teardown."""
    name_process("wb-zygote")
    _import_kernel()
    if preload:
        try:
            exec(compile(preload, "<preload>", "exec"), {"__name__": "__preload__"})
        except Exception as exc:  # the kernels' own preload and notebooks show it
            log.debug("zygote preload failed: %r", exc)
    children: list[int] = []
    address = listener.getsockname()
    signal.signal(signal.SIGCHLD, lambda *_: _reap(address))  # waited for (CPU time counted)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(0, selectors.EVENT_READ)  # the owner's pipe
    try:
        while True:
            ready = [key.fileobj for key, _ in selector.select()]
            if 0 in ready and _read_owner() in (b"", END):
                return  # the owner ended us (its pool's workers hold the pipe too), or died
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


def _import_kernel() -> None:
    """ipykernel's modules, as a forked kernel starts with them, but no debugger.

    A kernel that executes notebooks for a pipeline has no debugging client, yet ipykernel
    imports debugpy (and its vendored pydevd) as each kernel starts, only to say in its
    ``kernel_info`` reply that it could debug: about 0.05 s of a forked kernel's 0.1 s start.
    It is hidden here while ``ipykernel.debugger`` is imported, which then takes it as not
    installed (``kernel_info`` advertises no debugger, as on an installation without it);
    a notebook can still import debugpy itself. Unless the owner had it imported already
    (a zygote forked from a process run under debugpy): then its kernels debug as it does.
    """
    import ipykernel.kernelapp

    hidden = "debugpy" not in sys.modules
    if hidden:
        sys.modules["debugpy"] = None  # type: ignore[assignment]  # import -> ImportError
    try:
        import ipykernel.debugger
        import ipykernel.ipkernel  # noqa: F401
    finally:
        if hidden:
            del sys.modules["debugpy"]
    for name in STARTUP_IMPORTS:
        with contextlib.suppress(ImportError):  # psutil is optional to jupyter_client
            importlib.import_module(name)


#: What a kernel's start imports besides ipykernel's own modules, imported once in the zygote:
#: 0.07 s of a forked kernel's 0.13 s ``initialize``, most of it psutil's (jupyter_client lists
#: the machine's addresses with it, for the connection's default ``ip``), then pdb (the
#: shell's debugger class), IPython's completer and inspector, the storemagic extension and
#: tornado's asyncio loop. The same modules the kernel would import: only when, not what.
STARTUP_IMPORTS = (
    "psutil",
    "pdb",
    "IPython.core.debugger",
    "IPython.core.completerlib",
    "IPython.core.oinspect",
    "IPython.extensions.storemagic",
    "tornado.platform.asyncio",
)


#: What the owner writes on the zygote's stdin to end it (closing it is not enough while
#: processes forked from the owner, a pool's workers, hold the pipe open too).
END = b"end\n"


def _read_owner() -> bytes:
    """What the owner wrote on the zygote's stdin (nothing: end-of-file, it is gone)."""
    try:
        return os.read(0, 4096)
    except OSError:
        return b""


def _remove(address: str) -> None:
    """The socket file, the exit statuses nobody read, and their folder, if still there."""
    folder = os.path.dirname(address)
    with contextlib.suppress(OSError):
        os.unlink(address)
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            if name.endswith(STATUS_SUFFIX):
                os.unlink(os.path.join(folder, name))
    with contextlib.suppress(OSError):
        os.rmdir(folder)


#: What ends the file holding a dead kernel's exit status (see :func:`status_path`).
STATUS_SUFFIX = ".status"


def status_path(address: str, pid: int) -> str:
    """Where the zygote at ``address`` writes down how its kernel ``pid`` ended: the exit
    code as :func:`os.waitstatus_to_exitcode` gives it (``-N``: killed by signal N), written
    before the kernel is waited for, so the file is there once its pid is gone."""
    return os.path.join(os.path.dirname(address), f"{pid}{STATUS_SUFFIX}")


def _reap(address: str) -> None:
    """Wait for every child that has exited (a kernel's pid is then gone for its provisioner),
    its exit status written down first (:func:`status_path`)."""
    while True:
        try:  # looked at, not waited for yet: the pid stays until the status is written
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None:
            return
        killed = info.si_code in (os.CLD_KILLED, os.CLD_DUMPED)
        code = -info.si_status if killed else info.si_status
        path = status_path(address, info.si_pid)
        with contextlib.suppress(OSError):
            with open(path + ".tmp", "w", encoding="utf-8") as status:
                status.write(str(code))
            os.replace(path + ".tmp", path)  # whole, or not there
        with contextlib.suppress(ChildProcessError):
            os.waitpid(info.si_pid, 0)


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
    name_process(os.path.basename(sys.executable))  # not "wb-zygote": a kernel, as launched
    if "numpy" in sys.modules:  # its global random state is not reseeded by a fork
        sys.modules["numpy"].random.seed()
    from ipykernel.kernelapp import IPKernelApp

    # read from the environment when ipykernel was imported (the zygote's): given here
    parent = int(request["env"].get("JPY_PARENT_PID") or 0)
    IPKernelApp.launch_instance(argv=request["argv"], parent_handle=parent)
