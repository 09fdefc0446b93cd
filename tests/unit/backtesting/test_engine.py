"""The event loop: timing, look-ahead, accounting and multi-symbol merging."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.backtesting.api import backtest
from workbench.backtesting.engine import BacktestConfig, Engine
from workbench.errors import DataError, LookAheadError, StrategyError
from workbench.params import Param
from workbench.sim.costs import Commission, Slippage
from workbench.strategies.ma_crossover import MACrossover
from workbench.strategy import Strategy


def make_bars(
    opens: list[float], closes: list[float], start: str = "2024-01-01", freq: str = "D"
) -> pd.DataFrame:
    o = np.asarray(opens, dtype=float)
    c = np.asarray(closes, dtype=float)
    index = pd.date_range(start, periods=len(o), freq=freq, tz="UTC")
    frame = pd.DataFrame(
        {
            "open": o,
            "high": np.maximum(o, c) + 0.5,
            "low": np.minimum(o, c) - 0.5,
            "close": c,
            "volume": np.full(len(o), 1_000.0),
        },
        index=index,
    )
    frame.attrs["symbol"] = "X"
    return frame


CLOSES = [10, 9, 8, 9, 11, 12, 11, 9, 8, 7]
OPENS = [10, 10, 9, 8, 9, 11.5, 12, 11, 9.5, 8]


def test_crossover_trades_match_hand_computed_crossings() -> None:
    # SMA2 - SMA3 by hand: bar2 -0.5, bar3 -0.167, bar4 +0.667 (cross above), bar5 +0.833,
    # bar6 +0.167, bar7 -0.667 (cross below), bar8 -0.833, bar9 -0.5.
    bars = make_bars(OPENS, CLOSES)
    result = backtest("ma_crossover", bars, {"fast": 2, "slow": 3}, cash=1_000.0)
    trades = result.trades
    assert len(trades) == 1
    row = trades.iloc[0]
    assert row.entry_time == bars.index[5] and row.entry_price == 11.5
    assert row.exit_time == bars.index[8] and row.exit_price == 9.5
    assert row.entry_reason == "MA_CROSS_BUY" and row.exit_reason == "MA_CROSS_SELL"
    qty = 1_000.0 / 11.5
    assert row.quantity == pytest.approx(qty)
    assert result.final_equity == pytest.approx(1_000.0 + qty * (9.5 - 11.5))
    # equity is marked at each close: flat before the fill, long from bar 5 to bar 7
    assert result.equity.iloc[4] == pytest.approx(1_000.0)
    assert result.equity.iloc[6] == pytest.approx(qty * 11.0)


def test_costs_are_charged_once_per_fill() -> None:
    bars = make_bars(OPENS, CLOSES)
    result = backtest(
        "ma_crossover",
        bars,
        {"fast": 2, "slow": 3},
        cash=1_000.0,
        commission=Commission(percent=0.001),
        slippage=Slippage(bps=10),
    )
    buy = 11.5 * 1.001
    qty = 1_000.0 / (buy * 1.001)
    sell = 9.5 * 0.999
    fees = qty * buy * 0.001 + qty * sell * 0.001
    assert result.fills["price"].tolist() == pytest.approx([buy, sell])
    assert result.metrics["fees"] == pytest.approx(fees)
    assert result.final_equity == pytest.approx(
        1_000.0 - qty * buy * 0.001 - qty * (buy - sell) - qty * sell * 0.001
    )


class Peeker(Strategy):
    """Asks for the bar after the current one: must be stopped."""

    def on_bar(self, ctx) -> None:
        closes = ctx.close
        closes[len(closes)]


def test_asking_for_the_future_raises() -> None:
    with pytest.raises(LookAheadError, match="only bars"):
        backtest(Peeker, make_bars(OPENS, CLOSES))


class Broken(Strategy):
    def on_bar(self, ctx) -> None:
        raise ValueError("boom")


def test_a_strategy_bug_is_reported_with_the_bar() -> None:
    with pytest.raises(StrategyError, match=r"Broken.on_bar failed at 2024-01-01.*boom"):
        backtest(Broken, make_bars(OPENS, CLOSES))


def random_walk(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    opens = np.concatenate([[100.0], close[:-1] * np.exp(rng.normal(0, 0.002, n - 1))])
    return make_bars(list(opens), list(close))


def test_changing_bars_after_t_never_changes_decisions_up_to_t() -> None:
    bars = random_walk(600, 1)
    base = backtest("ma_crossover", bars, {"fast": 5, "slow": 20})
    for cut in (100, 250, 400):
        changed = bars.copy()
        rng = np.random.default_rng(cut)
        changed.iloc[cut + 1 :, :4] *= rng.uniform(0.5, 1.5, size=(len(bars) - cut - 1, 1))
        changed["high"] = changed[["open", "high", "close"]].max(axis=1)
        changed["low"] = changed[["open", "low", "close"]].min(axis=1)
        other = backtest("ma_crossover", changed, {"fast": 5, "slow": 20})
        t = bars.index[cut]
        mine = base.orders[base.orders.created_at <= t][["created_at", "side", "reason"]]
        theirs = other.orders[other.orders.created_at <= t][["created_at", "side", "reason"]]
        assert len(mine) > 0
        pd.testing.assert_frame_equal(mine.reset_index(drop=True), theirs.reset_index(drop=True))


def test_no_fill_before_the_bar_after_the_decision() -> None:
    result = backtest("ma_crossover", random_walk(800, 3), {"fast": 5, "slow": 30})
    orders = result.orders.set_index("id")
    assert len(result.fills) > 4
    for f in result.fills.itertuples():
        assert f.time > orders.loc[f.order_id, "created_at"]


class RandomTrader(Strategy):
    """Random market, limit and stop orders and targets, for the accounting property."""

    params = (Param("seed", int, 0, low=0),)

    def init(self, ctx) -> None:
        self.rng = np.random.default_rng(self.p.seed)

    def on_bar(self, ctx) -> None:
        r = self.rng
        u = r.random()
        price = ctx.close[-1]
        if u < 0.2:
            ctx.target(percent=float(r.uniform(-0.8, 0.9)), reason="T")
        elif u < 0.35:
            ctx.buy(
                float(r.uniform(0.1, 5)),
                type="limit",
                limit=price * float(r.uniform(0.97, 1.0)),
                reason="L",
            )
        elif u < 0.5:
            ctx.sell(
                float(r.uniform(0.1, 5)),
                type="stop",
                stop=price * float(r.uniform(0.97, 1.0)),
                reason="S",
            )
        elif u < 0.6:
            ctx.sell(float(r.uniform(0.1, 3)), reason="M")
        elif u < 0.65:
            ctx.cancel(reason="C")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(5, 120),
    fee=st.floats(0, 0.01),
    minimum=st.sampled_from([0.0, 1.0]),
    bps=st.floats(0, 50),
    cap=st.sampled_from([None, 0.001, 0.5]),
)
def test_accounting_identity_holds_at_every_bar(seed, n, fee, minimum, bps, cap) -> None:
    bars = random_walk(n, seed)
    cfg = BacktestConfig(
        cash=10_000.0,
        commission=Commission(percent=fee, minimum=minimum),
        slippage=Slippage(bps=bps),
        volume_limit=cap,
        margin=4.0,
    )
    result = Engine(RandomTrader(seed=seed), {"X": bars}, cfg).run()
    fills = result.fills
    # rebuild cash and position from the fills alone, bar by bar
    signed = np.where(fills["side"] == "buy", 1.0, -1.0) * fills["quantity"].to_numpy()
    at = bars.index.searchsorted(pd.to_datetime(fills["time"], utc=True))
    qty = np.zeros(n)
    flow = np.zeros(n)
    np.add.at(qty, at, signed)
    np.add.at(flow, at, -signed * fills["price"].to_numpy() - fills["commission"].to_numpy())
    position = np.cumsum(qty)
    cash = 10_000.0 + np.cumsum(flow)
    equity = cash + position * bars["close"].to_numpy()
    np.testing.assert_allclose(result.cash.to_numpy(), cash, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(result.equity.to_numpy(), equity, rtol=1e-9, atol=1e-6)
    # every fee charged exactly once: the order totals equal the fills' sum
    assert result.orders["commission"].sum() == pytest.approx(fills["commission"].sum())
    # trades' pnl adds up to the equity change
    assert result.trades["pnl"].sum() == pytest.approx(result.final_equity - 10_000.0, abs=1e-6)


@pytest.mark.parametrize("seed", [3, 17, 2024])
def test_the_recorded_equity_and_cash_are_what_the_bar_saw(seed: int) -> None:
    """The series are built after the loop from where cash and the quantity changed; each
    value is exactly the equity and cash the strategy was shown on its bar (longs, shorts,
    flat spells, fills on many bars)."""
    seen: list[tuple[float, float]] = []

    class Watcher(RandomTrader):
        def on_bar(self, ctx) -> None:
            seen.append((ctx.equity, ctx.cash))
            super().on_bar(ctx)

    cfg = BacktestConfig(cash=10_000.0, commission=Commission(percent=0.001), margin=4.0)
    result = Engine(Watcher(seed=seed), {"X": random_walk(300, seed)}, cfg).run()
    assert len(result.fills) > 20
    assert result.equity.tolist() == [e for e, _ in seen]
    assert result.cash.tolist() == [c for _, c in seen]


def test_several_symbols_are_merged_in_time_order() -> None:
    a = random_walk(50, 1)
    b = random_walk(50, 2).iloc[::2]  # every other day only
    seen: list[tuple[pd.Timestamp, int, int]] = []

    class Recorder(Strategy):
        def on_bar(self, ctx) -> None:
            seen.append((ctx.time, len(ctx.data("A")["close"]), len(ctx.data("B")["close"])))

    Engine(Recorder(), {"A": a, "B": b}).run()
    assert [s[0] for s in seen] == list(a.index)
    assert [s[1] for s in seen] == list(range(1, 51))
    assert [s[2] for s in seen] == [i // 2 + 1 for i in range(50)]


def test_unsorted_bars_are_refused_with_the_fix() -> None:
    bars = random_walk(10, 1).iloc[::-1]
    with pytest.raises(DataError, match=r"out of order.*sort the rows"):
        Engine(MACrossover(fast=2, slow=3), {"X": bars}).run()


def test_context_views_show_the_bar_the_history_and_the_portfolio() -> None:
    bars = random_walk(30, 5)
    seen: dict[str, object] = {}

    class Inspector(Strategy):
        def on_bar(self, ctx) -> None:
            if len(ctx.close) == 1:
                ctx.buy(2.0, reason="PROBE")
            if len(ctx.close) == 10:
                seen["bar"] = ctx.bar()
                seen["history"] = ctx.history(n=3)
                seen["position"] = ctx.position()
                seen["equity"], seen["cash"] = ctx.equity, ctx.cash
                seen["time"] = ctx.time

    result = Engine(Inspector(), {"X": bars}, BacktestConfig(cash=1_000.0)).run()
    bar = seen["bar"]
    assert bar.time == bars.index[9] == seen["time"]
    assert (bar.open, bar.close) == (bars["open"].iloc[9], bars["close"].iloc[9])
    expected = bars.iloc[7:10][["open", "high", "low", "close", "volume"]]
    expected.index = expected.index.as_unit("ns")
    pd.testing.assert_frame_equal(seen["history"], expected, check_freq=False)
    assert seen["position"].quantity == 2.0
    assert seen["position"].average_price == bars["open"].iloc[1]
    assert seen["equity"] == pytest.approx(result.equity.iloc[9])
    assert seen["cash"] == pytest.approx(1_000.0 - 2.0 * bars["open"].iloc[1])


def test_the_garbage_collector_is_restored_after_a_run() -> None:
    """The engine pauses the cyclic collector for its bar loop (speed), never for good."""
    import gc

    from workbench import backtest, load_bars

    bars = load_bars("sample:SPX").iloc[:300]
    assert gc.isenabled()
    backtest("ma_crossover", bars, {"fast": 5, "slow": 20})
    assert gc.isenabled()
    gc.disable()
    try:
        backtest("ma_crossover", bars, {"fast": 5, "slow": 20})
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()


class Pair(Strategy):
    """Long 10 A and short 10 B from bar 1 to bar 5 (decided on bars 0 and 4)."""

    def on_bar(self, ctx) -> None:
        if len(ctx.close) == 1:
            ctx.buy(10.0, symbol="A")
            ctx.sell(10.0, symbol="B")
        elif len(ctx.close) == 5:
            ctx.sell(10.0, symbol="A")
            ctx.buy(10.0, symbol="B")


@pytest.mark.parametrize("b_prices", ["same", "other"])
def test_exposure_counts_a_long_short_book_that_nets_to_zero(b_prices: str) -> None:
    """Exposure is the share of bars with a position. A long and a short of equal value net
    to zero (equity == cash), and the book read as out of the market (|equity - cash| >
    1e-12): exposure 0 with 4 bars of 8 held. Bars 1 to 4 hold the pair (bar 5's open
    closes it). With the same prices the net is 0.0 exactly; with other prices it is not."""
    a = random_walk(8, 1)
    b = a.copy() if b_prices == "same" else random_walk(8, 2)
    result = Engine(Pair(), {"A": a, "B": b}, BacktestConfig(cash=10_000.0)).run()
    assert len(result.fills) == 4
    if b_prices == "same":
        assert (result.equity == result.cash).all()  # the book nets to zero at every close
    assert result.metrics["exposure"] == 4 / 8
    assert result.in_market.tolist() == [False, True, True, True, True, False, False, False]
    assert result.in_market.index.equals(result.equity.index)


def test_exposure_of_one_symbol_is_its_bars_with_a_position() -> None:
    """One symbol (the loop that records where cash and the quantity changed): in the
    market from the entry's fill to the exit's, as its fills say."""
    bars = make_bars(OPENS, CLOSES)
    result = backtest("ma_crossover", bars, {"fast": 2, "slow": 3}, cash=1_000.0)
    assert result.metrics["exposure"] == 3 / 10
    assert result.in_market.tolist() == [False] * 5 + [True] * 3 + [False] * 2
