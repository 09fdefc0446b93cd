"""Opening a run's state file: the writer's connection, the read-only reader, transactions.

Kept apart from what is written (:mod:`workbench.live.state.store`) because the hard part
is here: a second runner refused before it touches the file, a reader that never creates
a file or a table (even on a read-only filesystem), and every fault of the machine (full
disk, vanished file, lock held elsewhere) turned into one clear error.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Self

from workbench.errors import ConfigError
from workbench.live.state.schema import SCHEMA
from workbench.storefaults import claim, read_fault, store_fault, vanished

#: A write that rides along (:meth:`StateFile.ride_along`): its thread, and the write.
Rider = tuple[int, Callable[[sqlite3.Connection], Callable[[], None] | None]]


class StateFile:
    """The SQLite file (WAL) under a run's state: opened for writing (tables created,
    all or none) or read-only, one transaction per write, the machine's faults mapped to
    :class:`~workbench.errors.StateStoreError`."""

    def __init__(self, path: str | Path, *, exclusive: bool = False) -> None:
        """``exclusive``: the runner's claim on the file: a second ``workbench live`` on
        it is refused (:func:`claim`) before it reads or writes anything."""
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            raise ConfigError(
                f"state file {self.path}: folder {self.path.parent} does not exist",
                hint="create it or choose another --state path",
            )
        if not self.path.parent.is_dir():
            raise ConfigError(
                f"state file {self.path}: {self.path.parent} is a file, not a folder",
                hint="choose another --state path",
            )
        self._claim = claim(self.path) if exclusive else None
        self._lock = threading.RLock()
        self._rider: Rider | None = None
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA busy_timeout=5000")
            self.conn.executescript(f"BEGIN IMMEDIATE; {SCHEMA} COMMIT;")  # all or none
            self._inode = os.stat(self.path).st_ino
        except (sqlite3.Error, OSError) as exc:
            self._release()
            fault = store_fault(self.path, exc)
            if fault is not None:
                raise fault from None
            raise ConfigError(
                f"state file {self.path} cannot be opened as SQLite ({exc})",
                hint="point --state at a workbench state file or a new path",
            ) from None

    @classmethod
    def reader(cls, path: str | Path) -> Self:
        """The run's state opened read-only: never creates the file or its tables, never
        writes (the dashboard, ``live status``, reconciliation and the chaos harness)."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"no state file at {path}", hint="pass --state with the run's file")
        store = cls.__new__(cls)
        store.path = path
        store._lock = threading.RLock()
        store._claim = None
        store._rider = None
        uri = f"{path.resolve().as_uri()}?mode=ro"
        try:
            try:
                store.conn = sqlite3.connect(uri, uri=True, timeout=5.0, check_same_thread=False)
                known = store.tables()
            except sqlite3.OperationalError:
                if "conn" in vars(store):
                    store.conn.close()
                if os.access(path.parent, os.W_OK):
                    raise
                # a read-only folder or filesystem: no -shm can be made, and nobody can
                # change the file either, so SQLite may read it as immutable
                store.conn = sqlite3.connect(
                    uri + "&immutable=1", uri=True, timeout=5.0, check_same_thread=False
                )
                known = store.tables()
        except sqlite3.DatabaseError as exc:
            raise ConfigError(
                f"state file {path} cannot be read as SQLite ({exc})",
                hint="point --state at a workbench state file",
            ) from None
        if "meta" not in known:
            store.close()
            raise ConfigError(
                f"{path} is not a workbench state file (no meta table)",
                hint="pass --state with the file given to `workbench live --state`",
            )
        return store

    def close(self) -> None:
        self.conn.close()
        self._release()

    def _release(self) -> None:
        if self._claim is not None:
            os.close(self._claim)  # a lock file of its own: SQLite's locks are untouched
            self._claim = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def tables(self) -> set[str]:
        rows = self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {r[0] for r in rows}

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write, all or nothing. A fault of the machine (full disk, read-only or
        vanished file, lock held elsewhere) comes out as one :class:`StateStoreError`."""
        with self._lock:
            try:
                self._check_still_there()
                done = None
                try:  # BEGIN inside: an interrupt just after it (Ctrl-C) still rolls back
                    self.conn.execute("BEGIN IMMEDIATE")
                    yield self.conn
                    rider = self._rider
                    if rider is not None and rider[0] == threading.get_ident():
                        done = rider[1](self.conn)
                except BaseException:
                    if self.conn.in_transaction:  # SQLite may have rolled back already
                        with suppress(sqlite3.Error):
                            self.conn.execute("ROLLBACK")
                    raise
                self.conn.execute("COMMIT")
                if done is not None:
                    done()
            except (sqlite3.Error, OSError) as exc:
                if self.conn.in_transaction:
                    with suppress(sqlite3.Error):
                        self.conn.execute("ROLLBACK")
                fault = store_fault(self.path, exc)
                if fault is None:
                    raise
                raise fault from None

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Reads from one moment of the file: one read transaction (in WAL mode the writer
        goes on meanwhile), the machine's faults (a vanished or locked file, one that is
        not SQLite) as one clear error (:class:`StateStoreError` or :class:`ConfigError`)."""
        with self._lock:
            try:
                self.conn.execute("BEGIN")
                try:
                    yield
                finally:
                    if self.conn.in_transaction:  # a read: nothing to keep
                        with suppress(sqlite3.Error):
                            self.conn.execute("COMMIT")
            except (sqlite3.Error, OSError) as exc:
                raise read_fault(self.path, exc) from None

    def ride_along(self, write: Callable[[sqlite3.Connection], Callable[[], None] | None]) -> None:
        """Have every write transaction of the calling thread end with ``write(conn)``
        (in the transaction: both commit or neither), and call what it returns once the
        transaction is committed. Another thread's writes (the heartbeat's) go without it:
        what it writes belongs to the calling thread."""
        self._rider = (threading.get_ident(), write)

    def _check_still_there(self) -> None:
        """Writes to a file deleted or replaced under the runner would go nowhere."""
        try:
            same = os.stat(self.path).st_ino == self._inode
        except FileNotFoundError:
            same = False
        if not same:
            raise vanished(self.path)
