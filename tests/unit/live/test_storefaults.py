"""Each fault of the machine reads as one line: the file, what happened, the fix.

The codes are SQLite's (https://sqlite.org/rescode.html) as Python's sqlite3 reports
them; the integration test ``tests/integration/live/test_state_faults.py`` makes the
real faults (a full tmpfs, a read-only filesystem, a second runner).
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest

from workbench.errors import StateStoreError
from workbench.risk.state import SQLiteRiskStore, halted
from workbench.storefaults import FULL_BELOW, store_fault


def _sqlite_error(code: int, text: str) -> sqlite3.OperationalError:
    exc = sqlite3.OperationalError(text)
    exc.sqlite_errorcode = code  # as the sqlite3 module sets it
    return exc


@pytest.mark.parametrize(
    ("code", "text", "says", "fix"),
    [
        (13, "database or disk is full", "the disk holding it is full", "free space on /"),
        (5, "database is locked", "is locked by another process", "use another --state"),
        (1032, "attempt to write a readonly database", "vanished while the runner", "put it back"),
        (8, "attempt to write a readonly database", "cannot be written", "check the permissions"),
    ],
)
def test_sqlite_faults_read_as_one_line(tmp_path, code, text, says, fix) -> None:
    path = tmp_path / "live.sqlite"
    fault = store_fault(path, _sqlite_error(code, text))
    assert isinstance(fault, StateStoreError) and fault.exit_code == 7
    line = str(fault)
    assert "\n" not in line and line.startswith(f"state file {path}")
    assert says in line and fix in line


def test_an_io_error_names_the_size_limit_or_the_disk(tmp_path, monkeypatch) -> None:
    import workbench.storefaults as faults

    path = tmp_path / "live.sqlite"
    monkeypatch.setattr(faults, "_size_limit", lambda: 4096)
    assert "file size limit of 4096 bytes (ulimit -f)" in str(store_fault(path, _sqlite_error(
        778, "disk I/O error")))  # fmt: skip
    monkeypatch.setattr(faults, "_size_limit", lambda: None)
    assert "reported an I/O error" in str(store_fault(path, _sqlite_error(10, "disk I/O error")))

    class Usage:
        free = FULL_BELOW - 1

    monkeypatch.setattr(faults.shutil, "disk_usage", lambda _: Usage)
    assert "is full" in str(store_fault(path, _sqlite_error(778, "disk I/O error")))


def test_os_errors_and_other_errors(tmp_path) -> None:
    path = tmp_path / "live.sqlite"
    assert "is full" in str(store_fault(path, OSError(errno.ENOSPC, "No space left")))
    assert "vanished" in str(store_fault(path, OSError(errno.ENOENT, "gone")))
    # not a fault of the machine: left alone (a bug, a file that is not SQLite)
    assert store_fault(path, _sqlite_error(1, "no such table: nope")) is None
    assert store_fault(path, _sqlite_error(26, "file is not a database")) is None
    assert store_fault(path, ValueError("x")) is None


def test_the_risk_store_reports_a_fault_as_one_error_not_two(tmp_path: Path) -> None:
    """A write failing inside the risk engine's transaction: one StateStoreError, nothing
    chained from a ROLLBACK of a transaction SQLite already ended."""
    store = SQLiteRiskStore(tmp_path / "live.sqlite")

    def fail(state):
        raise _sqlite_error(13, "database or disk is full")

    with pytest.raises(StateStoreError, match="the disk holding it is full") as caught:
        store.update(fail)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    now = None
    state = store.update(lambda s: halted(s, rule="kill_switch", reason="x", time=now,
                                          flatten=False))  # fmt: skip
    assert str(state.trading) == "HALTED"  # the store still works once the cause is gone
    store.close()
