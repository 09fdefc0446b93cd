"""The timeframe comes from the bundle: the replay feed makes minute data into the bundle's
bars (a dry run on the simulated broker fills as ``backtest --timeframe``), the run spec
wins over any other word on it, and nothing on the command line or in the systemd unit
sets a bar length."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from workbench import backtest
from workbench.bundle import load_bundle, write_bundle
from workbench.cli.main import build_parser
from workbench.data.sources import load_symbols
from workbench.errors import ConfigError
from workbench.live.runtime import LiveOptions, build_runner, bundle_time
from workbench.live.status import read_status
from workbench.strategies.ma_crossover import MACrossover

SPEC = "synthetic:AAA?freq=1min&session=XNYS&start=2024-01-02&end=2024-01-31&seed=7"
PARAMS = {"fast": 2, "slow": 5, "fraction": 0.95}


def _bundle(root: Path, spec: str = SPEC, run_spec: dict | None = None):
    bundle = write_bundle(
        root / "promoted", MACrossover(**PARAMS), data={"spec": spec, "symbols": {"AAA": {}}},
        gates=[], metrics={}, risk=None, report="# t\n",
        backtest={"cash": 100_000.0, "commission": None, "slippage": None},
    )  # fmt: skip
    if run_spec is not None:  # as promotion writes it
        manifest = bundle.path / "manifest.json"
        data = json.loads(manifest.read_text()) | {"run_spec": run_spec}
        manifest.chmod(0o644)
        manifest.write_text(json.dumps(data))
        return type(bundle)(bundle.path, data)
    return bundle


def test_a_dry_run_on_minute_data_fills_as_the_daily_backtest(tmp_path) -> None:
    bundle = _bundle(tmp_path)
    runner, _ = build_runner(
        LiveOptions(bundle=str(bundle.path), feed="replay:" + SPEC,
                    state=str(tmp_path / "live.sqlite"), timeframe="1Day")
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
    spec = {"timeframe": "1Hour", "session": "regular", "calendar": "XNYS"}
    bundle = _bundle(tmp_path, run_spec=spec)
    tf, session, calendar = bundle_time(bundle)
    assert (tf.name, session, calendar) == ("1Hour", "regular", "XNYS")
    with pytest.raises(ConfigError, match="trades 1Hour bars, not 1Day"):
        bundle_time(bundle, "1Day")
    # a bundle without a run spec: inferred from local research data, else refused
    assert bundle_time(_bundle(tmp_path / "old"))[0].name == "1Min"
    far = _bundle(tmp_path / "far", spec="alpaca:AAA?timeframe=1Day")
    with pytest.raises(ConfigError, match="no run spec"):
        bundle_time(load_bundle(far.path))


def test_no_bar_length_on_the_command_line_or_in_the_unit() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["live", "--bundle", "b", "--bar-interval", "1D"])
    unit = Path(__file__).parents[3] / "deploy" / "workbench-live@.service"
    exec_start = next(x for x in unit.read_text().splitlines() if x.startswith("ExecStart="))
    assert "--bundle ${BUNDLE}" in exec_start
    assert "interval" not in exec_start and "timeframe" not in exec_start
