"""The execution engine through alpaca-py against the emulator, under broker trouble:
exactly one order per intent, and every rejection logged with Alpaca's code."""

from __future__ import annotations

import dataclasses
import logging
import socket
import threading
from collections.abc import Callable

import pandas as pd
import pytest

from workbench.brokers.alpaca import AlpacaBroker
from workbench.brokers.alpaca_history import alpaca_history
from workbench.emulator import Emulator
from workbench.emulator.faults import Fault
from workbench.errors import TransientBrokerError
from workbench.execution.config import ExecutionConfig, RetryPolicy
from workbench.execution.engine import ExecutionEngine, SymbolState
from workbench.orders import OrderClass, OrderRequest, OrderType, Side, TimeInForce

KEY, SECRET = "exec-key", "exec-secret"
DECISION = pd.Timestamp("2024-01-01", tz="UTC")


@pytest.fixture
def emu(hand_frames):
    with Emulator(hand_frames, key=KEY, secret=SECRET) as emulator:
        yield emulator


def engine_for(emu: Emulator, *, timeout: float = 5.0, attempts: int = 6) -> ExecutionEngine:
    broker = AlpacaBroker(KEY, SECRET, url=emu.base_url, timeout=timeout)
    config = ExecutionConfig(
        retry=RetryPolicy(max_attempts=attempts, base_delay=0.01, max_delay=0.05)
    )
    return ExecutionEngine(broker, "exec", config, sleep=lambda s: None, seed=0)


def buy(qty: float = 3.0) -> OrderRequest:
    return OrderRequest("AAA", Side.BUY, quantity=qty, tif=TimeInForce.DAY, reason="TEST")


def orders_at(emu: Emulator) -> list[dict]:
    return emu.state()["orders"]


@pytest.mark.parametrize(
    "faults",
    [
        [Fault.error(429, method="POST", path="/v2/orders", times=4)],  # a 429 storm
        [Fault.error(504, method="POST", path="/v2/orders", times=3, ambiguous=True)],
        [Fault.error(500, method="POST", path="/v2/orders", times=2)],
        [Fault.slow(1.0, method="POST", path="/v2/orders", times=2)],  # timeouts, order created
        [
            Fault.error(429, method="POST", path="/v2/orders", times=2),
            Fault.slow(1.0, method="POST", path="/v2/orders", times=1),
            Fault.error(504, method="POST", path="/v2/orders", times=1, ambiguous=True),
        ],
    ],
    ids=["429-storm", "504-ambiguous", "500", "timeouts", "mixed"],
)
def test_exactly_one_order_per_intent(emu, faults) -> None:
    emu.set_faults(*faults)
    engine = engine_for(emu, timeout=0.4)
    first = engine.submit(buy(), decision=DECISION)
    second = engine.submit(buy(2.0), decision=DECISION)  # a second intent of the same bar
    emu.clear_faults()
    assert first is not None and second is not None
    orders = orders_at(emu)
    cids = sorted(o["client_order_id"] for o in orders)
    assert cids == ["wb-exec-AAA-20240101T000000-0", "wb-exec-AAA-20240101T000000-1"]
    assert engine.state("AAA") is SymbolState.PENDING_ORDER


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Fault.reject(code=40310000, method="POST", path="/v2/orders", times=1), 40310000),
        (Fault.reject(code=42210000, method="POST", path="/v2/orders", times=1), 42210000),
        (Fault.reject(code=40010001, method="POST", path="/v2/orders", times=1), 40010001),
    ],
)
def test_rejections_are_logged_with_alpacas_code(emu, fault, code, caplog) -> None:
    emu.set_faults(fault)
    engine = engine_for(emu)
    with caplog.at_level(logging.ERROR, logger="workbench.execution.engine"):
        assert engine.submit(buy(), decision=DECISION) is None
    record = next(r for r in caplog.records if getattr(r, "event", "") == "order_rejected")
    assert f"code={code}" in record.reason
    assert SECRET not in caplog.text
    assert orders_at(emu) == []


def test_a_persistent_outage_puts_the_symbol_in_error(emu) -> None:
    emu.set_faults(Fault.error(503, method="POST", path="/v2/orders"))
    engine = engine_for(emu, attempts=3)
    assert engine.submit(buy(), decision=DECISION) is None
    assert engine.state("AAA") is SymbolState.ERROR
    emu.clear_faults()
    assert engine.submit(buy(), decision=DECISION + pd.Timedelta(days=1)) is None  # refused
    engine.reset("AAA")
    assert engine.submit(buy(), decision=DECISION + pd.Timedelta(days=1)) is not None
    assert len(orders_at(emu)) == 1


