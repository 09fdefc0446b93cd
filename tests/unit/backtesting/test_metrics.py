"""Metrics: hand-computed expectations on tiny curves and trade lists."""

from __future__ import annotations

import math
import statistics
import warnings

import numpy as np
import pandas as pd
import pytest

from workbench.backtesting.metrics import METRICS, compute_metrics, drawdown
from workbench.errors import ConfigError, DataError


def curve(values: list[float], freq: str = "D", start: str = "2024-01-01") -> pd.Series:
    index = pd.date_range(start, periods=len(values), freq=freq, tz="UTC")
    return pd.Series(values, index=index, dtype=float)


def trades_frame(pnl: list[float], entry_price: list[float], quantity: list[float]) -> pd.DataFrame:
    times = pd.date_range("2024-01-01", periods=len(pnl), freq="D", tz="UTC")
    return pd.DataFrame(
        {
            "entry_time": times,
            "exit_time": times + pd.Timedelta(hours=6),
            "entry_price": entry_price,
            "exit_price": entry_price,
            "quantity": quantity,
            "pnl": pnl,
            "fees": [0.0] * len(pnl),
        }
    )


def test_small_curve_by_hand() -> None:
    equity = curve([100, 110, 99, 120])
    m = compute_metrics(equity, periods_per_year=252)
    r = [110 / 100 - 1, 99 / 110 - 1, 120 / 99 - 1]
    assert list(m) == list(METRICS) and all(isinstance(v, float) for v in m.values())
    assert m["start_equity"] == 100 and m["final_equity"] == 120
    assert m["total_return"] == pytest.approx(0.2)
    assert m["max_drawdown"] == pytest.approx(-0.1)  # 110 -> 99
    assert m["max_drawdown_duration_bars"] == 2  # the peak at bar 1 is regained at bar 3
    assert m["max_drawdown_duration_days"] == 2
    assert m["annual_volatility"] == pytest.approx(statistics.stdev(r) * math.sqrt(252))
    sharpe = statistics.mean(r) / statistics.stdev(r) * math.sqrt(252)
    assert m["sharpe"] == pytest.approx(sharpe)
    downside = math.sqrt((0.0 + (99 / 110 - 1) ** 2 + 0.0) / 3)
    assert m["sortino"] == pytest.approx(statistics.mean(r) / downside * math.sqrt(252))
    years = 3 / 365.25
    assert m["cagr"] == pytest.approx(1.2 ** (1 / years) - 1)
    assert m["calmar"] == pytest.approx(m["cagr"] / 0.1)


def test_risk_free_rate_is_annual_and_compounded_per_bar() -> None:
    equity = curve([100, 110, 99, 120])
    m = compute_metrics(equity, periods_per_year=252, risk_free=0.05)
    r = np.array([110 / 100 - 1, 99 / 110 - 1, 120 / 99 - 1])
    rf = 1.05 ** (1 / 252) - 1
    assert m["sharpe"] == pytest.approx(np.mean(r - rf) / np.std(r, ddof=1) * math.sqrt(252))
    downside = math.sqrt(np.mean(np.minimum(r - rf, 0) ** 2))
    assert m["sortino"] == pytest.approx(np.mean(r - rf) / downside * math.sqrt(252))


def test_drawdown_series() -> None:
    dd = drawdown(curve([100, 110, 99, 120, 60]))
    np.testing.assert_allclose(dd.to_numpy(), [0, 0, -0.1, 0, -0.5])
    assert (dd <= 0).all()


def test_unrecovered_drawdown_runs_to_the_end() -> None:
    m = compute_metrics(curve([100, 120, 90, 100, 110]), periods_per_year=252)
    assert m["max_drawdown"] == pytest.approx(-0.25)
    assert m["max_drawdown_duration_bars"] == 3  # peak at bar 1, still below at bar 4


def test_duration_in_bars_and_in_days_are_each_the_longest() -> None:
    # episode 1: bars 0 -> 2 over 31 days; episode 2: bars 3 -> 8 over 5 days
    days = [0, 30, 31, 32, 33, 34, 35, 36, 37]
    index = pd.DatetimeIndex(
        [pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=d) for d in days]
    )
    equity = pd.Series([100, 90, 100, 101, 95, 96, 97, 98, 102], index=index, dtype=float)
    m = compute_metrics(equity, periods_per_year=252)
    assert m["max_drawdown_duration_bars"] == 5
    assert m["max_drawdown_duration_days"] == 31


