"""Portfolio tables and plots: holdings, weights, sector exposure, correlation, benchmark."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from workbench import backtest
from workbench.backtesting import portfolio_plots as pp


@pytest.fixture(scope="module")
def result():
    return backtest(
        "momentum_rotation",
        "sample:SP500",
        params={"top_k": 4, "lookback": 126},
        start="2018-01-01",
        benchmark="universe",
    )


def test_weights_rebuild_the_accounts_holdings(result):
    w = pp.weights(result)
    # the holdings' value plus the cash is the equity at every close
    invested = (w.sum(axis=1) * result.equity).to_numpy()
    np.testing.assert_allclose(invested + result.cash, result.equity, rtol=1e-9)
    np.testing.assert_allclose(invested, result.market_value, rtol=1e-9, atol=1e-6)
    held = (w.iloc[-1] > 0).sum()
    assert held == 4
    assert 0.9 < w.iloc[-1].sum() <= 1.0


def test_sector_exposure_sums_the_weights_by_gics_sector(result):
    exposure = pp.sector_exposure(result)
    assert set(exposure.columns) <= {
        "Information Technology",
        "Financials",
        "Consumer Discretionary",
        "Energy",
        "Industrials",
        "Health Care",
        "Consumer Staples",
    }
    np.testing.assert_allclose(exposure.sum(axis=1), pp.weights(result).abs().sum(axis=1))
    mine = pp.sector_exposure(result, {s: "all" for s in result.bars})
    assert list(mine.columns) == ["all"]


def test_plots_draw_each_figure(result):
    figures = pp.portfolio_figures(result)
    assert len(figures) == 4
    top = figures[0].axes[0]
    assert len(top.lines) == 2 and top.get_yscale() == "log"
    corr = pp.holdings_correlation(result)
    assert corr.shape == (4, 4) and np.allclose(np.diag(corr), 1.0)
    assert isinstance(corr, pd.DataFrame)
    import matplotlib.pyplot as plt

    for fig in figures:
        plt.close(fig)
