"""Promotion gates: a good strategy is promoted, a biased one refused, forcing is recorded."""

from __future__ import annotations

import json

import pytest

from workbench.bundle import load_bundle
from workbench.cli.main import main
from workbench.promote import EXIT_GATES_FAILED
from workbench.reports.read import read_report
from workbench.runspec import RunSpec


@pytest.fixture(scope="module")
def walkforward_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("wf")
    code = main(["walkforward", "--strategy", "ma_crossover", "--data", "sample:SPX",
                 "--train", "1260", "--test", "504", "--grid", "fast=20:60:20",
                 "--grid", "slow=150:250:50", "--jobs", "2", "--out", str(out)])  # fmt: skip
    assert code == 0
    return out


def test_a_good_strategy_is_promoted(walkforward_run, tmp_path, capsys) -> None:
    code = main(["promote", "--strategy", "ma_crossover", "--data", "sample:SPX",
                 "--param", "fast=40", "--param", "slow=150", "--walkforward", str(walkforward_run),
                 "--gate", "deflated_sharpe=0.8", "--out", str(tmp_path)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    for gate in ("oos_sharpe", "deflated_sharpe", "pbo", "walk_forward_efficiency",
                 "lookahead_audit", "parity", "min_trades"):  # fmt: skip
        assert f"PASS  {gate}" in out
    bundle = load_bundle(tmp_path / "ma_crossover" / "1")
    manifest = bundle.manifest
    assert manifest["passed"] and not manifest["forced"]
    assert manifest["strategy"]["params"]["fast"] == 40
    assert manifest["data"]["symbols"]["SPX"]["bars"] == 5031
    assert {g["name"] for g in manifest["gates"]} >= {"pbo", "parity", "lookahead_audit"}
    # the run spec: the data's own daily bars, every bar counting, as researched
    spec = RunSpec.from_dict(manifest["run_spec"])
    assert (spec.symbols, spec.timeframe.name, spec.session) == (("SPX",), "1Day", "all")
    assert spec.cash == 100_000.0
    assert bundle.run_spec == spec  # what a live run of it trades
    # the reports it was promoted on: the full-sample backtest with its gates, the walk-forward
    report = read_report(bundle.path / "report.html")
    assert report.kind == "backtest" and report.external == [] and "equity" in report.figures
    assert report.metrics["sharpe"] == pytest.approx(manifest["metrics"]["sharpe"])
    assert [row[0][0] for row in report.tables["gates"]] == [g["name"] for g in manifest["gates"]]
    assert read_report(bundle.path / "walkforward.html").kind == "walkforward"


def test_a_biased_strategy_is_refused_naming_the_failing_gates(tmp_path, capsys) -> None:
    biased = "workbench.research.fixtures:PeekingCrossover"
    args = ["--data", "sample:SPX", "--end", "2005-12-31", "--out", str(tmp_path)]
    code = main(["promote", "--strategy", biased, *args])
    out = capsys.readouterr().out
    assert code == EXIT_GATES_FAILED
    assert "FAIL  lookahead_audit" in out and "not promoted" in out
    assert not (tmp_path / "peeking_crossover").exists()


def test_forcing_needs_a_reason_and_is_recorded(tmp_path, capsys) -> None:
    args = ["promote", "--strategy", "ma_crossover", "--data", "sample:SPX", "--out", str(tmp_path)]
    assert main([*args, "--force"]) == 2
    assert "--force needs --reason" in capsys.readouterr().err
    assert main([*args, "--force", "--reason", "paper plumbing test"]) == 0
    manifest = json.loads((tmp_path / "ma_crossover" / "1" / "manifest.json").read_text())
    assert manifest["forced"] and manifest["forced_reason"] == "paper plumbing test"
    assert not manifest["passed"]


def test_promote_timeframe_records_it_in_the_run_spec(tmp_path, capsys) -> None:
    data = "synthetic:M?freq=1min&session=XNYS&start=2024-01-02&end=2024-02-09&seed=3"
    args = ["promote", "--strategy", "ma_crossover", "--data", data, "--param", "fast=3",
            "--param", "slow=8", "--timeframe", "1Hour", "--out", str(tmp_path),
            "--force", "--reason", "timeframe test", "--commission", "0.001"]  # fmt: skip
    assert main(args) == 0
    assert "(1Hour bars, regular session)" in capsys.readouterr().out
    bundle = load_bundle(tmp_path / "ma_crossover" / "1")
    spec = RunSpec.from_dict(bundle.manifest["run_spec"])
    assert (spec.timeframe.name, spec.session, spec.calendar) == ("1Hour", "regular", "XNYS")
    assert spec.commission.percent == pytest.approx(0.001)
    assert bundle.run_spec == spec  # what a live run trades
    # the gates ran on the hourly session bars: 7 a session (09:00 holds 09:30-10:00)
    assert bundle.manifest["data"]["symbols"]["M"]["bars"] == 7 * 28


SYNTHETIC = "synthetic:AAA?freq=1D&session=XNYS&start=2022-01-03&end=2023-12-28&seed=7"


def test_the_run_spec_records_whether_partial_fills_are_protected(tmp_path, capsys) -> None:
    args = ["promote", "--strategy", "ma_crossover", "--data", SYNTHETIC, "--param", "fast=5",
            "--param", "slow=20", "--force", "--reason", "protect test"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "on")]) == 0
    assert main([*args, "--no-protect-partial-fills", "--out", str(tmp_path / "off")]) == 0
    for name, protect in (("on", True), ("off", False)):
        bundle = load_bundle(tmp_path / name / "ma_crossover" / "1")
        assert bundle.manifest["run_spec"]["execution"]["protect_partial_fills"] is protect
        assert bundle.run_spec.execution.protect_partial_fills is protect


