"""A small walk-forward through papermill: 2 processes, a Dask LocalCluster, resume, CLI, and
re-runs into a folder an earlier run used (only this run's folds are left there; those whose
data changed run again)."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from workbench.cli.main import main
from workbench.data.sources import load_bars
from workbench.reports.read import read_report
from workbench.research import equity_csv
from workbench.research.equity_csv import read_equity
from workbench.research.notebook_runner import JobOutcome
from workbench.research.walkforward import (
    FOLD_FILE,
    FOLD_TEMPLATE,
    WalkForwardConfig,
    run_walk_forward,
    summarize,
)
from workbench.research.walkforward_report import stitched_equity

pytestmark = pytest.mark.slow

CONFIG = WalkForwardConfig(
    strategy="ma_crossover",
    data="sample:SPX",
    train=252,
    test=126,
    grid={"fast": [10, 20], "slow": [40, 80]},
    start="2015-01-01",
    end="2016-12-31",
    commission=0.0005,
)
# 504 bars: folds with tests in 2016 H1 and 2016 H2
N_FOLDS = 2
#: What a finished fold leaves in folds/: its notebook, its marker and run_fold's three files.
FILES_PER_FOLD = 5
#: A user's own files in folds/, the pipeline's names for none (the last: not as 3 digits).
USER_FILES = ("notes.txt", "fold_003_notes.txt", "fold_0003.json")


@pytest.fixture(autouse=True)
def _agg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")


@pytest.fixture(scope="module")
def pool_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wf_pool")
    with pytest.MonkeyPatch.context() as mp:  # module scope: before the autouse fixture
        mp.setenv("MPLBACKEND", "Agg")
        result = run_walk_forward(CONFIG, out, workers=2, progress=False)
    assert not result.failed, result.failed
    return out


def check_run(out: Path) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_folds"] == N_FOLDS and summary["n_failed"] == 0
    for fold in summary["folds"]:
        name = f"fold_{fold['fold']:03d}"
        # the executed notebook holds the fold's printed choice and its tables
        nb = nbformat.read(out / "folds" / f"{name}.ipynb", as_version=4)
        assert nb.metadata["papermill"]["parameters"]["fold"] == fold["fold"]
        text = json.dumps([c.get("outputs", []) for c in nb.cells])
        assert f"fold {fold['fold']}: chose" in text and "out of sample" in text
        # the chosen parameters are the best in-sample Sharpe ratio of the fold's sweep
        sweep = pd.read_csv(out / "folds" / f"{name}_sweep.csv")
        best = sweep.loc[sweep["sharpe"].idxmax()]
        assert fold["params"] == {"fast": int(best["fast"]), "slow": int(best["slow"])}
        assert fold["overfitting"]["n_trials"] == 4
        assert fold["test_first"] > fold["train_last"]
    # the stitched curve chains the fold curves: its total return is the product
    growth = 1.0
    for fold in summary["folds"]:
        growth *= 1 + fold["out_of_sample"]["total_return"]
    assert summary["out_of_sample"]["total_return"] == pytest.approx(growth - 1)
    assert summary["overfitting"]["n_trials"] == 4
    assert 0 <= summary["out_of_sample"]["psr"] <= 1
    report = nbformat.read(out / "report.ipynb", as_version=4)
    images = [
        o for c in report.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    ]
    assert len(images) == 3
    assert (out / "equity.png").exists() and (out / "parameter_stability.png").exists()
    check_html_report(out, summary)
    return summary


def check_html_report(out: Path, summary: dict, drawn: bool = True) -> None:
    """report.html: offline, the three figures, one row per fold, the statistics explained."""
    html = read_report(out / "report.html")
    assert html.kind == "walkforward" and html.external == []
    assert set(html.figures) == {"equity", "parameter_stability", "in_vs_out"}
    for name, png in html.figures.items():  # drawn once: the report notebook's, or here
        assert png.startswith(b"\x89PNG")
        if drawn:
            assert png == (out / f"{name}.png").read_bytes()
    assert len(html.tables["folds"]) == N_FOLDS
    over = summary["overfitting"]
    assert html.stats["deflated_sharpe"] == over["mean_in_sample_dsr"]
    assert html.stats["pbo"] == over["mean_in_sample_pbo"]
    assert html.stats["walk_forward_efficiency"] == summary["walk_forward_efficiency"]
    assert html.metrics["total_return"] == summary["out_of_sample"]["total_return"]
    text = (out / "report.html").read_text()
    assert "Probability of backtest overfitting" in text and "4 trials tried" in text


def check_read_at_the_end(out: Path, outcomes: list[JobOutcome]) -> None:
    """The run's summary, from fold results read as each fold finished, is byte for byte what
    summarising the folds' files after the run gives (every one read then)."""
    files = ("summary.json", "equity.csv")
    written = {name: (out / name).read_bytes() for name in files}
    summarize(out, outcomes=outcomes)
    assert {name: (out / name).read_bytes() for name in files} == written
    # the run's reading thread ended with its summary
    assert not [t for t in threading.enumerate() if t.name.startswith("fold-results")]


