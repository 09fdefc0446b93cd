"""Stops in the vectorized path: one table of bars in, exits out, for three engines.

Each row is a few OHLC bars; the strategy enters at bar 1's open (decided at bar 0's
close) with exits relative to the fill, and may decide an exit signal at some close.
The event engine (the simulated venue's fill rules), the numba kernel and, where its
rules are the same, vectorbt's ``from_signals(sl_stop=, tp_stop=, sl_trail=)`` must
all give the expected exit bar and price. Rows where vectorbt's rules differ say how.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from workbench.backtesting.api import backtest
from workbench.backtesting.fastpath import run_vectorized
from workbench.backtesting.vectorized import VectorSignals
from workbench.context import Context
from workbench.errors import ConfigError
from workbench.params import Param
from workbench.research.parity import compare_runs
from workbench.strategies.ma_crossover import exit_options
from workbench.strategy import Strategy


class Scripted(Strategy):
    """Enter on bar ``entry``'s close (long, or short with ``short``), exit on ``exit``'s."""

    name = "scripted_stops"
    params = (
        Param("entry", int, 0, low=0, high=100),
        Param("exit", int, -1, low=-1, high=100),
        Param("short", bool, False),
        Param("sl_stop", float, 0.0, low=0.0, high=0.99),
        Param("tp_stop", float, 0.0, low=0.0, high=10.0),
        Param("sl_trail", bool, False),
    )

    def on_bar(self, ctx: Context) -> None:
        i = len(ctx.close) - 1
        if i == self.p.entry:
            exits = exit_options(self.p.sl_stop, self.p.tp_stop, self.p.sl_trail)
            ctx.target(percent=-1.0 if self.p.short else 1.0, reason="IN", **exits)
        elif i == self.p.exit and ctx.position().quantity:
            ctx.target(percent=0.0, reason="OUT")

    def vectorized(self, bars: pd.DataFrame) -> VectorSignals:
        n = len(bars)
        entry = np.zeros(n, dtype=bool)
        entry[self.p.entry] = True
        exit_ = np.zeros(n, dtype=bool)
        if self.p.exit >= 0:
            exit_[self.p.exit] = True
        never = pd.Series(False, index=bars.index)
        side = (pd.Series(entry, index=bars.index), pd.Series(exit_, index=bars.index))
        stops = {"sl_stop": self.p.sl_stop, "tp_stop": self.p.tp_stop, "sl_trail": self.p.sl_trail}
        if self.p.short:
            return VectorSignals(never, never, *side, **stops)
        return VectorSignals(*side, **stops)


def _bars(rows: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=len(rows), freq="D", tz="UTC")
    frame = pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=index)
    frame["volume"] = 1e6
    return frame


FLAT = (100.0, 100.0, 100.0, 100.0)  # bar 0: the decision bar
QUIET = (100.0, 101.0, 99.0, 100.0)  # an entry bar that touches no exit

# id: (bars after bar 0, params, expected (exit bar, exit price) or None, vectorbt agrees)
ROWS: dict[str, tuple[list[tuple[float, float, float, float]], dict[str, Any], Any, Any]] = {
    "stop-intrabar": ([QUIET, (99, 100, 94, 96), FLAT], {"sl_stop": 0.05}, (2, 95.0), True),
    "stop-gap-fills-at-open": ([QUIET, (93, 94, 90, 92), FLAT], {"sl_stop": 0.05}, (2, 93.0), True),
    "tp-intrabar": ([QUIET, (104, 111, 103, 105), FLAT], {"tp_stop": 0.1}, (2, 110.0), True),
    "tp-gap-fills-at-open": (
        [QUIET, (112, 113, 111, 112), FLAT],
        {"tp_stop": 0.1},
        (2, 112.0),
        True,
    ),
    "both-on-one-bar-stop-wins": (
        [QUIET, (100, 111, 94, 100), FLAT],
        {"sl_stop": 0.05, "tp_stop": 0.1},
        (2, 95.0),
        True,
    ),
    "stop-on-entry-bar": (
        [(100, 101, 94, 96), FLAT, FLAT],
        {"sl_stop": 0.05},
        (1, 95.0),
        "vectorbt checks stops from the bar after the entry",
    ),
    "tp-on-entry-bar": (
        [(100, 111, 99, 105), FLAT, FLAT],
        {"tp_stop": 0.1},
        (1, 110.0),
        "vectorbt checks stops from the bar after the entry",
    ),
    # the mark: 100 (the entry's open), then 108 (the entry bar's high): stop 102.6 on
    # bar 2 (low 103) and on bar 3 (low 102): exit at 102.6
    "trail-mark-takes-the-entry-bar-high": (
        [(100, 108, 99, 107), (106, 107, 103, 104), (104, 105, 102, 103), FLAT],
        {"sl_stop": 0.05, "sl_trail": True},
        (3, 108 * 0.95),
        "vectorbt's mark ignores the entry bar's high",
    ),
    # the mark 104, then 106 only after bar 2 was checked against 98.8 (low 99); highs,
    # not closes: bar 3 meets 106 * 0.95 = 100.7
    "trail-checks-then-takes-the-high": (
        [(104, 104, 99, 103), (103, 106, 99, 100), (101, 102, 100, 100.5), FLAT],
        {"sl_stop": 0.05, "sl_trail": True},
        (3, 106 * 0.95),
        True,
    ),
    # a gap above the mark (101 after the entry bar): the open (110) is traded before the
    # bar's low, so the stop is 110 * 0.95 = 104.5 on bar 2 (low 104), not 95.95
    "trail-mark-takes-a-gap-open": (
        [QUIET, (110, 111, 104, 105), FLAT],
        {"sl_stop": 0.05, "sl_trail": True},
        (2, 110 * 0.95),
        "vectorbt's mark ignores the open of a bar that gaps beyond it",
    ),
    "short-trail-mark-takes-a-gap-open": (
        [QUIET, (90, 95, 89, 94), FLAT],
        {"sl_stop": 0.05, "sl_trail": True, "short": True},
        (2, 90 * 1.05),
        "vectorbt's mark ignores the open of a bar that gaps beyond it",
    ),
    # an exit decided at bar 2's close fills at bar 3's open, before the stop inside bar 3
    "signal-exit-at-open-before-stop": (
        [QUIET, (100, 101, 99, 100), (97, 98, 90, 91), FLAT],
        {"sl_stop": 0.05, "exit": 2},
        (3, 97.0),
        "vectorbt fills the stop (95) and drops the exit signal",
    ),
    "short-stop": (
        [QUIET, (101, 106, 100, 104), FLAT],
        {"sl_stop": 0.05, "short": True},
        (2, 105.0),
        True,
    ),
    "short-tp": ([QUIET, (95, 96, 89, 92), FLAT], {"tp_stop": 0.1, "short": True}, (2, 90.0), True),
    "short-gap-through-stop": (
        [QUIET, (108, 109, 107, 108), FLAT],
        {"sl_stop": 0.05, "tp_stop": 0.1, "short": True},
        (2, 108.0),
        True,
    ),
    # low-water mark: 100, then 96 (bar 1's low): stop 100.8 on bar 2 (high 100.5),
    # then 95: stop 99.75 on bar 3
    "short-trail": (
        [(100, 101, 96, 97), (97, 100.5, 95, 96), (98, 100, 97, 99), FLAT],
        {"sl_stop": 0.05, "sl_trail": True, "short": True},
        (3, 95 * 1.05),
        True,  # bar 2's low is below the entry bar's: vectorbt's mark catches up
    ),
    "no-exit": ([QUIET, QUIET, QUIET], {"sl_stop": 0.05, "tp_stop": 0.1}, None, True),
}


def _run_all(rows: list, params: dict[str, Any], **costs: Any) -> tuple[Any, Any, pd.DataFrame]:
    bars = _bars([FLAT, *rows])
    event = backtest(Scripted, {"X": bars}, params, cash=1000.0, progress=False, **costs)
    numba = run_vectorized(Scripted, {"X": bars}, params, cash=1000.0, **costs)
    return event, numba, bars


def _exit(trades: pd.DataFrame, bars: pd.DataFrame) -> tuple[int, float] | None:
    assert len(trades) == 1
    trade = trades.iloc[0]
    if trade["status"] == "open":
        return None
    return int(bars.index.get_loc(trade["exit_time"])), float(trade["exit_price"])


@pytest.mark.parametrize("case", list(ROWS))
def test_fill_rule_table(case: str) -> None:
    rows, params, expected, _ = ROWS[case]
    event, numba, bars = _run_all(rows, params)
    got = _exit(event.trades, bars)
    if expected is None:
        assert got is None
    else:
        assert got is not None
        assert got[0] == expected[0]
        assert got[1] == pytest.approx(expected[1], rel=1e-12)
    report = compare_runs(event, numba, rtol=1e-9, price_rtol=1e-9)
    assert report.ok, report.summary()


@pytest.mark.parametrize("case", list(ROWS))
def test_vectorbt_where_it_expresses_the_rule(case: str) -> None:
    rows, params, expected, agrees = ROWS[case]
    bars = _bars([FLAT, *rows])
    event = backtest(Scripted, {"X": bars}, params, cash=1000.0, progress=False)
    vbt_run = run_vectorized(Scripted, {"X": bars}, params, cash=1000.0, engine="vectorbt")
    report = compare_runs(event, vbt_run, rtol=1e-9, price_rtol=1e-9)
    if agrees is True:
        assert report.ok, report.summary()
    else:  # the documented difference shows, and it is about this exit
        assert not report.ok, agrees
        assert _exit(vbt_run.trades, bars) != expected


def test_costs_slip_the_stop_not_the_take_profit() -> None:
    """A stop is a market order once triggered (slipped); a take-profit is a limit (not)."""
    fee, bps = 0.001, 10.0
    costs = {"commission": fee, "slippage": bps}
    stop_rows = [QUIET, (99, 100, 94, 96), FLAT]
    event, numba, bars = _run_all(stop_rows, {"sl_stop": 0.05, "tp_stop": 0.1}, **costs)
    entry = 100.0 * (1 + bps * 1e-4)
    stop = entry * (1 - 5.0 / 100.0)  # from the fill, slippage included
    assert _exit(event.trades, bars) == (2, pytest.approx(stop * (1 - bps * 1e-4), rel=1e-12))
    assert compare_runs(event, numba, rtol=1e-9).ok
    tp_rows = [QUIET, (104, 120, 103, 105), FLAT]
    event, numba, bars = _run_all(tp_rows, {"sl_stop": 0.05, "tp_stop": 0.1}, **costs)
    assert _exit(event.trades, bars) == (2, pytest.approx(entry * 1.1, rel=1e-12))
    assert compare_runs(event, numba, rtol=1e-9).ok


def test_reentry_after_a_stop_arms_new_exits() -> None:
    """After a stop, the next entry's exits are priced from its own fill."""
    rows = [QUIET, (99, 100, 94, 96), (96, 97, 95, 96), (96, 97, 95, 96), (90, 91, 80, 85), FLAT]
    bars = _bars([FLAT, *rows])

    class Twice(Scripted):
        def on_bar(self, ctx: Context) -> None:
            i = len(ctx.close) - 1
            if i in (0, 3):
                ctx.target(percent=1.0, reason="IN", **exit_options(0.05, 0.0, False))

        def vectorized(self, bars: pd.DataFrame) -> VectorSignals:
            entry = pd.Series(False, index=bars.index)
            entry.iloc[[0, 3]] = True
            return VectorSignals(entry, pd.Series(False, index=bars.index), sl_stop=0.05)

    event = backtest(Twice, {"X": bars}, {}, cash=1000.0, progress=False)
    numba = run_vectorized(Twice, {"X": bars}, {}, cash=1000.0)
    assert list(event.trades["exit_price"]) == [95.0, 90.0]  # 96 * 0.95 = 91.2, gapped to 90
    assert compare_runs(event, numba, rtol=1e-9).ok


