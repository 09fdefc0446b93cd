"""``workbench walkforward``'s window lengths (--train, --test, --step, --gap) refused in the
flags' words with an example, before the data is read or --out made; lengths that are
good reach run.json as before; lengths the data is too short for, in the flags' words too."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from workbench.cli.main import main
from workbench.cli.walkforward import _lengths

COMMAND = ["walkforward", "--strategy", "ma_crossover", "--grid", "fast=5,10", "--grid", "slow=50"]
GIVE = "give bars (756 or 756bars) or time (3y, 6mo, 2w, 90d, 12h, 30min)"
#: The flags' lengths, and the line (in the Python names before: "gap='-5' is not a length",
#: "train='3y', test=250, step=None mix bars and time" once the data was read).
CASES = [
    (["--train", "500", "--test", "250", "--gap", "-5"],
     f"--gap -5 must be a number of bars >= 0 ({GIVE}; e.g. --gap 5 or --gap 1w)"),
    (["--train", "abc", "--test", "250"],
     f"--train abc is not a length ({GIVE}; e.g. --train 756 or --train 3y)"),
    (["--train", "0", "--test", "250"],
     f"--train 0 must be a positive number of bars ({GIVE}; e.g. --train 756 or --train 3y)"),
    (["--train", "500", "--test", "0y"],
     f"--test 0y must be positive ({GIVE}; e.g. --test 252 or --test 1y)"),
    (["--train", "500", "--test", "250", "--step", "3x"],
     f"--step 3x is not a length ({GIVE}; e.g. --step 63 or --step 3mo)"),
    (["--train", "500", "--test", "250", "--gap=-1w"],
     f"--gap -1w must be 0 or more ({GIVE}; e.g. --gap 5 or --gap 1w)"),
    (["--train", "3y", "--test", "250"],
     "--train 3y, --test 250 mix bars and time (give them all in bars (--train 756 --test "
     "252) or all in time (--train 3y --test 1y))"),
    (["--train", "3y", "--test", "1y", "--step", "6mo"],
     "--step 6mo is shorter than --test 1y: test windows would overlap (a stitched "
     "out-of-sample curve needs --step >= --test (omit --step: the test length))"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "line"), CASES, ids=lambda v: " ".join(v)[:30])
def test_a_bad_length_is_named_as_its_flag_before_any_work(
    argv: list[str], line: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main([*COMMAND, "--data", "nowhere:X", *argv, "--out", str(out)])  # never read
    assert code == 2
    assert capsys.readouterr().err == f"error: {line}\n"
    assert not out.exists()


def test_good_lengths_are_given_to_the_run_as_before() -> None:
    """Bars as ints, the rest as written: run.json records them, so an earlier run's folder
    is resumed by the same command."""
    args = argparse.Namespace(train="500bars", test="250", step=None, gap="1w")
    assert _lengths(args) == {"train": "500bars", "test": 250, "step": None, "gap": "1w"}


SPX = ["--data", "sample:SPX", "--start", "2010-01-01", "--end", "2014-12-31"]
HOLDS = "no complete fold: the data holds 1,258 bars from 2010-01-04 to 2014-12-31; "
WIDEN = "widen --start/--end)"
#: Windows the data cannot hold one fold of, and the line: in the Python names before
#: ("train=5000 + gap=0 + test=250 does not fit in 1258 bars ... (use shorter windows or more
#: data)"; one bar: "splits need at least two bars, got 1").
NO_FOLD = [
    ([*SPX, "--train", "5000", "--test", "250"],
     f"{HOLDS}--train 5000 + --test 250 needs 5,250 (shorten --train/--test or {WIDEN}"),
    ([*SPX, "--train", "500", "--test", "5000", "--step", "6000"],
     f"{HOLDS}--train 500 + --test 5000 needs 5,500 (shorten --train/--test or {WIDEN}"),
    ([*SPX, "--train", "1000", "--test", "250", "--gap", "10", "--anchored"],
     f"{HOLDS}--train 1000 + --gap 10 + --test 250 needs 1,260 (shorten --train/--gap/--test "
     f"or {WIDEN}"),
    ([*SPX, "--train", "3y", "--test", "3y"],
     f"{HOLDS}--train 3y + --test 3y needs data to 2016-01-04 (shorten --train/--test or "
     f"{WIDEN}"),
    (["--data", "sample:SPX", "--start", "2014-12-31", "--end", "2014-12-31", "--train", "500",
      "--test", "250"],
     "no complete fold: the data holds 1 bar, on 2014-12-31; --train 500 + --test 250 needs "
     f"750 (shorten --train/--test or {WIDEN}"),
    (["--data", "sample:SPX", "--train", "5000", "--test", "250"],
     "no complete fold: the data holds 5,031 bars from 1999-01-04 to 2018-12-31; --train 5000 "
     "+ --test 250 needs 5,250 (shorten --train/--test or give --data a longer history)"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "line"), NO_FOLD, ids=[" ".join(a[-6:]) for a, _ in NO_FOLD])
def test_windows_the_data_is_too_short_for_are_named_as_flags_with_the_fix(
    argv: list[str], line: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main([*COMMAND, *argv, "--out", str(out)])
    assert code == 2
    assert capsys.readouterr().err == f"error: {line}\n"
    assert not out.exists()