def test_two_processes(pool_run: Path) -> None:
    summary = check_run(pool_run)
    check_read_at_the_end(pool_run, [])
    wfe = summary["walk_forward_efficiency"]
    if summary["mean_in_sample_cagr"] > 0:
        assert wfe == pytest.approx(
            summary["out_of_sample"]["cagr"] / summary["mean_in_sample_cagr"]
        )
    else:
        assert wfe is None


def test_the_report_s_stitched_curve_is_equity_csv_read_from_the_folds_files(
    pool_run: Path,
) -> None:
    """The report draws the stitched curve while the run writes equity.csv: from the folds'
    own curves, the same times and numbers."""
    summary = json.loads((pool_run / "summary.json").read_text())
    drawn = stitched_equity(pool_run, summary)
    written = read_equity(pool_run / "equity.csv")
    assert drawn.index.equals(written.index)
    assert drawn.to_numpy().tolist() == written.to_numpy().tolist()
    assert not [t for t in threading.enumerate() if t.name.startswith("equity-csv")]


def test_a_curve_that_cannot_be_written_fails_the_run_after_its_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """equity.csv is written while the report runs: the report never needs it, and a write
    that fails is the run's error once the report and report.html are saved."""

    def full(equity: pd.Series, path: str | Path, *, times: object = None) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(equity_csv, "write_equity", full)
    out = tmp_path / "run"
    with pytest.raises(OSError, match="No space left"):
        run_walk_forward(CONFIG, out, workers=1, progress=False)
    assert not (out / "equity.csv").exists()
    report = nbformat.read(out / "report.ipynb", as_version=4)
    assert not [o for c in report.cells for o in c.get("outputs", []) if o.get("ename")]
    check_html_report(out, json.loads((out / "summary.json").read_text()))


