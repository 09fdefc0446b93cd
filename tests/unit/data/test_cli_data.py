"""``workbench data ...`` through the real entry point: output, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.cli.main import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["data", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_sources_and_sample_ranges(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    for text in ("sample:", "csv:", "parquet:", "synthetic:", "SPX", "NASDAQ", "1999-01-04"):
        assert text in out


def test_show_prints_summary_head_and_tail(capsys):
    code, out, _ = run(capsys, "show", "sample:SPX", "--start", "2018-12-01", "--rows", "2")
    assert code == 0
    assert "SPX (sample:SPX): 19 bars" in out
    assert "every 1 day" in out
    assert "2018-12-03" in out and "2018-12-31" in out and "..." in out


def test_check_clean_sample_exits_0(capsys):
    code, out, _ = run(capsys, "check", "sample:SPX")
    assert code == 0
    assert "SPX: 5031 bars" in out and "OK" in out


def test_check_json(capsys):
    code, out, _ = run(capsys, "check", "sample:SPX,NASDAQ", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["NASDAQ"]["warnings"] == 1 and data["SPX"]["ok"] is True


def test_check_with_errors_exits_1(capsys, tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("date,o,h,l,c,v\n2024-01-02,1,2,0.5,1.5,1\n2024-01-02,1,2,0.5,1.5,1\n")
    code, out, _ = run(capsys, "check", f"csv:{path}")
    assert code == 1
    assert "duplicates" in out


BAD = {
    "missing-column": ("Date,Open,High,Low,Close\n2024-01-02,1,2,0.5,1.5\n", [],
                       ["'volume'", "found:"]),
    "bad-date": ("Date,o,h,l,c,v\n2024-01-02,1,2,0.5,1.5,1\n2024-02-30,1,2,0.5,1.5,1\n", [],
                 ["row 2", "'2024-02-30'"]),
    "mixed-tz": ("time,o,h,l,c,v\n2024-01-02 09:30+01:00,1,2,0.5,1.5,1\n"
                 "2024-01-02 09:31-05:00,1,2,0.5,1.5,1\n", [], ["row 2", "mixed time zones"]),
    "naive": ("time,o,h,l,c,v\n2024-01-02 09:30,1,2,0.5,1.5,1\n", [], ["naive", "--tz"]),
    "bad-tz": ("time,o,h,l,c,v\n2024-01-02 09:30,1,2,0.5,1.5,1\n", ["--tz", "Nowhere/City"],
               ["Nowhere/City"]),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
@pytest.mark.parametrize("command", ["check", "show"])
def test_bad_files_give_one_line_errors(capsys, tmp_path, case, command):
    text, extra, expected = BAD[case]
    path = tmp_path / "bars.csv"
    path.write_text(text)
    code, out, err = run(capsys, command, f"csv:{path}", *extra)
    assert code != 0
    assert out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "Traceback" not in err
    if case != "bad-tz":
        assert str(path) in err
    for fragment in expected:
        assert fragment in err


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("nope:x", "known: sample:, csv:"),
        ("sample:DAX", "SPX, NASDAQ"),
        ("csv:/no/such.csv", "not found"),
    ],
)
def test_bad_specs_give_one_line_errors(capsys, spec, fragment):
    code, out, err = run(capsys, "check", spec)
    assert code != 0 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and fragment in err


def test_registering_the_command_does_not_import_pandas():
    code = (
        "import argparse, sys\n"
        "from workbench.cli import data\n"
        "data.register(argparse.ArgumentParser().add_subparsers())\n"
        "print('pandas' in sys.modules)\n"
    )
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert out.stdout.strip() == "False", out.stderr
