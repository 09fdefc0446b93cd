"""The dashboard in a real headless Chromium, over the state of a live emulator session.

The session (emulator + alpaca-py + live runner) is still running while the pages are
read, so the status is the runner's own. Every test writes a screenshot.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from emulator_session import FAKE_KEY_ID, FAKE_SECRET, RISK, EmulatorSession

from workbench.cli.main import main
from workbench.dashboard import create_app
from workbench.dashboard.security import LoginThrottle
from workbench.errors import ConfigError
from workbench.live.state import StateStore
from workbench.risk.state import SQLiteRiskStore

pytestmark = pytest.mark.slow
TOKEN = "e2e-dashboard-token-0123456789abcdef"


def _positions(state: Path) -> dict[str, float]:
    with sqlite3.connect(state) as db:
        row = db.execute("SELECT positions FROM equity ORDER BY time_ns DESC LIMIT 1").fetchone()
    return {k: v for k, v in json.loads(row[0]).items() if v}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory):
    """A running session stopped mid-way with a position open; a copy of its state for the kill
    switch test; the session finishes after the module's tests."""
    root = tmp_path_factory.mktemp("dashboard-session")
    with EmulatorSession(root, bars=120) as session:
        session.step_until(40)
        while not _positions(session.state) and session.stepped < session.n - 1:
            session.step_until(session.stepped + 1)
        assert _positions(session.state), "the session never held a position"
        copy = root / "copy.sqlite"
        with sqlite3.connect(session.state) as src, sqlite3.connect(copy) as dst:
            src.backup(dst)
        session.copy = copy
        yield session
        session.finish()


def _no_secret(page) -> None:  # type: ignore[no-untyped-def]
    html = page.content()
    assert FAKE_SECRET not in html and FAKE_KEY_ID not in html and TOKEN not in html


def test_the_pages_show_the_positions_equity_and_status_of_the_running_session(
    live, page, serve, screenshots
) -> None:
    state = StateStore(live.state)
    curve = state.equity_curve()
    fills = state.fills()
    state.close()
    held = _positions(live.state)
    venue = {p["symbol"]: float(p["qty"]) for p in live.emulator.state()["positions"]}
    assert held == pytest.approx(venue)  # the state holds what the venue holds
    with serve(create_app(live.state)) as url:
        response = page.goto(url + "/")
        assert response.status == 200
        assert page.text_content("#run-state").strip() == "running"
        assert page.text_content("#strategy").strip() == "wholeshare_cross"
        for symbol, qty in held.items():
            shown = page.text_content(f'tr[data-symbol="{symbol}"] td.qty').replace(",", "")
            assert float(shown) == pytest.approx(qty)
        assert page.text_content("#equity").strip() == f"{curve['equity'].iloc[-1]:,.2f}"
        assert page.text_content("#cash").strip() == f"{curve['cash'].iloc[-1]:,.2f}"
        total = curve["equity"].iloc[-1] - curve["equity"].iloc[0]
        assert page.text_content("#pnl-total").strip() == f"{total:,.2f}"
        assert page.text_content("#last-bar").strip() == curve.index[-1].isoformat()
        with sqlite3.connect(live.state) as db:  # the risk engine's table, once it runs live
            risk = db.execute("SELECT name FROM sqlite_master WHERE name = 'risk_state'")
            configured = risk.fetchone() is not None
        expected = "ACTIVE" if configured else "risk: not configured"
        assert page.text_content("#risk-state").strip() == expected
        assert f"limit {RISK['max_drawdown'] * 100:.2f}%" in page.text_content("#risk")
        assert len(page.query_selector_all("#fills tr")) == min(len(fills), 20) + 1
        assert page.get_attribute('meta[http-equiv="refresh"]', "content") == "5"
        width = page.evaluate("document.querySelector('#equity-plot').naturalWidth")
        assert width > 100  # the server-side plot loaded
        _no_secret(page)
        page.screenshot(path=str(screenshots / "dashboard-running.png"), full_page=True)

        page.goto(url + "/logs")
        text = page.text_content("#logs")
        assert re.search(r"fill (buy|sell) SPX", text)
        _no_secret(page)
        page.screenshot(path=str(screenshots / "dashboard-logs.png"), full_page=True)

        api = page.request.get(url + "/api/status")
        assert api.status == 200
        body = api.text()
        assert FAKE_SECRET not in body and FAKE_KEY_ID not in body
        doc = json.loads(body)
        assert doc["status"]["state"] == "running"
        assert {p["symbol"]: p["quantity"] for p in doc["positions"]} == pytest.approx(held)


def test_a_halted_runner_shows_as_halted_with_its_reason(live, page, serve, screenshots) -> None:
    reason = "drawdown review: halted by the operator"
    assert main(["risk", "kill", "--state", str(live.state), "--reason", reason]) == 0
    with serve(create_app(live.state)) as url:
        page.goto(url + "/")
        assert page.text_content("#run-state").strip() == "halted"
        assert reason in page.text_content("#halt-reason")
        assert page.text_content("#risk-state").strip() == "HALTED"
        assert "kill_switch" in page.text_content("#risk")
        doc = page.request.get(url + "/api/status").json()
        assert doc["status"]["halted"] and doc["status"]["halt_reason"] == reason
        page.screenshot(path=str(screenshots / "dashboard-halted.png"), full_page=True)