def test_a_relative_out_is_the_caller_s_folder_for_the_run_s_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative ``out`` is made absolute first: the threads that read the folds' results
    and write equity.csv run while papermill has this process in a notebook's folder (with
    ``wf`` kept relative, equity.csv went to wf/wf/ and the run failed)."""
    from workbench.research.fold_results import FoldResults

    loads: list[str] = []
    real = FoldResults._load

    def counted(self: FoldResults, name: str) -> object:
        loads.append(name)
        return real(self, name)

    monkeypatch.setattr(FoldResults, "_load", counted)
    monkeypatch.chdir(tmp_path)
    result = run_walk_forward(CONFIG, "wf", workers=1, progress=False, report_template=None)
    assert result.out == tmp_path / "wf"
    assert sorted(loads) == [f"fold_{n:03d}" for n in range(N_FOLDS)]  # each once
    assert (tmp_path / "wf" / "equity.csv").exists()


def test_dask_local_cluster_gives_the_same_results(pool_run: Path, tmp_path: Path) -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        result = run_walk_forward(
            CONFIG, tmp_path, scheduler=cluster.scheduler_address, progress=False
        )
    assert not result.failed, result.failed
    dask_summary = check_run(tmp_path)
    pool_summary = json.loads((pool_run / "summary.json").read_text())
    assert dask_summary["chosen_params"] == pool_summary["chosen_params"]
    assert dask_summary["out_of_sample"] == pytest.approx(
        pool_summary["out_of_sample"], nan_ok=True
    )


def test_a_failed_fold_is_reported_and_resumed(tmp_path: Path) -> None:
    # fold 1 fails on purpose (an unknown metric); fold 0 finishes
    broken = run_walk_forward(
        CONFIG, tmp_path, workers=2, progress=False, fold_overrides={1: {"metric": "no_such"}}
    )
    assert [o.status for o in broken.outcomes] == ["ok", "failed"]
    failed = broken.outcomes[1]
    assert failed.notebook == tmp_path / "folds" / "fold_001.ipynb" and failed.notebook.exists()
    assert "ConfigError" in failed.error and "no_such" in failed.error
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["n_failed"] == 1
    assert summary["failed"][0]["notebook"] == str(tmp_path / "folds" / "fold_001.ipynb")
    assert "no_such" in summary["failed"][0]["error"]
    assert len(summary["chosen_params"]) == 1  # the other fold still counts
    check_read_at_the_end(tmp_path, broken.outcomes)
    first = (tmp_path / "folds" / "fold_000.ipynb").stat().st_mtime_ns

    resumed = run_walk_forward(CONFIG, tmp_path, workers=2, progress=False)
    assert [o.status for o in resumed.outcomes] == ["skipped", "ok"]
    assert (tmp_path / "folds" / "fold_000.ipynb").stat().st_mtime_ns == first
    check_run(tmp_path)
    check_read_at_the_end(tmp_path, resumed.outcomes)  # fold 0 skipped: read at the end

    assert (tmp_path / "report.ipynb").exists() and (tmp_path / "equity.png").exists()
    again = run_walk_forward(CONFIG, tmp_path, progress=False, report_template=None)
    assert [o.status for o in again.outcomes] == ["skipped", "skipped"]
    # no report notebook this time: the earlier run's is not passed off as this run's
    assert not (tmp_path / "report.ipynb").exists() and not (tmp_path / "equity.png").exists()
    forced = run_walk_forward(CONFIG, tmp_path, progress=False, force=True, report_template=None)
    assert [o.status for o in forced.outcomes] == ["ok", "ok"]
    # no report notebook: the HTML report draws its figures itself
    check_html_report(tmp_path, json.loads((tmp_path / "summary.json").read_text()), drawn=False)


def test_cli_runs_resumes_and_refuses_another_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "walkforward",
        "--strategy",
        "ma_crossover",
        "--data",
        "sample:SPX",
        "--start",
        "2015-01-01",
        "--end",
        "2016-12-31",
        "--train",
        "252",
        "--test",
        "126",
        "--grid",
        "fast=10,20",
        "--grid",
        "slow=40:80:40",
        "--commission",
        "0.0005",
        "--jobs",
        "2",
        "--out",
        str(tmp_path),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "walk-forward efficiency" in out and "fold   1" in out
    assert "folds: 2 run, 0 already done (skipped), 0 failed" in out
    summary = check_run(tmp_path)
    assert summary["config"]["grid"] == {"fast": [10, 20], "slow": [40, 80]}
    assert main([*argv, "--json"]) == 0  # resumed: every fold skipped
    doc = json.loads(capsys.readouterr().out)
    assert doc["chosen_params"] == summary["chosen_params"]
    changed = [a if a != "fast=10,20" else "fast=10,30" for a in argv]
    assert main(changed) == 2
    assert "another configuration (grid)" in capsys.readouterr().err


def rerun(config: WalkForwardConfig, out: Path, *, force: bool = False) -> list[str]:
    """The folds' statuses of a run on one worker, without the report notebook."""
    result = run_walk_forward(config, out, progress=False, report_template=None, force=force)
    assert not result.failed, result.failed
    return [o.status for o in result.outcomes]


def fold_files(out: Path) -> dict[int, set[str]]:
    """The pipeline's files in folds/, by fold number."""
    folds: dict[int, set[str]] = {}
    for path in (out / "folds").iterdir():
        match = FOLD_FILE.fullmatch(path.name)
        if match is not None and path.name not in USER_FILES:
            folds.setdefault(int(match[1]), set()).add(path.name)
    return folds


