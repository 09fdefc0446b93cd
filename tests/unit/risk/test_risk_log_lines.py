"""The risk engine's JSON lines: the strategy on each, the judged order's signal beside the
rule's reason."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pandas as pd
import pytest

from workbench.intents import OrderIntent, TargetIntent
from workbench.logs import JsonFormatter
from workbench.orders import OrderRequest, Side
from workbench.risk import RiskConfig, RiskEngine

T0 = pd.Timestamp("2024-03-04 15:00", tz="UTC")


def lines(caplog: pytest.LogCaptureFixture) -> list[dict]:
    fmt = JsonFormatter()
    return [json.loads(fmt.format(r)) for r in caplog.records if r.name == "workbench.risk"]


def test_each_line_names_the_strategy_and_a_judged_order_its_signal(
    account: Callable, market: Callable, caplog: pytest.LogCaptureFixture
) -> None:
    engine = RiskEngine(RiskConfig(max_order_notional=250.0), strategy="ma_crossover")
    acct, prices = account(10_000.0, {"X": (5.0, 100.0)}), market({"X": 100.0})
    buy = OrderIntent(OrderRequest("X", Side.BUY, quantity=5.0, reason="MA_CROSS_BUY"), T0)
    later = T0 + pd.Timedelta(hours=1)
    with caplog.at_level(logging.INFO, logger="workbench.risk"):
        engine.check([buy], T0, acct, prices)  # resized to 2.5
        engine.kill("operator", time=T0)
        engine.on_bar(later, acct, prices)  # liquidates X
        engine.check([TargetIntent("X", later, percent=0.5, reason="MA_CROSS_BUY")], later,
                     acct, prices)  # fmt: skip
        engine.reset("ok", time=later)
    docs = lines(caplog)
    assert [(d["action"], d["rule"]) for d in docs] == [
        ("resized", "max_order_notional"),
        ("kill_switch", "kill_switch"),
        ("liquidated", "kill_switch"),
        ("refused", "kill_switch"),
        ("reset", "reset"),
    ]
    assert all(d["strategy"] == "ma_crossover" for d in docs)
    resized, _, _, refused, _ = docs
    # the rule's verdict stays the reason; the order's own reason is its signal
    assert resized["reason"] == "order buy 5 X at 100.00 = 500.00 > limit 250.00; buy 5 -> 2.5"
    assert refused["reason"].startswith("trading halted since ")
    assert resized["signal"] == refused["signal"] == "MA_CROSS_BUY"
    assert (refused["symbol"], refused["side"]) == ("X", "buy")
    # the engine's own decisions judged no order: no signal
    own = [d for d in docs if d["action"] not in ("resized", "refused")]
    assert len(own) == 3 and not any("signal" in d for d in own)


def test_an_engine_built_by_hand_logs_without_a_strategy(
    account: Callable, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="workbench.risk"):
        RiskEngine().kill("operator", time=T0)
    (doc,) = lines(caplog)
    assert doc["action"] == "kill_switch" and "strategy" not in doc


def test_a_secret_in_a_strategy_name_or_signal_is_masked(
    account: Callable, market: Callable, caplog: pytest.LogCaptureFixture, monkeypatch
) -> None:
    monkeypatch.setenv("APCA_API_SECRET_KEY", "s3cr3t-value-123")
    engine = RiskEngine(strategy="x-s3cr3t-value-123")
    engine.kill("operator", time=T0)
    sell = OrderRequest("X", Side.SELL, quantity=1.0, reason="token=abc123")
    with caplog.at_level(logging.INFO, logger="workbench.risk"):
        engine.check([OrderIntent(sell, T0)], T0, account(1_000.0), market({"X": 10.0}))
    (doc,) = [d for d in lines(caplog) if d["action"] == "refused"]
    assert (doc["strategy"], doc["signal"]) == ("x-***", "token=***")
