"""A sweep's benchmark is read before the sweep: one that cannot be read (an unknown
sample, no data over the bars) is refused before any combination runs, where the whole
sweep ran (its progress shown, a sampled search's first trial left running in its
storage) and then failed on it."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from workbench import sweep
from workbench.cli.main import main
from workbench.data.sources import load_symbols
from workbench.errors import DataError

SINGLE = "synthetic:T?bars=300&freq=1D&seed=3"
UNIVERSE = "synthetic:S?symbols=2&bars=300&freq=1D&seed=3"
GRID = {"fast": [5, 10], "slow": [50]}
NOPE = "unknown sample 'NOPE' (available samples: SPX, NASDAQ, SP500, SP500_INDEX)"


@pytest.fixture
def late(tmp_path: Path) -> str:
    path = tmp_path / "LATE.csv"
    rows = "".join(f"2030-01-0{d}T00:00:00Z,1,2,0.5,1.5,10\n" for d in (2, 3))
    path.write_text("date,open,high,low,close,volume\n" + rows)
    return f"csv:{path}"


@pytest.mark.parametrize("data", [SINGLE, UNIVERSE], ids=["symbol", "universe"])
@pytest.mark.parametrize("benchmark", ["sample:NOPE", "late"])
def test_a_benchmark_that_cannot_be_read_is_refused_before_the_sweep(
    data: str, benchmark: str, late: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = late if benchmark == "late" else benchmark
    message = re.escape(NOPE) if benchmark == "sample:NOPE" else r"\[LATE\]: no bars between "
    with pytest.raises(DataError, match=message):
        sweep("ma_crossover", data, GRID, benchmark=spec, progress=True)
    assert "sweep ma_crossover" not in capsys.readouterr().err  # no combination ran


def test_a_sampled_search_leaves_no_trial_running_in_its_storage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = tmp_path / "study.db"
    argv = ["sweep", "--strategy", "ma_crossover", "--data", SINGLE, "--grid", "fast=5,10",
            "--grid", "slow=50,60", "--search", "tpe", "--trials", "3", "--benchmark",
            "sample:NOPE", "--storage", f"sqlite:///{storage}", "--out", str(tmp_path / "o"),
            ]  # fmt: skip
    assert main(argv) == DataError.exit_code
    assert capsys.readouterr().err == f"error: {NOPE}\n"
    assert not storage.exists()  # held its first trial, running for ever


@pytest.mark.parametrize("data", ["sample:SPX", "sample:SP500?symbols=AAPL,JPM"])
def test_a_spec_read_first_gives_the_rows_of_its_closes_handed_in(data: str) -> None:
    index = load_symbols("sample:SP500_INDEX")["SP500_INDEX"]["close"]
    window = {"start": "2015-01-01", "end": "2016-12-31"}
    read = sweep("ma_crossover", data, GRID, benchmark="sample:SP500_INDEX", **window)
    handed = sweep("ma_crossover", data, GRID, benchmark=index, **window)
    assert read["beta"].notna().all()
    pd.testing.assert_frame_equal(read, handed)
