"""A --start/--end range refused in the flags' words (a range holding no bar, a start after its
end, a bound that is no date), the same line in every command that takes it (said before as
``no bars between 2030-01-01 00:00:00+00:00 and 2031-12-31 23:59:59.999999+00:00``), with
nothing written; the Python API names its arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench import backtest, load_bars
from workbench.bundle import write_bundle
from workbench.cli.main import main
from workbench.errors import ConfigError, DataError
from workbench.runspec import RunSpec
from workbench.strategy import make_strategy

STRATEGY = ["--strategy", "ma_crossover", "--data", "sample:SPX"]
GRID = ["--grid", "fast=5,10", "--grid", "slow=50"]
WINDOWS = ["--train", "500", "--test", "250"]
REPLAY = ["--feed", "replay:sample:SPX", "--broker", "sim"]

#: Each command that takes --start/--end, and what it would write ({out}: a path under tmp).
COMMANDS = {
    "data-show": ["data", "show", "sample:SPX"],
    "data-check": ["data", "check", "sample:SPX"],
    "backtest": ["backtest", *STRATEGY, "--out", "{out}"],
    "sweep": ["sweep", *STRATEGY, *GRID, "--out", "{out}"],
    "walkforward": ["walkforward", *STRATEGY, *WINDOWS, *GRID, "--out", "{out}"],
    "promote": ["promote", *STRATEGY, "--out", "{out}"],
    "audit": ["audit", *STRATEGY],
    "emulator": ["emulator", "--data", "sample:SPX", "--port", "0"],
    "live-replay": ["live", "--bundle", "{bundle}", *REPLAY, "--state", "{out}"],
}

#: The range, the exit code and the one line every command says.
RANGES = {
    "no-bar": (
        ["--start", "2030-01-01", "--end", "2031-12-31"],
        3,
        "error: sample:SPX [SPX]: no bars between --start 2030-01-01 and --end 2031-12-31 "
        "(the data cover 1999-01-04 to 2018-12-31: give --start/--end inside it)",
    ),
    "reversed": (
        ["--start", "2018-02-01", "--end", "2018-01-01"],
        2,
        "error: --start 2018-02-01 is after --end 2018-01-01 (swap them)",
    ),
    "not-a-date": (
        ["--start", "2018-01-01", "--end", "yesterday-ish"],
        2,
        "error: --end yesterday-ish is not a date or time (use ISO 8601, e.g. 2024-01-05 or "
        "2024-01-05T14:30:00Z)",
    ),
}


def _bundle(root: Path) -> Path:
    strategy = make_strategy("ma_crossover", {"fast": 10, "slow": 30})
    spec = RunSpec(symbols=("SPX",), timeframe="1Day", session="all", cash=50_000.0)
    data = {"spec": "sample:SPX", "symbols": {"SPX": {"bars": 5031}}}
    bundle = write_bundle(root, strategy, data=data, gates=[], metrics={}, report="# test\n",
                          run_spec=spec)  # fmt: skip
    return bundle.path


@pytest.mark.parametrize("kind", RANGES)
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_refuses_the_range_in_its_flags_words_and_writes_nothing(
    command: str, kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    bundle = _bundle(tmp_path / "promoted") if command == "live-replay" else ""
    argv = [a.format(out=out, bundle=bundle) for a in COMMANDS[command]]
    flags, code, line = RANGES[kind]
    assert main([*argv, *flags]) == code
    err = capsys.readouterr().err
    assert [e for e in err.splitlines() if e.startswith("error: ")] == [line], err
    assert "Traceback" not in err
    assert not out.exists()


def test_a_date_with_a_time_is_said_as_given(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["data", "show", "sample:SPX", "--start", "2030-01-01 09:30", "--end", "2031-01-01"]
    assert main(argv) == 3
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: sample:SPX [SPX]: no bars between --start '2030-01-01 09:30' and --end "
        "2031-01-01 (the data cover 1999-01-04 to 2018-12-31: give --start/--end inside it)"
    )


@pytest.mark.parametrize(
    ("start", "end", "line"),
    [
        ("2030-01-01", "2031-12-31", "no bars between start='2030-01-01' and end='2031-12-31' "
         "(the data cover 1999-01-04 to 2018-12-31: give start=/end= inside it)"),
        ("2030-01-01", None, "no bars from start='2030-01-01' on "
         "(the data cover 1999-01-04 to 2018-12-31: give start= on or before 2018-12-31)"),
        (None, "1990-12-31", "no bars up to end='1990-12-31' "
         "(the data cover 1999-01-04 to 2018-12-31: give end= on or after 1999-01-04)"),
    ],
    ids=["both", "start", "end"],
)  # fmt: skip
def test_the_python_api_names_its_arguments(start: str | None, end: str | None, line: str) -> None:
    with pytest.raises(DataError) as err:
        load_bars("sample:SPX", start, end)
    assert str(err.value) == f"sample:SPX [SPX]: {line}"
    with pytest.raises(DataError) as err:
        backtest("ma_crossover", "sample:SPX", start=start, end=end)
    assert str(err.value) == f"sample:SPX [SPX]: {line}"


def test_the_python_api_says_a_reversed_range_in_its_arguments() -> None:
    with pytest.raises(ConfigError) as err:
        backtest("ma_crossover", "sample:SPX", start="2018-02-01", end="2018-01-01")
    assert str(err.value) == "start='2018-02-01' is after end='2018-01-01' (swap them)"


def test_a_range_the_command_made_itself_is_not_said_as_its_flags() -> None:
    """A fold's window (Timestamps the walk-forward made of --start/--end) keeps the Python
    words: only the very strings --start/--end gave are said as the flags."""
    import argparse

    import pandas as pd

    from workbench.cli.flags import in_flags

    with pytest.raises(DataError) as err:
        load_bars("sample:SPX", pd.Timestamp("2030-01-01"), pd.Timestamp("2031-01-01"))
    args = argparse.Namespace(start="2030-01-01", end="2031-01-01")
    assert in_flags(err.value, args) is err.value
