"""A walk-forward's fold results, each read as its fold finishes rather than after the last.

The summary needs every fold's record (``fold_NNN.json``) and out-of-sample equity
(``fold_NNN_equity.csv``, and that curve's times as ``equity.csv`` writes them). Read after
the last fold, all of them are in the run's serial tail. :class:`FoldResults` reads each as
its notebook finishes (the pipeline's ``on_outcome``), on a thread of its own while the next
folds compute (the parent only waits for kernels meanwhile), so only the last fold's read
can be left when the summary starts. A read is used only if its files are still as they were
read (size and modification time): the summary says what the files say when it is written,
as when it read them all itself (resumed folds, skipped, are read then).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.research.equity_csv import read_equity, utc_text
from workbench.research.notebook_runner import JobOutcome

__all__ = ["FoldResult", "FoldResults", "stitch", "stitched_times"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoldResult:
    """One fold's files, read: its record, its out-of-sample equity, and that curve's times as
    text (:func:`~workbench.research.equity_csv.utc_text`; None: not formatted in bulk)."""

    record: dict[str, Any]
    equity: pd.Series
    times: list[str] | None
    stamp: tuple[int, ...]


class FoldResults:
    """The fold results of one run folder: read as the folds finish (:meth:`on_outcome`) or,
    for the others, when asked for (:meth:`get`). Close it (or use it as a context manager)
    to stop its reading thread."""

    def __init__(self, out: str | Path):
        self.folder = Path(out) / "folds"
        self._reading: dict[str, Future[FoldResult]] = {}  # reads under way
        self._read: dict[str, FoldResult] = {}
        self._reader: ThreadPoolExecutor | None = None

    def __enter__(self) -> FoldResults:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.shutdown(wait=True, cancel_futures=True)
            self._reader = None

    def paths(self, name: str) -> tuple[Path, Path]:
        """The record and the equity file of fold ``name`` (``fold_000``)."""
        return self.folder / f"{name}.json", self.folder / f"{name}_equity.csv"

    def on_outcome(self, outcome: JobOutcome) -> None:
        """Start reading a fold that finished now (in the background: this returns at once)."""
        if outcome.status != "ok":
            return
        if self._reader is None:  # started with the first fold done, after any fork
            self._reader = ThreadPoolExecutor(1, thread_name_prefix="fold-results")
        self._reading[outcome.name] = self._reader.submit(self._load, outcome.name)

    def get(self, name: str) -> FoldResult:
        """Fold ``name``'s results: as read before if its files are unchanged since, else read
        now (raising what reading them raises: the record must exist)."""
        got = self._read.get(name)
        reading = self._reading.pop(name, None)
        if reading is not None:
            try:
                got = reading.result()
            except Exception as exc:  # read again below, where it raises for the caller
                log.debug("%s: not read as it finished (%r)", name, exc)
        if got is None or got.stamp != _stamp(self.paths(name)):
            got = self._load(name)
        self._read[name] = got
        return got

    def _load(self, name: str) -> FoldResult:
        paths = self.paths(name)
        stamp = _stamp(paths)  # before reading: a file changed while read is read again
        record = json.loads(paths[0].read_text())
        equity = read_equity(paths[1])
        times = utc_text(equity.index)
        return FoldResult(record, equity, None if times is None else times.tolist(), stamp)


def _stamp(paths: Sequence[Path]) -> tuple[int, ...]:
    """What says the files are unchanged: each one's size and modification time (-1: none)."""
    out: list[int] = []
    for path in paths:
        try:
            st = path.stat()
        except FileNotFoundError:
            out += [-1, -1]
        else:
            out += [st.st_size, st.st_mtime_ns]
    return tuple(out)


def stitch(curves: Sequence[pd.Series], cash: float) -> pd.Series:
    """Chain the out-of-sample equity curves: each continues from where the last one ended."""
    pieces = []
    level = float(cash)
    for curve in curves:
        if len(curve) == 0:
            continue
        scaled = curve / float(curve.iloc[0]) * level
        level = float(scaled.iloc[-1])
        pieces.append(scaled)
    if not pieces:
        return pd.Series(dtype=float, name="equity")
    out = pd.concat(pieces)
    return out[~out.index.duplicated(keep="last")].rename("equity")


def stitched_times(results: Sequence[FoldResult], stitched: pd.Series) -> list[str] | None:
    """The times of ``stitched`` (:func:`stitch` of these results' curves) as text, from each
    fold's, formatted as it finished; None when one is not in bulk, or when folds overlapped
    (a time kept once: the text is then formatted from ``stitched`` itself)."""
    texts: list[list[str]] = []
    for result in results:
        if len(result.equity):
            if result.times is None:
                return None
            texts.append(result.times)
    if sum(map(len, texts)) != len(stitched):
        return None
    return list(chain.from_iterable(texts))
