"""The dashboard when the state file is gone, locked or unreadable, and when the Host is foreign."""

from __future__ import annotations

import sqlite3

import pytest

from workbench.dashboard import create_app
from workbench.live.state import StateStore

TOKEN = "unit-test-token-0123456789"


@pytest.fixture
def state(tmp_path):
    path = tmp_path / "live.sqlite"
    store = StateStore(path)
    store.set_meta(status="running", strategy="x")
    store.close()
    return path


def _unavailable(client, path: str = "/") -> tuple[int, str, str]:
    answer = client.get(path)
    return answer.status_code, answer.mimetype, answer.get_data(as_text=True)


def test_a_vanished_state_file_is_a_clear_503_not_a_500(state) -> None:
    client = create_app(state).test_client()
    state.rename(state.with_suffix(".moved"))
    status, mimetype, page = _unavailable(client)
    assert (status, mimetype) == (503, "text/html")
    assert "state file unavailable" in page and f"no state file at {state}" in page
    assert 'http-equiv="refresh"' in page  # it recovers by itself once the file is back
    assert "Traceback" not in page
    status, mimetype, body = _unavailable(client, "/api/status")
    assert (status, mimetype) == (503, "application/json")
    assert f"no state file at {state}" in body
    headers = client.get("/").headers
    assert (
        headers["X-Frame-Options"] == "DENY"
        and "default-src 'none'" in headers["Content-Security-Policy"]
    )


def test_a_locked_or_foreign_state_file_is_a_clear_503(state) -> None:
    client = create_app(state).test_client()
    writer = sqlite3.connect(state, isolation_level=None, timeout=0)
    writer.execute("PRAGMA journal_mode=DELETE")  # no WAL: a writer's lock shuts readers out
    writer.execute("BEGIN EXCLUSIVE")
    try:
        status, _, page = _unavailable(client, "/logs")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert status == 503 and "database is locked" in page
    state.write_bytes(b"not a database " * 100)
    status, _, page = _unavailable(client)
    assert status == 503 and "cannot be read as SQLite" in page


def test_a_failed_kill_switch_says_the_halt_was_not_written(state, monkeypatch) -> None:
    from workbench.dashboard import control
    from workbench.errors import StateStoreError

    def locked(*args, **kwargs):
        raise StateStoreError("state file is locked by another process")

    monkeypatch.setattr(control, "halt", locked)
    client = create_app(state, token=TOKEN, allow_kill=True).test_client()
    client.post("/login", data={"token": TOKEN})
    with client.session_transaction() as session:
        csrf = session["csrf"]
    answer = client.post("/kill", data={"csrf_token": csrf, "confirm": "yes"})
    assert answer.status_code == 503
    assert "the halt was NOT written" in answer.get_data(as_text=True)


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("localhost", 200),
        ("localhost:8050", 200),
        ("127.0.0.1:8050", 200),
        ("[::1]:8050", 200),
        ("attacker.example", 400),  # DNS rebinding: a page's own name pointed at 127.0.0.1
        ("attacker.example:8050", 400),
        ("192.168.1.5:8050", 400),
    ],
)
def test_without_a_token_only_a_loopback_host_is_answered(state, host, status) -> None:
    client = create_app(state).test_client()
    for path in ("/", "/api/status"):
        assert client.get(path, headers={"Host": host}).status_code == status, path


def test_with_a_token_any_host_is_answered(state) -> None:
    client = create_app(state, host="0.0.0.0", token=TOKEN).test_client()
    bearer = {"Authorization": f"Bearer {TOKEN}", "Host": "bot.example.com"}
    assert client.get("/api/status", headers=bearer).status_code == 200


def test_a_snapshot_reads_one_moment_of_the_state_while_the_runner_writes(
    state, monkeypatch
) -> None:
    """The runner books a fill and its equity between two of the dashboard's reads: the
    snapshot shows the state before both, not the fill without the position it made."""
    import pandas as pd

    from workbench.dashboard import snapshot
    from workbench.orders import Fill, Side

    t = pd.Timestamp("2024-01-02", tz="UTC")
    read_equity = StateStore.equity_points

    def equity_then_runner_writes(self, *args, **kwargs):
        points = read_equity(self, *args, **kwargs)
        runner = StateStore(state)
        runner.record_fill(Fill("o1", "SPX", Side.BUY, 10, 100.0, 1.0, t, "CROSS"), "c1", "o1:10")
        runner.record_equity(t.value, 9_000.0, 10_000.0, {"SPX": 10.0})
        runner.close()
        return points

    monkeypatch.setattr(StateStore, "equity_points", equity_then_runner_writes)
    snap = snapshot(state)
    assert snap["positions"] == [] and snap["recent_fills"] == []
    assert snap["account"]["equity"] is None
    monkeypatch.undo()
    snap = snapshot(state)  # the next refresh sees both
    assert [(p["quantity"], p["recorded_quantity"]) for p in snap["positions"]] == [(10.0, 10.0)]
