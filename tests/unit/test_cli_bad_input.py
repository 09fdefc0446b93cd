"""Bad input on the command line: one line naming the problem and its fix, the group's exit
code, no traceback, and nothing already saved lost."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

import workbench.outdir
from workbench import backtest, clean, load_bars
from workbench.cli.main import main
from workbench.data.quality import CleanPolicy
from workbench.errors import ConfigError, DataError
from workbench.live.state.file import StateFile

ROOT = Path(__file__).resolve().parents[2]
BARS = "date,open,high,low,close,volume\n"
ROW = "1,2,0.5,1.5,10"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["backtest", "--strategy", "ma_crossover"],
        ["sweep", "--strategy", "ma_crossover", "--grid", "fast=5,10", "--grid", "slow=50"],
        ["promote", "--strategy", "ma_crossover"],
        [
            "walkforward",
            "--strategy",
            "ma_crossover",
            "--train",
            "500",
            "--test",
            "250",
            "--grid",
            "fast=5,10",
            "--grid",
            "slow=50",
        ],
        ["batch", "{batch}"],
        ["reconcile", "--state", "{batch}.sqlite"],
    ],
    ids=lambda argv: argv[0],
)
def test_an_out_that_is_a_file_is_refused_before_any_work(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = tmp_path / "batch.yaml"
    batch.write_text("template: backtest_run.ipynb\nruns:\n  - {name: a}\n")
    argv = [a.format(batch=batch) for a in argv]
    taken = tmp_path / "results"
    taken.write_text("saved before\n")
    code, _, err = run(capsys, *argv, "--out", str(taken))
    assert code == 2
    assert one_error_line(err) == (
        f"error: --out {taken} is a file, not a folder (give --out a folder's path, or move "
        "the file away)"
    )
    assert taken.read_text() == "saved before\n"
    code, _, err = run(capsys, *argv, "--out", str(taken / "sub"))
    assert code == 2 and f"{taken} is a file, not a folder" in one_error_line(err)


def test_an_out_in_a_folder_that_cannot_be_written_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workbench.outdir.os, "access", lambda *_: False)  # root writes anywhere
    code, _, err = run(capsys, "backtest", "--strategy", "ma_crossover", "--out", str(tmp_path))
    assert code == 2
    assert one_error_line(err) == (
        f"error: --out {tmp_path}: {tmp_path} is not writable (check its permissions, or give "
        "--out another folder)"
    )


def test_reconcile_until_that_is_not_a_date_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(tmp_path / "live.sqlite")
    code, _, err = run(capsys, "reconcile", "--state", state, "--until", "notadate")
    assert code == 2
    assert one_error_line(err) == (
        "error: --until='notadate' is not a date or time (use ISO 8601, e.g. 2024-01-05 or "
        "2024-01-05T14:30:00Z)"
    )


WALKFORWARD = ["walkforward", "--strategy", "ma_crossover", "--data", "sample:SPX"]
WINDOWS = ["--start", "2010-01-01", "--end", "2014-12-31", "--test", "250"]
GRID = ["--grid", "fast=5,10", "--grid", "slow=50"]


def test_a_walkforward_refused_at_planning_leaves_no_run_file_to_block_its_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "wf"
    code, _, err = run(capsys, *WALKFORWARD, *WINDOWS, "--train", "5000", *GRID, "--out", str(out))
    assert code == 2 and one_error_line(err) == (
        "error: no complete fold: the data holds 1,258 bars from 2010-01-04 to 2014-12-31; "
        "--train 5000 + --test 250 needs 5,250 (shorten --train/--test or widen --start/--end)"
    )
    assert not out.exists()  # nor an empty folder
    code, _, err = run(
        capsys, *WALKFORWARD, *WINDOWS, "--train", "500", *GRID, "--jobs", "0", "--out", str(out)
    )
    assert code == 2 and "--jobs must be at least 1, got 0" in one_error_line(err)
    assert not (out / "run.json").exists()


def test_a_walkforward_run_file_that_is_not_json_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "run.json").write_text("{broken")
    code, _, err = run(
        capsys, *WALKFORWARD, *WINDOWS, "--train", "500", *GRID, "--out", str(tmp_path)
    )
    assert code == 2
    line = one_error_line(err)
    assert line.startswith(f"error: {tmp_path / 'run.json'} cannot be read as a walk-forward run")
    assert line.endswith("(use another --out, or --force to replace it)")
    assert (tmp_path / "run.json").read_text() == "{broken"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("template: backtest_run.ipynb\nruns: 5\n", "runs must be a list of parameter sets, got 5"),
        ("template: 5\nruns:\n  - {a: 1}\n", "template must be a notebook's name or path, got 5"),
        ("runs: [a\n", "is not valid YAML: expected ',' or ']', but got '<stream end>' at line 2"),
    ],
)
def test_a_batch_file_of_the_wrong_shape_is_named(
    text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "batch.yaml"
    path.write_text(text)
    code, _, err = run(capsys, "batch", str(path), "--out", str(tmp_path / "out"))
    assert code == 2 and message in one_error_line(err)


@pytest.mark.parametrize(
    ("rows", "what"),
    [
        (["2020-01-02", "2020-01-02", "2020-01-03"], "2020-01-02 00:00:00+00:00 repeats the bar"),
        (["2020-01-03", "2020-01-02", "2020-01-06"], "2020-01-02 00:00:00+00:00 is earlier than"),
    ],
    ids=["duplicated", "unsorted"],
)
@pytest.mark.parametrize("command", ["backtest", "sweep"])
def test_out_of_order_bars_are_a_data_error_with_a_fix_for_the_command_line(
    rows: list[str],
    what: str,
    command: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "X.csv"
    path.write_text(BARS + "".join(f"{day},{ROW}\n" for day in rows))
    argv = [command, "--strategy", "ma_crossover", "--data", f"csv:{path}"]
    if command == "sweep":
        argv += ["--grid", "fast=2", "--grid", "slow=3"]
    code, _, err = run(capsys, *argv)
    assert code == DataError.exit_code == 3
    line = one_error_line(err)
    assert line.startswith(f"error: X: the timestamps are out of order or duplicated: {what}")
    assert "workbench data check SPEC lists them" in line


#: rows 21 and 24 of 28 replaced; what the error names; what data check lists
BAD_VALUES = {
    # a close below zero, an open and a low of zero: the backtest ran on them (equity 0)
    "prices": (
        ("2020-01-21,1,2,0.5,-5,10", "2020-01-24,0,2,0,1.5,10"),
        "a price at or below zero, the first at 2020-01-21 00:00:00+00:00: close -5",
        "non_positive      2",
    ),
    # a close above the high, a high below the low: stops and limits filled at prices the
    # bars never traded
    "ohlc": (
        ("2020-01-21,1,2,0.5,2.5,10", "2020-01-24,1,0.4,0.5,0.45,10"),
        "open, high, low and close that disagree, the first at 2020-01-21 00:00:00+00:00: "
        "open 1 high 2 low 0.5 close 2.5: close above high",
        "error   ohlc       2",
    ),
}


@pytest.mark.parametrize("bad", BAD_VALUES)
@pytest.mark.parametrize("command", ["backtest", "sweep"])
def test_bad_prices_are_a_data_error_naming_the_first_bar(
    bad: str, command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (first, second), what, listed = BAD_VALUES[bad]
    path = tmp_path / "X.csv"
    rows = [f"2020-01-{day:02d},{ROW}\n" for day in range(1, 29)]
    rows[20], rows[23] = f"{first}\n", f"{second}\n"
    path.write_text(BARS + "".join(rows))
    argv = [command, "--strategy", "ma_crossover", "--data", f"csv:{path}"]
    argv += ["--grid" if command == "sweep" else "--param", "fast=2"]
    argv += ["--grid" if command == "sweep" else "--param", "slow=3"]
    code, _, err = run(capsys, *argv)
    assert code == DataError.exit_code
    assert one_error_line(err) == (
        f"error: X (csv:{path}): 2 bar(s) with {what} (correct or remove those rows (workbench "
        "data check SPEC lists them; in Python: workbench.clean(bars, "
        "CleanPolicy(drop_invalid=True))))"
    )
    code, out, _ = run(capsys, "data", "check", f"csv:{path}")
    assert code == 1 and listed in out  # the loader lets them through to it
    bars, _ = clean(load_bars(f"csv:{path}"), CleanPolicy(drop_invalid=True))
    assert len(bars) == 26
    assert backtest("ma_crossover", bars, {"fast": 2, "slow": 3}).final_equity > 0


def test_dates_that_read_both_day_first_and_month_first_need_a_format(tmp_path: Path) -> None:
    path = tmp_path / "eu.csv"
    path.write_text(f"{BARS}02/01/2020,{ROW}\n03/01/2020,{ROW}\n")  # 2 and 3 January
    with pytest.raises(DataError, match=r"'02/01/2020' reads as day/month or as month/day"):
        load_bars(f"csv:{path}")  # was read as 1 February and 1 March, silently
    bars = load_bars(f"csv:{path}?format=%d/%m/%Y")
    assert [str(t.date()) for t in bars.index] == ["2020-01-02", "2020-01-03"]
    path.write_text(f"{BARS}01/13/2020,{ROW}\n02/01/2020,{ROW}\n")  # a day above 12 tells
    assert [str(t.date()) for t in load_bars(f"csv:{path}").index] == ["2020-01-13", "2020-02-01"]


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--max-bars", "0", "--max-bars must be at least 1, got 0 (omit it to run until stopped)"),
        ("--max-bars", "-1", "--max-bars must be at least 1, got -1"),
        ("--speed", "-1", "--speed must be at least 0, got -1 (0 replays as fast as possible)"),
        ("--alpaca-timeout", "0", "--alpaca-timeout must be a positive number, got 0"),
        ("--bar-settle", "-5", "--bar-settle must be at least 0, got -5"),
        ("--cash", "0", "--cash must be a positive number, got 0 (omit it to trade the bundle's"),
        ("--cash", "-5", "--cash must be a positive number, got -5"),
        ("--max-outage", "0", "--max-outage must be a positive number, got 0 (e.g. --max-outage"),
        ("--stream-grace", "-1", "--stream-grace must be at least 0, got -1 (e.g. --stream-grace"),
        ("--retry-delay", "-1", "--retry-delay must be at least 0, got -1 (e.g. --retry-delay 0."),
    ],
)
def test_live_refuses_numbers_it_used_to_take_silently(
    flag: str, value: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "live.sqlite"
    code, _, err = run(capsys, "live", "--bundle", "b", "--state", str(state), flag, value)
    assert code == 2 and one_error_line(err).startswith(f"error: {message}")
    assert not state.exists()


@pytest.mark.parametrize("jobs", ["0", "-2"])
@pytest.mark.parametrize(
    "argv",
    [
        ["batch", "{batch}"],
        ["walkforward", "--strategy", "ma_crossover", "--train", "500", "--test", "250",
         "--grid", "fast=5,10", "--grid", "slow=50"],
    ],
    ids=lambda argv: argv[0],
)  # fmt: skip
def test_jobs_below_one_is_named_as_the_flag_before_the_out_folder_is_made(
    argv: list[str], jobs: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = tmp_path / "batch.yaml"
    batch.write_text("template: backtest_run.ipynb\nruns:\n  - {name: a}\n")
    out = tmp_path / "out"
    argv = [a.format(batch=batch) for a in argv]
    code, _, err = run(capsys, *argv, "--jobs", jobs, "--out", str(out))
    assert code == 2  # was "workers=0 must be a positive number of processes", the Python name
    assert one_error_line(err) == (
        f"error: --jobs must be at least 1, got {jobs} (e.g. --jobs 2 runs two at once; 1 runs "
        "one at a time)"
    )
    assert not out.exists()  # an empty folder was left behind


@pytest.mark.parametrize(
    "argv",
    [["risk", "validate", "{path}"], ["live", "--bundle", "b", "--config", "{path}"]],
    ids=["risk", "live-config"],
)
def test_a_yaml_syntax_error_is_one_line_with_its_place(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("position_sizing:\n  risk_per_trade: [0.01\n")
    code, _, err = run(capsys, *[a.format(path=path) for a in argv])
    assert code == 2
    assert err.count("\n") == 1, err
    assert (
        "is not valid yaml: expected ',' or ']', but got '<stream end>' at line 3, column 1 "
        "(while parsing a flow sequence at line 2, column 19)"
    ) in one_error_line(err).lower()


def test_a_closed_output_pipe_is_not_a_traceback() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen(
        [sys.executable, "-m", "workbench", "data", "show", "sample:SPX"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # `| head -0`
        err = proc.stderr.read().decode()
    assert proc.returncode == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err


def test_a_rerun_into_an_output_folder_leaves_no_figure_of_the_earlier_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "bt")
    universe = "synthetic:S?symbols=2&bars=300&freq=1D&seed=3"
    assert (
        run(capsys, "backtest", "--strategy", "ma_crossover", "--data", universe, "--out", out)[0]
        == 0
    )
    assert sorted(p.name for p in Path(out).glob("trades_*.png")) == [
        "trades_S001.png",
        "trades_S002.png",
    ]
    single = "synthetic:T?bars=300&freq=1D&seed=3"
    assert (
        run(capsys, "backtest", "--strategy", "ma_crossover", "--data", single, "--out", out)[0]
        == 0
    )
    assert [p.name for p in Path(out).glob("trades_*.png")] == ["trades_T.png"]

    out = str(tmp_path / "sweep")
    sweep = ["sweep", "--strategy", "ma_crossover", "--data", single, "--grid", "fast=5,10"]
    assert run(capsys, *sweep, "--grid", "slow=50,60", "--out", out)[0] == 0
    assert (Path(out) / "heatmap.png").exists()
    assert run(capsys, *sweep, "--param", "slow=60", "--out", out)[0] == 0
    assert not (Path(out) / "heatmap.png").exists()  # one swept parameter: no heatmap


def test_a_state_file_under_a_file_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = tmp_path / "taken"
    taken.write_text("saved before\n")
    with pytest.raises(ConfigError, match=f"{taken} is a file, not a folder"):
        StateFile(taken / "live.sqlite", exclusive=True)  # workbench live --state
    code, _, err = run(capsys, "risk", "kill", "--state", str(taken / "r.sqlite"), "--reason", "x")
    assert code == 2
    assert one_error_line(err).startswith(f"error: cannot make the folder {taken} of risk state")
    assert taken.read_text() == "saved before\n"


@pytest.mark.parametrize("storage", ["notaurl", "sqlite:///{taken}"])
def test_a_sweep_storage_that_cannot_be_opened_is_named(
    storage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = tmp_path / "taken"
    taken.write_text("not a database\n")
    storage = storage.format(taken=taken)
    code, _, err = run(
        capsys, "sweep", "--strategy", "ma_crossover", "--data", "synthetic:T?bars=300&seed=3",
        "--grid", "fast=5,10", "--grid", "slow=50,60", "--search", "tpe", "--trials", "3",
        "--storage", storage,
    )  # fmt: skip
    assert code == 2
    assert one_error_line(err).startswith(
        f"error: --storage {storage!r} cannot be opened as an optuna storage: "
    )
    assert taken.read_text() == "not a database\n"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("[a, b]", "the notify: section must be a mapping of settings, got a list"),
        ("{attempts: abc}", "notify: attempts must be a whole number >= 1, got 'abc'"),
        ("{attempts: 1.5}", "notify: attempts must be a whole number >= 1, got 1.5"),
        ("{retry_delay: soon}", "notify: retry_delay must be a number of seconds >= 0"),
        ("{retry_delay: .nan}", "notify: retry_delay must be a number of seconds >= 0"),
        ("{events: 5}", "notify: events must be a list of texts, got a number"),
        ("{urls: 5}", "notify: urls must be a list of texts, got a number"),
        ("{urls: {json://h/tok3n-s3cr3t-77: x}}", "notify: urls must be a list of texts, got a"),
    ],
)
def test_a_run_configuration_of_the_wrong_shape_is_named_without_its_urls(
    section: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(f"notify: {section}\n")
    state = tmp_path / "live.sqlite"
    argv = ["live", "--bundle", "b", "--state", str(state), "--config", str(path)]
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert one_error_line(err).startswith(f"error: {path}: {message}")
    assert "s3cr3t" not in err and not state.exists()


def test_one_notification_event_may_be_written_without_a_list(tmp_path: Path) -> None:
    from workbench.live import notify

    path = tmp_path / "run.yaml"
    path.write_text("notify:\n  events: halted\n")  # was read as the events h, a, l, t, e, d
    assert notify.load_config(path).events == {"halted"}


@pytest.mark.parametrize(
    ("option", "code", "message"),
    [
        (["--commission", "abc"], 2, "commission percent: 'abc' is not a number"),
        (["--cash", "-5"], 2, "--cash must be a positive number, got -5 (e.g. --cash"),
        (["--slippage", "range=0.1"], 2, "the vectorized path cannot reproduce range-proportional"),
        (["--benchmark", "nope:X"], 3, "benchmark nope:X: unknown source 'nope:' in 'nope:X'"),
        (["--benchmark", "csv:{late}"], 3, "[LATE]: no bars between start=2011-12-17"),
    ],
    ids=["commission", "cash", "slippage", "benchmark", "benchmark-elsewhen"],
)
def test_a_walkforward_refuses_what_its_folds_would_before_any_fold_runs(
    option: list[str], code: int, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    late = tmp_path / "LATE.csv"
    late.write_text(f"{BARS}2020-01-02T00:00:00Z,{ROW}\n2020-01-03T00:00:00Z,{ROW}\n")
    option = [a.format(late=late) for a in option]
    out = tmp_path / "wf"
    argv = [*WALKFORWARD, *WINDOWS, "--train", "500", *GRID, *option, "--out", str(out)]
    got, _, err = run(capsys, *argv)  # each fold failed in its notebook, or the summary did
    assert got == code and message in one_error_line(err)
    assert not out.exists()  # no run.json, which refused the corrected command, no folder


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["promote", "--strategy", "ma_crossover", "--gate", "min_trades"],
            "--gate 'min_trades': expected NAME=VALUE (e.g. --gate min_trades=10)",  # --param
        ),
        (
            ["promote", "--strategy", "ma_crossover", "--gate", "min_trades=3", "--gate",
             "min_trades=30"],
            "--gate min_trades given twice ('3' and '30') (give each once)",  # 30 held
        ),
        (
            ["backtest", "--strategy", "ma_crossover", "--param", "fast=5", "--param", "fast=10"],
            "--param fast given twice ('5' and '10') (give each once)",  # fast=10 ran
        ),
    ],
    ids=["gate-named", "gate-twice", "param-twice"],
)  # fmt: skip
def test_name_value_options_name_their_own_flag_and_refuse_a_name_twice(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2 and one_error_line(err) == f"error: {message}"


def test_naive_timestamps_name_a_fix_the_command_takes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "X.csv"
    path.write_text(BARS + "".join(f"2020-01-0{d} 15:00,{ROW}\n" for d in (2, 3, 6)))
    backtest = ["backtest", "--strategy", "ma_crossover", "--param", "fast=1", "--param", "slow=2"]
    code, _, err = run(capsys, *backtest, "--data", f"csv:{path}")
    assert code == 3
    line = one_error_line(err)  # said --tz, which backtest does not take
    assert "(pass the zone they are in: ?tz=America/New_York in the spec (every command)" in line
    assert run(capsys, *backtest, "--data", f"csv:{path}?tz=America/New_York")[0] == 0
    code, _, err = run(capsys, *backtest, "--data", f"csv:{path}?zone=UTC")
    assert code == 3 and one_error_line(err).endswith("(options csv: accepts: symbol, format, tz)")


def test_reconcile_until_before_the_run_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pandas as pd

    from workbench.broker import Bar
    from workbench.bundle import write_bundle
    from workbench.live.state import StateStore
    from workbench.runspec import RunSpec
    from workbench.strategy import make_strategy

    bundle = write_bundle(
        tmp_path / "promoted", make_strategy("ma_crossover"), data={}, gates=[], metrics={},
        report="", run_spec=RunSpec(symbols=("SPX",), timeframe="1Day"),
    )  # fmt: skip
    path = tmp_path / "live.sqlite"
    first = pd.Timestamp("2024-01-02", tz="UTC")
    with StateStore(path) as store:
        store.set_meta(bundle=str(bundle.path), strategy="ma_crossover", timeframe="1Day")
        store.record_bars([Bar("SPX", first, 100, 100, 100, 100, 1e6)])
        store.record_equity(first.value, 10_000.0, 10_000.0, {})
    code, _, err = run(capsys, "reconcile", "--state", str(path), "--until", "2023-12-29")
    assert code == DataError.exit_code  # IndexError: single positional indexer is out-of-bounds
    assert one_error_line(err) == (
        f"error: {path}: the run has no bar up to --until 2023-12-29 00:00:00+00:00 (its first "
        "is 2024-01-02 00:00:00+00:00) (give a later --until, or none for the whole run)"
    )


@pytest.mark.parametrize(
    ("number", "why"),
    [(errno.ENOSPC, "No space left on device"), (errno.EROFS, "Read-only file system")],
    ids=["full", "read-only"],
)
def test_a_disk_that_refuses_the_outputs_is_one_line_not_a_traceback(
    number: int, why: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    import pandas as pd

    def refuse(*_: object, **__: object) -> None:
        raise OSError(number, os.strerror(number))  # as pandas' CSV writer raises it: no name

    monkeypatch.setattr(pd.DataFrame, "to_csv", refuse)  # the disk filled up mid-run
    out = tmp_path / "bt"
    code, _, err = run(capsys, "backtest", "--strategy", "ma_crossover", "--out", str(out))
    assert code == 2
    assert one_error_line(err) == (
        f"error: cannot write into --out {out}: {why} (give --out a folder on another disk, "
        "or free space on that disk or make it writable, then run the command again)"
    )


def test_other_os_errors_are_not_said_to_be_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    def refuse(*_: object, **__: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")  # reads meet it too

    monkeypatch.setattr(pd.DataFrame, "to_csv", refuse)
    with pytest.raises(PermissionError):
        main(["backtest", "--strategy", "ma_crossover", "--out", str(tmp_path)])


@pytest.mark.parametrize(
    ("argv", "what"),
    [
        (["risk", "validate", "{path}"], "risk config"),
        (["live", "--bundle", "b", "--config", "{path}"], "the run configuration"),
        (["batch", "{path}", "--out", "{out}"], "the batch file"),
    ],
    ids=["risk", "live-config", "batch"],
)
def test_a_config_file_that_is_not_text_is_one_line(
    argv: list[str], what: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "settings.yaml"
    path.write_bytes("notify: {}\n".encode("utf-16"))  # saved as UTF-16 by an editor
    out = tmp_path / "out"
    code, _, err = run(capsys, *[a.format(path=path, out=out) for a in argv])
    assert code == 2  # UnicodeDecodeError traceback before
    assert one_error_line(err) == (
        f"error: {what} {path} is not text (UTF-8): byte 0 cannot be read (save it as UTF-8 text)"
    )


def test_daily_bars_resampled_on_sessions_name_the_flag_that_fixes_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    backtest = ["backtest", "--strategy", "ma_crossover", "--timeframe", "1Day"]
    code, _, err = run(capsys, *backtest)
    assert code == 3 and one_error_line(err).endswith(
        "(daily bars are labelled 00:00 UTC: resample them with --session all (session='all' "
        "in Python), or load intraday bars)"
    )  # said session='all' only, which the command line does not take
    assert run(capsys, *backtest, "--session", "all")[0] == 0


@pytest.mark.parametrize(
    ("flags", "flag_named"),
    [(["--search", "tpe"], "needs n_trials (--trials)"), (["--trials", "5"], "(--trials) goes")],
    ids=["no-trials", "trials-without-search"],
)
def test_a_sampled_search_names_the_flags_on_the_command_line(
    flags: list[str], flag_named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = ["sweep", "--strategy", "ma_crossover", "--data", "synthetic:T?bars=300&seed=3"]
    code, _, err = run(capsys, *sweep, "--grid", "fast=5,10", "--grid", "slow=50", *flags)
    assert code == 2 and flag_named in one_error_line(err)  # only n_trials, search= before


@pytest.mark.parametrize(
    ("where", "why"),
    [("{tmp}", "Is a directory"), ("{tmp}/no/such/live.jsonl", "No such file or directory")],
    ids=["a-folder", "a-missing-folder"],
)
def test_a_log_file_that_cannot_be_opened_is_named_before_the_state_is_made(
    where: str, why: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_file = where.format(tmp=tmp_path)
    state = tmp_path / "live.sqlite"
    argv = ["live", "--bundle", "b", "--state", str(state), "--log-file", log_file]
    code, _, err = run(capsys, *argv)
    assert code == 2  # IsADirectoryError or FileNotFoundError traceback before
    assert one_error_line(err) == (
        f"error: log file {log_file} cannot be opened: {why} (give --log-file a file's path in "
        "a folder that exists and can be written)"
    )
    assert not state.exists()


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"{broken", "NotJSONError: Notebook does not appear to be JSON: '{broken'"),
        (b'{"cells": 5}', ""),  # nbformat's words for it vary with its version
        (b"\xff\xfe{", "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position 0"),
    ],
    ids=["not-json", "cells-not-a-list", "not-text"],
)
def test_a_batch_notebook_that_is_not_one_is_named(
    body: bytes, why: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notebook = tmp_path / "run.ipynb"
    notebook.write_bytes(body)
    batch = tmp_path / "batch.yaml"
    batch.write_text("runs:\n  - {strategy: ma_crossover}\n")
    argv = ["batch", str(batch), "--notebook", str(notebook), "--out", str(tmp_path / "out")]
    code, _, err = run(capsys, *argv)
    assert code == 2  # nbformat's traceback before
    line = one_error_line(err)
    assert line.startswith(f"error: {notebook} cannot be read as a notebook: {why}")
    assert line.endswith("(give a Jupyter notebook (.ipynb) with a cell tagged parameters)")


def test_a_backtest_benchmark_that_cannot_be_read_is_refused_before_the_backtest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bt"
    data = "synthetic:T?bars=300&freq=1D&seed=3"
    argv = ["backtest", "--strategy", "ma_crossover", "--data", data, "--param", "fast=5",
            "--param", "slow=20", "--benchmark", "sample:NOPE"]  # fmt: skip
    code, _, err = run(capsys, *argv, "--out", str(out))
    assert code == DataError.exit_code
    assert err == (  # nothing else: the backtest's order lines came first, then this
        "error: unknown sample 'NOPE' (available samples: SPX, NASDAQ, SP500, SP500_INDEX)\n"
    )
    assert not out.exists() or not any(out.iterdir())
