"""Positions and open orders at the broker that the runner did not create stop it before any
order (or are adopted with ``adopt_positions``); the simulated broker is the venue here,
``test_live_holdings_emulator.py`` does the same through alpaca-py."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from workbench import load_bars
from workbench.broker import Bar
from workbench.errors import ReconciliationError
from workbench.live import notify
from workbench.live.holdings import compare_holdings
from workbench.live.replay import ReplayFeed, SimulatedVenueFeed
from workbench.live.runner import LiveRunner
from workbench.live.state import StateStore
from workbench.live.status import read_status
from workbench.orders import OrderRequest, OrderType, Side
from workbench.sim.broker import SimulatedBroker
from workbench.strategy import make_strategy

PARAMS = {"fast": 5, "slow": 20}
FIELDS = ("open", "high", "low", "close", "volume")


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return load_bars("sample:SPX", end="2000-12-31")


def runner(bars: pd.DataFrame, state: StateStore, broker: SimulatedBroker, **kw: Any) -> Any:
    feed = SimulatedVenueFeed(ReplayFeed({"SPX": bars}), broker)
    strategy = make_strategy("ma_crossover", PARAMS)
    return LiveRunner(strategy, ["SPX"], broker, feed, state, **kw)


def manual(broker: SimulatedBroker, bars: pd.DataFrame, **kw: Any) -> Any:
    """An order placed at the venue by someone else (not a workbench client order id) on
    the first bar, and the second bar traded (the runner then replays from the third)."""
    broker.set_time(bars.index[0])
    order = broker.submit_order(OrderRequest("SPX", Side.BUY, client_order_id="manual-1", **kw))
    bar = bars.iloc[1]
    broker.process_bar("SPX", bars.index[1], *map(float, bar[list(FIELDS)]))
    return order


def test_an_unexplained_position_stops_the_runner_before_any_order(bars, tmp_path, caplog) -> None:
    broker = SimulatedBroker(100_000)
    manual(broker, bars, quantity=10)
    assert broker.get_positions()["SPX"].quantity == 10
    state = StateStore(tmp_path / "live.sqlite")
    with (
        caplog.at_level(logging.INFO, logger="workbench"),
        pytest.raises(ReconciliationError) as info,
    ):
        runner(bars.iloc[2:], state, broker).run()
    err = info.value
    assert err.exit_code == 6
    assert "position SPX: broker 10, state 0" in str(err)
    assert "--adopt-positions" in str(err) and "close them at the broker" in str(err)
    assert [(d.kind, d.symbol, d.broker_quantity) for d in err.differences] == [
        ("position", "SPX", 10.0)
    ]
    assert len(broker.orders) == 1  # the manual one: the runner sent nothing
    assert state.last_bar_ns() is None and state.get_meta("status") == "failed"
    assert len(state.events("holdings_mismatch")) == 1
    status = read_status(state.path)
    assert status["holdings"].startswith("mismatch (start, ") and status["status"] == "failed"
    assert status["holdings"].endswith("1 difference(s)")
    (record,) = [r for r in caplog.records if r.__dict__.get("event") == "holdings_mismatch"]
    with notify.Notifier(notify.NotifyConfig()) as notifier:  # the event a person is sent
        assert notify.NotifyHandler(notifier).classify(record) == "reconcile_mismatch"
    lines = [r for r in caplog.records if r.__dict__.get("event") == "holdings_difference"]
    assert [(r.__dict__["symbol"], r.__dict__["quantity"], r.__dict__["state_quantity"])
            for r in lines] == [("SPX", 10.0, 0.0)]  # fmt: skip


def test_an_unexplained_open_order_stops_the_runner(bars, tmp_path) -> None:
    broker = SimulatedBroker(100_000)
    low = float(bars["low"].min()) / 2  # never fills
    order = manual(broker, bars, quantity=3, type=OrderType.LIMIT,
                   limit_price=low)  # fmt: skip
    state = StateStore(tmp_path / "live.sqlite")
    with pytest.raises(ReconciliationError) as info:
        runner(bars.iloc[2:], state, broker).run()
    text = str(info.value)
    assert f"open order SPX +3: order id {order.id}, client order id manual-1" in text
    assert len(broker.orders) == 1 and broker.get_order(order.id).status.is_open


def test_adopt_positions_takes_them_over_and_a_restart_does_not_ask_again(
    bars, tmp_path, caplog
) -> None:
    broker = SimulatedBroker(100_000)
    manual(broker, bars, quantity=10)
    low = float(bars["low"].min()) / 2
    resting = broker.submit_order(
        OrderRequest("SPX", Side.BUY, 2, type=OrderType.LIMIT, limit_price=low,
                     client_order_id="manual-2")
    )  # fmt: skip
    path = tmp_path / "live.sqlite"
    state = StateStore(path)
    with caplog.at_level(logging.INFO, logger="workbench"):
        summary = runner(bars.iloc[2:], state, broker, adopt_positions=True).run(max_bars=60)
    assert summary.bars == 60 and summary.orders_sent > 0
    adopted = {r.__dict__["event"]: r.__dict__ for r in caplog.records
               if r.__dict__.get("event", "").startswith("adopted_")}  # fmt: skip
    assert adopted["adopted_position"]["symbol"] == "SPX"
    assert adopted["adopted_position"]["quantity"] == 10
    assert adopted["adopted_order"]["order_id"] == resting.id
    table = state.adoptions()
    assert list(table["kind"]) == ["order", "position"]
    assert list(table["quantity"]) == [2.0, 10.0]
    assert read_status(path)["holdings"].startswith("match (daily, ")  # after adopting
    state.close()
    caplog.clear()
    state = StateStore(path)  # a restart without the flag: the state explains it all now
    with caplog.at_level(logging.INFO, logger="workbench"):
        assert runner(bars.iloc[2:], state, broker).run(max_bars=60).bars == 60
    events = [r.__dict__.get("event") for r in caplog.records]
    assert "holdings_mismatch" not in events and "holdings_checked" in events
    assert read_status(path)["holdings"].startswith("match (daily, ")
    assert len(state.adoptions()) == 2
    assert compare_holdings(state, broker).clean


def test_fills_made_while_the_runner_was_down_are_no_difference(bars, tmp_path) -> None:
    """An order the state thinks open filled at the broker after a crash: resolved from the
    broker's order and recorded, not reported."""
    broker = SimulatedBroker(100_000)
    path = tmp_path / "live.sqlite"
    state = StateStore(path)
    first = bars.iloc[:150]
    run = runner(first, state, broker)
    run.run()
    filled = state.orders().query("status == 'filled'")
    assert len(filled) > 1
    # the last filled order is open in the state, as if the runner died before its fill
    broker_order = broker.get_order_by_client_id(filled["client_order_id"].iloc[-1])
    assert broker_order is not None and broker_order.filled_quantity > 0
    state.conn.execute("DELETE FROM fills WHERE order_id = ?", (broker_order.id,))
    state.set_order_status(broker_order.client_order_id, "new")
    check = compare_holdings(state, broker)
    assert check.clean  # the broker's fill of an order the state knows explains it
    state.close()
    state = StateStore(path)
    assert runner(bars.iloc[150:], state, broker).run(max_bars=5).bars == 5
    assert state.filled(broker_order.id)[0] == pytest.approx(broker_order.filled_quantity)


