"""Notifications through apprise: a person hears when the bot halts, fails or needs a look.

One :class:`Notifier` sends to any number of apprise URLs (Telegram, Slack, email, ntfy,
webhooks, ``json://host:port/path``...). Events come from the structured log itself
(:class:`NotifyHandler` on the ``workbench`` logger reads each record's ``event`` field),
so the runner, the risk engine and the execution engine need no notification code and no
event can be logged without being sent. What is sent:

=====================  =================================================================
event                  when
=====================  =================================================================
``started``            the runner starts on a state file it left cleanly (or a new one)
``restarted``          it starts on a state file that says it was still running or failed
``stopped``            it stops (feed ended, max bars, SIGTERM, Ctrl-C: interrupted too)
``failed``             it stops on an error (the error's one line)
``halted``             the risk engine halts trading (drawdown)
``kill_switch``        the kill switch halts it (file, ``workbench risk kill``, dashboard)
``reducing``           the daily loss limit lets only exits through
``order_rejected``     the broker rejects an order
``feed_stale``         no bar within the interval and its tolerance
``bar_partial``        a bar whose period the stream may have missed minutes of (a drop
                       inside it) could not be taken over REST: decided on the stream's bar
``outage_started``     the venue stops answering: the run is degraded, no order goes out
``outage_ended``       the venue answers again; orders and positions reconciled
``reconcile_mismatch`` the daily reconciliation finds differences, or fails; or the broker
                       holds positions or open orders the state does not explain (at
                       start or before a new day's first bar: the runner stops)
``daily_summary``      after each trading day (the calendar's): P&L, positions and risk
=====================  =================================================================

A notifier never stops trading: sending happens on its own thread from a bounded queue;
each URL is tried a bounded number of times with a doubling wait, and a failure is logged
(with the URL's scheme only) and dropped. URLs are secrets (they carry tokens): they are
registered with :func:`workbench.logs.add_secret`, so no log line shows them, and they are
never written to the state file the dashboard reads.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError
from workbench.logs import add_secret
from workbench.yamlerror import describe, read_text

log = logging.getLogger(__name__)

NOTIFY_ENV = "WORKBENCH_NOTIFY"
EVENTS = (
    "started",
    "restarted",
    "stopped",
    "failed",
    "halted",
    "kill_switch",
    "reducing",
    "order_rejected",
    "feed_stale",
    "bar_partial",
    "outage_started",
    "outage_ended",
    "reconcile_mismatch",
    "daily_summary",
)
#: Events logged under these names are notified as they are (no translation needed).
_DIRECT = {
    "order_rejected": "order_rejected",
    "feed_stale": "feed_stale",
    "bar_partial": "bar_partial",
    "outage_started": "outage_started",
    "outage_ended": "outage_ended",
    "stopped": "stopped",
    "runner_started": "started",
    "runner_restarted": "restarted",
    "runner_failed": "failed",
    "daily_summary": "daily_summary",
    "holdings_mismatch": "reconcile_mismatch",
}
_WARNING_EVENTS = {
    "failed", "halted", "kill_switch", "reconcile_mismatch", "outage_started", "bar_partial",
}  # fmt: skip


@dataclass(frozen=True)
class NotifyConfig:
    """The ``notify:`` section of a run's configuration (URLs are secrets: keep the file 600).

    ``urls``: apprise URLs. ``events``: the events to send (default: all of :data:`EVENTS`).
    ``attempts``: tries per URL and message. ``retry_delay``: first wait between tries (s).
    """

    urls: tuple[str, ...] = ()
    events: frozenset[str] = field(default_factory=lambda: frozenset(EVENTS))
    attempts: int = 3
    retry_delay: float = 2.0

    def __repr__(self) -> str:  # never print the URLs
        return f"NotifyConfig(urls=<{len(self.urls)} hidden>, events={sorted(self.events)})"

    @classmethod
    def coerce(cls, raw: Mapping[str, Any] | None, extra_urls: Iterable[str] = ()) -> NotifyConfig:
        """Check every value's type and range: a YAML slip is a one-line error, not a
        traceback (and a URL is never quoted back: it is a secret)."""
        if raw is not None and not isinstance(raw, Mapping):
            raise ConfigError(
                f"the notify: section must be a mapping of settings, got {_kind(raw)}",
                hint="indent urls:, events:, attempts:, retry_delay: under notify:",
            )
        raw = dict(raw or {})
        unknown = set(raw) - {"urls", "events", "attempts", "retry_delay"}
        if unknown:
            raise ConfigError(
                f"unknown key(s) in the notify: section: {', '.join(sorted(map(str, unknown)))}",
                hint="use urls, events, attempts, retry_delay",
            )
        urls = _names(raw.get("urls"), "urls", "e.g. urls: [json://127.0.0.1:8099/hook]")
        events = raw.get("events")
        chosen = frozenset(
            EVENTS if events is None else _names(events, "events", "e.g. events: [halted, failed]")
        )
        wrong = chosen - set(EVENTS)
        if wrong:
            raise ConfigError(
                f"unknown notification event(s): {', '.join(sorted(wrong))}",
                hint=f"choose from {', '.join(EVENTS)}",
            )
        attempts = raw.get("attempts", 3)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ConfigError(
                f"notify: attempts must be a whole number >= 1, got {attempts!r}",
                hint="e.g. attempts: 3",
            )
        delay = raw.get("retry_delay", 2.0)
        if (
            isinstance(delay, bool)
            or not isinstance(delay, int | float)
            or not math.isfinite(delay)
            or delay < 0
        ):
            raise ConfigError(
                f"notify: retry_delay must be a number of seconds >= 0, got {delay!r}",
                hint="e.g. retry_delay: 2.0",
            )
        all_urls = tuple(dict.fromkeys([*urls, *extra_urls]))
        return cls(all_urls, chosen, attempts, float(delay))


def _kind(value: Any) -> str:
    """What a value is, by its YAML type only (a URL's text is never quoted back)."""
    return {list: "a list", str: "text", bool: "true/false", dict: "a mapping"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def _names(value: Any, key: str, example: str) -> list[str]:
    """``notify.<key>``: one text or a list of texts."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        what = _kind(value) if not isinstance(value, list) else "a list holding something else"
        raise ConfigError(f"notify: {key} must be a list of texts, got {what}", hint=example)
    return items


def load_config(path: str | Path | None, urls: Iterable[str] = ()) -> NotifyConfig:
    """The ``notify:`` section of ``path`` (YAML) plus ``--notify`` URLs and ``WORKBENCH_NOTIFY``
    (space-separated, for a systemd environment file)."""
    raw: Mapping[str, Any] = {}
    if path is not None:
        import yaml

        try:
            doc = yaml.safe_load(read_text(path, "the run configuration")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"{path} is not valid YAML: {describe(exc)}",
                hint="fix that line (examples/run.yaml shows the notify: section)",
            ) from None
        if not isinstance(doc, dict) or set(doc) - {"notify"}:
            raise ConfigError(
                f"{path}: a run configuration has one section, notify:",
                hint="see examples/run.yaml",
            )
        raw = doc.get("notify") or {}
    from_env = os.environ.get(NOTIFY_ENV, "").split()
    try:
        config = NotifyConfig.coerce(raw, [*urls, *from_env])
    except ConfigError as exc:  # name the file the user has to fix
        where = f"{path}: " if path is not None else ""
        raise ConfigError(where + exc.message, hint=exc.hint) from None
    for url in config.urls:
        hide(url)  # before anything can log it
    return config


def hide(url: str) -> None:
    """Mask ``url`` and each token-like part of it in every log line (an HTTP library may log
    the request's path or host, where apprise URLs keep their tokens)."""
    add_secret(url)
    rest = url.split("://", 1)[-1]
    for part in re.split(r"[/?&=:@#]", rest):
        if len(part) >= 8 and not part.isdigit() and "." not in part:
            add_secret(part)


def scheme(url: str) -> str:
    """What may be said about a URL in a log line: its scheme."""
    return url.split("://", 1)[0] + "://…" if "://" in url else "a notification URL"


class Notifier:
    """Sends events to apprise URLs from a background thread; never raises, never blocks."""

    def __init__(
        self,
        config: NotifyConfig,
        *,
        strategy: str = "",
        sleep: Callable[[float], None] = time.sleep,
        queue_size: int = 200,
    ) -> None:
        import apprise

        logging.getLogger("apprise").setLevel(logging.CRITICAL)  # its lines may quote a URL
        self.config = config
        self.strategy = strategy
        self._sleep = sleep
        self._targets: list[tuple[str, Any]] = []
        for url in config.urls:
            hide(url)
            target = apprise.Apprise()
            if not target.add(url):
                raise ConfigError(
                    f"apprise does not understand the notification URL {scheme(url)}",
                    hint="see https://github.com/caronc/apprise/wiki for the URL forms",
                )
            self._targets.append((url, target))
        self._queue: queue.Queue[tuple[str, str, str] | None] = queue.Queue(queue_size)
        self._thread = threading.Thread(target=self._work, name="notify", daemon=True)
        self._thread.start()
        self.sent: list[str] = []  # events delivered to every URL (for status and tests)

    def __repr__(self) -> str:
        return f"Notifier(<{len(self._targets)} URL(s) hidden>)"

    def notify(self, event: str, message: str) -> None:
        """Queue ``event`` (if configured); drops it with a warning when the queue is full."""
        if event not in self.config.events or not self._targets:
            return
        title = f"workbench {self.strategy}: {event.replace('_', ' ')}".replace("  ", " ")
        try:
            self._queue.put_nowait((event, title, message))
        except queue.Full:
            log.warning("notification queue full: %s dropped", event, extra={"event": "notify"})

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued (up to ``timeout`` seconds), then stop the thread."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            event, title, body = item
            delivered = [
                self._send(url, target, event, title, body) for url, target in self._targets
            ]
            if all(delivered):
                self.sent.append(event)

    def _send(self, url: str, target: Any, event: str, title: str, body: str) -> bool:
        import apprise

        kind = apprise.NotifyType.WARNING if event in _WARNING_EVENTS else apprise.NotifyType.INFO
        delay = self.config.retry_delay
        for attempt in range(1, self.config.attempts + 1):
            try:
                if target.notify(title=title, body=body, notify_type=kind):
                    return True
                why = "refused or unreachable"
            except Exception as exc:  # a notifier must never reach the trading loop
                why = type(exc).__name__
            log.warning(
                "notification %s to %s failed (%s), attempt %d of %d",
                event, scheme(url), why, attempt, self.config.attempts,
                extra={"event": "notify_failed", "reason": why},
            )  # fmt: skip
            if attempt < self.config.attempts:
                self._sleep(delay)
                delay *= 2
        return False


class NotifyHandler(logging.Handler):
    """Turns the log's structured events into notifications (one per state change for risk)."""

    def __init__(self, notifier: Notifier) -> None:
        super().__init__(logging.DEBUG)
        self.notifier = notifier
        self._risk: str | None = None  # the risk state last notified (None: active)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            event = self.classify(record)
            if event is not None:
                self.notifier.notify(event, self.format_body(record))
        except Exception:  # pragma: no cover - logging must never raise into the runner
            self.handleError(record)

    def classify(self, record: logging.LogRecord) -> str | None:
        kind = record.__dict__.get("event")
        if kind in _DIRECT:
            return _DIRECT[kind]
        if kind == "risk":
            action = str(record.__dict__.get("action") or "")
            if action in ("resumed", "reset"):
                self._risk = None
                return None
            if action not in ("halted", "kill_switch", "reducing"):
                return None
            if action == "halted" and record.__dict__.get("rule") == "kill_switch":
                action = "kill_switch"
            if action == self._risk:
                return None  # refusals while reducing repeat the state: said once
            self._risk = action
            return action
        if kind == "reconcile" and (
            record.levelno >= logging.WARNING or record.__dict__.get("state") not in (None, "match")
        ):
            return "reconcile_mismatch"
        return None

    @staticmethod
    def format_body(record: logging.LogRecord) -> str:
        from workbench.logs import FIELDS, redact

        fields = [
            f"{name}: {record.__dict__[name]}"
            for name in FIELDS
            if name != "event" and record.__dict__.get(name) is not None
        ]
        return redact("\n".join([record.getMessage(), *fields]))


def attach(notifier: Notifier) -> NotifyHandler:
    """Send the ``workbench`` log's events through ``notifier``; :func:`detach` undoes it."""
    handler = NotifyHandler(notifier)
    logging.getLogger("workbench").addHandler(handler)
    return handler


def detach(handler: NotifyHandler) -> None:
    logging.getLogger("workbench").removeHandler(handler)


def daily_summary(state_path: str | Path) -> Callable[[Any], None]:
    """An end-of-day task that logs (and so notifies) the day's P&L, positions and risk state:
    the day that ended (``day``: its first instant, as the runner gives it), as its last bar
    left them, not the next day's first bar, after which the runner calls it."""

    def summarize(day: Any) -> None:
        from workbench.dashboard.data import snapshot

        snap = snapshot(state_path, day=day.date() if hasattr(day, "date") else None)
        account, risk = snap["account"], snap["risk"]
        held = ", ".join(
            f"{p['symbol']} {p['quantity']:g}" for p in snap["positions"] if p["quantity"]
        )
        trading = risk.get("trading") if risk.get("configured") else "not configured"
        log.info(
            "daily summary %s: P&L today %+.2f, total %+.2f, equity %.2f; positions: %s; risk %s",
            day.date() if hasattr(day, "date") else day,
            account.get("pnl_today") or 0.0,
            account.get("pnl_total") or 0.0,
            account.get("equity") or 0.0,
            held or "none",
            trading,
            extra={"event": "daily_summary", "equity": account.get("equity"), "state": trading},
        )

    return summarize


def chain(*tasks: Callable[[Any], object] | None) -> Callable[[Any], None] | None:
    """One end-of-day callable running each of ``tasks`` (Nones skipped) in order."""
    todo = [t for t in tasks if t is not None]
    if not todo:
        return None

    def run(day: Any) -> None:
        for task in todo:
            try:
                task(day)
            except Exception:  # one failed task must not skip the others
                log.exception("end-of-day task failed", extra={"event": "day_end"})

    return run


def notify_failure(config: NotifyConfig, strategy: str, exc: BaseException) -> None:
    """A run that fails before it starts (its state file locked, read-only, on a full
    disk): one ``failed`` notification, best effort, sent before the process exits."""
    if not config.urls:
        return
    from workbench.logs import redact

    with Notifier(config, strategy=strategy) as notifier:
        notifier.notify("failed", redact(f"runner failed: {exc}"))


@contextmanager
def notifying(
    config: NotifyConfig, runner: Any, strategy: str, state_path: str | Path
) -> Iterator[None]:
    """Around one ``runner.run``: send its events to ``config.urls`` (nothing when there are
    none), say whether it started or restarted after a crash, and whether it ended or failed."""
    if not config.urls:
        yield
        return
    notifier = Notifier(config, strategy=strategy)
    handler = attach(notifier)
    runner.on_day_end = chain(runner.on_day_end, daily_summary(state_path))
    previous = runner.state.get_meta("status")
    if previous in ("running", "degraded", "failed"):
        how = "after a failure" if previous == "failed" else "after a crash"
        log.warning(
            "runner restarted %s (the state file says %s)",
            how,
            previous,
            extra={"event": "runner_restarted", "strategy": strategy, "state": previous},
        )
    else:
        log.info("runner started", extra={"event": "runner_started", "strategy": strategy})
    try:
        yield
    except KeyboardInterrupt:  # a person's: the runner logged its ``stopped`` line
        raise
    except BaseException as exc:
        log.error("runner failed: %s", exc, extra={"event": "runner_failed", "strategy": strategy})
        raise
    finally:
        detach(handler)
        notifier.close()
