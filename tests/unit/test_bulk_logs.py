"""Jobs of many backtests (audit, promotion gates, event-engine sweeps) keep their orders off
the log at INFO: each is a result there, and thousands of lines buried the job's own."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

from workbench.backtesting.api import backtest
from workbench.context import Context
from workbench.data.sources import load_bars
from workbench.logs import TRADING_LOGGERS, bulk_runs, set_default_level
from workbench.params import Param
from workbench.research.audit import audit
from workbench.research.sweep import sweep, sweep_info
from workbench.strategy import Strategy

BARS = "synthetic:AAA?bars=300&freq=1D&seed=3"


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def events(self, name: str) -> list[logging.LogRecord]:
        return [r for r in self.records if getattr(r, "event", None) == name]


@pytest.fixture
def logged() -> Iterator[Records]:
    """What workbench logs at the CLI's default level (INFO), handler on ``workbench``."""
    ours = logging.getLogger("workbench")
    level = ours.level
    handler = Records()
    ours.addHandler(handler)
    set_default_level(logging.INFO)
    try:
        yield handler
    finally:
        ours.removeHandler(handler)
        ours.setLevel(level)


def test_an_audit_logs_its_verdict_not_its_replays_orders(logged: Records) -> None:
    bars = load_bars(BARS)
    result = audit("ma_crossover", bars, {"fast": 5, "slow": 20}, samples=5, progress=False)
    assert result.decisions > 0  # the replays sent orders
    assert logged.events("order_submitted") == []
    assert not [r for r in logged.records if r.name.startswith("workbench.execution")]
    assert any(r.getMessage().startswith("audit ") for r in logged.records)
    # a backtest of its own, after: its orders at INFO as before (the levels came back)
    backtest("ma_crossover", bars, {"fast": 5, "slow": 20}, progress=False)
    assert logged.events("order_submitted")
    assert all(logging.getLogger(n).level == logging.NOTSET for n in TRADING_LOGGERS)


class InAndOut(Strategy):
    """No vectorized form (so a sweep runs the event engine): in for ``hold`` bars, then out."""

    name = "in_and_out"
    params = (Param("hold", int, 10, low=1, high=100),)

    def on_bar(self, ctx: Context) -> None:
        k = len(ctx.close) % (2 * self.p.hold)
        if k == 1:
            ctx.target(percent=1.0, reason="IN")
        elif k == self.p.hold + 1:
            ctx.target(percent=0.0, reason="OUT")


def test_an_event_engine_sweep_keeps_its_rows_orders_off_the_log(logged: Records) -> None:
    table = sweep(InAndOut, load_bars(BARS), {"hold": [5, 10]}, progress=False)
    assert sweep_info(table).method == "event" and (table["number_of_trades"] > 5).all()
    assert logged.events("order_submitted") == []


def test_at_debug_every_order_is_logged(logged: Records) -> None:
    set_default_level(logging.DEBUG)
    audit("ma_crossover", load_bars(BARS), {"fast": 5, "slow": 20}, samples=2, progress=False)
    assert logged.events("order_submitted")


def test_warnings_pass_and_nested_or_concurrent_uses_restore_once(logged: Records) -> None:
    engine = logging.getLogger("workbench.execution.engine")
    inside, release = threading.Event(), threading.Event()

    def other_job() -> None:
        with bulk_runs():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=other_job)
    with bulk_runs():
        thread.start()
        assert inside.wait(10)
        with bulk_runs():
            engine.info("an order", extra={"event": "order_submitted"})
        engine.warning("refused: symbol in ERROR", extra={"event": "order_refused"})
    engine.info("still quiet: the other job runs", extra={"event": "order_submitted"})
    release.set()
    thread.join(10)
    engine.info("a backtest of its own", extra={"event": "order_submitted"})
    assert [r.getMessage() for r in logged.records] == [
        "refused: symbol in ERROR",
        "a backtest of its own",
    ]