def test_stops_refused_where_vectorbt_cannot_express_them() -> None:
    bars = _bars([FLAT, QUIET, QUIET])
    signals = VectorSignals(
        pd.Series([True, False, False], index=bars.index),
        pd.Series(False, index=bars.index),
        pd.Series([False, True, False], index=bars.index),
        pd.Series(False, index=bars.index),
        sl_stop=0.05,
    )
    from workbench.backtesting.fastpath import run_signals
    from workbench.backtesting.vectorized import VectorCosts

    with pytest.raises(ConfigError, match="no stops"):
        run_signals(signals, bars, symbol="X", cash=1000.0, costs=VectorCosts(), engine="vectorbt")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sl_stop": 1.0}, "sl_stop"),
        ({"sl_stop": -0.1}, "sl_stop"),
        ({"tp_stop": True}, "tp_stop"),
        ({"sl_trail": "yes"}, "sl_trail"),
    ],
)
def test_bad_stops_are_named(kwargs: dict[str, Any], message: str) -> None:
    from workbench.errors import StrategyError

    never = pd.Series([False, False])
    with pytest.raises(StrategyError, match=message):
        VectorSignals(never, never, **kwargs)


@pytest.mark.parametrize("allow_short", [False, True])
def test_parity_and_the_promotion_gate_use_the_kernel_for_stops(allow_short: bool) -> None:
    """vectorbt checks stops from the bar after the entry (and cannot reverse with them):
    by default the parity check holds a strategy with stops to the numba kernel."""
    from workbench import load_bars
    from workbench.promote import _parity_gate
    from workbench.research.parity import check_parity
    from workbench.strategies.ma_crossover import MACrossover

    bars = load_bars("sample:SPX", start="2010-01-01", end="2013-12-31")
    params = {"fast": 10, "slow": 30, "sl_stop": 0.02, "tp_stop": 0.03}
    params["allow_short"] = allow_short
    report = check_parity("ma_crossover", bars, params)
    assert report.ok and report.engine == "numba", report.summary()
    assert check_parity("ma_crossover", bars, {"fast": 10, "slow": 30}).engine == "vectorbt"
    venue = {"volume_limit": None, "lot_size": None, "margin": 1.0}
    gate = _parity_gate(MACrossover(**params), {"SPX": bars}, {}, venue)
    assert gate.passed and gate.value == "equal"
