"""Benchmark-relative figures: hand-computed from their published definitions."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from workbench import backtest
from workbench.backtesting.benchmark import (
    RELATIVE_METRICS,
    benchmark_equity,
    load_benchmark,
    relative_metrics,
)
from workbench.context import Context
from workbench.data.sources import load_symbols
from workbench.errors import ConfigError, DataError, DataSourceError
from workbench.strategy import Strategy


def test_figures_by_hand() -> None:
    e = np.array([100.0, 102.0, 101.0, 104.0, 103.0])
    b = np.array([100.0, 101.0, 101.5, 102.0, 101.0])
    out = relative_metrics(e, b, 252)
    r, m = e[1:] / e[:-1] - 1, b[1:] / b[:-1] - 1
    beta = np.cov(r, m)[0, 1] / np.var(m, ddof=1)
    active = r - m
    assert out["excess_return"] == pytest.approx(0.03 - 0.01)
    assert out["benchmark_return"] == pytest.approx(0.01)
    assert out["beta"] == pytest.approx(beta)
    assert out["alpha"] == pytest.approx((r.mean() - beta * m.mean()) * 252)
    assert out["tracking_error"] == pytest.approx(np.std(active, ddof=1) * math.sqrt(252))
    # annualised: the per-bar ratio of empyrical / vectorbt / quantstats times sqrt(252)
    per_bar = active.mean() / np.std(active, ddof=1)
    assert out["information_ratio"] == pytest.approx(per_bar * math.sqrt(252))
    assert out["correlation"] == pytest.approx(np.corrcoef(r, m)[0, 1])


def test_total_returns_are_defined_from_one_bar_on() -> None:
    """Two bars have total returns (compute_metrics reports one), but no sample statistics."""
    two = relative_metrics(np.array([100.0, 110.0]), np.array([100.0, 105.0]), 252)
    assert two["excess_return"] == pytest.approx(0.05)
    assert two["benchmark_return"] == pytest.approx(0.05)
    one = relative_metrics(np.array([100.0]), np.array([100.0]), 252)
    assert one["excess_return"] == 0 and one["benchmark_return"] == 0
    for out in (two, one):
        for key in RELATIVE_METRICS[2:]:
            assert math.isnan(out[key]), key


def test_a_flat_benchmark_has_no_beta_but_a_tracking_error() -> None:
    e = np.array([100.0, 101.0, 100.0, 102.0])
    out = relative_metrics(e, np.full(4, 100.0), 252)
    assert math.isnan(out["beta"]) and math.isnan(out["alpha"]) and math.isnan(out["correlation"])
    r = e[1:] / e[:-1] - 1
    assert out["tracking_error"] == pytest.approx(np.std(r, ddof=1) * math.sqrt(252))


def test_a_series_or_a_bars_frame_is_a_benchmark_rebased_to_the_cash() -> None:
    """The documented benchmark inputs besides specs: a price series and a bars frame
    (their closes), carried over bars they lack and rebased to the run's starting equity.
    Comparing either with "universe" raised pandas' "truth value is ambiguous"."""
    import pandas as pd

    from workbench.backtesting.api import backtest
    from workbench.backtesting.benchmark import benchmark_equity
    from workbench.data.synthetic import synthetic_bars

    bars = synthetic_bars(120, freq="1D", seed=3)
    index = bars.index
    prices = pd.Series(50.0 + np.arange(60.0), index=index[::2])  # every other bar
    expected = 1_000.0 * prices.reindex(index).ffill() / 50.0
    for given in (prices, pd.DataFrame({"close": prices})):
        curve = benchmark_equity(given, {"X": bars}, index, 1_000.0)
        assert curve.to_numpy() == pytest.approx(expected.to_numpy())
    result = backtest("ma_crossover", bars, {"fast": 5, "slow": 20}, benchmark=bars["close"])
    growth = bars["close"] / bars["close"].iloc[0]
    assert result.benchmark.to_numpy() == pytest.approx(100_000.0 * growth.to_numpy())
    by_hand = relative_metrics(result.equity, result.benchmark, 365)
    assert {k: result.metrics[k] for k in RELATIVE_METRICS} == pytest.approx(by_hand)


