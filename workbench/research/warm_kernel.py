"""Warm kernels: one Jupyter kernel per process, reused by the notebooks it executes.

Starting a kernel and importing workbench, pandas and the numba kernels into it takes
about a second on 2 cores: most of a walk-forward fold's overhead. A job executed on a
warm kernel still runs every cell of its own parameterised notebook, which is saved with
its outputs as before; before each job the kernel's namespace is cleared (``%reset -f``),
its cell counter restarted, its figures closed and its working directory set to the
job's, so a fold sees no variable of the previous one. What it shares with the previous
job is what Python caches: imported modules (and their compiled numba code).

A kernel is started as early as its process can (:func:`start_kernel`: a pool worker
as it starts, before it imports papermill) and given a job's ``preload`` code (the imports
its notebooks will make) to run at once, so its start overlaps the caller's own work; the
first job waits for it. Once warm, and after each reset, the kernel's objects are moved
out of the cyclic garbage collector's sight (``gc.freeze``): the reset's collection then
scans only what the last notebook made (0.16 s -> 0.004 s with a fold's imports loaded).
Frozen objects are still freed by reference counting; only cycles among them would stay.

The kernel is forked, not launched, when it can be (:mod:`workbench.research.zygote`): a
pool worker's from the pool's zygote; any other process's (1 job) from a zygote of its
own, forked from it when that is safe, so the kernel starts with numpy, pandas and
workbench already imported (the process's own imports). That zygote is kept for the
process's later kernels (after a failed job, in the next run) and closed at exit
(:func:`shutdown`); where forking is not safe (a notebook's kernel, a process running
threads) the kernel is launched as ``python -m ipykernel_launcher``, as before.

A kernel is dropped (shut down; the next job starts a fresh one) when it died, when a
job failed for any reason other than an error in one of its cells (a timeout, a lost
kernel), and when the process exits. Used by :func:`~workbench.research.notebook_runner.
run_notebooks` (``reuse_kernels=True``, the default) through papermill's engine
``workbench_warm``; without reuse (and on Dask workers) each notebook gets a kernel of its
own through the engine ``workbench_fresh``. A kernel that dies while a cell runs (a signal,
the out-of-memory killer, a crash in native code) fails its notebook within a second
(:class:`KernelDied`: the cell, the notebook, and how the kernel ended), the notebook saved
as far as it ran; the next job starts a new kernel (see :func:`_launch`).

Either way a kernel that dies before it answers is started again (:data:`START_ATTEMPTS`):
jupyter_client picks free ports, closes them and writes them down, and the kernel binds
them only when it is up, so another process can take one in between (jupyter_client#487:
"Address already in use", seen with a Dask LocalCluster's two workers starting kernels at
once). Nothing of the notebook has run then, so starting again is safe.
"""

from __future__ import annotations

import atexit
import inspect
import logging
import multiprocessing.util
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from queue import Empty
from typing import Any

__all__ = [
    "ENGINE",
    "FRESH_ENGINE",
    "START_ATTEMPTS",
    "KernelDied",
    "drop_kernel",
    "forget_kernel",
    "register_engine",
    "run_soon",
    "shutdown",
    "start_kernel",
    "use_zygote",
]

log = logging.getLogger(__name__)

ENGINE = "workbench_warm"
#: The kernels' client class (see :func:`_launch`).
ASYNC_CLIENT = "jupyter_client.asynchronous.AsyncKernelClient"
FRESH_ENGINE = "workbench_fresh"
PREPARE_TIMEOUT = 60.0
#: Kernels started, at most, for one that dies before it answers (see the module's docstring).
START_ATTEMPTS = 3
#: How soon (ms) the client's sockets try again to reach a kernel that is not listening yet.
RECONNECT_MS = 10
#: Run by the kernel after its preload and after each reset (see the module's docstring).
FREEZE = "__import__('gc').freeze()\n"

