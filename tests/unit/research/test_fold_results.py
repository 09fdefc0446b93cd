"""A walk-forward's fold results read as each fold finishes: the same as read at the end."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.research.equity_csv import read_equity, utc_text, write_equity
from workbench.research.fold_results import FoldResults, stitch, stitched_times
from workbench.research.notebook_runner import JobOutcome


def _fold(out: Path, number: int, start: str, periods: int, level: float = 1e5) -> str:
    """A fold's record and out-of-sample equity, as a fold notebook leaves them."""
    name = f"fold_{number:03d}"
    index = pd.date_range(start, periods=periods, freq="1min", tz="UTC")
    rng = np.random.default_rng(number)
    equity = pd.Series(level * rng.normal(1, 1e-3, periods).cumprod(), index=index)
    (out / "folds").mkdir(parents=True, exist_ok=True)
    write_equity(equity, out / "folds" / f"{name}_equity.csv")
    (out / "folds" / f"{name}.json").write_text(json.dumps({"fold": number, "params": {}}))
    return name


def _outcome(name: str, status: str = "ok") -> JobOutcome:
    return JobOutcome(name, status, Path(f"{name}.ipynb"))


def test_a_fold_read_as_it_finished_is_what_its_files_say(tmp_path: Path) -> None:
    name = _fold(tmp_path, 0, "2021-01-04 14:30", 100)
    with FoldResults(tmp_path) as results:
        results.on_outcome(_outcome(name))
        got = results.get(name)
    path = tmp_path / "folds" / f"{name}_equity.csv"
    pd.testing.assert_series_equal(got.equity, read_equity(path), check_exact=True)
    assert got.times == utc_text(got.equity.index).tolist()
    assert got.record == {"fold": 0, "params": {}}


def test_a_fold_rewritten_after_it_was_read_is_read_again(tmp_path: Path) -> None:
    name = _fold(tmp_path, 0, "2021-01-04 14:30", 100)
    with FoldResults(tmp_path) as results:
        results.on_outcome(_outcome(name))
        results._reader.submit(lambda: None).result()  # the read is done
        _fold(tmp_path, 0, "2021-01-04 14:30", 80, level=2e5)  # a re-run of that fold
        record = tmp_path / "folds" / f"{name}.json"
        os.utime(record, ns=(0, record.stat().st_mtime_ns + 1))  # even within a clock tick
        got = results.get(name)
    assert len(got.equity) == 80 and got.equity.iloc[0] > 1.5e5


def test_failed_folds_are_not_read_and_a_missing_file_raises_when_asked_for(
    tmp_path: Path,
) -> None:
    with FoldResults(tmp_path) as results:
        results.on_outcome(_outcome("fold_000", "failed"))
        assert results._reader is None  # nothing to read: no thread either
        results.on_outcome(_outcome("fold_001"))  # reported ok, but its files are not there
        with pytest.raises(FileNotFoundError):
            results.get("fold_001")


def test_the_stitched_times_are_the_folds_times_in_turn(tmp_path: Path) -> None:
    names = [_fold(tmp_path, i, f"2021-01-0{4 + i} 14:30", 50) for i in range(3)]
    results = FoldResults(tmp_path)
    read = [results.get(n) for n in names]
    stitched = stitch([r.equity for r in read], 1e5)
    assert stitched_times(read, stitched) == utc_text(stitched.index).tolist()
    # overlapping folds: a time kept once, formatted from the stitched curve itself
    overlap = _fold(tmp_path, 3, "2021-01-06 15:00", 50)
    read.append(results.get(overlap))
    stitched = stitch([r.equity for r in read], 1e5)
    assert len(stitched) < 200 and stitched_times(read, stitched) is None