def test_trade_statistics_by_hand() -> None:
    trades = trades_frame(
        pnl=[10, -5, 20, -15, 0],
        entry_price=[100, 50, 200, 10, 10],
        quantity=[1, 2, -1, 3, 1],
    )
    m = compute_metrics(curve([100, 101, 102]), trades, periods_per_year=252)
    assert m["number_of_trades"] == 5
    assert m["win_rate"] == pytest.approx(2 / 5)  # a zero pnl is not a win
    assert m["profit_factor"] == pytest.approx(30 / 20)
    assert m["average_trade"] == pytest.approx(10 / 5)
    assert m["average_trade_return"] == pytest.approx((0.1 - 0.05 + 0.1 - 0.5 + 0.0) / 5)


def test_profit_factor_edges() -> None:
    equity = curve([100, 101, 102])
    only_wins = compute_metrics(equity, trades_frame([5, 1], [10, 10], [1, 1]))
    assert only_wins["profit_factor"] == math.inf
    only_losses = compute_metrics(equity, trades_frame([-5, -1], [10, 10], [1, 1]))
    assert only_losses["profit_factor"] == 0.0 and only_losses["win_rate"] == 0.0
    scratch = compute_metrics(equity, trades_frame([0.0], [10], [1]))
    assert math.isnan(scratch["profit_factor"])


@pytest.mark.parametrize("trades", [None, trades_frame([], [], [])], ids=["none", "empty"])
def test_no_trades_gives_nan_not_an_error(trades: pd.DataFrame | None) -> None:
    m = compute_metrics(curve([100, 105, 103]), trades, periods_per_year=252)
    assert m["number_of_trades"] == 0
    for key in ("win_rate", "profit_factor", "average_trade", "average_trade_return"):
        assert math.isnan(m[key]), key


def test_flat_equity_gives_nan_ratios_not_inf() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division-by-zero warnings either
        m = compute_metrics(curve([100.0] * 10), trades_frame([], [], []))
    assert m["total_return"] == 0 and m["cagr"] == 0
    assert m["annual_volatility"] == 0 and m["max_drawdown"] == 0
    assert m["max_drawdown_duration_bars"] == 0 and m["max_drawdown_duration_days"] == 0
    for key in ("sharpe", "sortino", "calmar"):
        assert math.isnan(m[key]), key


def test_only_gains_have_no_downside_so_sortino_is_nan() -> None:
    m = compute_metrics(curve([100, 101, 103, 104]), periods_per_year=252)
    assert m["sharpe"] > 0 and math.isnan(m["sortino"]) and math.isnan(m["calmar"])


def test_single_bar_and_blow_up_do_not_raise() -> None:
    one = compute_metrics(curve([100.0]))
    assert one["total_return"] == 0 and math.isnan(one["sharpe"]) and math.isnan(one["cagr"])
    gone = compute_metrics(curve([100, 50, 0]), periods_per_year=252)
    assert gone["cagr"] == -1 and gone["max_drawdown"] == -1


def test_annualisation_follows_the_bar_frequency() -> None:
    def expected_volatility(equity: pd.Series, ppy: float) -> float:
        values = equity.to_numpy()
        return float(np.std(values[1:] / values[:-1] - 1, ddof=1) * math.sqrt(ppy))

    rng = np.random.default_rng(0)
    values = 100 * np.cumprod(1 + rng.normal(0, 0.01, 1440 * 3))
    daily = curve(list(values[:300]), freq="B")
    assert compute_metrics(daily)["annual_volatility"] == pytest.approx(
        expected_volatility(daily, 252)
    )
    # 390 one-minute bars a day on three weekdays: an exchange session, 390 * 252 bars a year
    days = pd.date_range("2024-01-02 14:30", periods=3, freq="D", tz="UTC")
    session = pd.DatetimeIndex([t for d in days for t in pd.date_range(d, periods=390, freq="min")])
    minutes = pd.Series(values[: 390 * 3], index=session)
    assert compute_metrics(minutes)["annual_volatility"] == pytest.approx(
        expected_volatility(minutes, 390 * 252)
    )
    # minute bars around the clock, weekend included (crypto): 1440 * 365 bars a year
    around = curve(list(values), freq="min", start="2024-01-06")
    assert compute_metrics(around)["annual_volatility"] == pytest.approx(
        expected_volatility(around, 1440 * 365)
    )


def test_exposure_and_turnover() -> None:
    equity = curve([100.0, 100.0, 100.0, 100.0])
    held = pd.Series([True, False, True, True], index=equity.index)
    m = compute_metrics(equity, exposure=held, turnover_notional=400.0, periods_per_year=252)
    assert m["exposure"] == pytest.approx(0.75)
    assert m["turnover"] == pytest.approx(400 / 100 * 252 / 4)  # 4x the equity in 4 of 252 bars
    positions = pd.Series([0.0, 1.5, -2.0, 0.0], index=equity.index)
    assert compute_metrics(equity, exposure=positions)["exposure"] == pytest.approx(0.5)
    assert math.isnan(compute_metrics(equity)["turnover"])


