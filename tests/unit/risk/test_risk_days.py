"""The risk engine's day on the calendar's clock: a state file written before, the days."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.data.days import TradingDays, are_daily
from workbench.intents import OrderIntent
from workbench.orders import OrderRequest, Side
from workbench.risk import FrameMarket, RiskConfig, RiskEngine, TradingState
from workbench.risk.state import RiskState, SQLiteRiskStore, reducing

NY = "America/New_York"
EVENING = pd.Timestamp("2024-01-05 00:30", tz="UTC")  # 19:30 New York on Thursday
LATER = pd.Timestamp("2024-01-05 00:45", tz="UTC")
FRIDAY = pd.Timestamp("2024-01-05 09:00", tz="UTC")  # 04:00: Friday's first bar in New York
#: What an engine counting UTC days wrote at 19:10 New York on Thursday (00:10 UTC Friday).
OLD = RiskState(
    peak_equity=10_000.0, day="2024-01-05", day_start_equity=10_000.0, last_equity=10_000.0,
    orders_today=1,
)  # fmt: skip


def _ask(engine: RiskEngine, when: pd.Timestamp, account: Callable, bars: Callable) -> int:
    """Ask to buy one share at ``when``; how many orders passed."""
    market = FrameMarket({"X": bars(100.0, end=when)}, when)
    intent = OrderIntent(OrderRequest("X", Side.BUY, quantity=1.0), when)
    return len(engine.check([intent], when, account(10_000.0, time=when), market))


def _restart(path: Path, state: RiskState, config: RiskConfig) -> RiskEngine:
    with SQLiteRiskStore(path) as store:
        store.update(lambda _: state)
    return RiskEngine(config, SQLiteRiskStore(path), days=TradingDays(NY))


def test_a_state_file_with_a_utc_day_counts_on_without_a_second_reset(
    tmp_path: Path, account: Callable, bars: Callable
) -> None:
    """Its day 2024-01-05 (UTC) began at 19:00 New York on Thursday: the same New York day
    as the restart at 19:30, so the order counted there still counts; Friday's first bar
    starts a new count."""
    engine = _restart(tmp_path / "live.sqlite", OLD, RiskConfig(max_orders_per_day=1))
    assert _ask(engine, EVENING, account, bars) == 0  # the limit: 1, already sent
    assert (engine.state.day, engine.state.orders_today) == ("2024-01-04", 1)
    assert _ask(engine, LATER, account, bars) == 0
    assert engine.state.day_start_equity == 10_000.0
    assert _ask(engine, FRIDAY, account, bars) == 1
    assert (engine.state.day, engine.state.orders_today) == ("2024-01-05", 1)
    assert [str(e.action) for e in engine.events] == ["refused", "refused"]


def test_a_state_file_reducing_until_a_utc_day_holds_until_the_new_york_one(
    tmp_path: Path, account: Callable, bars: Callable
) -> None:
    """Reduce-only "until 2024-01-05" (written at 18:00 New York, meaning 00:00 UTC): read
    as the New York day, it holds through the evening and lifts on Friday's first bar."""
    old = reducing(OLD, rule="daily_loss_limit", reason="loss", time=None, until_day="2024-01-05")
    engine = _restart(tmp_path / "live.sqlite", old, RiskConfig(daily_loss_limit=0.05))
    assert _ask(engine, EVENING, account, bars) == 0
    assert engine.trading is TradingState.REDUCING
    assert _ask(engine, FRIDAY, account, bars) == 1
    assert engine.trading is TradingState.ACTIVE
    resumed = engine.events[-1]
    assert (resumed.time, str(resumed.action)) == (FRIDAY, "resumed")
    assert resumed.reason == "new day 2024-01-05 (America/New_York)"


def test_a_run_judged_daily_at_first_goes_on_in_the_same_day(
    account: Callable, bars: Callable
) -> None:
    """An engine told no days (the default calendar's, judged from the bars) whose first
    bar is an evening one at 00:00 UTC: dated as a daily bar first, then as the evening it
    is, one day all along (its order still counted)."""
    engine = RiskEngine(RiskConfig(max_orders_per_day=5))
    start = pd.Timestamp("2024-01-05 00:00", tz="UTC")
    assert _ask(engine, start, account, bars) == 1
    assert engine.state.day == "2024-01-05"
    for minutes in (1, 2):
        assert _ask(engine, start + pd.Timedelta(minutes=minutes), account, bars) == 1
    assert (engine.state.day, engine.state.orders_today) == ("2024-01-04", 3)
    assert engine.days.daily is False


@pytest.mark.parametrize(
    ("when", "day", "start", "end"),
    [
        ("2024-01-05 00:30", "2024-01-04", "2024-01-04 05:00", "2024-01-05 05:00"),
        ("2024-03-10 12:00", "2024-03-10", "2024-03-10 05:00", "2024-03-11 04:00"),  # 23 h
        ("2024-11-03 12:00", "2024-11-03", "2024-11-03 04:00", "2024-11-04 05:00"),  # 25 h
    ],
)
def test_a_new_york_day_and_its_bounds(when: str, day: str, start: str, end: str) -> None:
    d = TradingDays(NY).day(pd.Timestamp(when, tz="UTC").value)
    assert (d.iso, d.start_ns, d.end_ns) == (
        day, pd.Timestamp(start, tz="UTC").value, pd.Timestamp(end, tz="UTC").value
    )  # fmt: skip
    assert TradingDays(NY).on(date.fromisoformat(day)) == d


def test_daily_bars_count_on_their_dates_and_the_days_are_recorded() -> None:
    days = TradingDays.of("XNYS", daily=True)
    label = pd.Timestamp("2024-01-05", tz="UTC")  # the bar of Friday's session
    assert days.day(label.value).iso == "2024-01-05"
    assert days.start(days.day(label.value)).date() == date(2024, 1, 5)
    assert TradingDays.from_meta(days.meta()).__repr__() == repr(days)
    evening = TradingDays.of("XNYS")
    assert evening.start(evening.day(label.value)) == pd.Timestamp("2024-01-04", tz=NY)
    # a state file written before: the bundle's calendar if known, else UTC days
    assert TradingDays.from_meta({"timeframe": "1Min"}, calendar="XNYS").zone == NY
    assert TradingDays.from_meta({"timeframe": "1Day"}).daily is True
    assert TradingDays.from_meta({}).zone == "UTC"
    assert TradingDays.of("24/7").zone == "UTC"


def test_which_bars_are_daily() -> None:
    day = 86_400_000_000_000
    assert are_daily([np.arange(5) * day, np.arange(3) * day])
    assert not are_daily([np.arange(5) * day + 3_600_000_000_000])  # an hour past midnight
    assert not are_daily([np.arange(48) * day // 24])  # hourly, the first at midnight
    assert not are_daily([])
