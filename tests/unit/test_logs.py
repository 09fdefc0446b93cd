from __future__ import annotations

import json
import logging

import pytest

from workbench.logs import ConsoleFormatter, JsonFormatter, redact


def record(msg: str, **extra) -> logging.LogRecord:
    rec = logging.LogRecord("workbench.test", logging.INFO, __file__, 1, msg, (), None)
    rec.__dict__.update(extra)
    return rec


def test_json_line_has_the_trading_fields() -> None:
    line = JsonFormatter().format(
        record(
            "order filled",
            strategy="ma_crossover",
            order_id="o-1",
            symbol="SPY",
            side="buy",
            quantity=3.0,
            price=101.5,
            balance=9_000.0,
            reason="signal=MA_CROSS_BUY",
        )
    )
    doc = json.loads(line)
    assert doc["msg"] == "order filled" and doc["level"] == "info"
    assert doc["ts"].endswith("+00:00")
    for key in ("strategy", "order_id", "symbol", "side", "quantity", "price", "balance", "reason"):
        assert key in doc
    assert "\n" not in line


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APCA_API_SECRET_KEY", "s3cr3t-value-123")
    assert "s3cr3t" not in redact("auth failed with s3cr3t-value-123")
    assert redact("secret_key=abcd1234 other") == "secret_key=*** other"
    line = JsonFormatter().format(record("key is s3cr3t-value-123"))
    assert "s3cr3t" not in line
    assert "s3cr3t" not in ConsoleFormatter().format(record("x s3cr3t-value-123", symbol="SPY"))