#: "km" (a started KernelManager), "kc" (its client), "name", "ready" (waited for once),
#: "preload" (what it was given to run at its start)
_kernel: dict[str, Any] = {}
_registered = False


class KernelDied(RuntimeError):
    """A kernel process ended: before it answered ``kernel_info`` (started again), or while
    it ran a notebook's cell (the notebook fails with the cell and how the kernel ended)."""


def register_engine() -> None:
    """Register the ``workbench_warm`` and ``workbench_fresh`` papermill engines (once per
    process)."""
    global _registered
    if _registered:
        return
    from papermill.engines import NBClientEngine, papermill_engines

    class WarmEngine(NBClientEngine):
        """papermill's nbclient engine, on this process's warm kernel."""

        @staticmethod
        def kernel(name: str, extra: list[str] | None) -> Any:
            """A context manager giving the ``(km, kc)`` to run on, ready."""
            return _kept(_ready_kernel(name, extra))

        @classmethod
        def execute_managed_notebook(
            cls,
            nb_man: Any,
            kernel_name: str,
            log_output: bool = False,
            stdout_file: Any = None,
            stderr_file: Any = None,
            start_timeout: float = 60,
            execution_timeout: float | None = None,
            **kwargs: Any,
        ) -> Any:
            from nbclient.exceptions import CellTimeoutError, DeadKernelError
            from papermill.clientwrap import PapermillNotebookClient
            from papermill.engines import logger

            running: dict[str, Any] = {}  # the cell nbclient sent last
            with cls.kernel(kernel_name, kwargs.get("extra_arguments")) as (km, kc):
                client = PapermillNotebookClient(
                    nb_man,
                    km=km,
                    timeout=execution_timeout,
                    startup_timeout=start_timeout,
                    kernel_name=kernel_name,
                    log=logger,
                    log_output=log_output,
                    stdout_file=stdout_file,
                    stderr_file=stderr_file,
                    on_cell_execute=lambda cell, cell_index: running.update(cell=cell),
                )
                client.kc = kc  # connected and ready already
                path = nb_man.nb.metadata.papermill.get("output_path")
                try:
                    return client.execute()
                except DeadKernelError as exc:
                    count = client.code_cells_executed  # its number, as the notebook shows it
                    died = KernelDied(
                        f"the kernel died while running cell {count} of {path} ({_ending(km)})"
                    )
                    _record_failure(nb_man, running.get("cell"), "KernelDied", str(died), path)
                    raise died from exc
                except CellTimeoutError:
                    count = client.code_cells_executed
                    late = f"cell {count} of {path} ran over its timeout of {execution_timeout:g} s"
                    _record_failure(nb_man, running.get("cell"), "CellTimeoutError", late, path)
                    raise

    class FreshEngine(WarmEngine):
        """papermill's nbclient engine, on a kernel of the notebook's own."""

        @staticmethod
        def kernel(name: str, extra: list[str] | None) -> Any:
            return fresh_kernel(name, extra)

    papermill_engines.register(ENGINE, WarmEngine)
    papermill_engines.register(FRESH_ENGINE, FreshEngine)
    _registered = True


@contextmanager
def _kept(kernel: tuple[Any, Any]) -> Iterator[tuple[Any, Any]]:
    yield kernel  # the warm kernel outlives the notebook


@contextmanager
def fresh_kernel(name: str, extra: list[str] | None = None) -> Iterator[tuple[Any, Any]]:
    """A kernel of the caller's own, ``(km, kc)`` ready (started again if it dies before it
    answers), shut down when the block ends."""
    for attempt in range(1, START_ATTEMPTS + 1):
        km, kc = _launch(name, extra)
        try:
            _wait_until_up(km, kc)
            break
        except KernelDied as exc:
            _stop(km, kc)
            _started_again(exc, attempt)
        except BaseException:
            _stop(km, kc)
            raise
    try:
        yield km, kc
    finally:
        _stop(km, kc)