def test_a_daily_benchmark_of_an_intraday_run_counts_each_close_from_its_days_end() -> None:
    """A daily bar is labelled 00:00 UTC of its date and closes at the session's close: an
    hourly run's bars of that date must not see that close yet (they showed it from 00:00,
    at the session's open a close hours ahead), but the day before's. Daily runs are
    aligned on the labels as before."""
    import pandas as pd

    from workbench.backtesting.benchmark import benchmark_equity

    days = pd.date_range("2024-01-02", periods=4, freq="D", tz="UTC")
    daily = pd.DataFrame({"close": [100.0, 110.0, 100.0, 130.0]}, index=days)
    hours = [pd.date_range(d + pd.Timedelta(hours=14), periods=7, freq="1h") for d in days[1:]]
    intraday = hours[0].append(hours[1:])
    closes_known = np.repeat([100.0, 110.0, 100.0], 7)  # each day's bars: the day before's
    for given in (daily, daily["close"]):
        curve = benchmark_equity(given, {}, intraday, 1_000.0)
        assert curve.to_numpy() == pytest.approx(1_000.0 * closes_known / 100.0)
        on_days = benchmark_equity(given, {}, days[1:], 1_000.0)
        assert on_days.to_numpy() == pytest.approx([1_000.0, 1_000.0 / 1.1, 1_300.0 / 1.1])
    # a close is seen from the first bar after its day: 23:00 UTC on an around-the-clock run
    clock = pd.date_range("2024-01-03", periods=48, freq="1h", tz="UTC")
    seen = benchmark_equity(daily, {}, clock, 100.0)
    assert seen.to_numpy() == pytest.approx(np.repeat([100.0, 110.0, 100.0], [23, 24, 1]))


class CountsBars(Strategy):
    """Never trades; counts the bars it was shown."""

    name = "counts_bars"
    seen = 0

    def on_bar(self, ctx: Context) -> None:
        type(self).seen += 1


@pytest.mark.parametrize(
    ("benchmark", "error", "message"),
    [
        ("sample:NOPE", DataSourceError, "unknown sample 'NOPE'"),
        ("nosuch:X", DataSourceError, "unknown source 'nosuch:'"),
        ("synthetic:B?bars=50&freq=1D&start=1990-01-01", DataError, "no bars between"),
        (7, ConfigError, "benchmark must be a spec, a series or 'universe', got int"),
    ],
    ids=["unknown-sample", "unknown-source", "no-data-then", "not-a-benchmark"],
)
def test_a_benchmark_that_cannot_be_had_is_refused_before_the_run(
    benchmark: object, error: type[Exception], message: str
) -> None:
    CountsBars.seen = 0
    with pytest.raises(error, match=re.escape(message)):
        backtest(CountsBars, "synthetic:T?bars=120&freq=1D&seed=3", benchmark=benchmark)
    assert CountsBars.seen == 0  # the whole backtest ran first, then the benchmark failed
    backtest(CountsBars, "synthetic:T?bars=120&freq=1D&seed=3", benchmark="universe")
    assert CountsBars.seen == 120


@pytest.mark.parametrize(
    ("data", "spec", "timeframe"),
    [
        ("synthetic:T?bars=300&freq=1D&seed=3",  # a benchmark made from the range read
         "synthetic:B?symbols=3&bars=400&freq=1D&seed=5", None),
        ("synthetic:T?freq=1min&session=XNYS&start=2024-01-02&end=2024-02-09&seed=3",
         "synthetic:B?symbols=2&bars=120&freq=1D&start=2023-12-20&seed=5", "1Day"),
    ],
    ids=["daily", "minutes-as-days"],
)  # fmt: skip
def test_a_benchmark_read_before_the_run_is_the_one_read_after_it(
    data: str, spec: str, timeframe: str | None
) -> None:
    """The bars' own range when the run does not resample them; else more days, then cut
    to the run's: the same closes, the same first close of each symbol of an equal-weight
    benchmark."""
    bars = load_symbols(data)
    result = backtest("ma_crossover", bars, {"fast": 5, "slow": 20}, timeframe=timeframe)
    index, cash = result.equity.index, float(result.equity.iloc[0])
    read_after = benchmark_equity(spec, result.bars, index, cash)
    loaded = load_benchmark(spec, bars, resampled=timeframe is not None)
    read_before = benchmark_equity(loaded, result.bars, index, cash)
    pd.testing.assert_series_equal(read_before, read_after)
    assert backtest(
        "ma_crossover", bars, {"fast": 5, "slow": 20}, timeframe=timeframe, benchmark=spec
    ).metrics["benchmark_return"] == pytest.approx(read_after.iloc[-1] / cash - 1, rel=1e-12)
