"""Structured logs: JSON lines for machines, a short line for people; secrets never appear.

Library modules log with ``logging.getLogger(__name__)`` and put the trading fields in
``extra`` (``strategy, order_id, client_order_id, symbol, side, quantity, price, cash,
equity, reason, signal``, ...). ``reason`` says why the line was written (a risk rule's
verdict, the broker's answer, ``signal=MA_CROSS_BUY`` for an order sent on a signal);
``signal`` is the strategy's own reason for the order the line is about, the same field on
order, fill and risk lines, so one filter finds them all. :class:`JsonFormatter` writes
one JSON object per line with a UTC timestamp; :func:`redact` masks the values of secret
environment variables anywhere in a message, and any value registered with
:func:`add_secret` (notification URLs).

:func:`configure` puts its handlers on the root logger, so the warnings and errors of
third-party libraries (alpaca-py's reconnects, waitress, Python ``warnings``) reach the same
JSON file; ``workbench.*`` logs at the chosen level, everything else from WARNING up.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from workbench.errors import ConfigError

#: Fields copied from ``extra`` into the JSON line, in this order.
FIELDS = (
    "event",
    "strategy",
    "order_id",
    "client_order_id",
    "symbol",
    "side",
    "quantity",
    "notional",
    "state_quantity",
    "price",
    "cash",
    "equity",
    "balance",
    "reason",
    "signal",
    "rule",
    "action",
    "state",
    "bar_time",
)
SECRET_ENV = ("APCA_API_SECRET_KEY", "APCA_API_KEY_ID", "WORKBENCH_DASHBOARD_TOKEN")
_SECRET_PATTERN = re.compile(
    r"(?i)(\w*(?:secret|token|password|api[_-]?key)\w*)([\"']?\s*[:=]\s*[\"']?)([^\s\"',}]+)"
)


#: Secrets known only at run time (notification URLs): masked like the environment's.
_EXTRA_SECRETS: set[str] = set()
#: The level ``configure()`` uses when not given one (the CLI's ``--log-level`` / ``-v``).
_DEFAULT_LEVEL = [logging.INFO]
THIRD_PARTY_LEVEL = logging.WARNING


#: The loggers whose INFO lines are each simulated order, state change and risk verdict.
TRADING_LOGGERS = ("workbench.execution", "workbench.sim", "workbench.risk")
_bulk = {"depth": 0, "saved": []}
_bulk_lock = threading.Lock()


@contextmanager
def bulk_runs() -> Iterator[None]:
    """Many backtests run as one job (a look-ahead audit's replays, a promotion's gates, a
    sweep's event-engine rows): there each order, state change and risk verdict is a
    result, in the job's outputs, not news, and its INFO lines would bury the job's own and
    its progress bar (an audit of a crossover over 20 years of daily bars printed 54,518
    lines). Meanwhile the trading loggers pass WARNING and up, unless ``workbench`` logs at
    DEBUG (``-v``: everything, as asked). Nested and concurrent uses share one setting,
    restored when the last ends; a backtest of its own logs as before."""
    with _bulk_lock:
        if _bulk["depth"] == 0:
            loggers = [logging.getLogger(name) for name in TRADING_LOGGERS]
            _bulk["saved"] = [(lg, lg.level) for lg in loggers]
            if logging.getLogger("workbench").getEffectiveLevel() > logging.DEBUG:
                for lg, level in _bulk["saved"]:
                    lg.setLevel(max(level, logging.WARNING))
        _bulk["depth"] += 1
    try:
        yield
    finally:
        with _bulk_lock:
            _bulk["depth"] -= 1
            if _bulk["depth"] == 0:
                for lg, level in _bulk["saved"]:
                    lg.setLevel(level)
                _bulk["saved"] = []


def add_secret(value: str) -> None:
    """Mask ``value`` in every log line from now on (e.g. a notification URL with a token)."""
    if value and len(value) >= 4:
        _EXTRA_SECRETS.add(value)


def set_default_level(level: int | str) -> int:
    """The level every later :func:`configure` uses by default; returns it as a number."""
    number = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(number, int):
        raise ValueError(f"unknown log level {level!r}")
    _DEFAULT_LEVEL[0] = number
    logging.getLogger("workbench").setLevel(number)
    return number


def redact(text: str) -> str:
    """``text`` with the values of secret environment variables and ``key=value`` secrets masked."""
    for name in SECRET_ENV:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    for value in sorted(_EXTRA_SECRETS, key=len, reverse=True):
        text = text.replace(value, "***")
    return _SECRET_PATTERN.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ISO 8601), level, logger, msg and the trading fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                value = _plain(value)  # a reason may quote a broker's answer: masked too
                doc[name] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            doc["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(doc, default=str)


class ConsoleFormatter(logging.Formatter):
    """``HH:MM:SS level message [symbol side qty @ price reason]`` for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        parts = [
            f"{name}={_plain(record.__dict__[name])}"
            for name in FIELDS
            if record.__dict__.get(name) is not None
        ]
        tail = f"  [{' '.join(parts)}]" if parts else ""
        return redact(f"{ts} {record.levelname.lower():<7} {record.getMessage()}{tail}")


def _plain(value: Any) -> Any:
    if isinstance(value, int | float | str | bool):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (it may be swapped after set-up)."""

    @property  # type: ignore[override]
    def stream(self):  # type: ignore[no-untyped-def]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # type: ignore[no-untyped-def]
        pass


def _json_file_handler(path: str, max_bytes: int, backups: int) -> logging.Handler:
    """A rotated JSON-lines file. When it cannot be written (a full disk, say) it says so in
    one line on stderr, once, instead of a traceback for every record; logging goes on."""
    from logging.handlers import RotatingFileHandler

    class JsonFileHandler(RotatingFileHandler):
        failed = False

        def handleError(self, record: logging.LogRecord) -> None:
            if not self.failed:
                self.failed = True
                why = sys.exc_info()[1]
                print(f"log file {path} cannot be written ({why}): logging to stderr only",
                      file=sys.stderr)  # fmt: skip

    try:
        return JsonFileHandler(path, maxBytes=max_bytes, backupCount=backups)
    except OSError as exc:  # a folder, a missing folder, a file for a folder: said in one line
        raise ConfigError(
            f"log file {path} cannot be opened: {exc.strerror or exc}",
            hint="give --log-file a file's path in a folder that exists and can be written",
        ) from None


def configure(
    *,
    level: int | None = None,
    json_file: str | None = None,
    console: bool = True,
    max_bytes: int = 20_000_000,
    backups: int = 10,
) -> None:
    """JSON lines to a rotated file and readable lines to stderr, for ``workbench.*`` at
    ``level`` (default: :func:`set_default_level`'s) and every other library from WARNING."""
    level = _DEFAULT_LEVEL[0] if level is None else level
    # opened first: a log file that cannot be opened leaves the logging as it was
    file_handler = _json_file_handler(json_file, max_bytes, backups) if json_file else None
    root = logging.getLogger()
    ours = logging.getLogger("workbench")
    for logger in (root, ours):
        for handler in list(logger.handlers):
            if getattr(handler, "_workbench", False):
                logger.removeHandler(handler)
                handler.close()
    if file_handler is not None:
        file_handler.setFormatter(JsonFormatter())
        file_handler._workbench = True  # type: ignore[attr-defined]
        root.addHandler(file_handler)
    if console:
        stream = _StderrHandler()
        stream.setFormatter(ConsoleFormatter())
        stream._workbench = True  # type: ignore[attr-defined]
        root.addHandler(stream)
    ours.setLevel(level)
    ours.propagate = True
    root.setLevel(max(level, THIRD_PARTY_LEVEL))
    logging.captureWarnings(True)  # warnings.warn from libraries: to the log, not bare stderr
