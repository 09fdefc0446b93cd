"""A Ctrl-C that lands just after a write's BEGIN: that write is rolled back whole, what
was written before stays, and the runner can still write its ``interrupted`` status."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from workbench.live.state import StateStore


class InterruptAfterBegin:
    """The store's connection, with a Ctrl-C arriving as its next BEGIN returns."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.armed = True

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        cursor = self._conn.execute(sql, *args)
        if self.armed and sql.startswith("BEGIN"):
            self.armed = False
            raise KeyboardInterrupt
        return cursor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def test_an_interrupt_just_after_begin_leaves_no_transaction_open(tmp_path: Path) -> None:
    path = tmp_path / "live.sqlite"
    store = StateStore(path)
    store.set_meta(status="running", strategy="s")
    store.conn = InterruptAfterBegin(store.conn)  # type: ignore[assignment]
    with pytest.raises(KeyboardInterrupt):
        store.set_meta(status="half written")
    assert not store.conn.in_transaction
    store.set_meta(status="stopped", stopped_by="interrupted")  # the runner's last write
    store.close()
    with StateStore.reader(path) as after:
        meta = after.meta()
    assert (meta["status"], meta["stopped_by"], meta["strategy"]) == (
        "stopped",
        "interrupted",
        "s",
    )
