"""The vectorized path: signals contract, hand-computed fills, costs it refuses, parity verdicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench import load_bars
from workbench.backtesting.fastpath import run_signals, run_vectorized
from workbench.backtesting.nb import simulate_signals_nb
from workbench.backtesting.vectorized import (
    VectorCosts,
    VectorSignals,
    encode_signals,
    has_vectorized,
    indicator,
    shared_indicators,
    vector_costs,
    vectorized_signals,
)
from workbench.context import Context
from workbench.errors import ConfigError, StrategyError
from workbench.indicators import SMA
from workbench.params import Param
from workbench.research.parity import check_parity
from workbench.strategies.ma_crossover import MACrossover, crossings
from workbench.strategy import Strategy

OPEN = [100.0, 102.0, 104.0, 103.0, 105.0, 106.0]
CLOSE = [101.0, 103.0, 102.0, 104.0, 106.0, 107.0]


def _bars(opens: list[float] = OPEN, closes: list[float] = CLOSE) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=len(opens), freq="D", tz="UTC")
    return pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, closes) + 1,
            "low": np.minimum(opens, closes) - 1,
            "close": closes,
            "volume": 1e6,
        },
        index=index,
    )


NO_STOPS = (0.0, 0.0, False)


def _ohlc(bars: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """The kernel's price arrays: open, high, low, close."""
    return tuple(bars[f].to_numpy(dtype=np.float64) for f in ("open", "high", "low", "close"))


def _signals(bars: pd.DataFrame, fraction: float = 1.0, **bars_with: list[int]) -> VectorSignals:
    """Signals that fire on the given bar numbers (short side only if one of its keys is given)."""

    def series(name: str) -> pd.Series:
        flags = np.zeros(len(bars), dtype=bool)
        flags[bars_with.get(name, [])] = True
        return pd.Series(flags, index=bars.index)

    short = "short_entries" in bars_with or "short_exits" in bars_with
    return VectorSignals(
        series("entries"),
        series("exits"),
        series("short_entries") if short else None,
        series("short_exits") if short else None,
        fraction=fraction,
    )


def test_long_round_trip_by_hand() -> None:
    """Entry decided at bar 1's close fills at bar 2's open; exit decided at 3 fills at 4."""
    bars = _bars()
    signals = _signals(bars, entries=[1], exits=[3])
    fee, slip = 0.01, 100.0  # 1 % commission, 100 bps slippage
    equity, cash, fills, rejected = simulate_signals_nb(
        *_ohlc(bars), encode_signals(signals), 1.0, 1000.0, fee, slip, 1.0, *NO_STOPS
    )
    buy = 104.0 * 1.01  # bar 2's open, slipped up
    qty = 1000.0 / (buy * 1.01)  # all equity at bar 1's close (= cash), fees included
    sell = 105.0 * 0.99  # bar 4's open, slipped down
    final = qty * sell * 0.99
    assert rejected == 0
    np.testing.assert_allclose(
        fills,
        [[2, qty, buy, fee * qty * buy], [4, -qty, sell, fee * qty * sell]],
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        equity,
        [1000.0, 1000.0, qty * 102.0, qty * 104.0, final, final],
        rtol=1e-12,
        atol=1e-9,
    )
    np.testing.assert_allclose(cash[[0, 1, 4, 5]], [1000.0, 1000.0, final, final], rtol=1e-12)
    assert abs(cash[2]) < 1e-9  # everything was spent, fees included


