"""Execute parameterised notebooks with papermill: in turn, on a process pool, or on Dask.

Each job is one notebook executed once with its parameters into its own output file
(:mod:`workbench.research.notebook_job`: the job, its marker, its execution). Jobs are
independent, so they run in any order:

- ``workers=1``: one after the other in this process;
- ``workers=N``: a local pool of N processes, each driving its own kernel;
- ``scheduler=ADDRESS`` (or a ``distributed.Client``): on a Dask distributed cluster, how
  the work scales past one machine. The workers must have this package and a ``python3``
  Jupyter kernel installed in the same environment.

A failed notebook does not stop the others: its outcome carries the output path and the
error (the exception name and message of the failing cell). A job whose marker still
matches is skipped (``force=True`` re-runs everything), so re-running a command resumes
where it failed or stopped.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack, suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from workbench.errors import ConfigError
from workbench.research.notebook_job import (
    KERNEL,
    KERNEL_ARGUMENTS,
    JobOutcome,
    NotebookJob,
    _start_kernel,
    execute_job,
    import_papermill,
)

__all__ = [  # the job's names too: where callers have always imported them
    "KERNEL",
    "KERNEL_ARGUMENTS",
    "JobOutcome",
    "NotebookJob",
    "NotebookRunner",
    "execute_job",
    "import_papermill",
    "run_notebooks",
]

log = logging.getLogger(__name__)

#: How long to wait for a Dask scheduler to answer.
CONNECT_TIMEOUT = "20s"


def run_notebooks(
    jobs: Sequence[NotebookJob],
    *,
    workers: int = 1,
    scheduler: Any = None,
    force: bool = False,
    progress: bool = True,
    desc: str = "notebooks",
    on_outcome: Callable[[JobOutcome], None] | None = None,
    reuse_kernels: bool = True,
) -> list[JobOutcome]:
    """Execute ``jobs`` (skipping those already done unless ``force``); outcomes in job order.

    ``scheduler`` is a Dask scheduler address (``tcp://host:8786``) or a
    ``distributed.Client``; otherwise ``workers`` processes run the jobs locally, each on
    its warm kernel (``reuse_kernels=False``: a fresh kernel per notebook).
    """
    with NotebookRunner(workers, scheduler=scheduler, reuse_kernels=reuse_kernels) as runner:
        return runner.run(jobs, force=force, progress=progress, desc=desc, on_outcome=on_outcome)


class NotebookRunner:
    """Runs batches of notebook jobs on one set of local workers, kept from batch to batch.

    What :func:`run_notebooks` does for one batch; open as a context manager to run
    several (a walk-forward's folds, then its report) on the same process pool: the later
    batches land on kernels the first warmed up, instead of one the parent starts cold.
    """

    def __init__(self, workers: int = 1, *, scheduler: Any = None, reuse_kernels: bool = True):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"workers={workers!r} must be a positive number of processes")
        self.workers = workers
        self.scheduler = scheduler
        self.reuse_kernels = reuse_kernels
        self._stack = ExitStack()
        self._pool: ProcessPoolExecutor | None = None
        self._zygote: Any = None  # the pool's (a Zygote), when its kernels are forked
        self._handoff: Any = None  # the pool's queue to the worker standing by (a job or None)
        self._held: Future[JobOutcome | None] | None = None  # that worker's standing by

    def __enter__(self) -> NotebookRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def prepare(self, preload: str | None) -> None:
        """Start what the next batch's kernels need now, while the caller goes on (a
        walk-forward plans its folds meanwhile): with one worker this process's warm kernel,
        with several the zygote their kernels will be forked from (the pool itself starts
        with the batch, its size known), given ``preload``. Nothing on Dask."""
        if self.scheduler is not None or not self.reuse_kernels or self._pool is not None:
            return
        if self.workers == 1:
            _start_kernel(preload)  # forked from this process's own zygote when it can be
        elif self._zygote is None:
            self._zygote = self._start_zygote(preload)

    def close(self) -> None:
        """Stop the pool (its workers shut their kernels down as they exit) and its zygote,
        told to end first: it kills every kernel it forked at once, while the workers exit
        and release what is theirs (channels, connection files), and is waited for last."""
        if self._zygote is not None:
            self._zygote.end()
        self._release()
        self._pool = None
        self._stack.close()

    def _release(self) -> None:
        """The worker standing by for a next batch that did not come goes back to the pool."""
        if self._held is not None and not self._held.done():
            self._handoff.put(None)
        self._held = None

    def run(
        self,
        jobs: Sequence[NotebookJob],
        *,
        force: bool = False,
        progress: bool = True,
        desc: str = "notebooks",
        on_outcome: Callable[[JobOutcome], None] | None = None,
        then: str | None = None,
    ) -> list[JobOutcome]:
        """One batch, as :func:`run_notebooks` describes; outcomes in job order.

        ``then``: code for the next batch's kernel (its imports), never part of a notebook,
        like a preload. With one worker its kernel runs it after the last job. On a pool, the
        first worker left with no job of this batch to start stands by: its kernel runs
        ``then`` while the last jobs run elsewhere, and the next batch's first job runs there
        (the pool's own queue would give it to any idle worker, prepared or not); the other
        workers' kernels are not disturbed, and the run's own work after the batch (a
        walk-forward's summary) does not share the cores with imports made twice.
        """
        names = [job.name for job in jobs]
        if len(set(names)) != len(names):
            raise ConfigError(
                "notebook job names must be unique", hint="give each job its own name"
            )
        for job in jobs:
            if not Path(job.template).is_file():
                raise ConfigError(f"notebook template {job.template} does not exist")
        outcomes: dict[str, JobOutcome] = {}
        todo: list[NotebookJob] = []
        for job in jobs:
            if not force and job.is_done():
                outcomes[job.name] = JobOutcome(job.name, "skipped", job.output)
            else:
                todo.append(job)
        if outcomes:
            log.info("%d of %d notebooks already done, skipped", len(outcomes), len(jobs))
        with ExitStack() as stack:
            # the pool (if any) starts first: its workers fork before the progress bar's thread
            results = self._start(todo, then)
            bar = stack.enter_context(
                tqdm(total=len(todo), desc=desc, unit="nb", disable=not progress or not todo)
            )
            for outcome in results:
                outcomes[outcome.name] = outcome
                if outcome.status == "failed":
                    log.warning(
                        "%s failed: %s (see %s)", outcome.name, outcome.error, outcome.notebook
                    )
                if on_outcome is not None:
                    on_outcome(outcome)
                bar.update(1)
        return [outcomes[name] for name in names]

    def _start(self, todo: list[NotebookJob], then: str | None) -> Iterator[JobOutcome]:
        """The outcomes as they come; a local pool is started and fed before this returns."""
        if not todo:
            return iter(())
        if self.scheduler is not None:
            return _execute_dask(todo, self.scheduler)
        reuse = self.reuse_kernels
        then = then if reuse else None
        if self._pool is None and (self.workers == 1 or len(todo) == 1):
            return _in_turn(todo, reuse, then)
        if self._pool is None:
            context = _context()
            self._handoff = context.Queue()
            if context.get_start_method() == "fork":  # imported once, here, for the workers
                with suppress(Exception):  # (each importing it: on 2 cores, against the
                    import_papermill()  # zygote's start); a failure is each job's outcome
            if reuse and self._zygote is None:
                self._zygote = self._start_zygote(todo[0].preload)
            zygote = self._zygote.address if reuse and self._zygote is not None else None
            self._pool = self._stack.enter_context(  # closed (workers gone) before the zygote
                ProcessPoolExecutor(
                    max_workers=min(self.workers, len(todo)),
                    mp_context=context,
                    initializer=_start_worker,
                    initargs=(reuse, todo[0].preload, zygote, self._handoff),
                )
            )
        futures: dict[Future[Any], NotebookJob] = {}
        held, self._held = self._held, None
        if held is not None and not held.done():  # the first job to the worker standing by
            self._handoff.put(todo[0])
            futures[held] = todo[0]
            todo = todo[1:]
        for job in todo:
            futures[self._pool.submit(_execute, job, reuse)] = job
        if then is not None:  # queued after the batch (the pool's queue is first in, first
            # out): the first worker to find no job of the batch left takes it, at once
            self._held = self._pool.submit(_stand_by, then, reuse)
        return _collect(futures, on_broken=self._drop_pool)

    def _drop_pool(self) -> None:
        """A pool process died (killed, out of memory): the pool is unusable, and the next
        batch (a walk-forward's report) starts another instead of raising."""
        self._pool = None
        self._held = None

    def _start_zygote(self, preload: str | None) -> Any:
        """A zygote the workers' kernels are forked from (on Linux, where the workers fork
        too), closed with this runner; None: each kernel launched anew."""
        if sys.platform != "linux":
            return None
        from workbench.research.zygote import Zygote

        try:
            zygote = Zygote(preload)
        except OSError as exc:
            log.debug("no zygote (%r): kernels launched as usual", exc)
            return None
        self._stack.callback(zygote.close)
        return zygote


def _context() -> multiprocessing.context.BaseContext:
    """``fork`` on Linux (workers start at once, sharing what this process imported);
    ``spawn`` elsewhere, where forking is unsafe or unavailable."""
    if sys.platform == "linux":
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


#: In a pool worker: the queue on which a worker standing by gets its job (None: go back).
_handoff: Any = None
#: How often a worker standing by looks whether the process that started it is gone.
STAND_BY_POLL = 0.5


def _start_worker(reuse: bool, preload: str | None, zygote: str | None, handoff: Any) -> None:
    """A pool worker's first steps: its warm kernel started (and given the first job's
    ``preload``), then papermill imported while that kernel boots: the workers' start
    overlaps, rather than follows, the imports (papermill's in a worker, its kernel's own).
    ``zygote``: where the worker's kernels are forked, their imports made once for all (as
    the worker imports papermill); asking for one waits for them."""
    from workbench.research import warm_kernel

    global _handoff
    _handoff = handoff
    warm_kernel.forget_kernel()  # a forked child: the parent's kernel is the parent's
    warm_kernel.use_zygote(zygote)
    if reuse and zygote is None:
        _start_kernel(preload)
    try:
        import_papermill()
    except Exception as exc:  # each job's own import raises it again, as its outcome
        log.debug("papermill import failed in a worker: %r", exc)
    if reuse and zygote is not None:  # a fork of the zygote, when its imports are done:
        _start_kernel(preload)  # meanwhile this worker imported papermill


def _execute(job: NotebookJob, reuse: bool) -> JobOutcome:
    """``execute_job`` in a pool worker (this module's, looked up there when it runs)."""
    return execute_job(job, reuse)


def _stand_by(then: str, reuse: bool) -> JobOutcome | None:
    """In an idle pool worker: have its kernel run ``then``, then wait for the next batch's
    job on the hand-off queue and execute it (None: released, the runner closing). Ends by
    itself if the process that started the pool is gone."""
    from workbench.research.warm_kernel import run_soon

    run_soon(then)
    parent = os.getppid()
    while True:
        try:
            job = _handoff.get(timeout=STAND_BY_POLL)
        except queue.Empty:
            if os.getppid() != parent:
                return None
            continue
        return None if job is None else _execute(job, reuse)


def _in_turn(todo: list[NotebookJob], reuse: bool, then: str | None) -> Iterator[JobOutcome]:
    """The jobs one after the other in this process; ``then`` after the last."""
    for job in todo:
        yield execute_job(job, reuse)
    if then is not None:
        from workbench.research.warm_kernel import run_soon

        run_soon(then)


def _collect(
    futures: dict[Future[JobOutcome], NotebookJob], on_broken: Callable[[], None]
) -> Iterator[JobOutcome]:
    for future in as_completed(futures):
        job = futures[future]
        try:
            yield future.result()
        except BrokenProcessPool:  # a worker process itself died: every pending job with it
            on_broken()
            if job.is_done():  # it finished and saved its notebook before the pool broke
                yield JobOutcome(job.name, "ok", job.output)
            else:
                error = (
                    "worker: a pool process died before the notebook finished (run again to resume)"
                )
                yield JobOutcome(job.name, "failed", job.output, 0.0, error)
        except Exception as exc:
            yield JobOutcome(job.name, "failed", job.output, 0.0, f"worker: {exc!r}")


def _execute_dask(todo: list[NotebookJob], scheduler: Any) -> Iterator[JobOutcome]:
    from distributed import as_completed as dask_completed

    from workbench.research.cluster import dask_client

    with dask_client(scheduler, CONNECT_TIMEOUT) as client:
        jobs = [_absolute(job) for job in todo]
        futures = {
            client.submit(
                execute_job, job, pure=False, key=f"notebook-{job.name}-{os.getpid()}"
            ): job
            for job in jobs
        }
        for future in dask_completed(list(futures)):
            job = futures[future]
            try:
                yield future.result()
            except Exception as exc:  # the worker was lost
                yield JobOutcome(job.name, "failed", job.output, 0.0, f"dask worker: {exc!r}")


def _absolute(job: NotebookJob) -> NotebookJob:
    """Paths a remote worker can use (same file system assumed, as with a shared folder)."""
    return replace(
        job,
        template=Path(job.template).resolve(),
        output=Path(job.output).resolve(),
        cwd=None if job.cwd is None else Path(job.cwd).resolve(),
    )


def summarize(outcomes: Iterable[JobOutcome]) -> dict[str, int]:
    """Counts of outcomes by status."""
    counts: dict[str, int] = {"ok": 0, "skipped": 0, "failed": 0}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return counts
