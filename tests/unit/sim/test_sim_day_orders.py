"""DAY orders of the simulated venue on an exchange calendar: valid for one session.

Alpaca (Orders at Alpaca, time in force): a day order is good for the trading day it is
for and is canceled when that session ends (16:00 New York, 13:00 on an early close); one
sent after the close is for the next trading day. Bars are labelled by their start, on
intraday data with the extended hours (``session: all``), so the UTC midnight (19:00 New
York in winter, 20:00 in summer) falls between bars of the same New York evening.
"""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.backtesting.engine import Engine
from workbench.broker import UpdateEvent
from workbench.compose import backtest_config, simulated_broker
from workbench.data.synthetic import synthetic_bars
from workbench.errors import ConfigError
from workbench.orders import OrderClass, OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from workbench.runspec import RunSpec
from workbench.sim.broker import SimulatedBroker
from workbench.strategies.ma_crossover import MACrossover

#: Winter (New York 5 hours behind UTC) and summer (4 hours) weeks, Wednesday to Thursday.
WINTER, SUMMER = ("2024-01-10", "2024-01-11"), ("2024-07-10", "2024-07-11")


def ny(day: str, clock: str) -> pd.Timestamp:
    return pd.Timestamp(f"{day} {clock}", tz="America/New_York").tz_convert("UTC")


def day_limit(price: float = 90.0) -> OrderRequest:
    return OrderRequest("X", Side.BUY, quantity=1.0, type=OrderType.LIMIT, limit_price=price,
                        tif=TimeInForce.DAY)  # fmt: skip


def quiet(broker: SimulatedBroker, t: pd.Timestamp) -> list:
    """A bar at ``t`` that does not reach the limit (90)."""
    return broker.process_bar("X", t, 100, 101, 95, 100, 1e6)


def through(broker: SimulatedBroker, t: pd.Timestamp) -> list:
    """A bar at ``t`` that trades through the limit (90)."""
    return broker.process_bar("X", t, 100, 101, 85, 88, 1e6)


def placed(t: pd.Timestamp, calendar: str | None = "XNYS") -> tuple[SimulatedBroker, str]:
    broker = SimulatedBroker(10_000.0, calendar=calendar)
    broker.set_time(t)
    return broker, broker.submit_order(day_limit()).id


@pytest.mark.parametrize(("day", "_"), [WINTER, SUMMER], ids=["winter", "summer"])
def test_a_day_order_expires_at_the_close_not_in_the_after_hours(day, _) -> None:
    broker, oid = placed(ny(day, "15:00"))
    assert quiet(broker, ny(day, "15:59")) == []
    (update,) = through(broker, ny(day, "16:00"))  # the first after-hours bar
    assert update.event is UpdateEvent.EXPIRED and update.order.id == oid
    assert broker.fills == [] and broker.get_open_orders() == []


@pytest.mark.parametrize(("day", "next_day"), [WINTER, SUMMER], ids=["winter", "summer"])
def test_a_day_order_sent_after_the_close_is_for_the_next_session(day, next_day) -> None:
    # sent past midnight UTC: 19:30 New York in winter, 20:30 in summer (extended hours over)
    sent = ny(day, "19:30" if day == WINTER[0] else "20:30")
    broker, oid = placed(sent)
    if day == WINTER[0]:
        assert quiet(broker, ny(day, "19:45")) == []  # the evening's last extended hours
    for clock in ("04:00", "09:30", "15:59"):
        assert quiet(broker, ny(next_day, clock)) == []
    assert broker.get_order(oid).status is OrderStatus.NEW  # working through the session
    (update,) = through(broker, ny(next_day, "16:30"))
    assert update.event is UpdateEvent.EXPIRED and broker.fills == []


@pytest.mark.parametrize(("day", "next_day"), [WINTER, SUMMER], ids=["winter", "summer"])
def test_a_day_order_sent_after_the_close_fills_in_the_next_session(day, next_day) -> None:
    broker, _ = placed(ny(day, "19:30"))
    (update,) = through(broker, ny(next_day, "15:59"))
    assert update.event is UpdateEvent.FILL and update.fill.price == 90.0


def test_a_day_order_expires_at_an_early_close() -> None:
    broker, _ = placed(ny("2024-11-29", "10:00"))  # the day after Thanksgiving: 13:00 close
    assert quiet(broker, ny("2024-11-29", "12:59")) == []
    (update,) = through(broker, ny("2024-11-29", "13:30"))
    assert update.event is UpdateEvent.EXPIRED and broker.fills == []