@pytest.mark.parametrize(
    ("equity", "match"),
    [
        (pd.Series([100.0, 101.0]), "DatetimeIndex"),
        (pd.Series([100.0, 101.0], index=pd.date_range("2024-01-01", periods=2)), "naive"),
        (curve([]), "empty"),
        (curve([100.0, math.nan, 101.0]), "NaN"),
    ],
)
def test_malformed_equity_is_a_data_error(equity: pd.Series, match: str) -> None:
    with pytest.raises(DataError, match=match):
        compute_metrics(equity)


def test_bad_arguments() -> None:
    equity = curve([100.0, 101.0, 102.0])
    with pytest.raises(DataError, match="missing column"):
        compute_metrics(equity, pd.DataFrame({"pnl": [1.0]}))
    with pytest.raises(ConfigError, match="periods_per_year"):
        compute_metrics(equity, periods_per_year=0)
    with pytest.raises(ConfigError, match="risk_free"):
        compute_metrics(equity, risk_free=math.nan)


def test_underwater_spans_match_every_bar_spelled_out() -> None:
    """The longest spans, from runs, equal the longest over every underwater bar and every
    recovery bar measured from the last bar at a high (the definition, written slowly)."""
    import numpy as np
    import pandas as pd

    from workbench.backtesting.metrics import _underwater_spans

    rng = np.random.default_rng(3)
    for trial in range(60):
        n = int(rng.integers(2, 400))
        values = 100.0 + np.cumsum(rng.normal(0.0, 1.0, n)).round(1)
        index = pd.DatetimeIndex(np.sort(rng.choice(10 * n, n, replace=False)) * 3_600e9)
        index = index.tz_localize("UTC")
        high, last_high, best_bars, best_days = -np.inf, 0, 0.0, 0.0
        for i, v in enumerate(values):
            if v >= high:
                if i and values[i - 1] < high:  # a recovery bar ends the span
                    best_bars = max(best_bars, i - last_high)
                    best_days = max(best_days, (index[i] - index[last_high]) / pd.Timedelta(days=1))
                high, last_high = v, i
            else:
                best_bars = max(best_bars, i - last_high)
                best_days = max(best_days, (index[i] - index[last_high]) / pd.Timedelta(days=1))
        assert _underwater_spans(values, index) == (best_bars, best_days), trial


