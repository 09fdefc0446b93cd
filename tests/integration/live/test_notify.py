"""Notifications through apprise to a local receiver (``json://127.0.0.1:PORT/...``).

Each event arrives once, a URL's secret is in no log line, and a receiver that fails never
changes what the runner trades.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

from workbench.bundle import write_bundle
from workbench.cli.main import main
from workbench.errors import ConfigError
from workbench.live import notify
from workbench.live.state import StateStore
from workbench.risk.events import RiskAction, RiskEvent
from workbench.runspec import RunSpec
from workbench.strategy import make_strategy

SECRET = "hook-secret-5d1c0e7a9b"


class Receiver:
    """An HTTP endpoint on 127.0.0.1 recording apprise's JSON posts; can fail the first N."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.fail_next = 0
        self.requests = 0
        self.arrived = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.arrived:
                    outer.requests += 1
                    failing = outer.fail_next > 0
                    outer.fail_next -= failing
                    if not failing:
                        outer.posts.append({"path": self.path, **json.loads(body)})
                    outer.arrived.notify_all()
                self.send_response(500 if failing else 200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"json://127.0.0.1:{self.server.server_port}/{SECRET}"

    def titles(self) -> list[str]:
        return [p["title"].split(": ", 1)[1] for p in self.posts]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def kill_file(tmp_path):
    return tmp_path / "kill"


@pytest.fixture
def bundle(tmp_path, kill_file):
    strategy = make_strategy("ma_crossover", {"fast": 5, "slow": 20})
    return write_bundle(
        tmp_path / "promoted",
        strategy,
        data={"spec": "sample:SPX", "symbols": {"SPX": {"bars": 5031}}},
        gates=[],
        metrics={},
        report="# test bundle\n",
        run_spec=RunSpec(
            symbols=("SPX",),
            timeframe="1Day",
            session="all",
            cash=50_000.0,
            commission={"percent": 0.001},
            slippage={"bps": 1.0},
            risk={"max_drawdown": 0.5, "kill_switch_file": str(kill_file)},
        ),
    )


def _every_log_line(caplog: pytest.LogCaptureFixture, *files) -> str:  # type: ignore[no-untyped-def]
    from workbench.logs import JsonFormatter

    lines = [JsonFormatter().format(r) for r in caplog.records]
    return "\n".join(lines + [f.read_text() for f in files if f.exists()])


def test_each_event_from_the_runner_and_its_engines_arrives_once(
    receiver, bundle, kill_file, tmp_path, caplog, capsys
) -> None:
    caplog.set_level(logging.DEBUG)
    state, log_file = tmp_path / "live.sqlite", tmp_path / "live.jsonl"
    run = ["live", "--bundle", str(bundle.path), "--state", str(state), "--log-file",
           str(log_file), "--feed", "replay:sample:SPX", "--notify", receiver.url]  # fmt: skip
    assert main([*run, "--max-bars", "2"]) == 0  # a first run: started, a day, stopped
    store = StateStore(state)
    store.set_meta(status="running")  # as a runner killed -9 leaves it
    store.close()
    assert main([*run, "--max-bars", "1"]) == 0  # restarted after a crash, a day, stopped
    kill_file.touch()  # the operator's kill switch
    assert main([*run, "--max-bars", "1"]) == 0  # kill switch seen at the next bar
    assert receiver.titles() == [
        "started", "daily summary", "stopped",
        "restarted", "daily summary", "stopped",
        "started", "kill switch", "daily summary", "stopped",
    ]  # fmt: skip
    summary = receiver.posts[1]["message"]
    assert "P&L today" in summary and "positions:" in summary and "risk ACTIVE" in summary
    assert "HALTED" in receiver.posts[8]["message"]
    assert {p["path"] for p in receiver.posts} == {f"/{SECRET}"}  # the URL was used as given
    text = _every_log_line(caplog, log_file) + capsys.readouterr().err
    assert "runner restarted after a crash" in text and "kill switch" in text
    assert SECRET not in text and receiver.url not in text


def test_risk_rejections_feed_and_reconciliation_events_each_arrive_once(receiver, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    config = notify.load_config(None, [receiver.url])
    t = pd.Timestamp("2024-03-01", tz="UTC")
    with notify.Notifier(config, strategy="ma") as notifier:
        handler = notify.attach(notifier)
        try:
            RiskEvent(t, "daily_loss_limit", RiskAction.REDUCING, "loss 6% >= 5%").log()
            for _ in range(3):  # each refused order while reducing logs the state again
                RiskEvent(t, "daily_loss_limit", RiskAction.REDUCING, "only exits").log()
            RiskEvent(t, "daily_loss_limit", RiskAction.RESUMED, "new UTC day").log()
            RiskEvent(t, "max_drawdown", RiskAction.HALTED, "drawdown 16% >= 15%").log()
            RiskEvent(t, "max_drawdown", RiskAction.REFUSED, "halted").log()  # not news
            engine = logging.getLogger("workbench.execution.engine")
            engine.error(
                "order rejected by the broker: insufficient buying power (code 40310000)",
                extra={"event": "order_rejected", "symbol": "SPY", "side": "buy"},
            )
            feed = logging.getLogger("workbench.brokers.alpaca_feed")
            feed.warning("feed is stale: no bar for 185 s", extra={"event": "feed_stale"})
            catch_up = logging.getLogger("workbench.live.resilience")
            catch_up.error("the 15:00 bar may lack minutes the stream missed",
                           extra={"event": "bar_partial"})  # fmt: skip
            rec = logging.getLogger("workbench.live.reconcile.run")
            rec.info("reconciliation 2024-03-01: match", extra={"event": "reconcile",
                                                              "state": "match"})  # fmt: skip
            rec.warning(
                "reconciliation 2024-03-02: differences; 2 unexplained difference(s)",
                extra={"event": "reconcile", "state": "differences"},
            )
            logging.getLogger("workbench.live").info(f"sent to {receiver.url}")  # masked
        finally:
            notify.detach(handler)
    assert receiver.titles() == [
        "reducing", "halted", "order rejected", "feed stale", "bar partial", "reconcile mismatch"
    ]  # fmt: skip
    assert "insufficient buying power" in receiver.posts[2]["message"]
    assert receiver.posts[1]["type"] == receiver.posts[4]["type"] == "warning"
    text = _every_log_line(caplog)
    assert SECRET not in text and "sent to ***" in text


def test_a_failing_notifier_is_retried_a_bounded_number_of_times_and_never_stops_trading(
    receiver, bundle, tmp_path, caplog, capsys
) -> None:
    caplog.set_level(logging.DEBUG)
    waits: list[float] = []
    config = notify.NotifyConfig((receiver.url,), attempts=3, retry_delay=0.5)
    receiver.fail_next = 2  # the first two tries fail, the third arrives
    with notify.Notifier(config, strategy="ma", sleep=waits.append) as notifier:
        notifier.notify("halted", "drawdown")
    assert receiver.titles() == ["halted"] and receiver.requests == 3 and waits == [0.5, 1.0]
    receiver.fail_next, receiver.requests = 100, 0
    with notify.Notifier(config, sleep=waits.append) as notifier:
        notifier.notify("halted", "drawdown")
    assert receiver.requests == 3 and notifier.sent == []  # given up after 3, dropped
    failures = [r for r in caplog.records if getattr(r, "event", None) == "notify_failed"]
    assert len(failures) == 5 and all("json://…" in r.getMessage() for r in failures)

    # a whole run against a dead receiver trades exactly as one without notifications
    plain, noisy = tmp_path / "plain.sqlite", tmp_path / "noisy.sqlite"
    run = ["live", "--bundle", str(bundle.path), "--feed", "replay:sample:SPX",
           "--max-bars", "120"]  # fmt: skip
    assert main([*run, "--state", str(plain)]) == 0
    dead = f"json://127.0.0.1:9/{SECRET}"  # the discard port: nothing listens
    settings = tmp_path / "run.yaml"
    settings.write_text(f"notify:\n  urls: [{dead}]\n  attempts: 2\n  retry_delay: 0.01\n")
    assert main([*run, "--state", str(noisy), "--config", str(settings)]) == 0
    fills = [StateStore(p).fills() for p in (plain, noisy)]
    assert len(fills[0]) > 0
    pd.testing.assert_frame_equal(fills[0], fills[1])
    text = _every_log_line(caplog) + capsys.readouterr().err
    assert SECRET not in text


def test_bad_notification_settings_are_refused_with_the_fix(tmp_path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("notify:\n  urls: [json://127.0.0.1:1/x]\n  event: [halted]\n")
    with pytest.raises(ConfigError, match=r"unknown key.*event"):
        notify.load_config(config)
    config.write_text("notify:\n  events: [halted, lunch]\n")
    with pytest.raises(ConfigError, match=r"unknown notification event.*lunch"):
        notify.load_config(config)
    config.write_text("risk: {}\n")
    with pytest.raises(ConfigError, match="one section, notify"):
        notify.load_config(config)
    with pytest.raises(ConfigError, match=r"does not understand.*nonsense://"):
        notify.Notifier(notify.NotifyConfig(("nonsense://abc",)))
    config.write_text("notify:\n  urls: [json://127.0.0.1:1/x]\n  events: [halted]\n")
    loaded = notify.load_config(config, ["json://127.0.0.1:2/y"])
    assert loaded.urls == ("json://127.0.0.1:1/x", "json://127.0.0.1:2/y")
    assert loaded.events == {"halted"} and "127.0.0.1" not in repr(loaded)