def _started_again(exc: KernelDied, attempt: int) -> None:
    """Log a kernel that died before it answered, or raise when it was the last attempt."""
    if attempt == START_ATTEMPTS:
        raise KernelDied(f"{exc} ({START_ATTEMPTS} kernels started, each died)") from exc
    log.warning(
        "a kernel died before it answered (attempt %d of %d): starting another; "
        "a port taken between its choice and the kernel's bind is the usual cause",
        attempt,
        START_ATTEMPTS,
        extra={"event": "kernel_died_at_start", "reason": str(exc)},
    )


def _launch(name: str, extra: list[str] | None, zygote: str | None = None) -> tuple[Any, Any]:
    """A kernel started (not waited for) and its client's channels open.

    The client is asynchronous, as nbclient's own: nbclient awaits its reads (IOPub with no
    time limit) while a task of its own checks every second that the kernel lives and
    a cell's time limit runs out. A blocking client's reads block that event loop: a kernel
    that died in a cell (killed, out of memory) or a quiet cell over its limit left the job
    waiting forever. Whether the kernel lives is asked of the manager (its provisioner's
    process: a launched kernel's ``Popen``, a forked one's
    :class:`~workbench.research.zygote_kernel.ForkedKernel`), not of the heartbeat.
    """
    import zmq
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name=name, client_class=ASYNC_CLIENT)
    if zygote:  # forked from the zygote's imports (it falls back by itself)
        km.provisioner = _zygote_provisioner(km, zygote)
    km.start_kernel(extra_arguments=list(extra or []), cwd=str(Path.cwd()))
    kc = km.client()
    # the channels connect at once, before the kernel has bound its ports (a forked kernel
    # binds them 0.04-0.1 s later), and zmq tries a refused connection again only after
    # its reconnect interval, 100 ms by default: every kernel's first request (its preload)
    # waited that long on an idle kernel. Set on the client's own context, for its sockets.
    kc.context.setsockopt(zmq.RECONNECT_IVL, RECONNECT_MS)
    # no heartbeat: unused (above), and its thread races a quick stop (jupyter_client 8.10:
    # stopped before it has set itself running, it loops with no wait, opening a socket a
    # turn until zmq refuses with "Too many open files", which ends it)
    kc.start_channels(hb=False)
    return km, kc


def _sync(call: Any, *args: Any, **kwargs: Any) -> Any:
    """``call`` (the async client's: a coroutine function, or a plain one whose sends need an
    event loop) run to its end on the loop nbclient uses in this thread."""
    from jupyter_core.utils import run_sync

    async def run() -> Any:
        result = call(*args, **kwargs)
        return await result if inspect.isawaitable(result) else result

    return run_sync(run)()


def _record_failure(nb_man: Any, cell: Any, ename: str, message: str, path: str | None) -> None:
    """The notebook as far as it ran written to ``path``, the reason shown as the running
    cell's error: papermill writes a notebook only when it ends or a cell raises, not when
    its kernel dies or a cell runs over its timeout (the audit trail of a failed fold)."""
    from nbformat.v4 import new_output
    from papermill.iorw import write_ipynb

    if cell is not None:
        error = new_output("error", ename=ename, evalue=message, traceback=[message])
        cell.outputs.append(error)
        nb_man.cell_exception(cell)
    if path:
        write_ipynb(nb_man.nb, path)


def _ending(km: Any) -> str:
    """How a dead kernel ended, as its process handle knows it."""
    process = getattr(km.provisioner, "process", None)
    code = None if process is None else process.poll()
    if code is None or not getattr(process, "known", True):
        return "how it ended is unknown"
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        return f"killed by {name}"
    return f"exit status {code}"