def test_a_friday_evening_order_is_for_monday() -> None:
    broker, oid = placed(ny("2024-01-12", "19:30"))  # Saturday 00:30 UTC
    quiet(broker, ny("2024-01-15", "09:30"))  # Monday is a holiday (Martin Luther King Day)
    assert broker.get_order(oid).status is OrderStatus.NEW
    (update,) = through(broker, ny("2024-01-16", "10:00"))  # Tuesday: its session
    assert update.event is UpdateEvent.FILL


def test_on_daily_bars_a_day_order_lives_one_session() -> None:
    # daily bars are labelled 00:00 UTC of their session's date; a decision on Friday's bar
    friday, monday, tuesday = (pd.Timestamp(d, tz="UTC") for d in
                               ("2024-01-05", "2024-01-08", "2024-01-09"))  # fmt: skip
    broker, oid = placed(friday)
    assert quiet(broker, monday) == []
    (update,) = through(broker, tuesday)
    assert update.event is UpdateEvent.EXPIRED and update.order.id == oid


def test_without_a_calendar_days_are_utc_days() -> None:
    # a 24/7 venue (crypto, synthetic data): a day ends at midnight UTC
    broker, _ = placed(ny(WINTER[0], "15:00"), calendar=None)
    assert through(broker, ny(WINTER[0], "16:00"))[0].event is UpdateEvent.FILL
    broker, _ = placed(ny(WINTER[0], "15:00"), calendar="24/7")
    assert quiet(broker, pd.Timestamp("2024-01-10 23:59", tz="UTC")) == []
    (update,) = through(broker, pd.Timestamp("2024-01-11 00:00", tz="UTC"))
    assert update.event is UpdateEvent.EXPIRED


def test_an_unknown_calendar_is_refused_at_once() -> None:
    with pytest.raises(ConfigError, match="XNYZ"):
        SimulatedBroker(1_000.0, calendar="XNYZ")


def test_a_runs_venue_keeps_the_run_specs_calendar() -> None:
    spec = RunSpec(symbols=("X",), timeframe=None, calendar="24/7")
    assert simulated_broker(spec).calendar == "24/7"  # a live run's simulated venue
    assert simulated_broker(spec, pennies=50.0).calendar == "24/7"
    engine = Engine(MACrossover(), {"X": synthetic_bars(n=30)}, backtest_config(spec))
    assert engine.broker.calendar == "24/7"  # the backtest's


def day_bracket() -> OrderRequest:
    return OrderRequest("X", Side.BUY, quantity=1.0, tif=TimeInForce.DAY,
                        order_class=OrderClass.BRACKET, take_profit=120, stop_loss=80)  # fmt: skip


@pytest.mark.parametrize("calendar", [None, "XNYS"])
def test_a_day_brackets_exits_end_with_the_entrys_session_on_daily_bars(calendar) -> None:
    # Alpaca: every order of a bracket has its time in force; a day bracket's exits
    # armed by the entry's fill are day orders of that trading day
    monday, tuesday = (pd.Timestamp(d, tz="UTC") for d in ("2024-01-08", "2024-01-09"))
    broker = SimulatedBroker(10_000.0, calendar=calendar)
    broker.set_time(monday - pd.Timedelta(days=3))  # decided on Friday's bar
    entry = broker.submit_order(day_bracket())
    quiet(broker, monday)  # the entry fills at the open; its exits work the rest of the bar
    assert [broker.get_order(i).status for i in entry.legs] == [OrderStatus.NEW] * 2
    updates = broker.process_bar("X", tuesday, 100, 125, 99, 100, 1e6)  # past the take-profit
    assert {(u.event, u.order.id) for u in updates} == {
        (UpdateEvent.EXPIRED, leg) for leg in entry.legs
    }
    assert broker.portfolio.quantity("X") == 1.0


def test_a_day_brackets_exits_end_at_the_close_on_minute_bars() -> None:
    broker = SimulatedBroker(10_000.0, calendar="XNYS")
    broker.set_time(ny(WINTER[0], "09:59"))
    entry = broker.submit_order(day_bracket())
    quiet(broker, ny(WINTER[0], "10:00"))  # filled: the exits are armed
    assert quiet(broker, ny(WINTER[0], "15:59")) == []
    updates = broker.process_bar("X", ny(WINTER[0], "16:30"), 100, 125, 99, 100, 1e6)
    assert {u.event for u in updates} == {UpdateEvent.EXPIRED}
    assert {u.order.id for u in updates} == set(entry.legs)
