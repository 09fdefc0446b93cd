"""A walk-forward over sample:SP500 (20 stocks) with papermill folds, benchmark-relative."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from workbench.backtesting.benchmark import relative_metrics
from workbench.data.bars import periods_per_year
from workbench.data.sources import load_symbols
from workbench.research.walkforward import WalkForwardConfig, run_walk_forward

pytestmark = pytest.mark.slow

CONFIG = WalkForwardConfig(
    strategy="momentum_rotation",
    data="sample:SP500",
    train=504,
    test=252,
    grid={"lookback": [63, 126], "top_k": [3, 5]},
    params={"skip": 5},
    start="2016-01-01",
    end="2022-12-31",
    commission=0.0005,
    benchmark="sample:SP500_INDEX",
)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wf_sp500")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MPLBACKEND", "Agg")
        result = run_walk_forward(CONFIG, out, workers=2, progress=False)
    assert not result.failed, result.failed
    return out


def test_walk_forward_over_the_universe_has_benchmark_relative_figures(run):
    summary = json.loads((run / "summary.json").read_text())
    assert summary["n_folds"] == 4 and summary["n_failed"] == 0
    for fold in summary["folds"]:
        nb = nbformat.read(run / "folds" / f"fold_{fold['fold']:03d}.ipynb", as_version=4)
        assert nb.metadata["papermill"]["parameters"]["data"] == "sample:SP500"
        oos = fold["out_of_sample"]
        assert oos["number_of_trades"] > 3
        for key in ("excess_return", "alpha", "beta", "tracking_error", "information_ratio"):
            assert np.isfinite(oos[key]), (fold["fold"], key)
        sweep = pd.read_csv(run / "folds" / f"fold_{fold['fold']:03d}_sweep.csv")
        assert len(sweep) == 4 and {"lookback", "top_k", "sharpe"} <= set(sweep.columns)
    oos = summary["out_of_sample"]
    # the summary's figures are the stitched curve's against the index held over its span
    equity = pd.read_csv(run / "equity.csv", index_col=0, parse_dates=True)["equity"]
    equity.index = (
        pd.DatetimeIndex(equity.index, tz="UTC") if equity.index.tz is None else (equity.index)
    )
    index = load_symbols("sample:SP500_INDEX")["SP500_INDEX"]["close"]
    bench = index.reindex(equity.index)
    expected = relative_metrics(equity, bench, periods_per_year(equity.index))
    for key in ("excess_return", "alpha", "beta", "tracking_error", "information_ratio"):
        assert oos[key] == pytest.approx(expected[key], rel=1e-9), key
    assert 0.3 < oos["beta"] < 1.5
    assert oos["benchmark_return"] == pytest.approx(bench.iloc[-1] / bench.iloc[0] - 1)
