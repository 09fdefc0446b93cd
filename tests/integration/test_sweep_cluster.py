"""Sweeps spread over a Dask cluster (a 2-worker LocalCluster) equal local sweeps, bit for bit."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pandas as pd
import pytest

from workbench import sweep
from workbench.cli.main import main
from workbench.data.sources import load_bars, load_symbols
from workbench.errors import ConfigError
from workbench.research.sweep import trial_returns

GRID = {"fast": list(range(5, 51, 5)), "slow": [20, 60, 120, 200]}
COSTS = {"commission": 0.0005, "slippage": 2}


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local.scheduler_address


def _same(local: pd.DataFrame, remote: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(remote, local, check_exact=True)
    pd.testing.assert_frame_equal(trial_returns(remote), trial_returns(local), check_exact=True)
    assert remote.attrs["n_trials"] == local.attrs["n_trials"]
    assert remote.attrs["skipped"] == local.attrs["skipped"]


def test_a_sweep_on_the_cluster_equals_the_local_sweep(cluster: str) -> None:
    bars = load_bars("sample:SPX", start="2005-01-01")
    local = sweep("ma_crossover", bars, GRID, **COSTS)
    remote = sweep("ma_crossover", bars, GRID, scheduler=cluster, **COSTS)
    assert len(remote) == 33  # 40 pairs, 7 of them break fast < slow (slow 20)
    _same(local, remote)


def test_a_universe_sweep_on_the_cluster_equals_the_local_sweep(cluster: str) -> None:
    universe = load_symbols("sample:SP500?symbols=AAPL,JPM,KO,XOM", start="2016-01-01")
    grid = {"lookback": [21, 63, 126], "top_k": [1, 2]}
    local = sweep("momentum_rotation", universe, grid, benchmark="universe", **COSTS)
    remote = sweep(
        "momentum_rotation", universe, grid, benchmark="universe", scheduler=cluster, **COSTS
    )
    assert len(remote) == 6
    _same(local, remote)


def test_cli_sweep_with_a_scheduler(cluster: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["sweep", "--strategy", "ma_crossover", "--data", "sample:SPX", "--start", "2010-01-01"]
    argv += ["--grid", "fast=5:25:5", "--grid", "slow=30,60", "--json"]
    assert main(argv) == 0
    local = json.loads(capsys.readouterr().out)
    assert main([*argv, "--scheduler", cluster]) == 0
    remote = json.loads(capsys.readouterr().out)
    for doc in (local, remote):
        del doc["seconds"]
        doc.pop("cells_per_second", None)
    assert remote == local and len(remote["rows"]) == 10


def test_an_unreachable_scheduler_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("workbench.research.cluster.CONNECT_TIMEOUT", "1s")
    bars = load_bars("sample:SPX", start="2018-01-01")
    with pytest.raises(ConfigError, match="cannot reach the Dask scheduler"):
        sweep("ma_crossover", bars, {"fast": [5], "slow": [20]}, scheduler="tcp://127.0.0.1:9")
