"""`workbench batch`: one template over a YAML list of parameter sets, with failures and resume."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from workbench.cli.main import main
from workbench.errors import ConfigError
from workbench.reports.read import read_report
from workbench.research.batch import load_parameter_sets, run_batch
from workbench.resources import template_path

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "workbench" / "templates" / "backtest_run.ipynb"
EXAMPLE = ROOT / "pipelines" / "examples" / "strategies_by_symbol.yaml"


@pytest.fixture(autouse=True)
def _agg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")


def write(path: Path, doc: object) -> Path:
    path.write_text(yaml.safe_dump(doc))
    return path


def test_the_example_file_expands_to_strategies_by_symbols() -> None:
    template, sets = load_parameter_sets(EXAMPLE)
    assert template == "backtest_run.ipynb" and template_path(template) == TEMPLATE
    assert [s["name"] for s in sets] == ["run_000", "run_001", "run_002", "run_003"]
    assert [(s["parameters"]["data"], s["parameters"]["params"]["fast"]) for s in sets] == [
        ("sample:SPX", 20),
        ("sample:SPX", 50),
        ("sample:NASDAQ", 20),
        ("sample:NASDAQ", 50),
    ]
    assert all(s["parameters"]["strategy"] == "ma_crossover" for s in sets)


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ([], "no parameter sets"),
        ({"runs": [{"name": "a"}, {"name": "a"}]}, "duplicated run name"),
        ({"runs": [{"name": "a b"}]}, "letters, digits"),
        ({"product": {"data": []}}, "non-empty list"),
        ({"sets": []}, "unknown key"),
        ("just text", "expected a list"),
        ({"runs": [3]}, "expected a mapping"),
    ],
)
def test_bad_parameter_files(tmp_path: Path, doc: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_parameter_sets(write(tmp_path / "sets.yaml", doc))


def test_broken_yaml_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("runs: [\n  - {a: 1\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_parameter_sets(tmp_path / "bad.yaml")


def test_unknown_template_parameters_are_refused(tmp_path: Path) -> None:
    sets = write(tmp_path / "sets.yaml", {"runs": [{"strategy": "ma_crossover", "fats": 3}]})
    with pytest.raises(ConfigError, match="has no parameter"):
        run_batch(sets, tmp_path / "out", template=TEMPLATE, progress=False)


def test_batch_runs_in_parallel_reports_a_failure_and_resumes(tmp_path: Path) -> None:
    doc = {
        "template": str(TEMPLATE),
        "parameters": {"strategy": "ma_crossover", "start": "2010-01-01", "end": "2012-12-31"},
        "runs": [
            {"name": "spx", "data": "sample:SPX", "params": {"fast": 20, "slow": 100}},
            {"name": "nasdaq", "data": "sample:NASDAQ", "params": {"fast": 20, "slow": 100}},
            {"name": "broken", "data": "sample:SPX", "params": {"fast": 200, "slow": 100}},
        ],
    }
    sets = write(tmp_path / "sets.yaml", doc)
    out = tmp_path / "out"
    outcomes = run_batch(sets, out, workers=2, progress=False)
    assert [o.status for o in outcomes] == ["ok", "ok", "failed"]
    assert outcomes[2].notebook == out / "broken.ipynb" and outcomes[2].notebook.exists()
    assert "ParameterError" in outcomes[2].error and "fast < slow" in outcomes[2].error
    for name, symbol in (("spx", "SPX"), ("nasdaq", "NASDAQ")):
        metrics = json.loads((out / name / "metrics.json").read_text())
        assert metrics["params"]["fast"] == 20
        nb = nbformat.read(out / f"{name}.ipynb", as_version=4)
        assert nb.metadata["papermill"]["parameters"]["data"] == f"sample:{symbol}"
    summary = json.loads((out / "batch.json").read_text())
    assert [r["status"] for r in summary["runs"]] == ["ok", "ok", "failed"]
    # batch.csv: every run's key metrics, equal to its metrics.json; the index report links them
    table = pd.read_csv(out / "batch.csv")
    assert list(table["name"]) == ["spx", "nasdaq", "broken"]
    for name in ("spx", "nasdaq"):
        metrics = json.loads((out / name / "metrics.json").read_text())["metrics"]
        row = table.set_index("name").loc[name]
        for key in ("sharpe", "total_return", "max_drawdown", "number_of_trades"):
            assert row[key] == pytest.approx(metrics[key])
    assert row["params.fast"] == 20 and row["data"] == "sample:NASDAQ"
    assert table.set_index("name").loc["broken", "status"] == "failed"
    index = read_report(out / "report.html")
    assert index.kind == "batch" and index.external == [] and "comparison" in index.figures
    assert (out / "comparison.png").read_bytes() == index.figures["comparison"]
    assert "spx/report.html" in index.links and "nasdaq.ipynb" in index.links
    assert read_report(out / "spx" / "report.html").kind == "backtest"

    # fix the broken set and run the same command again: only it runs
    doc["runs"][2]["params"] = {"fast": 50, "slow": 100}
    write(sets, doc)
    again = run_batch(sets, out, workers=2, progress=False)
    assert [o.status for o in again] == ["skipped", "skipped", "ok"]


def test_cli_batch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sets = write(
        tmp_path / "sets.yaml",
        [
            {
                "name": "one",
                "data": "sample:SPX",
                "start": "2015-01-01",
                "params": {"fast": 10, "slow": 30},
            }
        ],
    )
    argv = ["batch", str(sets), "--notebook", str(TEMPLATE), "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    assert "ok       one" in capsys.readouterr().out
    assert main(argv) == 0
    assert "skipped  one" in capsys.readouterr().out
    assert main([*argv[:2], "--out", str(tmp_path / "x")]) == 2  # no notebook given anywhere
    assert "no notebook" in capsys.readouterr().err
