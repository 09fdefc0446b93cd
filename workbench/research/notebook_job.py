"""One notebook job: what it is, when it is done, and executing it with papermill.

A job is one notebook executed once with its parameters into its own output file, which is
kept as the audit trail (outputs, errors and all). A job that succeeded leaves a small JSON
marker next to its notebook holding a fingerprint of the template, the parameters and the
job's ``inputs`` (what else it reads, such as a digest of its data): a later run skips it
while the fingerprint still matches. :func:`execute_job` runs in whatever process calls it
(this one, a pool worker, a Dask worker), on that process's warm kernel or a fresh one;
:mod:`workbench.research.notebook_runner` decides where and in what order.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "KERNEL",
    "KERNEL_ARGUMENTS",
    "JobOutcome",
    "NotebookJob",
    "execute_job",
    "import_papermill",
]

log = logging.getLogger("workbench.research.notebook_runner")  # the runner's, as before the split

KERNEL = "python3"


@dataclass(frozen=True)
class NotebookJob:
    """One notebook to execute: ``template`` with ``parameters`` into ``output``."""

    name: str
    template: Path
    output: Path
    parameters: dict[str, Any] = field(default_factory=dict)
    cwd: Path | None = None
    timeout: float | None = None  # per cell, in seconds
    #: Code a warm kernel runs as it starts, before this job (the imports its notebook makes),
    #: while its process goes on: not part of the notebook, and never its result.
    preload: str | None = None
    #: What the notebook reads besides its parameters, as text (a walk-forward fold: a digest
    #: of its data): part of the fingerprint, so a done job whose inputs changed runs again.
    inputs: str | None = None

    @property
    def marker(self) -> Path:
        """The success marker next to the executed notebook."""
        return self.output.with_suffix(".done.json")

    def fingerprint(self) -> str:
        """A hash of the template's content, the parameters and the inputs: what makes a
        result current (without inputs, as before they existed: earlier markers still match)."""
        digest = hashlib.sha256(Path(self.template).read_bytes())
        digest.update(json.dumps(self.parameters, sort_keys=True, default=str).encode())
        if self.inputs is not None:
            digest.update(b"\0inputs\0" + self.inputs.encode())
        return digest.hexdigest()[:16]

    def is_done(self) -> bool:
        """True when the marker exists, matches the fingerprint, and the notebook is there."""
        try:
            marker = json.loads(self.marker.read_text())
        except (OSError, ValueError):
            return False
        return marker.get("fingerprint") == self.fingerprint() and self.output.exists()


@dataclass(frozen=True)
class JobOutcome:
    """What happened to one job: ``ok``, ``failed`` or ``skipped`` (already done)."""

    name: str
    status: str
    notebook: Path
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "skipped")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "notebook": str(self.notebook),
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }


#: The kernels' own log at ERROR: ipykernel's "running over TCP without encryption" warning
#: (a local kernel on 127.0.0.1) would otherwise reach the stderr of whoever runs the jobs,
#: an error-looking box in a notebook cell. Errors in the notebooks themselves are
#: unaffected: they are in the executed notebook and the job's outcome.
#: And no input history: IPython's history is an SQLite file shared by every kernel of the
#: user (two folds' kernels would write it at once), opened at each start; an executed
#: notebook is its own record of what ran.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR", "--HistoryManager.enabled=False"]


def import_papermill() -> Any:
    """``papermill``, imported without building a grammar nobody here uses.

    papermill imports nbformat, which imports jsonschema, whose format checkers import
    ``rfc3987_syntax`` when it is installed (jupyter-events requires it): that module
    builds a Lark parser for IRIs at import, over a second of CPU, two thirds of the
    whole import. Notebook validation never checks the ``iri`` format, so when jsonschema
    is not imported yet it is imported here with that optional module hidden (the only
    difference: this process's jsonschema format checkers leave ``iri`` unchecked, as on
    an installation without the optional module). Every process that runs notebooks
    imports papermill, the parent of a walk-forward before anything else: its serial part.
    """
    if "jsonschema" not in sys.modules and "rfc3987_syntax" not in sys.modules:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # import -> ImportError
        try:
            import jsonschema  # noqa: F401
        finally:
            del sys.modules["rfc3987_syntax"]
    import papermill

    return papermill


def execute_job(job: NotebookJob, reuse_kernel: bool = False) -> JobOutcome:
    """Execute one notebook (in whatever process calls it); never raises for notebook errors.

    ``reuse_kernel``: on this process's warm kernel (:mod:`workbench.research.warm_kernel`)
    instead of a kernel started and stopped for this notebook alone.
    """
    log.debug("%s: notebook starting", job.name, extra={"event": "notebook_start"})
    outcome = _execute(job, reuse_kernel)
    log.debug(
        "%s: notebook %s in %.2f s",
        job.name,
        outcome.status,
        outcome.seconds,
        extra={"event": "notebook_end"},
    )
    return outcome


def _execute(job: NotebookJob, reuse_kernel: bool) -> JobOutcome:
    from workbench.research import warm_kernel

    if reuse_kernel:  # first: the kernel starts (and preloads) while papermill is imported
        _start_kernel(job.preload)
    pm = import_papermill()
    warm_kernel.register_engine()
    engine = warm_kernel.ENGINE if reuse_kernel else warm_kernel.FRESH_ENGINE

    job.output.parent.mkdir(parents=True, exist_ok=True)
    job.marker.unlink(missing_ok=True)
    started = time.perf_counter()
    cwd = job.cwd or job.template.parent
    try:
        pm.execute_notebook(
            str(job.template),
            str(job.output),
            parameters=job.parameters,
            kernel_name=KERNEL,
            cwd=str(cwd),
            progress_bar=False,
            execution_timeout=job.timeout,
            log_output=False,
            request_save_on_cell_execute=False,  # written once, at the end
            extra_arguments=KERNEL_ARGUMENTS,
            engine_name=engine,
        )
    except pm.PapermillExecutionError as exc:
        seconds = time.perf_counter() - started
        message = f"{exc.ename}: {_one_line(exc.evalue)} (cell {exc.exec_count})"
        return JobOutcome(job.name, "failed", job.output, seconds, message)
    except Exception as exc:  # a dead kernel, a missing template, a timeout: report, go on
        if reuse_kernel:
            warm_kernel.drop_kernel()  # its state is unknown: the next job starts afresh
        seconds = time.perf_counter() - started
        return JobOutcome(
            job.name, "failed", job.output, seconds, f"{type(exc).__name__}: {_one_line(exc)}"
        )
    seconds = time.perf_counter() - started
    marker = {
        "fingerprint": job.fingerprint(),
        "seconds": round(seconds, 3),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    job.marker.write_text(json.dumps(marker) + "\n")
    return JobOutcome(job.name, "ok", job.output, seconds)


def _start_kernel(preload: str | None) -> None:
    """This process's warm kernel started now if it can be; if it cannot, the job's own
    start fails the same way inside papermill, where it becomes that job's outcome."""
    from workbench.research import warm_kernel

    try:
        warm_kernel.start_kernel(KERNEL, KERNEL_ARGUMENTS, preload)
    except Exception as exc:
        log.debug("early kernel start failed (the job will retry): %r", exc)


def _one_line(value: Any) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= 300 else text[:297] + "..."
