"""The timeframe comes from the bundle: the replay feed makes minute data into the bundle's
bars (a dry run on the simulated broker fills as ``backtest --timeframe``), the run spec
is the only word on it (a bundle without a whole one is refused at start), and nothing
on the command line or in the systemd unit sets a bar length."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from workbench import backtest
from workbench.bundle import sha256_bytes, write_bundle
from workbench.cli.main import build_parser, main
from workbench.compose import LiveOptions, build_runner
from workbench.data.sources import load_symbols
from workbench.errors import ConfigError
from workbench.live.status import read_status
from workbench.runspec import RunSpec
from workbench.strategies.ma_crossover import MACrossover

SPEC = "synthetic:AAA?freq=1min&session=XNYS&start=2024-01-02&end=2024-01-31&seed=7"
PARAMS = {"fast": 2, "slow": 5, "fraction": 0.95}


def _bundle(root: Path, spec: str = SPEC):
    return write_bundle(
        root / "promoted", MACrossover(**PARAMS), data={"spec": spec, "symbols": {"AAA": {}}},
        gates=[], metrics={}, report="# t\n", run_spec=RunSpec(symbols=("AAA",), timeframe="1Day"),
    )  # fmt: skip


def _rewritten(bundle, change) -> None:
    """The bundle's manifest changed by ``change(manifest)``, its hash made to match (as an
    older workbench, or a hand, would have written it)."""
    manifest = bundle.path / "manifest.json"
    data = json.loads(manifest.read_text())
    change(data)
    text = json.dumps(data).encode()
    for name, body in (("manifest.json", text), ("manifest.sha256", sha256_bytes(text).encode())):
        (bundle.path / name).chmod(0o644)
        (bundle.path / name).write_bytes(body)


def test_a_dry_run_on_minute_data_fills_as_the_daily_backtest(tmp_path) -> None:
    bundle = _bundle(tmp_path)
    runner, _ = build_runner(
        LiveOptions(bundle=str(bundle.path), feed="replay:" + SPEC,
                    state=str(tmp_path / "live.sqlite"))
    )  # fmt: skip
    summary = runner.run()
    want = backtest(MACrossover, load_symbols(SPEC), PARAMS, timeframe="1Day")
    assert summary.bars == 21  # the sessions of January 2024
    fills = runner.state.fills()
    assert len(fills) == len(want.fills) >= 3
    assert list(pd.to_datetime(fills["time"], utc=True)) == list(want.fills["time"])
    assert list(fills["price"]) == pytest.approx(list(want.fills["price"]), rel=1e-12)
    status = read_status(tmp_path / "live.sqlite")  # what `workbench live status` shows
    assert (status["timeframe"], status["session"]) == ("1Day", "regular")


def test_the_run_spec_decides_the_timeframe(tmp_path) -> None:
    bundle = _bundle(tmp_path)
    _rewritten(bundle, lambda m: m["run_spec"].update(timeframe="1Hour"))
    runner, _ = build_runner(
        LiveOptions(bundle=str(bundle.path), feed="replay:" + SPEC, state=str(tmp_path / "s.db"))
    )
    assert runner.state.get_meta("timeframe") == "1Hour"
    runner.state.close()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda m: m.pop("run_spec"), "has no run spec"),
        (lambda m: m["run_spec"].pop("lot_size"), "missing lot_size"),
        (lambda m: m["run_spec"]["commission"].pop("minimum"), "missing commission.minimum"),
    ],
)
def test_a_bundle_without_a_whole_run_spec_is_refused_at_start(
    tmp_path, capsys, change, named
) -> None:
    bundle = _bundle(tmp_path)
    _rewritten(bundle, change)
    state = tmp_path / "live.sqlite"
    code = main(["live", "--bundle", str(bundle.path), "--state", str(state),
                 "--feed", "replay:" + SPEC])  # fmt: skip
    err = capsys.readouterr().err
    assert code == ConfigError.exit_code == 2
    assert named in err and str(bundle.path) in err
    # the fix: the promote command that makes the bundle again, run spec and all
    assert "re-promote with `workbench promote --strategy " in err
    assert f"--data {SPEC}" in err and "--param fast=2" in err
    assert not state.exists()  # refused before anything was opened


def test_no_bar_length_on_the_command_line_or_in_the_unit() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["live", "--bundle", "b", "--bar-interval", "1D"])
    unit = Path(__file__).parents[3] / "deploy" / "workbench-live@.service"
    exec_start = next(x for x in unit.read_text().splitlines() if x.startswith("ExecStart="))
    assert "--bundle ${BUNDLE}" in exec_start
    assert "interval" not in exec_start and "timeframe" not in exec_start