def test_periods_per_year_from_day_numbers_is_the_grouped_count() -> None:
    """A UTC index in order is counted from day numbers; the same figure as grouping by
    calendar day (every day, or sessions with missing bars, from any weekday)."""
    import numpy as np
    import pandas as pd

    from workbench.data.bars import periods_per_year

    def grouped(index: pd.DatetimeIndex) -> float:
        per_day = pd.Series(1, index=index).groupby(index.normalize()).size()
        trading = per_day[per_day >= per_day.median() / 2]  # not a session's tail
        days = set(per_day.index.day_of_week)
        weekend = {5, 6} <= days or bool((trading.index.day_of_week >= 5).any())
        return float(per_day.median()) * (365.0 if weekend else 252.0)

    rng = np.random.default_rng(5)
    for freq in ("1min", "30min", "4h"):
        for start in ("2024-01-01", "2024-01-06 13:00"):
            every = pd.date_range(start, periods=3_000, freq=freq, tz="UTC")
            hours = every.hour
            session = every[(every.day_of_week < 5) & (hours >= 14) & (hours < 21)]
            for index in (every, session):
                gappy = index.delete(np.sort(rng.choice(len(index), len(index) // 3, False)))
                for i in (index, gappy):
                    assert periods_per_year(i) == grouped(i), (freq, start)


def test_bar_interval_is_the_most_common_positive_spacing() -> None:
    """Evenly spaced or not, the bar length is the most common step between bars (the
    smallest of equally common ones); repeated timestamps are no step; the index's own
    frequency wins when it has one."""
    import numpy as np
    import pandas as pd

    from workbench.data.bars import bar_interval
    from workbench.errors import DataError

    def counted(index: pd.DatetimeIndex) -> pd.Timedelta:
        steps = pd.Series(np.diff(index.asi8))
        counts = steps[steps > 0].value_counts()
        return pd.Timedelta(int(counts[counts == counts.max()].index.min()), unit=index.unit)

    every = pd.date_range("2024-01-05", periods=500, freq="1min", tz="UTC")
    plain = pd.DatetimeIndex(every.as_unit("ns").asi8.astype("datetime64[ns]")).tz_localize("UTC")
    assert plain.freq is None and bar_interval(plain) == pd.Timedelta(minutes=1)
    assert bar_interval(every[[0, 3]].as_unit("s")) == pd.Timedelta(minutes=3)
    rng = np.random.default_rng(3)
    for _ in range(20):
        gappy = plain.delete(np.sort(rng.choice(len(plain), 300, replace=False)))
        doubled = gappy.append(gappy[rng.choice(len(gappy), 5)]).sort_values()
        for index in (gappy, doubled, gappy.as_unit("us")):
            assert bar_interval(index) == counted(index)
    tie = pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-01 00:02", "2024-01-01 00:03"], tz="UTC")
    assert bar_interval(tie) == pd.Timedelta(minutes=1)
    assert bar_interval(pd.date_range("2024-01-01", periods=3, freq="D", tz="UTC")) == pd.Timedelta(
        days=1
    )
    with pytest.raises(DataError, match="all timestamps are equal"):
        bar_interval(pd.DatetimeIndex(["2024-01-01"] * 3, tz="UTC"))


def test_an_even_step_is_found_chunk_by_chunk_and_one_uneven_step_anywhere_breaks_it() -> None:
    import numpy as np

    from workbench.data.bars import _even_step

    ns = np.arange(100, dtype=np.int64) * 60
    for chunk in (1, 2, 7, 99, 100, 1 << 16):
        assert _even_step(ns, chunk) == 60
    for k in range(1, 100):
        uneven = ns.copy()
        uneven[k:] += 1
        for chunk in (1, 7, 1 << 16):
            assert _even_step(uneven, chunk) is None, (k, chunk)
    assert _even_step(ns[::-1].copy()) is None


def test_daily_bars_every_day_annualise_with_365_like_intraday_bars_of_the_same_market() -> None:
    """Daily bars that include weekends (crypto, synthetic data) have 365 returns a year, as
    their hourly bars have 24 * 365 (vectorbt's year of 365 days); exchange days stay 252."""
    from workbench.data.bars import periods_per_year
    from workbench.data.synthetic import synthetic_bars

    every_day = pd.date_range("2024-01-01", periods=30, freq="D", tz="UTC")
    assert periods_per_year(every_day) == 365.0
    assert periods_per_year(pd.bdate_range("2024-01-01", periods=30, tz="UTC")) == 252.0
    # a 20% annual volatility market measures 20% from its daily and its hourly bars
    daily = synthetic_bars(20_000, freq="1D", seed=1, vol=0.2)["close"]
    hourly = synthetic_bars(200_000, freq="1h", seed=1, vol=0.2)["close"]
    assert compute_metrics(daily)["annual_volatility"] == pytest.approx(0.2, rel=0.02)
    assert compute_metrics(hourly)["annual_volatility"] == pytest.approx(0.2, rel=0.02)


def test_a_scratch_array_gives_the_same_metrics_and_is_written_over() -> None:
    """``scratch=``: the temporaries go to the caller's array (a backtest's market value,
    filled after), and every metric is the one computed without it, to the bit."""
    rng = np.random.default_rng(3)
    for size, risk_free in ((2, 0.0), (3, 0.0), (500, 0.0), (5_000, 0.03)):
        values = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, size)))
        equity = curve(list(values), freq="min")
        scratch = np.full(size, -1.0)
        kept = equity.copy()
        plain = compute_metrics(equity, risk_free=risk_free)
        with_scratch = compute_metrics(equity, risk_free=risk_free, scratch=scratch)
        assert list(with_scratch) == list(plain)
        for key, value in plain.items():
            other = with_scratch[key]
            assert value == other or (math.isnan(value) and math.isnan(other)), (size, key)
        assert not (scratch == -1.0).all()  # used, not copied
        pd.testing.assert_series_equal(equity, kept)  # the equity is left alone


def test_a_bad_scratch_array_is_refused() -> None:
    equity = curve([100.0, 101.0, 99.0])
    for bad in (np.empty(2), np.empty(3, dtype=np.float32), np.empty(6)[::2], [0.0] * 3):
        with pytest.raises(ConfigError, match="scratch must be"):
            compute_metrics(equity, scratch=bad)  # type: ignore[arg-type]
    values = np.array([100.0, 101.0, 99.0])
    own = pd.Series(values, index=equity.index, copy=False)  # the equity in `values`
    with pytest.raises(ConfigError, match="shares memory with the equity"):
        compute_metrics(own, scratch=values)


def test_the_in_place_standard_deviation_is_numpys_to_the_bit() -> None:
    """The volatility and Sharpe ratio use np.std(returns, ddof=1) made in the returns' own
    memory (no fresh curve-sized array): the same steps, so the same bits, at every size
    (numpy's pairwise sum splits at 8 and 128 values) and scale."""
    from workbench.backtesting.metrics import _sample_std_in_place

    rng = np.random.default_rng(11)
    for size in (2, 3, 7, 8, 9, 127, 128, 129, 1_000, 12_345, 300_001):
        for scale in (1e-6, 1.0, 1e6):
            x = rng.normal(scale * 10, scale, size)
            assert _sample_std_in_place(x.copy()) == float(np.std(x, ddof=1)), (size, scale)
