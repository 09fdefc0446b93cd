"""``workbench walkforward``'s window lengths (--train, --test, --step, --gap) refused in the
flags' words with an example, before the data is read or --out made; lengths that are
good reach run.json as before."""

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
