"""A sampled search's seed is one its samplers take (0 to 2**32 - 1), refused before any
trial: ``workbench sweep --seed -1`` was numpy's traceback after the study was made, and a
walk-forward's failed in every fold's notebook, after its run.json was written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from workbench import sweep
from workbench.cli.main import main
from workbench.errors import ConfigError

DATA = "synthetic:T?bars=300&freq=1D&seed=3"
GRID = ["--grid", "fast=5,10", "--grid", "slow=50,60"]
SEARCH = ["--search", "random", "--trials", "2"]


@pytest.mark.parametrize("seed", ["-1", "4294967296"])
def test_sweep_refuses_a_seed_its_sampler_cannot_take(
    seed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["sweep", "--strategy", "ma_crossover", "--data", DATA, *GRID, *SEARCH]
    assert main([*argv, "--seed", seed]) == 2
    assert capsys.readouterr().err == (
        f"error: seed (--seed) must be a whole number from 0 to 4294967295, got {seed} (e.g. "
        "seed=7, or --seed 7)\n"
    )
    assert main([*argv, "--seed", "4294967295", "--json"]) == 0  # the largest it takes


def test_a_numpy_whole_number_is_a_seed() -> None:
    grid = {"fast": [5, 10], "slow": [50]}
    rows = sweep("ma_crossover", DATA, grid, search="random", n_trials=2, seed=np.int64(7))
    assert rows.attrs["seed"] == 7


def test_walkforward_refuses_it_before_its_run_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "wf"
    argv = ["walkforward", "--strategy", "ma_crossover", "--train", "500", "--test", "250",
            *GRID, *SEARCH, "--seed", "-1", "--out", str(out)]  # fmt: skip
    assert main(argv) == 2
    assert "seed (--seed) must be a whole number from 0 to" in capsys.readouterr().err
    assert not out.exists()


def test_a_seed_that_is_not_a_whole_number_is_refused_in_python() -> None:
    grid = {"fast": [5, 10], "slow": [50]}
    with pytest.raises(ConfigError, match=r"got 1\.5 \(e\.g\. seed=7"):
        sweep("ma_crossover", DATA, grid, search="tpe", n_trials=2, seed=1.5)  # type: ignore[arg-type]


def test_walkforward_refuses_a_seed_a_later_fold_cannot_take_before_any_fold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fold N is seeded seed + N: 4294967295 ran fold 0 and failed fold 1's notebook, after
    run.json was written; the largest seed of a run is 4294967295 less its last fold."""
    out = tmp_path / "wf"
    argv = ["walkforward", "--strategy", "ma_crossover", "--data",
            "synthetic:T?bars=800&freq=1D&seed=3", "--train", "300", "--test", "200", *GRID,
            *SEARCH, "--out", str(out), "--json"]  # fmt: skip
    assert main([*argv, "--seed", "4294967295"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: seed (--seed) 4294967295 seeds fold 1 with 4294967296, past the largest seed "
        "the samplers take (4294967295): fold N is seeded seed + N (with 2 folds, give a seed "
        "from 0 to 4294967294)"
    )
    assert not (out / "run.json").exists() and not (out / "folds").exists()
    assert main([*argv, "--seed", "4294967294"]) == 0  # its last fold seeded 4294967295
    summary = json.loads(capsys.readouterr().out)
    assert [fold["status"] for fold in summary["folds"]] == ["ok", "ok"]