def _log_in(page, url: str, token: str = TOKEN) -> None:  # type: ignore[no-untyped-def]
    """Submit the login form and wait for the page it leads to: the form is on ``/`` too,
    so reading the page right after the click can still read the form."""
    page.goto(url + "/")
    page.fill("#token", token)
    with page.expect_navigation():
        page.click("#login-button")


def test_without_the_token_a_non_loopback_dashboard_refuses_requests(
    live, page, serve, screenshots
) -> None:
    with pytest.raises(ConfigError, match="without a token"):
        create_app(live.state, host="0.0.0.0")
    quick = LoginThrottle(base_s=0.01)
    app = create_app(live.state, host="0.0.0.0", token=TOKEN, throttle=quick)
    with serve(app, "0.0.0.0") as url:  # bound to every interface, reached through loopback
        for path in ("/", "/logs", "/equity.png", "/api/status", "/api/logs"):
            assert page.request.get(url + path).status == 401, path
        response = page.goto(url + "/")
        assert response.status == 401 and "token is required" in page.text_content("h1")
        page.screenshot(path=str(screenshots / "dashboard-unauthorized.png"))
        assert page.goto(url + f"/login?token={TOKEN}").status == 400  # never from a URL
        assert not [c for c in page.context.cookies() if c["name"] == "wb_session"]
        _log_in(page, url, "wrong-token-0123456789")
        assert "wrong token" in page.text_content("#login-error")
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert page.request.get(url + "/api/status", headers=bearer).status == 200
        _log_in(page, url)
        assert page.url == url + "/"
        assert page.text_content("#run-state").strip() in ("running", "halted")
        cookie = next(c for c in page.context.cookies() if c["name"] == "wb_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]
        assert TOKEN not in cookie["value"]
        _no_secret(page)
        page.screenshot(path=str(screenshots / "dashboard-with-token.png"), full_page=True)


_TABLES_IN_CARDS = """() => Array.from(document.querySelectorAll('table')).map(t => {
  const card = t.closest('section');
  const a = t.getBoundingClientRect(), b = card.getBoundingClientRect();
  return {card: card.id || card.querySelector('h2').textContent, left: a.left, right: a.right,
          cardLeft: b.left, cardRight: b.right};
})"""


def _tables_inside_their_cards(page) -> int:  # type: ignore[no-untyped-def]
    boxes = page.evaluate(_TABLES_IN_CARDS)
    for box in boxes:
        assert box["left"] >= box["cardLeft"] - 0.5, box
        assert box["right"] <= box["cardRight"] + 0.5, box  # the table ends inside its card
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    return len(boxes)


def test_a_token_session_logs_in_uses_the_pages_and_the_kill_switch_without_leaking_the_token(
    live, browser, serve, screenshots, tmp_path
) -> None:
    """Log in through the form, read every page at 1400 and 800 px, press the kill switch:
    the token is in no URL the browser asked for or was sent to, and in no log line."""
    import logging

    records: list[str] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: records.append(  # type: ignore[method-assign]
        f"{record.name} {record.getMessage()} {record.__dict__}"
    )
    root = logging.getLogger()
    root.addHandler(handler)
    saved = root.level
    root.setLevel(logging.DEBUG)  # every library's every line, the web server's included
    urls: list[str] = []
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.on("request", lambda r: urls.append(r.url))
    page.on("response", lambda r: urls.append(r.headers.get("location", "")))
    app = create_app(live.copy, token=TOKEN, allow_kill=True, host="0.0.0.0")
    try:
        with serve(app, "0.0.0.0") as url:
            _log_in(page, url)
            assert page.url == url + "/" and page.is_visible("#kill-button")
            assert len(page.query_selector_all("#fills tr")) > 1  # the fills table has rows
            for width in (1400, 800):
                page.set_viewport_size({"width": width, "height": 1000})
                page.goto(url + "/")
                assert _tables_inside_their_cards(page) >= 5
                page.screenshot(path=str(screenshots / f"dashboard-{width}px.png"), full_page=True)
                page.goto(url + "/logs")
                assert _tables_inside_their_cards(page) >= 1
            page.goto(url + "/")
            forged = page.request.post(url + "/kill", form={"confirm": "yes"})  # no CSRF token
            assert forged.status == 403
            wrong = page.request.post(url + "/kill", form={"confirm": "yes", "csrf_token": "x"})
            assert wrong.status == 403
            with SQLiteRiskStore(live.copy) as store:
                before = store.load()  # the runner's risk engine keeps its state here
                assert before is not None and str(before.trading) == "ACTIVE"
            page.check("input[name=confirm]")
            page.click("#kill-button")
            assert "runner halted" in page.text_content("#message")
            page.screenshot(path=str(screenshots / "dashboard-kill.png"))
            with SQLiteRiskStore(live.copy) as store:
                halted = store.load()
            assert str(halted.trading) == "HALTED" and halted.rule == "kill_switch"
            page.goto(url + "/")
            assert page.text_content("#run-state").strip() == "halted"
            _no_secret(page)
            page.click("#logout")
            assert page.goto(url + "/").status == 401
    finally:
        root.removeHandler(handler)
        root.setLevel(saved)
        context.close()
    store = StateStore(live.copy)
    assert list(store.events("kill_switch")["kind"]) == ["kill_switch"]
    store.close()
    assert any(url + "/kill" == u for u in urls) and len(urls) > 10
    assert [u for u in urls if TOKEN in u] == []
    assert any("dashboard login" in line for line in records)  # the log was captured
    assert [line for line in records if TOKEN in line] == []
    assert TOKEN not in live.log_file.read_text()  # the runner's JSON log
