"""The overfitting statistics from one walk over the matrix, against the numpy form they replaced.

``reference_pbo`` and ``reference_report`` are the previous implementation, kept here as
written (float64 copy, ``fillna``, centring, block sums by matrix product): where its ties
were exact (random trials, duplicated trials, flat and zero trials) PBO and the logits
must come out identical (the ranks must not move), every other statistic within 1e-12
relative. Where trials made the same returns over only some blocks, as a sweep's do, it
broke their ties by rounding noise: there ``tie_exact_pbo``, split by split, is the
reference. The matrix must not be copied (tracemalloc sees numpy's allocations)."""

from __future__ import annotations

import itertools
import math
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from workbench.errors import DataError
from workbench.research.overfitting import (
    _combinations,
    deflated_sharpe_ratio,
    overfitting_report,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    return_moments,
)

# -- the previous implementation -----------------------------------------------------------


def _ref_ratio(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    flat = ~(std > 1e-15 * np.maximum(np.abs(mean), 1e-300))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(flat, np.sign(mean) * np.inf, mean / np.where(flat, 1.0, std))
    return np.where(flat & (mean == 0), 0.0, out)


def _ref_sharpe(matrix: np.ndarray) -> np.ndarray:
    return _ref_ratio(matrix.mean(axis=0), matrix.std(axis=0, ddof=1))


def _ref_moments(values: np.ndarray) -> dict[str, float]:
    values = values[np.isfinite(values)]
    n = int(values.size)
    out = {"n_obs": float(n), "sharpe": math.nan, "skew": math.nan, "kurtosis": math.nan}
    if n < 2:
        return out
    out["sharpe"] = float(_ref_sharpe(values[:, None])[0])
    centred = values - values.mean()
    m2 = float(np.mean(centred**2))
    out["skew"] = float(np.mean(centred**3)) / m2**1.5 if m2 > 0 else 0.0
    out["kurtosis"] = float(np.mean(centred**4)) / m2**2 if m2 > 0 else 3.0
    return out


def reference_pbo(matrix: np.ndarray, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(logits, winners' in-sample, out-of-sample Sharpe ratios) as the numpy form made them."""
    matrix = np.asarray(matrix, dtype=float)
    t, n = matrix.shape
    block = t // s
    matrix = matrix[t - block * s :]
    combos = np.array(list(itertools.combinations(range(s), s // 2)), dtype=np.intp)
    shift = matrix.mean(axis=0)
    blocks = (matrix - shift).reshape(s, block, n)
    sums, squares = blocks.sum(axis=1), (blocks**2).sum(axis=1)
    chosen = np.zeros((len(combos), s))
    np.put_along_axis(chosen, combos, 1.0, axis=1)
    half = block * (s // 2)
    perf = []
    for part_sum, part_sq in (
        (chosen @ sums, chosen @ squares),
        (sums.sum(axis=0) - chosen @ sums, squares.sum(axis=0) - chosen @ squares),
    ):
        mean = part_sum / half
        var = np.maximum(part_sq - half * mean**2, 0.0) / (half - 1)
        perf.append(_ref_ratio(mean + shift, np.sqrt(var)))
    is_perf, oos_perf = perf
    best = np.argmax(is_perf, axis=1)
    rows = np.arange(len(combos))
    winner_oos = oos_perf[rows, best]
    below = (oos_perf < winner_oos[:, None]).sum(axis=1)
    ties = (oos_perf == winner_oos[:, None]).sum(axis=1)
    omega = (below + (ties + 1) / 2.0) / (n + 1)
    return np.log(omega / (1 - omega)), is_perf[rows, best], winner_oos


def reference_report(frame: pd.DataFrame, selected=None, n_partitions: int = 16) -> dict:
    frame = frame.astype(float).fillna(0.0)
    sharpes = _ref_sharpe(frame.to_numpy())
    if selected is None:
        selected = frame.columns[int(np.argmax(np.where(np.isfinite(sharpes), sharpes, -np.inf)))]
    moments = _ref_moments(frame[selected].to_numpy())
    finite = sharpes[np.isfinite(sharpes)]
    out = {
        "selected": selected,
        "n_obs": int(moments["n_obs"]),
        "sharpe": moments["sharpe"],
        "skew": moments["skew"],
        "kurtosis": moments["kurtosis"],
        "sr_variance": float(np.var(finite, ddof=1)) if finite.size > 1 else 0.0,
    }
    if moments["n_obs"] >= 2 and math.isfinite(moments["sharpe"]):
        shape = (int(moments["n_obs"]), moments["skew"], moments["kurtosis"])
        out["psr"] = probabilistic_sharpe_ratio(moments["sharpe"], 0.0, *shape)
        out["dsr"] = deflated_sharpe_ratio(
            moments["sharpe"], out["sr_variance"], frame.shape[1], *shape
        )
    s = min(n_partitions, len(frame) // 2)
    s -= s % 2
    if frame.shape[1] >= 2 and s >= 2:
        out["logits"] = reference_pbo(frame.to_numpy(), s)[0]
    return out


def tie_exact_pbo(matrix: np.ndarray, s: int) -> np.ndarray:
    """CSCV's logits one split at a time, each half's Sharpe ratios from that half alone.

    numpy sums a C-ordered matrix down its rows one row at a time, so trials with the same
    returns in a half get the same ratio there: ties are exact, as the papers mean them.
    """
    matrix = np.asarray(matrix, dtype=float)
    t, n = matrix.shape
    blocks = np.split(matrix[t - (t // s) * s :], s)
    logits = []
    for combo in itertools.combinations(range(s), s // 2):
        halves = [
            np.concatenate([blocks[i] for i in range(s) if (i in combo) == inside])
            for inside in (True, False)
        ]
        r_is, r_oos = (_ref_ratio(h.mean(axis=0), h.std(axis=0, ddof=1)) for h in halves)
        winner = r_oos[int(np.argmax(r_is))]
        omega = ((r_oos < winner).sum() + ((r_oos == winner).sum() + 1) / 2) / (n + 1)
        logits.append(math.log(omega / (1 - omega)))
    return np.array(logits)


# -- matrices with the awkward cases -------------------------------------------------------


def awkward(
    t: int, n: int, seed: int, dtype=np.float64, order: str = "C", flat: bool | str = True
) -> np.ndarray:
    """Noise with a column of zeros, flat columns, duplicated trials and tied blocks.

    The flat positive trial (Sharpe +inf) wins every split: it is put in only with ``flat``
    set to "all"; ``flat=True`` has the flat negative one, which ranks last in every split.
    """
    rng = np.random.default_rng(seed)
    m = rng.normal(0.0002, 0.01, (t, n))
    m[:, 1] = 0.0  # never traded
    if flat:
        m[:, 3] = -0.0003  # flat, negative
    if flat == "all":
        m[:, 2] = 0.0005  # flat, positive
    m[:, 5] = m[:, 4]  # a tie
    m[:, 7] = m[:, 4]
    m[:, 6] = rng.choice([-0.01, 0.0, 0.01], size=t)  # few distinct values: tied blocks
    m[: t // 3, 8] = 0.0  # flat for a while
    return np.asarray(m.astype(dtype), order=order)


CASES = [  # (T, N, S, seed): lengths that are and are not multiples of S
    (40, 10, 4, 0),
    (97, 12, 6, 1),
    (160, 12, 8, 2),
    (1003, 15, 16, 3),
    (4096, 40, 16, 4),
    (98_280 // 20, 25, 10, 5),
]


@pytest.mark.parametrize(("t", "n", "s", "seed"), CASES)
@pytest.mark.parametrize(("dtype", "order"), [(np.float64, "C"), (np.float32, "F")])
def test_pbo_and_logits_are_exactly_the_previous_ones(t, n, s, seed, dtype, order) -> None:
    matrix = awkward(t, n, seed, dtype, order)
    logits, winner_is, winner_oos = reference_pbo(matrix, s)
    result = probability_of_backtest_overfitting(matrix, s)
    np.testing.assert_array_equal(result.logits, logits)
    assert result.pbo == float(np.mean(logits <= 0))
    # near-zero Sharpe ratios (mean ~ 1e-4 of std) differ by rounding of their means
    np.testing.assert_allclose(result.is_performance, winner_is, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(result.oos_performance, winner_oos, rtol=1e-12, atol=1e-15)
    assert result.n_obs == (t // s) * s
    assert 0.0 < result.pbo < 1.0 or t < 100  # the awkward columns do not decide it
    assert result.probability_of_loss == float(np.mean(winner_oos < 0))
    slope = np.polyfit(winner_is, winner_oos, 1)[0]  # the previous form's fit
    assert result.degradation_slope == pytest.approx(slope, rel=1e-9)


def test_a_flat_positive_trial_wins_every_split_as_before() -> None:
    matrix = awkward(1003, 15, 3, flat="all")
    result = probability_of_backtest_overfitting(matrix, 16)
    np.testing.assert_array_equal(result.logits, reference_pbo(matrix, 16)[0])
    assert (result.is_performance == np.inf).all() and result.pbo == 0.0
    assert math.isnan(result.degradation_slope)


@pytest.mark.parametrize(
    ("t", "n", "s", "seed"), [(40, 5, 4, 0), (97, 7, 6, 1), (160, 12, 8, 2), (800, 40, 8, 7)]
)
def test_pbo_of_the_papers_cases_is_exactly_the_previous_one(t, n, s, seed) -> None:
    matrix = np.random.default_rng(seed).normal(0.0005, 0.01, (t, n))
    np.testing.assert_array_equal(
        probability_of_backtest_overfitting(matrix, s).logits, reference_pbo(matrix, s)[0]
    )


def test_every_memory_order_and_view_gives_the_same_result() -> None:
    matrix = awkward(1203, 30, 9)
    expected = probability_of_backtest_overfitting(matrix, 12)
    wide = np.zeros((1203, 60))
    wide[:, ::2] = matrix  # neither C- nor F-contiguous
    for variant in (np.asfortranarray(matrix), wide[:, ::2], pd.DataFrame(matrix)):
        got = probability_of_backtest_overfitting(variant, 12)
        np.testing.assert_array_equal(got.logits, expected.logits)
        np.testing.assert_allclose(got.is_performance, expected.is_performance, rtol=1e-13)


def test_identical_trials_stay_tied_wherever_they_sit() -> None:
    # two copies of every trial, at opposite ends of the matrix: each split's winner ties
    # with its twin out of sample, so its rank is (an even count below) + (2 + 1) / 2
    base = np.random.default_rng(12).normal(0, 0.01, (640, 9))
    matrix = np.asfortranarray(np.hstack([base, base[:, ::-1]]).astype(np.float32))
    result = probability_of_backtest_overfitting(matrix, 8)
    doubled = np.rint(2 * 19 / (1 + np.exp(-result.logits))).astype(int)  # 2 * omega * (N + 1)
    assert ((doubled - 3) % 4 == 0).all()
    np.testing.assert_array_equal(result.logits, reference_pbo(matrix, 8)[0])


def positions_matrix(t: int, n: int, s: int, seed: int) -> np.ndarray:
    """A sweep's returns: each trial in or out of one market, block by block, so that trials
    often made the same returns over some blocks and differ over others."""
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0003, 0.01, t)
    shared = rng.random(t) < 0.5  # a signal several trials follow at times
    patterns = np.stack([np.ones(t), np.zeros(t), shared, ~shared]).astype(float)
    block = t // s
    choice = rng.integers(0, 4, (n, s + 1))
    rows = np.minimum((np.arange(t) - (t - block * s)) // block + 1, s)  # 0: dropped rows
    held = patterns[choice[:, rows], np.arange(t)]  # n x t
    return np.asfortranarray((held * market).T.astype(np.float32))


@pytest.mark.parametrize(
    ("t", "n", "s", "seed"), [(1203, 8, 10, 0), (800, 12, 8, 1), (96, 6, 6, 2)]
)
def test_trials_equal_over_a_half_tie_there(t, n, s, seed) -> None:
    # The previous form centred each trial on its mean over all blocks: two trials with the
    # same out-of-sample returns but different in-sample ones got ratios a rounding apart,
    # and the in-sample winner's rank moved by half the number of such twins.
    matrix = positions_matrix(t, n, s, seed)
    expected = tie_exact_pbo(matrix, s)
    for variant in (matrix, np.ascontiguousarray(matrix, dtype=float)):
        result = probability_of_backtest_overfitting(variant, s)
        np.testing.assert_array_equal(result.logits, expected)


def test_a_real_sweeps_pbo_counts_its_ties() -> None:
    from workbench.data.sources import load_bars
    from workbench.research.sweep import sweep, trial_returns

    grid = {"fast": [20, 40, 60], "slow": [150, 200, 250]}  # the promotion test's first fold
    table = sweep("ma_crossover", load_bars("sample:SPX").iloc[:1260], grid, progress=False)
    returns = trial_returns(table)
    expected = tie_exact_pbo(returns.to_numpy(), 10)
    np.testing.assert_array_equal(probability_of_backtest_overfitting(returns, 10).logits, expected)
    report = overfitting_report(returns, n_partitions=10)
    assert report["pbo"] == float(np.mean(expected <= 0))


@pytest.mark.parametrize(("t", "n", "seed"), [(600, 20, 21), (1003, 15, 3), (4915, 25, 5)])
@pytest.mark.parametrize(("dtype", "order"), [(np.float64, "C"), (np.float32, "F")])
def test_report_matches_the_previous_one(t, n, seed, dtype, order) -> None:
    matrix = awkward(t, n, seed, dtype, order, flat=False)  # flat ones: the next test
    matrix[5:9, 0] = np.nan  # bars without a position: read as 0
    frame = pd.DataFrame(matrix, columns=[f"t{i}" for i in range(n)], copy=False)
    expected = reference_report(frame)
    for selected in (None, "t4", "t2"):
        got = overfitting_report(frame, selected)
        want = reference_report(frame, selected) if selected else expected
        assert got["selected"] == want["selected"]
        assert got["n_obs"] == want["n_obs"] == t
        for key in ("sharpe", "skew", "kurtosis", "sr_variance", "psr", "dsr"):
            assert got[key] == pytest.approx(want[key], rel=1e-12, abs=1e-300), key
        assert got["pbo"] == float(np.mean(want["logits"] <= 0))


def test_a_flat_trial_is_flat_in_any_memory_order() -> None:
    # The previous form's mean of a constant column, summed row after row in a C-ordered
    # copy, could miss the constant by more than 1e-15 of it: its "standard deviation" then
    # made a Sharpe ratio of 1e14 out of rounding noise, and sr_variance 1e26. Centred on
    # the mean of a first pass, a constant column's deviations cancel: flat, +-inf.
    matrix = awkward(600, 20, 21, flat="all")
    noise = [j for j in range(20) if j not in (2, 3)]
    sharpes = _ref_sharpe(matrix[:, noise])
    want = float(np.var(sharpes, ddof=1))
    for variant in (matrix, np.asfortranarray(matrix), matrix.astype(np.float32)):
        frame = pd.DataFrame(variant)
        assert overfitting_report(frame)["sr_variance"] == pytest.approx(want, rel=1e-6)
        assert overfitting_report(frame, selected=2)["sharpe"] == math.inf
        assert overfitting_report(frame, selected=3)["sharpe"] == -math.inf


def test_report_of_short_or_degenerate_data_matches_the_previous_one() -> None:
    cases = [
        pd.DataFrame({"a": [0.01, -0.01, 0.02], "b": [0.0, 0.01, -0.01]}),  # no PBO
        pd.DataFrame({"a": [0.01, -0.01, 0.02, 0.0, 0.01]}),  # one trial
        pd.DataFrame({"a": [0.0] * 8, "b": [0.001] * 8}),  # flat
        pd.DataFrame({"a": [1, 0, -1, 2, 0, 1], "b": [0, 0, 1, 1, 0, 0]}),  # integers
    ]
    for frame in cases:
        got = overfitting_report(frame)
        want = reference_report(frame)
        assert got["selected"] == want["selected"]
        for key in ("n_obs", "sharpe", "skew", "kurtosis", "sr_variance"):
            assert got[key] == pytest.approx(want[key], rel=1e-12, nan_ok=True), key


def test_infinite_returns_are_refused_by_the_report() -> None:
    frame = pd.DataFrame(awkward(200, 10, 1))
    frame.iloc[50, 2] = np.inf
    with pytest.raises(DataError, match="infinite"):
        overfitting_report(frame)
    matrix = awkward(200, 10, 1)
    matrix[0, 0] = np.nan  # in the oldest rows, which CSCV drops: still refused
    with pytest.raises(DataError, match="NaN"):
        probability_of_backtest_overfitting(matrix, 16)


def test_each_split_and_its_mirror_are_listed_in_reverse_order() -> None:
    # cscv_nb scores split c and split C-1-c (the same halves swapped) together
    for s in range(2, 17, 2):
        combos = _combinations(s)
        assert len(combos) == math.comb(s, s // 2)
        mirrored = [sorted(set(range(s)) - set(c)) for c in combos[::-1].tolist()]
        assert mirrored == combos.tolist()


def test_the_report_reads_a_sweeps_float32_matrix_in_place() -> None:
    # the previous form made a float64 copy (2x the matrix), filled it (2x) and centred it;
    # now only the selected trial's column is copied (a few times, for its moments)
    matrix = awkward(20_000, 100, 2, np.float32, "F")
    frame = pd.DataFrame(matrix, copy=False)
    overfitting_report(frame)  # compiled and cached before measuring
    tracemalloc.start()
    try:
        overfitting_report(frame)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.25 * matrix.nbytes, f"peak {peak / 1e6:.1f} MB, matrix {matrix.nbytes / 1e6} MB"


@pytest.mark.parametrize("value", [0.0005, -0.0003, 0.0123, float(np.float32(0.0007))])
def test_a_constant_series_has_an_infinite_sharpe_ratio(value: float) -> None:
    for n in (100, 98_280):
        assert return_moments(np.full(n, value))["sharpe"] == math.copysign(math.inf, value)
    assert return_moments(np.zeros(50))["sharpe"] == 0.0