def test_reversal_closes_then_opens_valued_at_the_decision_close() -> None:
    bars = _bars()
    signals = _signals(bars, entries=[1], short_entries=[3], short_exits=[], fraction=0.5)
    equity, _, fills, rejected = simulate_signals_nb(
        *_ohlc(bars), encode_signals(signals), 0.5, 1000.0, 0.0, 0.0, 1.0, *NO_STOPS
    )
    qty_long = 500.0 / 104.0
    equity_3 = 500.0 + qty_long * 104.0  # at bar 3's close, where the short entry is decided
    qty_short = 0.5 * equity_3 / 105.0  # sold at bar 4's open
    assert rejected == 0
    np.testing.assert_allclose(
        fills[:, :3], [[2, qty_long, 104.0], [4, -qty_long, 105.0], [4, -qty_short, 105.0]]
    )
    cash_4 = 500.0 + qty_long * 105.0 + qty_short * 105.0
    np.testing.assert_allclose(equity[4:], [cash_4 - qty_short * 106.0, cash_4 - qty_short * 107.0])


def test_reversal_beyond_buying_power_is_refused_like_the_broker() -> None:
    """All-in long, gap down, then a short of the full decision-close equity: cash is short."""
    bars = _bars([100, 100, 100, 90, 90, 90], [100, 100, 100, 100, 90, 90])
    signals = _signals(bars, entries=[0], short_entries=[2], short_exits=[])
    result = run_signals(signals, bars, symbol="X", cash=1000.0, costs=VectorCosts())
    assert result.rejected == 1
    assert list(result.trades["status"]) == ["closed"]  # closed, and no short opened
    assert result.final_equity == pytest.approx(900.0)


@pytest.mark.parametrize(
    ("flags", "expected_fills"),
    [
        ({"entries": [1], "exits": [1]}, 0),  # entry and exit on one bar cancel
        ({"entries": [1], "short_entries": [1], "short_exits": []}, 0),  # both sides cancel
        ({"entries": [1, 2], "exits": []}, 1),  # an entry while long does nothing
        ({"exits": [1], "entries": []}, 0),  # an exit while flat does nothing
        ({"entries": [4]}, 0),  # decided on the last bar: never executed
    ],
)
def test_signal_rules(flags: dict[str, list[int]], expected_fills: int) -> None:
    bars = _bars()
    flags.setdefault("entries", [])
    flags.setdefault("exits", [])
    signals = _signals(bars.iloc[:5], **flags)
    codes = encode_signals(signals)
    _, _, fills, _ = simulate_signals_nb(
        *_ohlc(bars.iloc[:5]), codes, 1.0, 1000.0, 0.0, 0.0, 1.0, *NO_STOPS
    )
    assert len(fills) == expected_fills


def test_encode_signals_packs_one_byte_per_bar() -> None:
    bars = _bars()
    signals = _signals(bars, entries=[0, 5], exits=[1], short_entries=[2], short_exits=[3, 5])
    assert encode_signals(signals).tolist() == [1, 2, 4, 8, 0, 9]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"entries": [1, 0]}, "boolean pandas Series"),
        ({"exits": pd.Series([0.0, 1.0])}, "boolean pandas Series"),
        ({"short_entries": pd.Series([False, True])}, "both short_entries and short_exits"),
        ({"fraction": 0.0}, "fraction must be in (0, 1]"),
        ({"fraction": 1.5}, "fraction must be in (0, 1]"),
        ({"exits": pd.Series([False, True], index=[5, 6])}, "same index"),
    ],
)
def test_vector_signals_refuse_malformed_input(kwargs: dict, message: str) -> None:
    values = {"entries": pd.Series([True, False]), "exits": pd.Series([False, True])}
    values.update(kwargs)
    with pytest.raises(StrategyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        VectorSignals(**values)


@pytest.mark.parametrize(
    ("commission", "slippage", "extra", "named"),
    [
        ("per_share=0.005", None, {}, "commission per_share"),
        ("percent=0.001,minimum=1", None, {}, "commission minimum"),
        (None, "range=0.1", {}, "range-proportional slippage"),
        (None, None, {"volume_limit": 0.1}, "volume_limit"),
        (None, None, {"lot_size": 1.0}, "lot_size"),
    ],
)
def test_costs_the_vectorized_path_cannot_reproduce(
    commission: str | None, slippage: str | None, extra: dict, named: str
) -> None:
    with pytest.raises(ConfigError, match=named) as info:
        vector_costs(commission, slippage, **extra)
    assert "event engine" in str(info.value)


def test_vector_costs_translate_percent_and_bps() -> None:
    costs = vector_costs("0.1%", "5bps")
    assert (costs.fee, costs.bps, costs.slippage) == (pytest.approx(0.001), 5.0, 0.0005)


class NoVector(Strategy):
    name = "no_vector"
    params = (Param("n", int, 3, low=1, high=100),)

    def on_bar(self, ctx: Context) -> None:
        pass


class LateCross(MACrossover):
    """A wrong vectorized form: its signals come one bar late."""

    def vectorized(self, bars: pd.DataFrame) -> VectorSignals:
        good = super().vectorized(bars)
        return VectorSignals(
            good.entries.shift(1, fill_value=False), good.exits.shift(1, fill_value=False)
        )


class NotSignals(MACrossover):
    def vectorized(self, bars: pd.DataFrame) -> VectorSignals:
        return bars["close"] > 0  # type: ignore[return-value]


def test_has_vectorized() -> None:
    assert has_vectorized("ma_crossover")
    assert has_vectorized(MACrossover(fast=5, slow=20))
    assert not has_vectorized(NoVector)
    assert not has_vectorized(object)


def test_a_strategy_without_vectorized_form_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="no vectorized form"):
        run_vectorized(NoVector, _bars())