def _walkforward_summary(folder, strategy: str, data: str):
    """A walk-forward run's summary.json whose figures pass every gate."""
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps({
        "config": {"strategy": strategy, "data": data},
        "out_of_sample": {"sharpe": 2.0}, "walk_forward_efficiency": 0.9,
        "overfitting": {"mean_in_sample_dsr": 0.99, "mean_in_sample_pbo": 0.01, "n_trials": 9},
    }))  # fmt: skip
    return folder


@pytest.mark.parametrize(
    ("strategy", "data", "named"),
    [
        ("workbench.research.fixtures:PeekingCrossover", SYNTHETIC, "is of strategy"),
        ("ma_crossover", "sample:NASDAQ", "is on data sample:NASDAQ"),
    ],
)
def test_a_walkforward_run_of_something_else_is_refused(tmp_path, capsys, strategy, data, named):
    run = _walkforward_summary(tmp_path / "wf", strategy, data)
    code = main(["promote", "--strategy", "ma_crossover", "--data", SYNTHETIC,
                 "--param", "fast=5", "--param", "slow=20", "--walkforward", str(run),
                 "--out", str(tmp_path / "promoted")])  # fmt: skip
    assert code == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "promoted").exists()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("{broken", "cannot be read as a walk-forward summary (Expecting property name"),
        ("[]", "is not a walk-forward summary (no run config)"),  # AttributeError before
        ("{}", "is not a walk-forward summary (no run config)"),  # gated as no walk-forward
    ],
    ids=["not-json", "a-list", "no-config"],
)
def test_a_walkforward_summary_that_is_not_one_is_named(tmp_path, capsys, text, named) -> None:
    run = tmp_path / "wf"
    run.mkdir()
    (run / "summary.json").write_text(text)
    code = main(["promote", "--strategy", "ma_crossover", "--data", SYNTHETIC, "--force",
                 "--reason", "x", "--walkforward", str(run),
                 "--out", str(tmp_path / "p")])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {run / 'summary.json'} {named}") and "Traceback" not in err
    assert err.endswith(f"(run workbench walkforward again with --out {run} (it writes "
                        "summary.json anew))\n")  # fmt: skip
    assert not (tmp_path / "p").exists()


def test_the_manifest_records_the_walkforward_run_and_the_range(tmp_path, capsys) -> None:
    run = _walkforward_summary(tmp_path / "wf", "ma_crossover", SYNTHETIC)
    code = main(["promote", "--strategy", "ma_crossover", "--data", SYNTHETIC,
                 "--param", "fast=5", "--param", "slow=20", "--walkforward", str(run),
                 "--end", "2023-06-30", "--out", str(tmp_path / "promoted")])  # fmt: skip
    assert code == 0, capsys.readouterr().out
    bundle = load_bundle(tmp_path / "promoted" / "ma_crossover" / "1")
    data = bundle.manifest["data"]
    assert (data["start"], data["end"]) == (None, "2023-06-30")
    assert data["walkforward"]["path"] == str(run.resolve())
    assert data["walkforward"]["config"] == {"strategy": "ma_crossover", "data": SYNTHETIC}
    assert len(data["walkforward"]["summary_sha256"]) == 64
    assert "--end 2023-06-30" in bundle.promote_command()
