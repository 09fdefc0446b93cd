"""A sweep's benchmark figures need its trials' returns: they are built for them whether or
not the caller keeps them (``workbench sweep --benchmark`` without ``--out`` failed after
the whole sweep: 'benchmark-relative sweep rows need the trials' returns')."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from workbench import sweep
from workbench.cli.main import main
from workbench.errors import ConfigError
from workbench.research.sweep import trial_returns

DATA = "synthetic:T?bars=300&freq=1D&seed=3"
GRID = {"fast": [5, 10], "slow": [50, 60]}


@pytest.mark.parametrize("search", [{}, {"search": "random", "n_trials": 3, "seed": 1}])
def test_benchmark_figures_without_keeping_the_returns(search: dict) -> None:
    kept = sweep("ma_crossover", DATA, GRID, benchmark="universe", **search)
    rows = sweep("ma_crossover", DATA, GRID, benchmark="universe", keep_returns=False, **search)
    pd.testing.assert_frame_equal(rows, kept)
    assert rows["excess_return"].notna().all()
    with pytest.raises(ConfigError):
        trial_returns(rows)  # not kept, as asked


def test_sweep_benchmark_without_out_prints_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["sweep", "--strategy", "ma_crossover", "--data", DATA, "--grid", "fast=5,10",
            "--grid", "slow=50,60", "--benchmark", "universe", "--json"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert '"excess_return"' in out and '"beta"' in out