def test_a_forced_run_of_fewer_folds_leaves_none_of_the_earlier_run_s_others(
    tmp_path: Path,
) -> None:
    four = dataclasses.replace(CONFIG, test=63)  # 4 folds
    assert rerun(four, tmp_path) == ["ok"] * 4
    # every file a run leaves in folds/ is one the pipeline names (what it may remove)
    assert {p.name for p in (tmp_path / "folds").iterdir()} == set().union(
        *fold_files(tmp_path).values()
    )
    assert {n: len(names) for n, names in fold_files(tmp_path).items()} == dict.fromkeys(
        range(4), FILES_PER_FOLD
    )
    for name in USER_FILES:
        (tmp_path / "folds" / name).write_text("mine\n")

    assert rerun(CONFIG, tmp_path, force=True) == ["ok"] * N_FOLDS
    assert sorted(fold_files(tmp_path)) == [0, 1]  # folds 2 and 3 were the earlier run's
    assert all(len(names) == FILES_PER_FOLD for names in fold_files(tmp_path).values())
    for name in USER_FILES:  # the user's own files stay
        assert (tmp_path / "folds" / name).read_text() == "mine\n"

    # a resume of the same configuration keeps every done fold and its files
    notebooks = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "folds").glob("*.ipynb")}
    assert rerun(CONFIG, tmp_path) == ["skipped"] * N_FOLDS
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "folds").glob("*.ipynb")} == (
        notebooks
    )


def test_a_resume_re_runs_the_folds_when_the_data_changed(tmp_path: Path) -> None:
    bars = load_bars("sample:SPX", start=CONFIG.start, end=CONFIG.end)
    data = tmp_path / "spx.csv"
    bars.to_csv(data, index_label="time")
    config = dataclasses.replace(CONFIG, data=f"csv:{data}")
    out = tmp_path / "run"
    assert rerun(config, out) == ["ok"] * N_FOLDS
    assert rerun(config, out) == ["skipped"] * N_FOLDS

    # the same bars written again, a second later: another modification time, the same data
    stat = data.stat()
    bars.to_csv(data, index_label="time")
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert rerun(config, out) == ["skipped"] * N_FOLDS

    # one close changed (to its bar's high): every fold may change (each one's test run
    # starts at the first bar)
    changed = bars.copy()
    changed.iloc[100, changed.columns.get_loc("close")] = changed["high"].iloc[100]
    changed.to_csv(data, index_label="time")
    assert rerun(config, out) == ["ok"] * N_FOLDS
    assert rerun(config, out) == ["skipped"] * N_FOLDS

    # the data now end half a year earlier: one fold, run again; the other's files are gone
    changed.iloc[:-126].to_csv(data, index_label="time")
    assert rerun(config, out) == ["ok"]
    assert sorted(fold_files(out)) == [0]


@pytest.mark.parametrize("force", [True, False])
def test_a_fold_run_again_that_fails_before_its_results_keeps_none_of_the_earlier_ones(
    tmp_path: Path, force: bool
) -> None:
    """A fold run again (forced, or resumed with other inputs: here another template) that
    fails before run_fold writes anything (its kernel gone at the start, an import that
    fails, a cell before it): the earlier run's record, sweep and equity of that fold were
    left beside this run's failed notebook, for a reader of the folder to take as this
    run's (run_fold removes them itself only once it starts)."""
    out = tmp_path / "run"
    assert rerun(CONFIG, out) == ["ok"] * N_FOLDS
    earlier = fold_files(out)
    assert all(len(names) == FILES_PER_FOLD for names in earlier.values())
    template = nbformat.read(FOLD_TEMPLATE, as_version=4)
    stop = 'if fold == 1:\n    raise RuntimeError("stopped before run_fold")'
    template.cells.insert(2, nbformat.v4.new_code_cell(stop))  # after the parameters
    broken = tmp_path / "fold.ipynb"
    nbformat.write(template, broken)

    run = run_walk_forward(
        CONFIG, out, progress=False, report_template=None, force=force, fold_template=broken
    )
    assert [o.status for o in run.outcomes] == ["ok", "failed"]
    assert "stopped before run_fold" in run.outcomes[1].error
    assert fold_files(out) == {0: earlier[0], 1: {"fold_001.ipynb"}}  # the failed notebook
    assert "stopped before run_fold" in (out / "folds" / "fold_001.ipynb").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert [f["status"] for f in summary["folds"]] == ["ok", "failed"]