def test_a_vectorized_form_must_return_signals() -> None:
    with pytest.raises(StrategyError, match="not VectorSignals"):
        vectorized_signals(NotSignals(), _bars())


@pytest.fixture(scope="module")
def spx() -> pd.DataFrame:
    return load_bars("sample:SPX", start="2005-01-01", end="2012-12-31")


def test_parity_holds_for_the_crossover(spx: pd.DataFrame) -> None:
    report = check_parity("ma_crossover", spx, {"fast": 10, "slow": 40}, engine="numba")
    assert report.ok, report.summary()
    assert report.event_trades == report.vector_trades > 10
    assert "parity OK" in report.summary()
    report.raise_if_failed()


def test_parity_catches_a_vectorized_form_one_bar_late(spx: pd.DataFrame) -> None:
    report = check_parity(LateCross, spx, {"fast": 10, "slow": 40}, engine="numba")
    assert not report.ok
    assert report.differences[0].startswith("trade 1: entry_time")
    assert "PARITY FAILED" in report.summary()
    with pytest.raises(StrategyError, match="disagrees with on_bar"):
        report.raise_if_failed()


def test_shared_indicators_compute_each_window_once(
    spx: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    original = SMA.batch

    def counting(self: SMA, x: np.ndarray) -> np.ndarray:
        calls.append(self.n)
        return original(self, x)

    monkeypatch.setattr(SMA, "batch", counting)
    with shared_indicators():
        for fast in (5, 10):
            for slow in (20, 30, 40):
                MACrossover(fast=fast, slow=slow).vectorized(spx)
    assert sorted(calls) == [5, 10, 20, 30, 40]
    values = indicator(SMA(5), spx["close"])  # outside the block: computed again, read-only
    assert not values.flags.writeable
    assert len(calls) == 6


def test_crossover_vectorized_uses_crossings_of_the_batch_averages(spx: pd.DataFrame) -> None:
    signals = MACrossover(fast=10, slow=40).vectorized(spx)
    close = spx["close"].to_numpy()
    above, below = crossings(SMA(10).batch(close), SMA(40).batch(close))
    assert (signals.entries.to_numpy() == above).all()
    assert (signals.exits.to_numpy() == below).all()
    assert signals.short_entries is None
    short = MACrossover(fast=10, slow=40, allow_short=True).vectorized(spx)
    assert (short.short_entries.to_numpy() == below).all()
    assert not short.exits.any()
