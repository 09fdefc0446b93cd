"""The risk engine's quiet-bar path (floats only) gives the states and events of the full step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from workbench import backtest
from workbench.data.days import TradingDays
from workbench.risk import RiskConfig, RiskEngine, TradingState
from workbench.risk.state import MemoryRiskStore, halted
from workbench.strategy import Strategy

T0 = pd.Timestamp("2024-03-04 00:00", tz="UTC")


class FullStepStore(MemoryRiskStore):
    """An in-memory store the quiet-bar path does not take (it takes only its own kind)."""


def equity_path(n: int, seed: int) -> np.ndarray:
    """A walk with rallies and two sharp falls: new peaks, daily losses, a drawdown halt."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, 0.002, n)
    steps[n // 3 : n // 3 + 20] = -0.004  # a daily loss
    steps[2 * n // 3 : 2 * n // 3 + 60] = -0.006  # the drawdown
    return 100_000.0 * np.exp(np.cumsum(steps))


def run(engine: RiskEngine, equity: np.ndarray, times: pd.DatetimeIndex, account: Any) -> list:
    seen: list[tuple] = []
    stamps = times.as_unit("ns").asi8.tolist()
    for k, (t, e) in enumerate(zip(stamps, equity.tolist(), strict=True)):
        own = engine.on_bar_ns(t, account, None, e)
        seen.append((t, len(own), engine.state if k % 97 == 0 else None))  # reading writes
    events = [(e.time, e.rule, e.action, e.reason, e.details) for e in engine.events]
    return seen + events


def test_quiet_bars_match_the_full_step_over_days_losses_and_a_halt(
    account: Callable[..., Any],
) -> None:
    times = pd.date_range(T0, periods=3_000, freq="7min", tz="UTC")  # about 15 days
    both = RiskConfig(max_drawdown=0.2, daily_loss_limit=0.03)
    for config, actions in [
        (both, {"reducing", "resumed", "halted"}),
        (RiskConfig(max_drawdown=0.2), {"halted"}),  # the halt on a quiet bar
    ]:
        for seed in (1, 2, 3):
            equity = equity_path(len(times), seed)
            fast, full = RiskEngine(config), RiskEngine(config, store=FullStepStore())
            a, b = account(1_000.0, time=times[0]), account(1_000.0, time=times[0])
            assert run(fast, equity, times, a) == run(full, equity, times, b)
            assert fast.trading is TradingState.HALTED  # the path reached every rule
            assert {e.action for e in fast.events} >= actions


def test_a_change_made_by_another_hand_is_seen_on_the_next_bar(
    account: Callable[..., Any],
) -> None:
    engine = RiskEngine(RiskConfig(max_drawdown=0.5))
    acct = account(1_000.0, time=T0)
    for k in range(10):
        engine.on_bar_ns(T0.value + k * 60_000_000_000, acct, None, 1_000.0 + k)
    store = engine.store
    assert store.load().peak_equity == 1_009.0  # the quiet bars' floats are written when read
    engine.on_bar_ns(T0.value + 10 * 60_000_000_000, acct, None, 1_010.0)
    store.update(lambda s: halted(s, rule="kill_switch", reason="by hand", time=T0, flatten=False))
    engine.on_bar_ns(T0.value + 11 * 60_000_000_000, acct, None, 1_011.0)
    assert engine.trading is TradingState.HALTED
    assert [(e.rule, e.action) for e in engine.events] == [("kill_switch", "kill_switch")]
    assert engine.state.peak_equity == 1_011.0


def test_equity_creeping_down_to_each_limit_halts_on_the_same_bar_as_the_full_step(
    account: Callable[..., Any],
) -> None:
    """The quiet path's one-comparison floor sits just above the exact thresholds: bars
    in the last billionth before a limit take the exact checks, and the limit itself
    stops trading on the bar the full step stops it."""
    gaps = [1.0, 1e-3, 2e-4, 1e-4, 5e-5, 1e-5, 1e-7, 1e-9, 0.0, -1e-9]
    cases = [  # (config, the equity at which it acts, from a start and peak of 100,000)
        (RiskConfig(max_drawdown=0.2), 80_000.0),
        (RiskConfig(daily_loss_limit=0.03), 97_000.0 - 1e-6),  # must exceed the limit
        (RiskConfig(max_drawdown=0.2, daily_loss_limit=0.1), 90_000.0 - 1e-6),
    ]
    for config, limit in cases:
        equity = np.array([100_000.0, 100_000.0] + [limit + g for g in gaps])
        times = pd.date_range(T0, periods=len(equity), freq="1min", tz="UTC")
        fast, full = RiskEngine(config), RiskEngine(config, store=FullStepStore())
        a, b = account(1_000.0, time=times[0]), account(1_000.0, time=times[0])
        assert run(fast, equity, times, a) == run(full, equity, times, b), config
        assert fast.trading is not TradingState.ACTIVE
        # it acted within the last ten-thousandth, below the floor: those bars took the
        # exact checks, and the ones before the limit passed
        assert fast.events[0].time > times[2 + gaps.index(2e-4)]


class Counted(RiskEngine):
    """Counts the bars the bar kernel hands to the engine (the rest it records inline)."""

    calls = 0

    def on_bar_ns(self, *args: Any) -> Any:
        self.calls += 1
        return super().on_bar_ns(*args)


class Swing(Strategy):
    """Long 95% of equity, lightened every 40 bars: orders approved on ordinary bars."""

    name = "swing"

    def on_bar(self, ctx: Any) -> None:
        k = len(ctx.close)
        if k % 40 == 1:
            ctx.target(percent=0.95 if k % 80 == 1 else 0.5, reason="swing")


def test_a_backtest_takes_the_same_steps_whether_the_kernel_records_quiet_bars_or_not() -> None:
    """The bar kernel records a bar in the risk engine's quiet band itself, without a call;
    a run on a store that keeps the band closed (every bar through the full step) gives
    the same equity, trades, risk events and state, across new UTC days, a daily loss
    limit and a drawdown halt (on UTC days: the New York days of the test above give
    the same paths, with another daily loss period before the halt)."""
    times = pd.date_range(T0, periods=6_000, freq="min", tz="UTC")  # about four days
    close = equity_path(len(times), seed=4) / 1_000.0
    bars = pd.DataFrame(
        {"open": close, "high": close * 1.001, "low": close * 0.999, "close": close,
         "volume": 1e6},
        index=times,
    )  # fmt: skip
    config = RiskConfig(max_drawdown=0.2, daily_loss_limit=0.03)
    utc = TradingDays("UTC")
    fast = Counted(config, days=utc)
    full = Counted(config, store=FullStepStore(), days=TradingDays("UTC"))
    a, b = (backtest(Swing, bars, cash=100_000.0, risk=r, progress=False) for r in (fast, full))
    pd.testing.assert_series_equal(a.equity, b.equity)
    pd.testing.assert_frame_equal(a.trades, b.trades)
    pd.testing.assert_frame_equal(a.risk_events, b.risk_events)
    assert fast.state == full.state
    assert set(a.risk_events["action"]) >= {"reducing", "resumed", "halted"}
    assert full.calls == len(times)  # the band stays closed on a store it does not know
    assert fast.calls < len(times) // 2  # quiet bars never reach it (after the halt all do)
