"""The venue's numbers and costs on the command line (backtest, sweep, promote, walkforward)
refused in the flags' words, with an example, before any data is read or file made."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.cli.main import main

COMMANDS = {
    "backtest": ["backtest", "--strategy", "ma_crossover"],
    "sweep": ["sweep", "--strategy", "ma_crossover", "--grid", "fast=5,10", "--grid", "slow=50"],
    "promote": ["promote", "--strategy", "ma_crossover"],
    "walkforward": ["walkforward", "--strategy", "ma_crossover", "--train", "500", "--test",
                    "250", "--grid", "fast=5,10", "--grid", "slow=50"],
}  # fmt: skip
#: flag, value, the line (the Python name before: "margin must be a positive number, got 0.0")
SHARED = [
    ("--cash", "-5", "--cash must be a positive number, got -5 (e.g. --cash 100000)"),
    ("--cash", "0", "--cash must be a positive number, got 0 (e.g. --cash 100000)"),
    ("--cash", "nan", "--cash must be a positive number, got nan (e.g. --cash 100000)"),
    (
        "--commission",
        "-0.1",
        "--commission percent must be a non-negative number, got -0.1 (e.g. --commission "
        "0.001 (0.1% of the notional) or per_share=0.005,minimum=1)",
    ),
    (
        "--commission",
        "abc",
        "--commission percent: 'abc' is not a number (e.g. --commission 0.001 (0.1% of the "
        "notional) or per_share=0.005,minimum=1)",
    ),
    (
        "--slippage",
        "-3",
        "--slippage bps must be a non-negative number, got -3.0 (e.g. --slippage 5 (5 bps) or "
        "range=0.1 (10% of the bar's range))",
    ),
]
VENUE = [
    (
        "--margin",
        "0",
        "--margin must be a positive number, got 0 (e.g. --margin 2 doubles the buying "
        "power; 1 is none)",
    ),
    (
        "--volume-limit",
        "2",
        "--volume-limit must be in (0, 1], got 2 (e.g. --volume-limit 0.1: an order takes at "
        "most 10% of a bar's volume)",
    ),
    (
        "--lot-size",
        "-1",
        "--lot-size must be a positive number, got -1 (e.g. --lot-size 1 trades whole shares)",
    ),
]
CASES = [
    pytest.param(c, *case, id=f"{c}{case[0]}={case[1]}")
    for c in COMMANDS
    for case in SHARED + (VENUE if c in ("backtest", "promote") else [])
]


@pytest.mark.parametrize(("command", "flag", "value", "line"), CASES)
def test_a_bad_venue_number_is_named_as_its_flag_before_any_work(
    command: str, flag: str, value: str, line: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    out = tmp_path / "out"
    code = main([*COMMANDS[command], flag, value, "--out", str(out)])
    got, err = capsys.readouterr()
    assert code == 2, got  # sweep --cash -5 ranked its trials, each ending at -5
    assert err == f"error: {line}\n"  # nothing else: no log line of a run
    assert not out.exists()


def test_a_cost_setting_it_does_not_know_keeps_the_known_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([*COMMANDS["backtest"], "--commission", "fee=1"]) == 2
    assert capsys.readouterr().err == (
        "error: --commission: unknown setting 'fee' (known: minimum, per_share, percent; e.g. "
        "--commission 0.001 (0.1% of the notional) or per_share=0.005,minimum=1)\n"
    )


def test_good_venue_numbers_pass(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*COMMANDS["backtest"], "--data", "synthetic:T?bars=300&freq=1D&seed=3"]
    argv += ["--cash", "5000", "--margin", "2", "--volume-limit", "1", "--lot-size", "1"]
    assert main([*argv, "--commission", "per_share=0.005", "--slippage", "range=0.1"]) == 0
    assert "error" not in capsys.readouterr().err