def start_kernel(name: str, extra: list[str] | None = None, preload: str | None = None) -> None:
    """Start this process's warm kernel now (unless a live one of that name runs) and have it
    run ``preload`` as soon as it is up, while the caller goes on; the next job waits for it.

    A failing preload is silent: the notebook makes the same imports and shows the error.
    """
    km = _kernel.get("km")
    if km is not None and _kernel.get("name") == name and km.is_alive():
        return
    drop_kernel()
    if not _kernel.get("hooked"):
        atexit.register(shutdown)
        multiprocessing.util.Finalize(None, shutdown, exitpriority=10)
        _kernel["hooked"] = os.getpid()  # whose kernel and zygote the hooks stop
    km, kc = _launch(name, extra, _zygote_address())
    _kernel.update(km=km, kc=kc, name=name, ready=False, preload=preload)
    log.debug("warm kernel started", extra={"event": "kernel_start"})
    # queued until the kernel is up; its reply is skipped by the next execute's wait
    _sync(kc.execute, (preload or "") + "\n" + FREEZE, silent=True, store_history=False)


def use_zygote(address: str | None) -> None:
    """This process's kernels from now on: forked by the zygote at ``address``
    (:mod:`workbench.research.zygote`), or (None) launched as usual."""
    _kernel["zygote"] = address


def _zygote_address() -> str | None:
    """Where this process's warm kernel is forked: the zygote :func:`use_zygote` named (a
    pool worker's), or else a zygote of this process's own, forked from it (its imports
    inherited) when that is safe and kept for its later kernels (after a failed job, in a
    later run); None: launched as usual (the zygote's reason logged)."""
    if "zygote" in _kernel:
        return _kernel["zygote"]
    from workbench.research.zygote import Zygote
    from workbench.research.zygote_fork import fork_refusal

    own = _kernel.get("own_zygote")
    if own is not None and own.running():
        return str(own.address)
    _close_own_zygote()  # ended (killed, or its imports failed): another one
    refusal = fork_refusal()
    if refusal is not None:
        log.debug("warm kernel launched, not forked: %s", refusal)
        return None
    try:
        own = Zygote()  # ipykernel's import only: the kernel runs its preload itself, at once
    except OSError as exc:
        log.debug("warm kernel launched, no zygote: %r", exc)
        return None
    _kernel["own_zygote"] = own
    return str(own.address)


def _close_own_zygote() -> None:
    own = _kernel.pop("own_zygote", None)
    if own is not None:
        own.close()


def shutdown() -> None:
    """This process's warm kernel and its own zygote stopped (and waited for), as at exit.
    In a process forked from their owner (its exit hooks inherited): forgotten, not stopped."""
    if _kernel.get("hooked", os.getpid()) != os.getpid():
        forget_kernel()
        return
    own = _kernel.get("own_zygote")
    if own is not None:  # told first: it kills the kernel at once, while ours is released
        own.end()
    drop_kernel()
    _close_own_zygote()


def _zygote_provisioner(km: Any, address: str) -> Any:
    import uuid

    from workbench.research.zygote_kernel import ZygoteProvisioner

    km.kernel_id = km.kernel_id or str(uuid.uuid4())
    provisioner = ZygoteProvisioner(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km)
    provisioner.address = address
    return provisioner


def run_soon(code: str) -> None:
    """Have this process's live warm kernel run ``code`` (imports for what comes next) while
    the caller goes on; the next job waits for it. Nothing when no kernel is up."""
    km, kc = _kernel.get("km"), _kernel.get("kc")
    if km is None or kc is None or not km.is_alive():
        return
    _sync(kc.execute, code + "\n" + FREEZE, silent=True, store_history=False)
    log.debug("warm kernel given what comes next", extra={"event": "kernel_then"})


