"""PSR, DSR and PBO against values computed here from the papers' formulas."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm, rankdata

from workbench.errors import ConfigError, DataError
from workbench.research.overfitting import (
    EULER_GAMMA,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    overfitting_report,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    return_moments,
)


def psr_by_hand(sr: float, sr_star: float, n: int, skew: float, kurt: float) -> float:
    """Bailey and Lopez de Prado (2012), eq. 11."""
    return norm.cdf(
        (sr - sr_star) * math.sqrt(n - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    )


@pytest.mark.parametrize(
    ("sr", "sr_star", "n", "skew", "kurt"),
    [
        (0.1, 0.0, 250, -0.5, 4.0),  # the brief's case
        (0.1, 0.05, 250, -0.5, 4.0),
        (0.05, 0.0, 1000, 0.0, 3.0),  # normal returns
        (-0.02, 0.0, 500, 1.0, 6.0),
        (0.2, 0.1, 60, -2.0, 12.0),
    ],
)
def test_psr_matches_the_formula(
    sr: float, sr_star: float, n: int, skew: float, kurt: float
) -> None:
    assert probabilistic_sharpe_ratio(sr, sr_star, n, skew, kurt) == pytest.approx(
        psr_by_hand(sr, sr_star, n, skew, kurt), rel=1e-12
    )


def test_psr_brief_case_by_hand() -> None:
    # z = 0.1 * sqrt(249) / sqrt(1 + 0.05 + 0.75 * 0.01) = 1.534505...
    z = 0.1 * math.sqrt(249) / math.sqrt(1.0575)
    assert z == pytest.approx(1.5345, abs=1e-4)
    assert probabilistic_sharpe_ratio(0.1, 0.0, 250, -0.5, 4.0) == pytest.approx(norm.cdf(z))
    assert probabilistic_sharpe_ratio(0.1, 0.0, 250, -0.5, 4.0) == pytest.approx(0.9375, abs=1e-4)


def test_psr_at_the_benchmark_is_one_half() -> None:
    assert probabilistic_sharpe_ratio(0.07, 0.07, 300, -1.0, 5.0) == pytest.approx(0.5)


def test_fat_tails_and_negative_skew_lower_the_psr() -> None:
    normal = probabilistic_sharpe_ratio(0.1, 0.0, 250, 0.0, 3.0)
    assert probabilistic_sharpe_ratio(0.1, 0.0, 250, -1.0, 9.0) < normal


@pytest.mark.parametrize(("v", "n"), [(0.002, 100), (0.01, 10), (0.0004, 1000), (0.003, 2)])
def test_expected_max_sharpe_euler_mascheroni(v: float, n: int) -> None:
    expected = math.sqrt(v) * (
        (1 - 0.5772156649) * norm.ppf(1 - 1 / n) + 0.5772156649 * norm.ppf(1 - 1 / (n * math.e))
    )
    assert expected_max_sharpe(v, n) == pytest.approx(expected, rel=1e-9)
    assert abs(EULER_GAMMA - 0.5772156649) < 1e-10


def test_expected_max_sharpe_of_one_trial_is_zero() -> None:
    assert expected_max_sharpe(0.01, 1) == 0.0


def test_expected_max_sharpe_is_close_to_a_simulated_maximum() -> None:
    rng = np.random.default_rng(3)
    v, n = 0.0025, 50
    simulated = rng.normal(0, math.sqrt(v), size=(20_000, n)).max(axis=1).mean()
    assert expected_max_sharpe(v, n) == pytest.approx(simulated, rel=0.03)


def test_dsr_reproduces_the_paper_example() -> None:
    # Bailey and Lopez de Prado (2014), section 4: annualised SR 2.5 over 5 years of daily
    # returns (T=1250), N=100 trials with annualised V[SR]=0.5, skew -3, kurtosis 10: DSR 0.9004.
    dsr = deflated_sharpe_ratio(2.5 / math.sqrt(250), 0.5 / 250, 100, 1250, -3.0, 10.0)
    assert dsr == pytest.approx(0.9004, abs=5e-5)
    assert expected_max_sharpe(0.5 / 250, 100) == pytest.approx(0.1132, abs=5e-5)  # its SR0


def test_expected_max_sharpe_reproduces_the_published_values() -> None:
    # Bailey, Borwein, Lopez de Prado and Zhu, "Pseudo-Mathematics and Financial
    # Charlatanism" (Notices of the AMS, 2014): E[max] of N=10 standard normals is about
    # 1.57, and 45 trials over 5 years give an expected best annualised SR of about 1.
    assert expected_max_sharpe(1.0, 10) == pytest.approx(1.57, abs=5e-3)
    assert expected_max_sharpe(1.0 / 5, 45) == pytest.approx(1.0, abs=1e-3)


def test_dsr_is_the_psr_against_the_expected_maximum() -> None:
    sr, v, n_trials, n, skew, kurt = 0.12, 0.003, 40, 750, -0.4, 5.0
    sr0 = math.sqrt(v) * (
        (1 - EULER_GAMMA) * norm.ppf(1 - 1 / n_trials)
        + EULER_GAMMA * norm.ppf(1 - 1 / (n_trials * math.e))
    )
    assert deflated_sharpe_ratio(sr, v, n_trials, n, skew, kurt) == pytest.approx(
        psr_by_hand(sr, sr0, n, skew, kurt), rel=1e-12
    )
    # more trials, more deflation
    assert deflated_sharpe_ratio(sr, v, 400, n, skew, kurt) < deflated_sharpe_ratio(
        sr, v, n_trials, n, skew, kurt
    )


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: probabilistic_sharpe_ratio(0.1, 0.0, 1), "n_obs"),
        (lambda: probabilistic_sharpe_ratio(math.nan, 0.0, 100), "observed_sr"),
        (lambda: expected_max_sharpe(-1.0, 10), "sr_variance"),
        (lambda: expected_max_sharpe(0.1, 0), "n_trials"),
        (lambda: probability_of_backtest_overfitting(np.zeros((100, 3)), 3), "even"),
        (lambda: probability_of_backtest_overfitting(np.zeros((100, 1)), 4), "2 trials"),
        (lambda: probability_of_backtest_overfitting(np.zeros((10, 3)), 16), "at least 32"),
        (lambda: probability_of_backtest_overfitting(np.full((40, 2), np.nan), 4), "NaN"),
        (lambda: probability_of_backtest_overfitting(np.zeros(40), 4), "T x N"),
    ],
)
def test_bad_input_names_the_problem(call, match: str) -> None:
    with pytest.raises((ConfigError, DataError), match=match):
        call()


def test_psr_refuses_an_impossible_variance_term() -> None:
    # kurtosis given in the excess convention with a large SR can make the term negative
    with pytest.raises(DataError, match="non-excess"):
        probabilistic_sharpe_ratio(3.0, 0.0, 100, 2.0, 0.0)


# -- PBO -------------------------------------------------------------------------------


def pbo_by_brute_force(matrix: np.ndarray, s: int) -> tuple[float, np.ndarray]:
    """CSCV written straight from Bailey et al. (2015), section 3, one split at a time."""
    t, n = matrix.shape
    blocks = np.split(matrix[t - (t // s) * s :], s)
    logits = []
    for combo in itertools.combinations(range(s), s // 2):
        train = np.concatenate([blocks[i] for i in combo])
        test = np.concatenate([blocks[i] for i in range(s) if i not in combo])
        r_is = train.mean(axis=0) / train.std(axis=0, ddof=1)
        r_oos = test.mean(axis=0) / test.std(axis=0, ddof=1)
        best = int(np.argmax(r_is))
        omega = rankdata(r_oos)[best] / (n + 1)
        logits.append(math.log(omega / (1 - omega)))
    arr = np.array(logits)
    return float(np.mean(arr <= 0)), arr


@pytest.mark.parametrize(("t", "n", "s", "seed"), [(40, 5, 4, 0), (97, 7, 6, 1), (160, 12, 8, 2)])
def test_pbo_matches_a_brute_force_cscv(t: int, n: int, s: int, seed: int) -> None:
    matrix = np.random.default_rng(seed).normal(0.0005, 0.01, (t, n))
    expected_pbo, expected_logits = pbo_by_brute_force(matrix, s)
    result = probability_of_backtest_overfitting(matrix, s)
    assert result.n_splits == math.comb(s, s // 2)
    assert result.pbo == pytest.approx(expected_pbo)
    np.testing.assert_allclose(result.logits, expected_logits, rtol=1e-9, atol=1e-12)


def test_pbo_of_two_alternating_strategies_is_one() -> None:
    # A wins the first half and loses the second; B the opposite. With S=2 each in-sample
    # winner is the out-of-sample loser: rank 1 of 2, w = 1/3, lambda = ln(1/2).
    up = np.array([0.01, 0.02] * 10)
    down = np.array([-0.01, -0.02] * 10)
    matrix = np.column_stack([np.r_[up, down], np.r_[down, up]])
    result = probability_of_backtest_overfitting(matrix, 2)
    assert result.pbo == 1.0
    np.testing.assert_allclose(result.logits, [math.log(0.5)] * 2)
    assert result.probability_of_loss == 1.0


def test_pbo_of_one_dominant_strategy_is_zero() -> None:
    rng = np.random.default_rng(11)
    matrix = rng.normal(0.0, 0.01, (1000, 30))
    matrix[:, 4] += 0.004  # better than every other trial in every sub-period
    result = probability_of_backtest_overfitting(pd.DataFrame(matrix), 10)
    assert result.pbo == 0.0
    assert (result.logits > 0).all()


def test_pbo_of_pure_noise_is_near_one_half() -> None:
    values = [
        probability_of_backtest_overfitting(
            np.random.default_rng(seed).normal(0, 0.01, (800, 40)), 8
        ).pbo
        for seed in range(12)
    ]
    assert np.mean(values) == pytest.approx(0.5, abs=0.1)


def test_pbo_with_a_custom_metric_agrees_with_the_default() -> None:
    matrix = np.random.default_rng(5).normal(0.0003, 0.01, (120, 6))
    default = probability_of_backtest_overfitting(matrix, 6)
    custom = probability_of_backtest_overfitting(
        matrix, 6, metric=lambda m: m.mean(axis=0) / m.std(axis=0, ddof=1)
    )
    np.testing.assert_allclose(custom.logits, default.logits)
    by_mean = probability_of_backtest_overfitting(matrix, 6, metric=lambda m: m.mean(axis=0))
    assert 0.0 <= by_mean.pbo <= 1.0


def test_pbo_drops_the_oldest_rows_to_fit_the_blocks() -> None:
    matrix = np.random.default_rng(8).normal(0, 0.01, (103, 4))
    assert probability_of_backtest_overfitting(matrix, 4).n_obs == 100
    assert probability_of_backtest_overfitting(matrix, 4).pbo == pytest.approx(
        probability_of_backtest_overfitting(matrix[3:], 4).pbo
    )


# -- moments and the sweep report ---------------------------------------------------------


def test_return_moments_by_hand() -> None:
    r = np.array([0.01, -0.02, 0.03, 0.0, 0.01])
    m = r.mean()
    sd = r.std(ddof=1)
    m2, m3, m4 = ((r - m) ** 2).mean(), ((r - m) ** 3).mean(), ((r - m) ** 4).mean()
    got = return_moments(r)
    assert got["n_obs"] == 5
    assert got["sharpe"] == pytest.approx(m / sd)
    assert got["skew"] == pytest.approx(m3 / m2**1.5)
    assert got["kurtosis"] == pytest.approx(m4 / m2**2)


def test_return_moments_agree_with_scipy() -> None:
    from scipy import stats

    r = np.random.default_rng(4).standard_t(4, size=500) * 0.01
    got = return_moments(r)
    assert got["skew"] == pytest.approx(stats.skew(r))
    assert got["kurtosis"] == pytest.approx(stats.kurtosis(r, fisher=False))


@pytest.mark.parametrize("value", [0.001, -0.0003, 0.0123])
def test_a_constant_series_has_the_shape_of_a_flat_one(value: float) -> None:
    # Rounding leaves a constant series a tiny m2 > 0 (its mean is not exactly the value):
    # m3 / m2**1.5 and m4 / m2**2 of that noise are not its skewness and kurtosis. A series
    # the Sharpe ratio calls flat gets the flat convention, as an exactly flat one does.
    got = return_moments(np.full(300, value))
    assert got["sharpe"] == math.copysign(math.inf, value)
    assert (got["skew"], got["kurtosis"]) == (0.0, 3.0)
    zeros = return_moments(np.zeros(300))
    assert (zeros["sharpe"], zeros["skew"], zeros["kurtosis"]) == (0.0, 0.0, 3.0)


def test_overfitting_report_of_a_sweep() -> None:
    rng = np.random.default_rng(21)
    trials = pd.DataFrame(rng.normal(0.0, 0.01, (600, 20)), columns=[f"t{i}" for i in range(20)])
    trials["t3"] += 0.002
    report = overfitting_report(trials)
    sharpes = trials.mean() / trials.std(ddof=1)
    assert report["n_trials"] == 20
    assert report["n_obs"] == 600
    assert report["selected"] == "t3"
    assert report["sharpe"] == pytest.approx(sharpes["t3"])
    assert report["sr_variance"] == pytest.approx(sharpes.var(ddof=1))
    moments = return_moments(trials["t3"])
    assert report["dsr"] == pytest.approx(
        deflated_sharpe_ratio(
            sharpes["t3"], sharpes.var(ddof=1), 20, 600, moments["skew"], moments["kurtosis"]
        )
    )
    assert report["psr"] == pytest.approx(
        psr_by_hand(sharpes["t3"], 0.0, 600, moments["skew"], moments["kurtosis"])
    )
    assert report["pbo_partitions"] == 16
    assert report["pbo"] == pytest.approx(probability_of_backtest_overfitting(trials, 16).pbo)
    assert report["dsr"] < report["psr"]


def test_overfitting_report_of_a_chosen_trial_and_short_data() -> None:
    trials = pd.DataFrame({"a": [0.01, -0.01, 0.02], "b": [0.0, 0.01, -0.01]})
    report = overfitting_report(trials, selected="b")
    assert report["selected"] == "b"
    assert report["n_trials"] == 2
    assert report["pbo"] is None  # three returns cannot make two blocks of two
    with pytest.raises(ConfigError, match="not a column"):
        overfitting_report(trials, selected="zzz")