def test_a_position_opened_by_a_notional_order_can_be_closed(emu) -> None:
    """A percent target opens a fractional position; the target 0 that closes it is a
    fractional quantity order, which Alpaca accepts only as a DAY order."""
    from workbench.execution.targets import orders_for_target
    from workbench.intents import TargetIntent

    engine = engine_for(emu)
    broker = engine.broker
    open_ = TargetIntent("AAA", DECISION, percent=0.33337, reason="IN")
    price = 100.0
    for request in orders_for_target(open_, position=0.0, price=price, equity=100_000.0):
        assert engine.submit(request, decision=DECISION) is not None
    emu.step()
    held = broker.get_positions()["AAA"].quantity
    assert held > 0 and not float(held).is_integer()
    close = TargetIntent("AAA", DECISION + pd.Timedelta(days=1), percent=0.0, reason="OUT")
    for request in orders_for_target(close, position=held, price=price, equity=100_000.0):
        order = engine.submit(request, decision=DECISION + pd.Timedelta(days=1))
        assert order is not None and str(order.status) != "rejected"
    emu.step()
    assert "AAA" not in broker.get_positions() or broker.get_positions()["AAA"].quantity == 0


@pytest.mark.parametrize(
    ("notional", "sent"),
    [(94_999.6594367008, 94_999.65), (100_000.0, 100_000.0), (12.349999, 12.34), (1.005, 1.0)],
)
def test_notionals_are_sent_in_whole_cents_rounded_down(notional, sent) -> None:
    """An all-in entry spends exactly the cash, to fractions of a cent: rounded up, it would
    ask Alpaca for more than the buying power (403)."""
    from workbench.brokers.alpaca_orders import _order_request

    body = _order_request(OrderRequest("AAA", Side.BUY, notional=notional, tif=TimeInForce.DAY))
    assert body.notional == sent


def _cut_off(call: Callable[[str], object]) -> TransientBrokerError:
    """The error of ``call(base_url)`` against a server whose answer breaks off midway."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(10)

    def answer_in_part() -> None:
        conn, _ = server.accept()
        with conn:
            conn.settimeout(10)
            conn.recv(65536)
            conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{"id":')

    thread = threading.Thread(target=answer_in_part, daemon=True)
    thread.start()
    try:
        with pytest.raises(TransientBrokerError, match="no answer") as error:
            call(f"http://127.0.0.1:{server.getsockname()[1]}")
        return error.value
    finally:
        thread.join(10)
        server.close()


def test_an_answer_cut_off_midway_is_an_ambiguous_failure() -> None:
    """A connection that breaks while the answer to POST /v2/orders is read (a proxy
    reset, a dropped link): requests raises ChunkedEncodingError, not a ConnectionError.
    The order may be at Alpaca: it is an ambiguous transient error, looked up by client
    order id before anything is sent again, not a crash of the runner."""

    def submit(url: str) -> object:
        broker = AlpacaBroker(KEY, SECRET, url=url, timeout=5.0)
        return broker.submit_order(buy().with_client_id("wb-cut-1"))

    assert _cut_off(submit).ambiguous


def test_bars_cut_off_midway_are_a_transient_failure() -> None:
    def bars(url: str) -> object:
        history = alpaca_history(
            KEY, SECRET, url=url, timeframe="1Min", timeout=5.0,
            now=lambda: pd.Timestamp("2024-01-02 15:00", tz="UTC"),
        )  # fmt: skip
        return history(["AAA"], pd.Timestamp("2024-01-02 14:30", tz="UTC"))

    _cut_off(bars)


def test_prices_off_alpacas_grid_are_sent_on_it_and_logged(emu, caplog) -> None:
    """Alpaca refuses a sub-penny price (the emulator too: 422 42210000); a computed one
    (a close times a factor) is sent on the nearest step, each move logged."""
    engine = engine_for(emu)
    entry = OrderRequest(
        "AAA", Side.BUY, quantity=2.0, type=OrderType.LIMIT, limit_price=100.0049,
        tif=TimeInForce.DAY, order_class=OrderClass.BRACKET, take_profit=104.0061,
        stop_loss=96.12345, reason="TEST",
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="workbench.brokers.alpaca_orders"):
        order = engine.submit(entry, decision=DECISION)
    assert order is not None
    sent = {(o["side"], o["type"]): o for o in orders_at(emu)}  # the entry, its two legs
    assert float(sent["buy", "limit"]["limit_price"]) == 100.0
    assert float(sent["sell", "limit"]["limit_price"]) == 104.01
    assert float(sent["sell", "stop"]["stop_price"]) == 96.12
    moved = [r for r in caplog.records if getattr(r, "event", "") == "price_rounded"]
    assert sorted(r.reason for r in moved) == [
        "limit_price 100.0049 -> 100.0 (sub-penny increment)",
        "stop_loss 96.12345 -> 96.12 (sub-penny increment)",
        "take_profit 104.0061 -> 104.01 (sub-penny increment)",
    ]
    assert all(r.client_order_id == order.client_order_id for r in moved)


def test_only_prices_off_the_grid_move() -> None:
    from workbench.brokers.alpaca_orders import on_price_grid

    on = OrderRequest("AAA", Side.BUY, quantity=1.0, type=OrderType.LIMIT, limit_price=0.6013)
    assert on_price_grid(on) is on
    off = OrderRequest("AAA", Side.SELL, quantity=1.0, type=OrderType.STOP, stop_price=0.612345)
    assert on_price_grid(off) == dataclasses.replace(off, stop_price=0.6123)
