"""Indicators: hand-computed values, reference loops, batch == incremental, causality."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.errors import ConfigError, DataError
from workbench.indicators import (
    ATR,
    EMA,
    RSI,
    SMA,
    Bands,
    BBands,
    StdDev,
    atr,
    bbands,
    ema,
    rsi,
    sma,
    stddev,
)

NAN = math.nan
SINGLE = [SMA(5), EMA(5), RSI(5), StdDev(5), StdDev(5, ddof=1), BBands(5, 2.0)]
ALL = [*SINGLE, ATR(5)]


def walk(size: int, seed: int = 0, start: float = 100.0) -> np.ndarray:
    """A geometric random walk, like prices."""
    rng = np.random.default_rng(seed)
    return start * np.exp(np.cumsum(rng.normal(0.0, 0.01, size)))


def hlc(close: np.ndarray, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    spread = np.abs(rng.normal(0.0, 0.005, (2, close.size)))
    return close * (1 + spread[0]), close * (1 - spread[1]), close


def inputs_for(ind: object, close: np.ndarray) -> tuple[np.ndarray, ...]:
    return hlc(close) if isinstance(ind, ATR) else (close,)


def as_matrix(result: object) -> np.ndarray:
    """Outputs as rows: one row for a single output, three for Bands."""
    return np.atleast_2d(np.asarray(result, dtype=float))


def incremental(ind: object, *arrays: np.ndarray) -> np.ndarray:
    """Feed a fresh copy of ``ind`` bar by bar; outputs as rows like :func:`as_matrix`."""
    fresh = dataclasses.replace(ind)
    rows = [fresh.update(*bar) for bar in zip(*arrays, strict=True)]
    return as_matrix(np.array(rows, dtype=float).T) if rows else as_matrix(rows)


def assert_same(a: object, b: object, scale: float, rtol: float = 1e-9) -> None:
    a, b = as_matrix(a), as_matrix(b)
    if a.size == b.size == 0:
        return
    assert a.shape == b.shape
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-12 * scale, equal_nan=True)


# -- hand-computed values ---------------------------------------------------------------------


def test_sma_by_hand() -> None:
    np.testing.assert_array_equal(sma([1, 2, 3, 4, 5], 3), [NAN, NAN, 2, 3, 4])
    np.testing.assert_array_equal(sma([4.0, 2.0], 1), [4.0, 2.0])


def test_ema_by_hand() -> None:
    # alpha = 0.5, seeded with (2 + 4 + 6) / 3 = 4; then 4 + 0.5*(8-4) = 6; 6 + 0.5*(4-6) = 5
    np.testing.assert_allclose(ema([2, 4, 6, 8, 4], 3), [NAN, NAN, 4, 6, 5])


def test_rsi_by_hand() -> None:
    # changes +1 -1 +2 0; seed G = L = 0.5 -> 50; G = (0.5+2)/2, L = 0.5/2 -> 100*1.25/1.5
    np.testing.assert_allclose(rsi([1, 2, 1, 3, 3], 2), [NAN, NAN, 50, 250 / 3, 250 / 3])
    np.testing.assert_array_equal(rsi([5, 5, 5, 5], 2), [NAN, NAN, 50, 50])
    np.testing.assert_array_equal(rsi([1, 2, 3, 4], 2), [NAN, NAN, 100, 100])
    np.testing.assert_array_equal(rsi([4, 3, 2, 1], 2), [NAN, NAN, 0, 0])


def test_atr_by_hand() -> None:
    # TR: 10-8 = 2; max(2, |11-9|, |9-9|) = 2; max(3, |12-10|, |9-10|) = 3; a gap: |17-11| = 6
    high, low, close = [10, 11, 12, 17], [8, 9, 9, 16], [9, 10, 11, 16.5]
    np.testing.assert_allclose(atr(high, low, close, 2), [NAN, 2, 2.5, 4.25])


def test_stddev_and_bbands_by_hand() -> None:
    np.testing.assert_allclose(stddev([1, 2, 3, 4, 5], 3), [NAN, NAN, *[math.sqrt(2 / 3)] * 3])
    np.testing.assert_allclose(stddev([1, 2, 3, 4, 5], 3, ddof=1), [NAN, NAN, 1, 1, 1])
    bands = bbands([1, 2, 3, 4, 5], 3, 2.0)
    assert isinstance(bands, Bands)
    np.testing.assert_allclose(bands.middle, [NAN, NAN, 2, 3, 4])
    np.testing.assert_allclose(bands.upper, bands.middle + 2 * math.sqrt(2 / 3))
    np.testing.assert_allclose(bands.lower, bands.middle - 2 * math.sqrt(2 / 3))


def test_constant_window_has_exactly_zero_deviation() -> None:
    x = [1e5, 1.0, 3.3, 7.0, 7.0, 7.0, 7.0]
    assert stddev(x, 3)[-1] == 0.0
    ind = StdDev(3)
    assert [ind.update(v) for v in x][-1] == 0.0


# -- against reference loops written from the definitions -------------------------------------


def ref_ema(x: list[float], n: int) -> list[float]:
    out, a = [NAN] * len(x), 2 / (n + 1)
    if len(x) >= n:
        y = sum(x[:n]) / n
        out[n - 1] = y
        for t in range(n, len(x)):
            y = a * x[t] + (1 - a) * y
            out[t] = y
    return out


def ref_rsi(x: list[float], n: int) -> list[float]:
    def value(g: float, loss: float) -> float:
        if loss == 0:
            return 100.0 if g > 0 else 50.0
        return 100 - 100 / (1 + g / loss)

    out = [NAN] * len(x)
    if len(x) <= n:
        return out
    changes = [x[t] - x[t - 1] for t in range(1, len(x))]
    g = sum(max(c, 0) for c in changes[:n]) / n
    loss = sum(max(-c, 0) for c in changes[:n]) / n
    out[n] = value(g, loss)
    for t in range(n + 1, len(x)):
        c = changes[t - 1]
        g = (g * (n - 1) + max(c, 0)) / n
        loss = (loss * (n - 1) + max(-c, 0)) / n
        out[t] = value(g, loss)
    return out


def ref_atr(h: list[float], low: list[float], c: list[float], n: int) -> list[float]:
    tr = [h[0] - low[0]] + [
        max(h[t] - low[t], abs(h[t] - c[t - 1]), abs(low[t] - c[t - 1])) for t in range(1, len(h))
    ]
    out = [NAN] * len(h)
    if len(h) >= n:
        y = sum(tr[:n]) / n
        out[n - 1] = y
        for t in range(n, len(h)):
            y = (y * (n - 1) + tr[t]) / n
            out[t] = y
    return out


@pytest.mark.parametrize("n", [1, 2, 14, 50])
def test_against_reference_loops(n: int) -> None:
    x = walk(400, seed=n)
    h, low, c = hlc(x)
    pairs = [
        (EMA(n), (x,), ref_ema(list(x), n)),
        (RSI(n), (x,), ref_rsi(list(x), n)),
        (ATR(n), (h, low, c), ref_atr(list(h), list(low), list(c), n)),
    ]
    for ind, arrays, expected in pairs:
        assert_same(ind.batch(*arrays), expected, scale=100.0, rtol=1e-10)
        assert_same(incremental(ind, *arrays), expected, scale=100.0, rtol=1e-10)


# -- batch == incremental ---------------------------------------------------------------------

prices = st.builds(
    lambda start, moves: start * np.exp(np.cumsum(moves)),
    st.floats(1.0, 1e5),
    st.lists(st.sampled_from([0.0, 0.0, 1e-9]) | st.floats(-0.3, 0.3), max_size=120).map(np.array),
)
jumpy = st.lists(st.sampled_from([1.0, 3.3, 100.0, 1e5]) | st.floats(1e-3, 1e6), max_size=80)


@settings(max_examples=150, deadline=None)
@given(x=prices | jumpy.map(np.array), n=st.integers(1, 30), which=st.integers(0, 6))
def test_batch_equals_incremental_on_random_data(x: np.ndarray, n: int, which: int) -> None:
    ind = [SMA(n), EMA(n), RSI(n), StdDev(n), StdDev(n, n - 1), BBands(n, 2.0), ATR(n)][which]
    arrays = inputs_for(ind, np.asarray(x, dtype=float))
    scale = float(np.max(np.abs(x))) if len(x) else 1.0
    assert_same(ind.batch(*arrays), incremental(ind, *arrays), scale)


@pytest.mark.parametrize("ind", [*ALL, SMA(200), StdDev(250, ddof=1), EMA(200)], ids=repr)
def test_batch_equals_incremental_on_a_long_series(ind: object) -> None:
    x = walk(100_000, seed=7) * np.logspace(0, 3, 100_000)  # prices from 1e2 to 1e5
    arrays = inputs_for(ind, x)
    assert_same(ind.batch(*arrays), incremental(ind, *arrays), scale=1e5)


@pytest.mark.slow
@pytest.mark.parametrize("ind", [SMA(20), StdDev(50)], ids=repr)
def test_window_sums_do_not_drift_over_a_million_values(ind: object) -> None:
    x = walk(1_000_000, seed=3) * np.logspace(0, 3, 1_000_000)
    batch = ind.batch(x)
    assert_same(batch, incremental(ind, x), scale=1e5)
    n, ends = ind.n, np.arange(999_999, 0, -99_991)
    for t in ends:  # against sums done in extended precision
        window = x[t - n + 1 : t + 1].astype(np.longdouble)
        exact = window.mean() if isinstance(ind, SMA) else window.std()
        assert batch[t] == pytest.approx(float(exact), rel=1e-11)


# -- causality, missing values, contract ------------------------------------------------------


@pytest.mark.parametrize("ind", ALL, ids=repr)
def test_outputs_up_to_t_ignore_inputs_after_t(ind: object) -> None:
    arrays = inputs_for(ind, walk(300, seed=5))
    before = as_matrix(ind.batch(*arrays))
    for t in (0, 4, 5, 6, 137, 298):
        changed = [a.copy() for a in arrays]
        for a in changed:
            a[t + 1 :] = walk(299 - t, seed=t, start=1e4)
        after = as_matrix(ind.batch(*changed))
        np.testing.assert_array_equal(after[:, : t + 1], before[:, : t + 1])
        truncated = as_matrix(ind.batch(*(a[: t + 1] for a in arrays)))
        np.testing.assert_array_equal(truncated, before[:, : t + 1])


@pytest.mark.parametrize("ind", ALL, ids=repr)
def test_warmup_ready_value_and_reset(ind: object) -> None:
    x = walk(40, seed=2)
    arrays = inputs_for(ind, x)
    out = as_matrix(ind.batch(*arrays))
    assert np.isnan(out[0]).sum() == ind.warmup
    fresh = dataclasses.replace(ind)
    for t, bar in enumerate(zip(*arrays, strict=True)):
        fresh.update(*bar)
        assert fresh.ready == (t >= ind.warmup)
    np.testing.assert_allclose(np.array(fresh.value).reshape(-1), out[:, -1], rtol=1e-12)
    fresh.reset()
    assert not fresh.ready
    assert_same(incremental(fresh, *arrays), out, scale=100.0)


def test_leading_nans_are_skipped_so_indicators_chain() -> None:
    x = walk(200, seed=4)
    chained = ema(rsi(x, 14), 9)
    assert np.isnan(chained[: 14 + 8]).all() and not np.isnan(chained[14 + 8 :]).any()
    inner, outer = RSI(14), EMA(9)
    streamed = [outer.update(inner.update(v)) for v in x]
    assert_same(streamed, chained, scale=100.0)
    np.testing.assert_array_equal(sma([NAN, NAN, 1, 2, 3], 2), [NAN, NAN, NAN, 1.5, 2.5])


@pytest.mark.parametrize("bad", [[1.0, NAN, 3.0], [1.0, math.inf, 3.0], [-math.inf, 1.0]])
def test_a_gap_or_infinity_is_a_data_error(bad: list[float]) -> None:
    with pytest.raises(DataError, match="SMA"):
        sma(bad, 2)
    ind = SMA(2)
    with pytest.raises(DataError, match="non-finite"):
        for v in bad:
            ind.update(v)


def test_atr_inputs_must_have_equal_lengths() -> None:
    with pytest.raises(DataError, match="different lengths"):
        atr([1.0, 2.0], [1.0], [1.0, 2.0], 1)


@pytest.mark.parametrize(
    "make",
    [
        lambda: SMA(0),
        lambda: EMA(-1),
        lambda: RSI(2.5),
        lambda: ATR(True),
        lambda: StdDev("3"),
        lambda: BBands(None),
    ],
)
def test_window_length_must_be_a_positive_integer(make: object) -> None:
    with pytest.raises(ConfigError, match=r"n must be an integer >= 1"):
        make()


def test_other_parameters_are_checked() -> None:
    with pytest.raises(ConfigError, match="ddof"):
        StdDev(3, ddof=3)
    with pytest.raises(ConfigError, match="ddof"):
        StdDev(3, ddof=-1)
    for k in (0, -1.0, math.inf, math.nan):
        with pytest.raises(ConfigError, match="k must be a positive number"):
            BBands(20, k)


def test_parameters_are_frozen_and_describe_the_indicator() -> None:
    ind = SMA(3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ind.n = 4  # type: ignore[misc]
    ind.update(1.0)
    assert ind == SMA(3) and repr(ind) == "SMA(n=3)" and hash(ind) == hash(SMA(3))
    assert ATR.inputs == ("high", "low", "close") and SMA.inputs == ("close",)
    assert BBands.n_outputs == 3 and isinstance(BBands(3).batch([1.0, 2.0, 3.0]), tuple)


def test_series_in_series_out() -> None:
    index = pd.date_range("2024-01-01", periods=30, freq="D", tz="UTC")
    close = pd.Series(walk(30), index=index, name="close")
    h, low, _ = hlc(close.to_numpy())
    for result in (sma(close, 5), ema(close, 5), rsi(close, 5), stddev(close, 5)):
        assert isinstance(result, pd.Series) and result.index.equals(index)
    out = atr(pd.Series(h, index), pd.Series(low, index), close, 5)
    assert isinstance(out, pd.Series) and out.index.equals(index)
    assert all(b.index.equals(index) for b in bbands(close, 5))
    np.testing.assert_array_equal(sma(close, 5).to_numpy(), sma(close.to_numpy(), 5))


def test_crossings_follow_the_strict_rule_and_never_cross_in_the_warm_up() -> None:
    """The one-pass numba crossings equal the rule written with numpy comparisons."""
    from workbench.strategies.ma_crossover import crossings

    rng = np.random.default_rng(3)
    for _ in range(100):
        n = int(rng.integers(0, 40))
        fast, slow = np.round(rng.normal(size=(2, n)))  # rounded: equal values happen
        fast[: rng.integers(0, 5)] = np.nan
        slow[: rng.integers(0, 9)] = np.nan
        above, below = crossings(fast, slow)
        with np.errstate(invalid="ignore"):
            want_above = np.r_[False, (fast[1:] > slow[1:]) & (fast[:-1] <= slow[:-1])][:n]
            want_below = np.r_[False, (fast[1:] < slow[1:]) & (fast[:-1] >= slow[:-1])][:n]
        assert above.tolist() == want_above.tolist()
        assert below.tolist() == want_below.tolist()


def test_the_numpy_moving_average_is_numbas_bit_for_bit() -> None:
    """SMA's batch form runs in numpy until numba is imported: the same bits either way."""
    from workbench.indicators_nb import rolling_moments_nb
    from workbench.indicators_rolling import rolling_mean_np

    rng = np.random.default_rng(7)
    for trial in range(300):
        size, n = int(rng.integers(1, 2_000)), int(rng.integers(1, 250))
        x = rng.normal(100.0, 5.0, size) * 10.0 ** int(rng.integers(-3, 4))
        if trial % 3 == 0:
            x = np.round(x, 2)  # prices in cents: many equal deviations
        theirs = rolling_moments_nb(x, n, False)[0]
        chunk = int(rng.choice([1, 7, 300, 1 << 16]))  # the suffix sums' chunks change no bit
        for ours in (rolling_mean_np(x, n), rolling_mean_np(x, n, chunk_values=chunk)):
            assert np.array_equal(ours, theirs, equal_nan=True), (size, n, chunk)
            assert np.array_equal(np.signbit(ours), np.signbit(theirs)), (size, n, chunk)


def test_batch_returns_its_own_array_never_a_view_of_the_input() -> None:
    """Without leading NaNs the kernel's array is returned as it is (no copy), but never
    one that is, or is a view of, the input: writing to one leaves the other alone."""
    x = np.linspace(1.0, 2.0, 100)
    for ind in (SMA(5), EMA(5), StdDev(5), RSI(5)):
        assert not np.may_share_memory(ind.batch(x), x)

    class Identity(SMA):
        def _kernel(self, x: np.ndarray) -> np.ndarray:  # type: ignore[override]
            return x[:]

    out = Identity(3).batch(x)
    assert np.array_equal(out, x) and not np.may_share_memory(out, x)
    led = np.concatenate(([np.nan, np.nan], x))
    assert np.array_equal(Identity(3).batch(led), led, equal_nan=True)
