"""What the benchmarks share: isolated, alternating runs, checks before figures, exit codes.

Each engine runs in a fresh process (``spawn``), so its peak RSS is its own (imports,
data, work; :func:`peak_rss_mb`) and one engine's memory, or the parent's, never
inflates another's. Within a repeat every
engine runs once, in turn (alternating), and an engine's time is its best run (as
``timeit`` takes it: on a shared machine the slower runs measure the neighbours); the
medians are printed too. Agreement is checked before any figure is printed, and
:func:`finish` exits 1 when a check or a goal failed.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Runs:
    """The runs of one engine: CPU and wall seconds of each, peak RSS (MB), last output.

    The goals are judged on CPU seconds (user + system time of the engine's process):
    every engine here runs on one thread, and on a machine shared with other work the
    wall clock mostly measures the wait for a core, the CPU time what the engine did.
    """

    name: str
    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    peak_mb: float = 0.0
    output: Any = None

    @property
    def best(self) -> float:
        return min(self.cpu)

    @property
    def median(self) -> float:
        return statistics.median(self.cpu)

    @property
    def best_wall(self) -> float:
        return min(self.wall)


def timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float, float]:
    """(output, CPU seconds, wall seconds) of ``fn(*args)`` in this process."""
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn(*args)
    return out, time.process_time() - cpu, time.perf_counter() - wall


def peak_rss_mb() -> float:
    """This process's own peak resident set size, in MB.

    Not ``ru_maxrss`` where ``/proc`` tells: Linux carries ``ru_maxrss`` across ``exec``,
    so a spawned child's starts at its parent's peak (here the parent that generated the
    bars, over 300 MB), and every engine would report at least that. ``VmHWM`` is the
    high-water mark of the process image since ``exec``: the engine's imports, data and run.
    """
    try:
        with open("/proc/self/status", encoding="utf-8") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes / kB


def _child(fn: Callable[..., tuple[Any, float, float]], args: tuple[Any, ...]) -> tuple[Any, ...]:
    output, cpu, wall = fn(*args)
    return output, cpu, wall, peak_rss_mb()


def run_alternating(
    engines: Sequence[tuple[str, Callable[..., tuple[Any, float, float]], tuple[Any, ...]]],
    repeat: int,
) -> dict[str, Runs]:
    """Each engine ``repeat`` times, in turn, each run in a fresh process.

    ``fn(*args)`` must return what :func:`timed` returns for its timed part (a small
    picklable output, CPU and wall seconds): loading data and compiling stay outside it.
    """
    ctx = mp.get_context("spawn")
    runs = {name: Runs(name) for name, _, _ in engines}
    for _ in range(repeat):
        for name, fn, args in engines:
            pool = ctx.Pool(1, maxtasksperchild=1)
            try:
                output, cpu, wall, peak = pool.apply(_child, (fn, args))
            except BaseException:
                pool.terminate()
                raise
            pool.close()  # the child ends on its own, its finalizers run (a terminated
            pool.join()  # one leaves its semaphores to the resource tracker's warning)
            r = runs[name]
            r.cpu.append(cpu)
            r.wall.append(wall)
            r.peak_mb = max(r.peak_mb, peak)
            r.output = output
            line = f"  {name}: CPU {cpu:.3f} s, wall {wall:.3f} s, peak RSS {peak:.0f} MB"
            print(line, flush=True)
    return runs


def conditions() -> str:
    """The machine's state: cores and load (other work competes for the cores)."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores, load average (1, 5, 15 min) {load}"


class Verdict:
    """Checks and goals of one benchmark; :meth:`finish` prints them and sets the exit code."""

    def __init__(self) -> None:
        self.lines: list[tuple[bool, str]] = []

    def check(self, ok: bool, text: str) -> bool:
        self.lines.append((bool(ok), text))
        print(f"  [{'ok' if ok else 'FAILED'}] {text}", flush=True)
        return bool(ok)

    @property
    def failed(self) -> list[str]:
        return [text for ok, text in self.lines if not ok]

    def finish(self) -> None:
        if self.failed:
            print(f"FAILED: {len(self.failed)} check(s) or goal(s)", flush=True)
            sys.exit(1)
        print("all checks and goals met", flush=True)
