"""The dashboard over a hand-built state file: numbers, escaping, secrets, token and CSRF."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from workbench.cli.main import main
from workbench.dashboard import create_app, snapshot
from workbench.dashboard.security import LoginThrottle, check_config, is_loopback
from workbench.errors import ConfigError
from workbench.live.state import StateStore
from workbench.orders import Fill, OrderRequest, Side
from workbench.risk.state import SQLiteRiskStore, halted

SECRET = "very-secret-value-7f3a9c"
TOKEN = "unit-test-token-0123456789"
T1, T2, T3 = (pd.Timestamp(t, tz="UTC") for t in ("2024-01-02 00:00", "2024-01-02 12:00",
                                                   "2024-01-03 00:00"))  # fmt: skip


@pytest.fixture
def state(tmp_path, monkeypatch):
    """10,000 cash; buy 10 SPX at 100 (fee 1) on the second bar; closes 100, 102, 98."""
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    bundle = tmp_path / "promoted" / "x" / "1"
    bundle.mkdir(parents=True)
    (bundle / "manifest.json").write_text(
        json.dumps({"run_spec": {"risk": {"max_drawdown": 0.1, "daily_loss_limit": 0.02}}})
    )
    log = tmp_path / "live.jsonl"
    log.write_text(
        json.dumps({"ts": "2024-01-03T00:00:01Z", "level": "info", "logger": "workbench.live",
                    "msg": f"connected with {SECRET}", "symbol": "SPX"}) + "\nnot json <b>\n"
    )  # fmt: skip
    path = tmp_path / "live.sqlite"
    store = StateStore(path)
    store.set_meta(
        strategy="<script>alert(1)</script>", status="running", bundle=str(bundle),
        broker="sim", feed="replay:x", started_at=T1.isoformat(), log_file=str(log),
        heartbeat=pd.Timestamp.now(tz="UTC").isoformat(),
        heartbeat_unix=str(pd.Timestamp.now(tz="UTC").timestamp()), last_bar=T3.isoformat(),
    )  # fmt: skip
    from workbench.broker import Bar

    store.record_bars([Bar("SPX", t, c, c, c, c, 1e6) for t, c in ((T1, 100), (T2, 102), (T3, 98))])
    store.record_fill(Fill("o1", "SPX", Side.BUY, 10, 100.0, 1.0, T2, "CROSS"), "c1", "o1:10")
    store.record_order_request("c2", OrderRequest("SPX", Side.SELL, quantity=10), T3.value)
    store.record_equity(T1.value, 10_000.0, 10_000.0, {})
    store.record_equity(T2.value, 8_999.0, 10_019.0, {"SPX": 10.0})
    store.record_equity(T3.value, 8_999.0, 9_979.0, {"SPX": 10.0})
    store.record_event("note", {"detail": f"key={SECRET}"})
    store.close()
    return path


def test_snapshot_numbers_by_hand(state) -> None:
    snap = snapshot(state)
    a = snap["account"]
    assert a["equity"] == 9_979.0 and a["cash"] == 8_999.0
    assert a["pnl_total"] == pytest.approx(-21.0)
    assert a["day_start_equity"] == 10_019.0 and a["pnl_today"] == pytest.approx(-40.0)
    assert a["drawdown"] == pytest.approx(40 / 10_019) and a["max_drawdown"] == a["drawdown"]
    assert a["daily_loss"] == pytest.approx(40 / 10_019)
    assert (a["drawdown_limit"], a["daily_loss_limit"]) == (0.1, 0.02)
    (pos,) = snap["positions"]
    assert pos == {"symbol": "SPX", "quantity": 10.0, "recorded_quantity": 10.0,
                   "avg_price": 100.0, "last_price": 98.0, "market_value": 980.0,
                   "unrealized_pnl": pytest.approx(-21.0), "realized_pnl": 0.0}  # fmt: skip
    assert [o["client_order_id"] for o in snap["open_orders"]] == ["c2"]
    assert snap["status"]["state"] == "running" and snap["risk"]["configured"] is False
    assert snap["status"]["bundle"] == "x/1"


def test_pages_escape_everything_and_never_show_a_secret(state) -> None:
    client = create_app(state).test_client()
    for path in ("/", "/logs", "/api/status", "/api/logs", "/equity.png"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert SECRET.encode() not in response.data, path
        assert response.headers["X-Frame-Options"] == "DENY"
    page = client.get("/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert 'http-equiv="refresh"' in page and "risk: not configured" in page
    logs = client.get("/logs").get_data(as_text=True)
    assert "connected with ***" in logs and "not json &lt;b&gt;" in logs
    assert client.get("/equity.png").data[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_failure_message_in_the_state_never_shows_a_secret(state) -> None:
    """The runner writes its failure as it was raised (meta ``error``), unredacted."""
    store = StateStore(state)
    store.set_meta(status="failed", error=f"broker refused key {SECRET}; secret_key=abcd1234efgh")
    store.close()
    with SQLiteRiskStore(state) as risk:
        risk.update(
            lambda s: halted(s, rule="kill_switch", reason=f"by {SECRET}", time=T3, flatten=False)
        )
    client = create_app(state).test_client()
    for path in ("/", "/api/status"):
        body = client.get(path).get_data(as_text=True)
        assert "broker refused key ***" in body, path
        assert SECRET not in body and "abcd1234efgh" not in body, path


def test_a_halt_shows_with_its_reason(state) -> None:
    with SQLiteRiskStore(state) as store:
        store.update(lambda s: halted(s, rule="max_drawdown", reason="drawdown 12% >= 10%",
                                      time=T3, flatten=True))  # fmt: skip
    snap = snapshot(state)
    assert snap["status"]["state"] == "halted" and snap["risk"]["trading"] == "HALTED"
    assert snap["status"]["halt_reason"] == "drawdown 12% >= 10%"
    page = create_app(state).test_client().get("/").get_data(as_text=True)
    assert 'id="halt-reason">halted: drawdown 12% &gt;= 10%' in page


@pytest.mark.parametrize(
    ("host", "token", "allow_kill", "error"),
    [
        ("127.0.0.1", None, False, None),
        ("localhost", None, False, None),
        ("::1", None, False, None),
        ("0.0.0.0", None, False, "without a token"),
        ("192.168.1.5", None, False, "without a token"),
        ("dashboard.example", None, False, "without a token"),
        ("0.0.0.0", TOKEN, False, None),
        ("127.0.0.1", None, True, "kill switch needs a token"),
        ("127.0.0.1", "short", False, "too short"),
    ],
)
def test_who_may_serve(host, token, allow_kill, error) -> None:
    if error is None:
        check_config(host, token, allow_kill)
    else:
        with pytest.raises(ConfigError, match=error):
            check_config(host, token, allow_kill)


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.2") and is_loopback("[::1]") and not is_loopback("10.0.0.1")


def test_the_token_guards_every_page(state, caplog) -> None:
    waits: list[float] = []
    throttle = LoginThrottle(sleep=waits.append)
    client = create_app(state, host="0.0.0.0", token=TOKEN, throttle=throttle).test_client()
    assert client.get("/").status_code == 401
    assert b'id="login-form"' in client.get("/").data
    assert client.get("/api/status").get_json() == {"error": "unauthorized"}
    assert client.get("/", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    # the token in a URL is refused outright (it would be in history and proxy logs)
    assert client.get(f"/login?token={TOKEN}").status_code == 400
    assert client.get("/").status_code == 401
    for _ in range(3):
        assert client.post("/login", data={"token": "nope-nope-nope-nope"}).status_code == 401
    assert waits == [0.25, 0.5, 1.0]  # each failure from one address waits twice as long
    login = client.post("/login", data={"token": TOKEN})
    assert login.status_code == 303 and login.headers["Location"] == "/"
    cookie = login.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    assert TOKEN not in cookie
    assert client.get("/").status_code == 200  # the session now
    assert TOKEN not in client.get("/").get_data(as_text=True)
    assert client.post("/logout").status_code == 303
    assert client.get("/").status_code == 401
    failed = [r for r in caplog.records if getattr(r, "event", None) == "login_failed"]
    assert len(failed) == 3
    assert all("nope" not in r.getMessage() and TOKEN not in r.getMessage() for r in caplog.records)


def test_the_session_cookie_is_secure_over_tls_behind_a_proxy(state) -> None:
    app = create_app(state, host="0.0.0.0", token=TOKEN, behind_proxy=True)
    client = app.test_client()
    login = client.post("/login", data={"token": TOKEN}, headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in login.headers["Set-Cookie"]
    page = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")


def test_every_answer_carries_the_security_headers(state) -> None:
    client = create_app(state).test_client()
    for path in ("/", "/api/status", "/equity.png"):
        headers = client.get(path).headers
        assert headers["Cache-Control"] == "no-store", path
        assert headers["X-Frame-Options"] == "DENY"
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_the_kill_switch_checks_csrf_then_halts(state) -> None:
    assert create_app(state).test_client().post("/kill").status_code == 404  # not enabled
    client = create_app(state, token=TOKEN, allow_kill=True).test_client()
    client.post("/login", data={"token": TOKEN})
    assert client.post("/kill", data={"confirm": "yes"}).status_code == 403
    page = client.get("/").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/kill", data={"csrf_token": csrf}).status_code == 400  # not confirmed
    assert snapshot(state)["risk"]["configured"] is False
    done = client.post("/kill", data={"csrf_token": csrf, "confirm": "yes"})
    assert done.status_code == 200 and b"runner halted" in done.data
    snap = snapshot(state)
    assert snap["status"]["state"] == "halted" and snap["risk"]["rule"] == "kill_switch"
    assert snap["status"]["kill_requested"] and snap["events"][0]["kind"] == "kill_switch"


def test_the_latest_report_is_linked_and_served_safely(state, tmp_path) -> None:
    import os

    reports = tmp_path / "reconcile"
    for name, age in (("old", 100), ("new", 0)):
        folder = reports / name
        folder.mkdir(parents=True)
        (folder / "summary.json").write_text(json.dumps({"verdict": name, "unexplained": 0}))
        (folder / "report.html").write_text(f"<p>{name}</p>")
        stamp = pd.Timestamp.now(tz="UTC").timestamp() - age
        os.utime(folder / "summary.json", (stamp, stamp))
    client = create_app(state).test_client()
    assert snapshot(state)["report"]["name"] == "new"
    assert b"/report/new/report.html" in client.get("/").data
    assert client.get("/report/new/report.html").data == b"<p>new</p>"
    assert client.get("/report/new/../../live.sqlite").status_code == 404
    assert client.get("/report/new/summary.txt").status_code == 404


def test_the_command_refuses_a_public_address_without_a_token(state, tmp_path, capsys) -> None:
    assert main(["dashboard", "--state", str(state), "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "refusing to serve the dashboard on 0.0.0.0 without a token" in err
    assert main(["dashboard", "--state", str(tmp_path / "none.sqlite")]) == 2
    assert "no state file" in capsys.readouterr().err
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert main(["dashboard", "--state", str(state), "--token-file", str(empty)]) == 2
    assert "is empty" in capsys.readouterr().err


def test_a_port_that_cannot_be_listened_on_is_named_not_a_traceback(state, capsys) -> None:
    import socket

    with socket.socket() as taken:  # another dashboard, or anything else, holds the port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["dashboard", "--state", str(state), "--port", str(port)]) == 2
    err = capsys.readouterr().err  # OSError: [Errno 98] Address already in use, before
    assert err == (
        f"error: cannot listen on http://127.0.0.1:{port}/: Address already in use (choose "
        "another --port (0 picks a free one) or stop the other server, or give --host an "
        "address of this machine)\n"
    )
    assert main(["dashboard", "--state", str(state), "--port", "70000"]) == 2
    err = capsys.readouterr().err  # served on some other port, before
    assert err == "error: port must be 0-65535, got 70000 (0 picks a free port)\n"
    argv = ["dashboard", "--state", str(state), "--host", "256.1.1.1", "--port", "0"]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WORKBENCH_DASHBOARD_TOKEN", TOKEN)
        assert main(argv) == 2  # ValueError: Invalid host/port specified., before
    assert capsys.readouterr().err.startswith("error: cannot listen on http://256.1.1.1:0/: ")


def test_the_bundle_reports_are_linked_and_only_they_are_served(state) -> None:
    bundle = Path(snapshot(state)["status"]["bundle_path"])
    client = create_app(state).test_client()
    assert b"/bundle/report.html" not in client.get("/").data  # none written yet
    (bundle / "report.html").write_text("<p>promoted on</p>")
    (bundle / "walkforward.html").write_text("<p>folds</p>")
    page = client.get("/").data
    assert b"/bundle/report.html" in page and b"/bundle/walkforward.html" in page
    assert client.get("/bundle/report.html").data == b"<p>promoted on</p>"
    assert client.get("/bundle/walkforward.html").data == b"<p>folds</p>"
    for other in ("manifest.json", "strategy.py", "..%2Flive.sqlite"):
        assert client.get(f"/bundle/{other}").status_code == 404


def test_the_command_serves_on_a_free_port_and_says_which(state, first_line) -> None:
    """``--port 0``: the system's choice, printed once bound (a port picked beforehand and
    passed on can be taken by then); the page answers there."""
    import subprocess
    import sys
    import urllib.request

    server = subprocess.Popen(
        [sys.executable, "-m", "workbench", "dashboard", "--state", str(state), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = first_line(server.stdout, 120)
        where = re.fullmatch(
            rf"dashboard for {re.escape(str(state))} on (http://127\.0\.0\.1:(\d+)/)\n", line
        )
        assert where is not None and int(where.group(2)) > 0, line
        with urllib.request.urlopen(where.group(1) + "api/status", timeout=30) as answer:
            assert json.load(answer)["status"]["strategy"] == "<script>alert(1)</script>"
    finally:
        server.terminate()
        server.wait(30)