class ManualTradeFeed:
    """The replayed feed, with someone buying at the venue after the ``at``-th bar."""

    def __init__(self, feed: Any, broker: SimulatedBroker, at: int) -> None:
        self.feed, self.broker, self.at = feed, broker, at

    def __iter__(self) -> Iterator[list[Bar]]:
        for n, group in enumerate(self.feed, 1):
            yield group
            if n == self.at:
                self.broker.submit_order(OrderRequest("SPX", Side.SELL, 1, client_order_id="hand"))

    def is_stale(self, now: pd.Timestamp) -> bool:
        return False


def test_the_daily_check_halts_before_the_next_days_decision(bars, tmp_path, caplog) -> None:
    broker = SimulatedBroker(100_000)
    state = StateStore(tmp_path / "live.sqlite")
    feed = SimulatedVenueFeed(ManualTradeFeed(ReplayFeed({"SPX": bars}), broker, 50), broker)
    run = LiveRunner(make_strategy("ma_crossover", PARAMS), ["SPX"], broker, feed, state)
    with caplog.at_level(logging.INFO, logger="workbench"), pytest.raises(ReconciliationError):
        run.run()
    # the hand order filled at bar 51's open; bar 51 is recorded, never decided
    assert state.last_bar_ns() == bars.index[50].value
    assert state.decided_through() == bars.index[49].value
    orders = state.orders()
    assert orders["decision_ns"].max() <= bars.index[49].value
    assert len(broker.orders) == len(orders) + 1  # nothing sent after the hand trade
    assert "hand" not in set(state.fills()["client_order_id"].dropna())
    mismatch = [r for r in caplog.records if r.__dict__.get("event") == "holdings_mismatch"]
    assert len(mismatch) == 1 and mismatch[0].__dict__["reason"] == "daily"
    detail = json.loads(state.events("holdings_mismatch")["detail"].iloc[0])
    kinds = {(d["kind"], d["symbol"]) for d in detail["differences"]}
    assert ("position", "SPX") in kinds


