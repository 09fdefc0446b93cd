"""The risk engine's trading state: drawdown halt, daily loss limit, kill switch, reset, logs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from workbench.data.days import TradingDays
from workbench.intents import CancelIntent, OrderIntent, TargetIntent
from workbench.orders import OrderRequest, OrderType, Side
from workbench.risk import RiskConfig, RiskEngine, TradingState

T0 = pd.Timestamp("2024-03-04 15:00", tz="UTC")
DAY1_LATE = pd.Timestamp("2024-03-04 23:00", tz="UTC")
DAY2 = pd.Timestamp("2024-03-05 10:00", tz="UTC")
DAY3 = pd.Timestamp("2024-03-06 00:00", tz="UTC")


def buy(qty: float, symbol: str = "X", time: pd.Timestamp = T0) -> OrderIntent:
    return OrderIntent(OrderRequest(symbol, Side.BUY, quantity=qty), time)


def sell(qty: float, symbol: str = "X", time: pd.Timestamp = T0) -> OrderIntent:
    return OrderIntent(OrderRequest(symbol, Side.SELL, quantity=qty), time)


DRAWDOWN = [
    # (peak, equity, limit, halts): the brief's example is the second row
    (11_000.0, 9_351.0, 0.15, False),
    (11_000.0, 9_350.0, 0.15, True),
    (11_000.0, 9_000.0, 0.15, True),
    (10_000.0, 9_001.0, 0.10, False),
    (10_000.0, 9_000.0, 0.10, True),
]


@pytest.mark.parametrize(("peak", "equity", "limit", "halts"), DRAWDOWN)
def test_drawdown_halt_fires_at_the_limit(
    account: Callable, peak: float, equity: float, limit: float, halts: bool
) -> None:
    engine = RiskEngine(RiskConfig(max_drawdown=limit))
    engine.on_bar(T0, account(peak))
    engine.on_bar(T0 + pd.Timedelta(hours=1), account(equity))
    assert engine.state.peak_equity == peak
    assert (engine.trading is TradingState.HALTED) is halts
    if halts:
        drop = (peak - equity) / peak
        assert engine.state.reason == (
            f"equity {equity:,.2f} is {drop:.1%} below its peak {peak:,.2f} >= limit {limit:.1%}"
        )


def test_drawdown_halt_cancels_liquidates_and_refuses_everything(
    account: Callable, market: Callable
) -> None:
    engine = RiskEngine(RiskConfig(max_drawdown=0.15))
    limit_buy = OrderRequest("Y", Side.BUY, quantity=1.0, type=OrderType.LIMIT, limit_price=50.0)
    engine.on_bar(T0, account(11_000.0))
    # 20 X and -10 Y held, bought out of 9,350: equity 9,350
    acct = account(9_350.0, {"X": (20.0, 100.0), "Y": (-10.0, 100.0)}, [limit_buy])
    assert acct.get_account().equity == pytest.approx(9_350.0)
    later = T0 + pd.Timedelta(hours=1)
    own = engine.on_bar(later, acct, market({"X": 100.0, "Y": 100.0}))
    assert own == [
        CancelIntent(later, reason="risk=max_drawdown"),
        TargetIntent("X", later, quantity=0.0, reason="risk=max_drawdown"),
        TargetIntent("Y", later, quantity=0.0, reason="risk=max_drawdown"),
    ]
    assert [(str(e.action), e.rule, e.symbol) for e in engine.events] == [
        ("halted", "max_drawdown", None),
        ("canceled", "max_drawdown", None),
        ("liquidated", "max_drawdown", "X"),
        ("liquidated", "max_drawdown", "Y"),
    ]
    # nothing the strategy asks passes, exits included; cancels do
    out = engine.check(
        [buy(1.0), sell(5.0), CancelIntent(later)], later, acct, market({"X": 100.0})
    )
    assert out == [CancelIntent(later)]
    refusals = [e for e in engine.events if str(e.action) == "refused"]
    assert len(refusals) == 2 and all(e.rule == "max_drawdown" for e in refusals)
    assert all(e.reason.startswith("trading halted since ") for e in refusals)


def test_a_halt_keeps_liquidating_what_is_left_without_a_working_order(account: Callable) -> None:
    engine = RiskEngine(RiskConfig(max_drawdown=0.1))
    engine.on_bar(T0, account(10_000.0))
    engine.on_bar(T0 + pd.Timedelta(hours=1), account(8_000.0, {"X": (10.0, 100.0)}))
    t2 = T0 + pd.Timedelta(hours=2)
    working = OrderRequest("X", Side.SELL, quantity=10.0, reason="risk=max_drawdown")
    assert engine.on_bar(t2, account(8_000.0, {"X": (10.0, 100.0)}, [working])) == []
    t3 = T0 + pd.Timedelta(hours=3)
    assert engine.on_bar(t3, account(8_000.0, {"X": (4.0, 100.0)})) == [
        TargetIntent("X", t3, quantity=0.0, reason="risk=max_drawdown")
    ]
    assert sum(str(e.action) == "liquidated" for e in engine.events) == 1  # logged once


def test_daily_loss_limit_reduces_until_the_next_utc_day(
    account: Callable, market: Callable, caplog: pytest.LogCaptureFixture
) -> None:
    """On UTC days (a 24/7 calendar's): New York's are test_risk_day.py's."""
    engine = RiskEngine(RiskConfig(daily_loss_limit=0.05), days=TradingDays("UTC"))
    mkt = market({"X": 100.0})
    engine.on_bar(DAY1_LATE, account(10_000.0))  # the last equity before 00:00 UTC
    held = account(9_470.0, {"X": (10.0, 100.0)})
    assert engine.on_bar(DAY2, held, mkt) == []  # nothing working: nothing to cancel
    assert engine.state.day_start_equity == 10_000.0
    assert engine.trading is TradingState.REDUCING
    assert engine.state.until_day == "2024-03-06"
    with caplog.at_level(logging.INFO, logger="workbench.risk"):
        out = engine.check([buy(1.0), sell(4.0), sell(10.0)], DAY2, held, mkt)
    # the entry is refused, the exit passes, the flip is cut to what closes the rest
    assert out[0] == sell(4.0, time=T0)
    assert out[1].request.quantity == 6.0
    refused = [r for r in caplog.records if r.action == "refused"]
    assert [r.getMessage() for r in refused] == [
        "refused: daily_loss_limit: loss 5.3% of start-of-day equity 10,000.00 > limit 5.0%"
    ]
    record = refused[0]
    assert (record.rule, record.symbol, record.side, record.quantity, record.price) == (
        "daily_loss_limit",
        "X",
        "buy",
        1.0,
        100.0,
    )
    assert record.equity == pytest.approx(9_470.0)
    # a new UTC day lifts it, and its start equity is the last equity of the day before
    engine.on_bar(DAY3, account(9_400.0), mkt)
    assert engine.trading is TradingState.ACTIVE
    assert engine.state.day_start_equity == pytest.approx(9_470.0)
    assert engine.check([buy(1.0, time=DAY3)], DAY3, account(9_400.0), mkt) == [buy(1.0, time=DAY3)]
    assert [str(e.action) for e in engine.events if e.rule == "daily_loss_limit"] == [
        "reducing",
        "refused",
        "resized",
        "resumed",
    ]


def test_daily_loss_limit_cancels_working_orders_once(account: Callable) -> None:
    engine = RiskEngine(RiskConfig(daily_loss_limit=0.05))
    engine.on_bar(DAY1_LATE, account(10_000.0))
    stop = OrderRequest("X", Side.SELL, quantity=1.0, type=OrderType.STOP, stop_price=90.0)
    acct = account(9_000.0, orders=[stop])
    assert engine.on_bar(DAY2, acct) == [CancelIntent(DAY2, reason="risk=daily_loss_limit")]
    assert engine.on_bar(DAY2 + pd.Timedelta(minutes=1), acct) == []


def test_reduce_only_keeps_the_exits_that_protect_open_positions(account: Callable) -> None:
    """Long 10 X with its oco take-profit and stop-loss working, and a limit buy of Y: the
    daily loss limit cancels the entry and keeps the stop-loss of the long it leaves open."""
    engine = RiskEngine(RiskConfig(daily_loss_limit=0.05))
    engine.on_bar(DAY1_LATE, account(10_000.0))
    exits = OrderRequest(
        "X", Side.SELL, quantity=10.0, type=OrderType.LIMIT, limit_price=120.0,
        order_class="oco", take_profit=120.0, stop_loss=90.0,
    )  # fmt: skip
    entry = OrderRequest("Y", Side.BUY, quantity=5.0, type=OrderType.LIMIT, limit_price=80.0)
    acct = account(9_000.0, {"X": (10.0, 100.0)}, [exits, entry])
    (y,) = [o for o in acct.get_open_orders() if o.symbol == "Y"]
    assert engine.on_bar(DAY2, acct) == [
        CancelIntent(DAY2, order_id=y.id, reason="risk=daily_loss_limit")
    ]
    assert engine.events[-1].reason == (
        "canceled 1 working order(s): trading is REDUCING; kept 2 protective exit(s)"
    )
    # a halt cancels them too: it liquidates what they protect
    engine.kill("test", DAY2)
    assert engine.on_bar(DAY2 + pd.Timedelta(minutes=1), acct)[0] == CancelIntent(
        DAY2 + pd.Timedelta(minutes=1), reason="risk=kill_switch"
    )


@pytest.mark.parametrize(("equity", "reduces"), [(9_500.0, False), (9_499.0, True)])
def test_daily_loss_must_exceed_the_limit(account: Callable, equity: float, reduces: bool) -> None:
    engine = RiskEngine(RiskConfig(daily_loss_limit=0.05))
    engine.on_bar(DAY1_LATE, account(10_000.0))
    engine.on_bar(DAY2, account(equity))
    assert (engine.trading is TradingState.REDUCING) is reduces


@pytest.mark.parametrize(
    ("limit", "equity", "message"),
    [
        (0.05, 9_470.0, "loss 5.3% of start-of-day equity 10,000.00 > limit 5.0%"),
        (0.005, 9_949.0, "loss 0.51% of start-of-day equity 10,000.00 > limit 0.50%"),
    ],
)
def test_daily_loss_reason_shows_the_numbers(
    account: Callable, limit: float, equity: float, message: str
) -> None:
    engine = RiskEngine(RiskConfig(daily_loss_limit=limit))
    engine.on_bar(DAY1_LATE, account(10_000.0))
    engine.on_bar(DAY2, account(equity))
    assert engine.state.reason == message


def test_kill_switch_file_halts_at_the_next_bar(
    account: Callable, market: Callable, tmp_path: Path
) -> None:
    flag = tmp_path / "KILL"
    engine = RiskEngine(RiskConfig(kill_switch_file=str(flag)))
    acct = account(5_000.0, {"X": (50.0, 100.0)})
    assert engine.on_bar(T0, acct) == []
    flag.touch()
    later = T0 + pd.Timedelta(minutes=1)
    assert engine.on_bar(later, acct) == [
        TargetIntent("X", later, quantity=0.0, reason="risk=kill_switch")
    ]
    assert engine.trading is TradingState.HALTED
    assert engine.events[0].message == f"kill_switch: kill_switch: kill switch file {flag} exists"
    flag.unlink()  # removing the file does not resume trading
    assert engine.check([buy(1.0)], later, acct, market({"X": 100.0})) == []
    assert engine.trading is TradingState.HALTED


def test_kill_switch_without_liquidation_only_halts(account: Callable, tmp_path: Path) -> None:
    flag = tmp_path / "KILL"
    flag.touch()
    engine = RiskEngine(RiskConfig(kill_switch_file=str(flag), liquidate_on_kill=False))
    assert engine.on_bar(T0, account(5_000.0, {"X": (50.0, 100.0)})) == []
    assert engine.trading is TradingState.HALTED


def test_reset_lifts_a_halt_and_restarts_the_peak(account: Callable, market: Callable) -> None:
    engine = RiskEngine(RiskConfig(max_drawdown=0.1))
    engine.on_bar(T0, account(10_000.0))
    engine.on_bar(T0 + pd.Timedelta(hours=1), account(8_000.0))
    assert engine.trading is TradingState.HALTED
    engine.reset("checked the strategy", time=T0 + pd.Timedelta(hours=2))
    t3 = T0 + pd.Timedelta(hours=3)
    engine.on_bar(t3, account(8_000.0))
    assert engine.trading is TradingState.ACTIVE  # not halted again by the old peak
    assert engine.state.peak_equity == 8_000.0
    assert engine.check([buy(1.0, time=t3)], t3, account(8_000.0), market({"X": 100.0})) == [
        buy(1.0, time=t3)
    ]
    engine.on_bar(t3 + pd.Timedelta(hours=1), account(7_100.0))
    assert engine.trading is TradingState.HALTED  # 11.25% below the new peak


def test_engine_kill_cancels_and_liquidates_at_the_next_bar(account: Callable) -> None:
    engine = RiskEngine()
    engine.kill("operator", time=T0)
    later = T0 + pd.Timedelta(minutes=5)
    out = engine.on_bar(later, account(5_000.0, {"X": (50.0, 100.0)}))
    assert out == [TargetIntent("X", later, quantity=0.0, reason="risk=kill_switch")]


def test_check_observes_the_bar_if_on_bar_was_not_called(
    account: Callable, market: Callable
) -> None:
    engine = RiskEngine(RiskConfig(max_drawdown=0.1))
    engine.on_bar(T0, account(10_000.0))
    later = T0 + pd.Timedelta(hours=1)
    acct = account(8_000.0, {"X": (10.0, 100.0)})
    out = engine.check([buy(5.0, time=later)], later, acct, market({"X": 100.0}))
    assert out == [TargetIntent("X", later, quantity=0.0, reason="risk=max_drawdown")]


def test_a_resized_flip_target_sends_only_the_approved_orders(
    account: Callable, market: Callable
) -> None:
    """Long 10 -> short all-in under a position cap: close 10, then short only the cap."""
    from workbench.risk import PositionSizing

    engine = RiskEngine(RiskConfig(position_sizing=PositionSizing(max_position_notional=2_000.0)))
    acct = account(10_000.0, {"X": (10.0, 100.0)})
    out = engine.check(
        [TargetIntent("X", T0, percent=-1.0, reason="FLIP")], T0, acct, market({"X": 100.0})
    )
    assert out == [TargetIntent("X", T0, notional=-2_000.0, reason="FLIP")]


def test_an_approved_target_passes_as_the_same_object(account: Callable, market: Callable) -> None:
    intent = TargetIntent("X", T0, percent=0.5)
    out = RiskEngine(RiskConfig(max_drawdown=0.2)).check(
        [intent], T0, account(1_000.0), market({"X": 10.0})
    )
    assert out[0] is intent


@pytest.mark.parametrize(
    "when",
    ["2024-01-01 00:00", "2024-02-29 23:59", "2023-12-31 23:59:59.999999999", "1969-12-31 12:00",
     "1970-01-01", "1700-03-01 06:00", "2262-04-10 12:00"],
)  # fmt: skip
def test_the_utc_day_and_the_next_are_pandas_own(when: str) -> None:
    """The day a bar belongs to (and when a reduce-only period lifts), by date arithmetic."""
    t = pd.Timestamp(when, tz="UTC")
    start = t.floor("D")
    expected = (start.date().isoformat(), (start + pd.Timedelta(days=1)).date().isoformat())
    day = RiskEngine(days=TradingDays("UTC")).days.day(t.value)
    assert (day.iso, day.next_iso) == expected


@pytest.mark.parametrize(
    "when",
    ["2024-01-04 23:59", "2024-01-05 00:30", "2024-01-05 04:59:59", "2024-01-05 05:00",
     "2024-03-10 06:59", "2024-03-10 07:00", "2024-11-03 05:30", "2024-11-03 06:00",
     "1969-12-31 12:00", "1700-03-01 06:00", "2262-04-10 12:00"],
)  # fmt: skip
def test_a_new_york_day_and_the_next_are_pandas_own(when: str) -> None:
    """On New York's clock (clock changes included), by zoneinfo: as pandas dates it."""
    t = pd.Timestamp(when, tz="UTC")
    start = t.tz_convert("America/New_York").tz_localize(None).normalize()
    expected = (start.date().isoformat(), (start + pd.Timedelta(days=1)).date().isoformat())
    day = RiskEngine(days=TradingDays("America/New_York")).days.day(t.value)
    assert (day.iso, day.next_iso) == expected
