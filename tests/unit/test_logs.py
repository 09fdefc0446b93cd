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
            signal="MA_CROSS_BUY",
        )
    )
    doc = json.loads(line)
    assert doc["msg"] == "order filled" and doc["level"] == "info"
    assert doc["ts"].endswith("+00:00")
    for key in ("strategy", "order_id", "symbol", "side", "quantity", "price", "balance", "reason"):
        assert key in doc
    assert doc["signal"] == "MA_CROSS_BUY"
    assert "\n" not in line


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APCA_API_SECRET_KEY", "s3cr3t-value-123")
    assert "s3cr3t" not in redact("auth failed with s3cr3t-value-123")
    assert redact("secret_key=abcd1234 other") == "secret_key=*** other"
    line = JsonFormatter().format(record("key is s3cr3t-value-123"))
    assert "s3cr3t" not in line
    assert "s3cr3t" not in ConsoleFormatter().format(record("x s3cr3t-value-123", symbol="SPY"))


def test_a_field_quoting_a_secret_is_masked_in_the_json_line(monkeypatch) -> None:
    """A rejection's reason is the broker's answer, which may quote what it was sent."""
    monkeypatch.setenv("APCA_API_KEY_ID", "PKLEAKED12345")
    doc = json.loads(
        JsonFormatter().format(
            record("order rejected", reason="code=40110000 key PKLEAKED12345 api_key=abc123")
        )
    )
    assert doc["reason"] == "code=40110000 key *** api_key=***"


def test_configure_sends_third_party_warnings_to_the_json_file(tmp_path, monkeypatch) -> None:
    import warnings

    from workbench.logs import add_secret, configure

    log_file = tmp_path / "run.jsonl"
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        configure(json_file=str(log_file), console=False)
        add_secret("json://127.0.0.1:9/hook-secret")
        logging.getLogger("alpaca.common").warning("reconnecting in 3 s")
        logging.getLogger("waitress").error("socket error")
        logging.getLogger("alpaca.common").info("chatty detail")  # below WARNING: dropped
        logging.getLogger("workbench.live").info("bar json://127.0.0.1:9/hook-secret done")
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            logging.captureWarnings(False)  # pytest restores showwarning between tests
            logging.captureWarnings(True)
            warnings.warn("a library's FutureWarning", FutureWarning, stacklevel=1)
    finally:
        configure(console=False)  # detach the file
        root.setLevel(saved[0])
        logging.captureWarnings(False)
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    by_logger = {line["logger"]: line for line in lines}
    assert by_logger["alpaca.common"]["msg"] == "reconnecting in 3 s"
    assert by_logger["waitress"]["level"] == "error"
    assert "chatty detail" not in log_file.read_text()
    assert by_logger["workbench.live"]["msg"] == "bar *** done"  # a notify URL is a secret
    assert "FutureWarning" in by_logger["py.warnings"]["msg"]


def test_every_command_takes_log_level_and_verbose_and_there_is_a_version(capsys) -> None:
    from importlib.metadata import version

    from workbench.cli.main import build_parser, main

    parser = build_parser()
    assert parser.parse_args(["-v", "backtest", "--strategy", "s"]).log_level == "debug"
    assert (
        parser.parse_args(["backtest", "--strategy", "s", "--log-level", "WARNING"]).log_level
        == "warning"
    )
    assert parser.parse_args(["data", "list", "-v"]).log_level == "debug"
    assert parser.parse_args(["backtest", "--strategy", "s"]).log_level == "info"
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, command in sub.choices.items():
        assert "--log-level" in command.format_help(), name
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"workbench {version('workbench')}"