def test_a_state_file_from_before_adoptions_is_read_as_adopting_nothing(bars, tmp_path) -> None:
    broker = SimulatedBroker(100_000)
    path = tmp_path / "live.sqlite"
    state = StateStore(path)
    runner(bars.iloc[:120], state, broker).run()
    state.conn.execute("DROP TABLE adoptions")  # as an older runner left it
    state.close()
    with StateStore.reader(path) as old:  # `workbench reconcile --broker` reads it so
        assert old.adoptions().empty
        assert compare_holdings(old, broker).clean
        assert old.explained_positions() == pytest.approx(
            {s: p.quantity for s, p in broker.get_positions().items()} or {"SPX": 0.0}
        )


def test_a_bracket_that_filled_and_exited_while_the_runner_was_down_is_no_difference(
    tmp_path,
) -> None:
    """The runner stops just after sending an entry with its exits attached; at the venue
    the entry fills and an exit closes it before the runner is back: restart recovery reads
    the entry and its legs from the broker, so the state explains the flat position."""
    from workbench.strategies.bracket_breakout import BracketBreakout

    bars = load_bars("sample:SPX", start="1999-01-01").iloc[:260]
    params = {"window": 10, "take_profit": 0.03, "stop_loss": 0.015}
    broker = SimulatedBroker(100_000)
    path = tmp_path / "live.sqlite"
    state = StateStore(path)
    feed = SimulatedVenueFeed(ReplayFeed({"SPX": bars}), broker)
    run = LiveRunner(BracketBreakout(**params), ["SPX"], broker, feed, state)
    n = 0
    while state.orders().empty:  # one bar at a time, up to the first entry sent
        n += run.run(max_bars=1).bars
    entry = broker.get_order_by_client_id(state.orders()["client_order_id"].iloc[0])
    assert entry is not None and entry.legs and entry.filled_quantity == 0
    state.close()
    k = n  # the venue trades on without the runner: the entry fills, then an exit
    while broker.get_order(entry.id).filled_quantity == 0 or broker.get_positions():
        broker.process_bar("SPX", bars.index[k], *map(float, bars.iloc[k][list(FIELDS)]))
        k += 1
    assert broker.get_order(entry.id).filled_quantity > 0 and not broker.get_positions()
    state = StateStore(path)
    assert compare_holdings(state, broker).clean  # what `workbench reconcile --broker` says
    feed = SimulatedVenueFeed(ReplayFeed({"SPX": bars.iloc[k:]}), broker)
    restarted = LiveRunner(BracketBreakout(**params), ["SPX"], broker, feed, state)
    assert restarted.run(max_bars=2).bars == 2  # no stop
    sides = state.fills()["side"].tolist()
    assert sides[:2] == ["buy", "sell"]  # the entry's fill and its exit's, both recorded


class RefusingBroker(SimulatedBroker):
    """A venue whose refusal quotes the request's credentials back (some gateways do)."""

    def get_positions(self) -> Any:
        from workbench.errors import BrokerError

        raise BrokerError("get positions refused: api_key=PKSECRETVALUE123 is not authorized")


def test_a_failure_written_to_the_state_never_holds_a_secret(bars, tmp_path) -> None:
    """The run's failure message is kept in the state (``workbench live status``, the
    dashboard): masked like every log line."""
    state = StateStore(tmp_path / "live.sqlite")
    with pytest.raises(Exception, match="refused"):
        runner(bars, state, RefusingBroker(cash=100_000.0)).run()
    assert state.get_meta("status") == "failed"
    error = state.get_meta("error")
    assert "PKSECRETVALUE123" not in error and "api_key=***" in error
    assert "PKSECRETVALUE123" not in json.dumps(read_status(state.path), default=str)