def _ready_kernel(name: str, extra: list[str] | None) -> tuple[Any, Any]:
    """This process's warm kernel and its client, started if needed, cleared, moved to
    the current directory (papermill runs the engine inside the job's ``cwd``)."""
    if not (_kernel.get("km") and _kernel.get("name") == name and not _kernel.get("ready")):
        start_kernel(name, extra)  # else one started early: waited for (its death seen) below
    attempt = 1
    while not _kernel["ready"]:
        try:
            _wait_until_up(_kernel["km"], _kernel["kc"])
        except KernelDied as exc:
            preload = _kernel.get("preload")
            drop_kernel()
            _started_again(exc, attempt)
            attempt += 1
            start_kernel(name, extra, preload)
            continue
        except BaseException:
            drop_kernel()
            raise
        _kernel["ready"] = True
        log.debug("warm kernel ready", extra={"event": "kernel_ready"})
    km, kc = _kernel["km"], _kernel["kc"]
    folder = str(Path.cwd())
    code = (
        "get_ipython().run_line_magic('reset', '-f')\n"
        "get_ipython().execution_count = 1\n"
        "import sys as __s, os as __o\n"
        f"__o.chdir({folder!r})\n"
        "if 'matplotlib.pyplot' in __s.modules: __s.modules['matplotlib.pyplot'].close('all')\n"
        "del __s, __o\n" + FREEZE
    )
    reply = _sync(
        kc.execute_interactive,
        code,
        store_history=False,
        timeout=PREPARE_TIMEOUT,
        output_hook=lambda msg: None,
    )
    if reply["content"]["status"] != "ok":
        drop_kernel()
        raise RuntimeError(f"could not prepare the warm kernel: {reply['content']}")
    return km, kc


def _wait_until_up(km: Any, kc: Any) -> None:
    """``kc.wait_for_ready`` without its last step: the kernel answers ``kernel_info`` on its
    shell channel and IOPub delivers to us. wait_for_ready then drains IOPub until it has
    been quiet for 0.2 s, idle time on the way to the first job (0.2-0.4 s measured); every
    reader here keeps only the messages of its own request, so what is left is ignored."""
    _sync(_async_wait_until_up, km, kc)


async def _async_wait_until_up(km: Any, kc: Any) -> None:
    deadline = time.monotonic() + PREPARE_TIMEOUT
    while True:
        kc.kernel_info()
        try:
            reply = await kc.get_shell_msg(timeout=1)
        except Empty:
            reply = None
        if reply is not None and reply["msg_type"] == "kernel_info_reply":
            try:
                await kc.get_iopub_msg(timeout=0.2)
                return
            except Empty:  # IOPub not subscribed yet: ask again
                pass
        if not await km._async_is_alive():
            raise KernelDied("the kernel died before replying to kernel_info")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the kernel did not answer in {PREPARE_TIMEOUT:g} s")


def drop_kernel() -> None:
    """Shut this process's warm kernel down (if any); the next job starts a fresh one."""
    km = _kernel.pop("km", None)
    kc = _kernel.pop("kc", None)
    for key in ("name", "ready", "preload"):
        _kernel.pop(key, None)
    if km is not None:
        _stop(km, kc)


def _stop(km: Any, kc: Any) -> None:
    """Kill a kernel, wait for it, release its connection file and ports.

    What ``shutdown_kernel(now=True)`` does, each step once: that kills too, then polls the
    process every 0.1 s (its first poll comes before the kernel has died) and ends with a
    10 ms sleep jupyter_client keeps for its own tests (``in_pending_state``). A step that
    fails (the kernel gone already) does not keep the others from their cleaning up."""
    if kc is not None:
        try:
            _sync(kc.stop_channels)
        except Exception as exc:
            log.debug("warm kernel channels: %r", exc)
    provisioner = km.provisioner
    try:
        km.signal_kernel(signal.SIGKILL)
    except Exception as exc:  # already gone: nothing to kill
        log.debug("warm kernel kill: %r", exc)
    try:
        process = getattr(provisioner, "process", None)
        if process is not None:
            process.wait(timeout=PREPARE_TIMEOUT)
            _sync(provisioner.wait)  # its pipes closed, the process forgotten
        km.cleanup_resources()  # connection file, ports
    except Exception as exc:
        log.debug("warm kernel shutdown: %r", exc)


def forget_kernel() -> None:
    """In a forked child: the parent's kernel is the parent's, never this process's."""
    for key in ("km", "kc", "name", "ready", "preload", "hooked", "zygote", "own_zygote"):
        _kernel.pop(key, None)
