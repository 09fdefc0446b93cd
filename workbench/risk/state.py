"""The risk engine's memory: trading state, equity peak, day start, counters, and where it lives.

The state survives restarts: a halt is lifted only by a person (``workbench risk reset
--confirm``), never by restarting the process. A store changes the state only through
:meth:`RiskStore.update`, an atomic read-modify-write, so the running engine and the
``workbench risk`` command (another process) can both write to the same SQLite file
without losing each other's changes: a kill switch thrown while the engine updates its
peak is never overwritten.

- :class:`MemoryRiskStore` for backtests;
- :class:`SQLiteRiskStore` for live runs: one table (name given) in a SQLite file in WAL
  mode, one row per ``scope`` (an account or strategy), the state as JSON. The live
  runner keeps its own tables in the same file.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from workbench.errors import ConfigError, DataError
from workbench.fastinit import fast_build, fast_init
from workbench.storefaults import read_fault, store_fault

__all__ = [
    "DEFAULT_SCOPE",
    "DEFAULT_TABLE",
    "MemoryRiskStore",
    "RiskState",
    "RiskStore",
    "SQLiteRiskStore",
    "StoredRiskState",
    "TradingState",
    "halted",
    "reducing",
    "reset",
    "stored_states",
]

DEFAULT_TABLE = "risk_state"
DEFAULT_SCOPE = "default"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class TradingState(StrEnum):
    """ACTIVE: rules apply. REDUCING: only orders that reduce exposure pass. HALTED: nothing."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


@fast_init
@dataclass(frozen=True, slots=True)
class RiskState:
    """Everything the rules must remember between bars and across restarts.

    ``reason`` says why the state is not ACTIVE (``<rule>: <numbers>``), or what the last
    reset said. ``until_day`` (ISO date) is when an automatic REDUCING (the daily loss
    limit) lifts. ``flatten``: a halt that must liquidate every position. Equity values
    are the marked equity the engine was told; ``day`` is the current trading day (the
    calendar's local date; a state written before days were the calendar's holds a UTC
    date, which the engine's next bar replaces, once).
    """

    trading: TradingState = TradingState.ACTIVE
    reason: str = ""
    rule: str = ""
    since: str | None = None
    until_day: str | None = None
    flatten: bool = False
    peak_equity: float | None = None
    day: str | None = None
    day_start_equity: float | None = None
    last_equity: float | None = None
    orders_today: int = 0

    def marked(self, peak: float | None, equity: float | None, orders: int = 0) -> RiskState:
        """This state with a new peak and last equity (and ``orders`` more orders approved
        today): the update of every bar, built directly (``dataclasses.replace`` costs
        several times more; a test holds the two equal, field by field)."""
        return _build_state(
            self.trading, self.reason, self.rule, self.since, self.until_day, self.flatten,
            peak, self.day, self.day_start_equity, equity, self.orders_today + orders,
        )  # fmt: skip

    def counted(self, orders: int) -> RiskState:
        """This state with ``orders`` more orders approved today (built directly, as
        :meth:`marked`)."""
        return _build_state(
            self.trading, self.reason, self.rule, self.since, self.until_day, self.flatten,
            self.peak_equity, self.day, self.day_start_equity, self.last_equity,
            self.orders_today + orders,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["trading"] = str(self.trading)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RiskState:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise DataError(
                f"risk state has unknown field(s) {', '.join(unknown)}",
                hint="was it written by a newer workbench?",
            )
        try:
            values = dict(data)
            values["trading"] = TradingState(values.get("trading", "ACTIVE"))
            return cls(**values)
        except (ValueError, TypeError) as exc:
            raise DataError(f"risk state is malformed: {exc}") from None


#: A :class:`RiskState` from every field, in order, without the class call (no checks to
#: run; its arguments, ``__init__``'s frame and two class changes cost more than the slots):
#: :meth:`RiskState.marked` and :meth:`~RiskState.counted` run on every order.
_build_state = fast_build(RiskState, tuple(f.name for f in dataclasses.fields(RiskState)))


def _iso(time: pd.Timestamp | None) -> str | None:
    return None if time is None else time.isoformat()


def halted(
    state: RiskState, *, rule: str, reason: str, time: pd.Timestamp | None, flatten: bool
) -> RiskState:
    """``state`` moved to HALTED (a halt already in place keeps its first reason)."""
    if state.trading is TradingState.HALTED:
        return state
    return dataclasses.replace(
        state,
        trading=TradingState.HALTED,
        rule=rule,
        reason=reason,
        since=_iso(time),
        until_day=None,
        flatten=flatten,
    )


def reducing(
    state: RiskState,
    *,
    rule: str,
    reason: str,
    time: pd.Timestamp | None,
    until_day: str | None = None,
) -> RiskState:
    """``state`` moved to REDUCING (until ``until_day`` if given); a HALTED state stays."""
    if state.trading is TradingState.HALTED:
        return state
    return dataclasses.replace(
        state,
        trading=TradingState.REDUCING,
        rule=rule,
        reason=reason,
        since=_iso(time),
        until_day=until_day,
        flatten=False,
    )


def reset(state: RiskState, *, reason: str, time: pd.Timestamp | None) -> RiskState:
    """Back to ACTIVE. The peak restarts from the next equity the engine sees (otherwise a
    drawdown halt would fire again at once); the day's numbers are kept."""
    return dataclasses.replace(
        state,
        trading=TradingState.ACTIVE,
        rule="reset",
        reason=reason,
        since=_iso(time),
        until_day=None,
        flatten=False,
        peak_equity=None,
    )


@runtime_checkable
class RiskStore(Protocol):
    """Where the risk state lives. ``update`` is atomic: ``fn`` gets the stored state (a
    fresh one if none) and what it returns is stored and returned."""

    def load(self) -> RiskState | None: ...

    def update(self, fn: Callable[[RiskState], RiskState]) -> RiskState: ...


class MemoryRiskStore:
    """In-process state, for backtests and tests."""

    def __init__(self, state: RiskState | None = None) -> None:
        self._state = state

    def load(self) -> RiskState | None:
        return self._state

    def update(self, fn: Callable[[RiskState], RiskState]) -> RiskState:
        self._state = fn(self._state or RiskState())
        return self._state


class SQLiteRiskStore:
    """The state in a SQLite file (WAL mode): table ``table``, one JSON row per ``scope``.

    Safe to share between the live runner and the ``workbench risk`` command: every
    update runs in a ``BEGIN IMMEDIATE`` transaction.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        table: str = DEFAULT_TABLE,
        scope: str = DEFAULT_SCOPE,
        create: bool = True,
    ) -> None:
        if not _IDENTIFIER.match(table):
            raise ConfigError(
                f"risk state table name {table!r} is not a plain SQL identifier",
                hint="use letters, digits and underscores, e.g. risk_state",
            )
        if not scope:
            raise ConfigError("risk state scope must not be empty")
        self.path = Path(path)
        self.table = table
        self.scope = scope
        if not create and not self.path.exists():
            raise ConfigError(
                f"no risk state file at {self.path}",
                hint="check --state, or run the engine (or `workbench risk kill`) to create it",
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot make the folder {self.path.parent} of risk state {self.path}: "
                f"{exc.strerror}",
                hint="pass a --state path whose folders are folders and can be written",
            ) from None
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                f"CREATE TABLE IF NOT EXISTS {table} ("
                "scope TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at TEXT NOT NULL)"
            )
        except sqlite3.DatabaseError as exc:
            fault = store_fault(self.path, exc)
            if fault is not None:
                raise fault from None
            raise DataError(
                f"cannot open risk state {self.path}: {exc}",
                hint="is it a SQLite file? pass another --state path",
            ) from None

    def _read(self) -> RiskState | None:
        row = self._db.execute(
            f"SELECT state FROM {self.table} WHERE scope = ?", (self.scope,)
        ).fetchone()
        if row is None:
            return None
        try:
            data = json.loads(row[0])
        except json.JSONDecodeError as exc:
            raise DataError(
                f"risk state in {self.path} ({self.table}, scope {self.scope}) is not JSON: {exc}"
            ) from None
        if not isinstance(data, dict):
            raise DataError(f"risk state in {self.path} is not a JSON object")
        return RiskState.from_dict(data)

    def load(self) -> RiskState | None:
        with self._lock:
            return self._read()

    def update(self, fn: Callable[[RiskState], RiskState]) -> RiskState:
        """Read, apply ``fn``, write: one transaction. A full disk, a read-only file or a
        lock held elsewhere comes out as one :class:`~workbench.errors.StateStoreError`."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                old = self._read()
                new = fn(old or RiskState())
                if new != old:
                    self._db.execute(
                        f"INSERT INTO {self.table} (scope, state, updated_at) VALUES (?, ?, ?) "
                        "ON CONFLICT(scope) DO UPDATE SET state = excluded.state, "
                        "updated_at = excluded.updated_at",
                        (
                            self.scope,
                            json.dumps(new.to_dict(), sort_keys=True),
                            pd.Timestamp.now(tz="UTC").isoformat(),
                        ),
                    )
                self._db.execute("COMMIT")
            except BaseException as exc:
                if self._db.in_transaction:  # SQLite may have rolled back by itself
                    with suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                fault = store_fault(self.path, exc) if isinstance(exc, sqlite3.Error) else None
                if fault is not None:
                    raise fault from None
                raise
            return new

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SQLiteRiskStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteRiskStore({str(self.path)!r}, table={self.table!r}, scope={self.scope!r})"


@dataclass(frozen=True)
class StoredRiskState:
    """One scope's row as stored: the state as parsed JSON (empty if unreadable), and when."""

    scope: str
    state: dict[str, Any]
    updated_at: str

    def load(self) -> RiskState:
        """The state as a :class:`RiskState` (DataError if malformed)."""
        return RiskState.from_dict(self.state)


def stored_states(path: str | Path, table: str = DEFAULT_TABLE) -> list[StoredRiskState] | None:
    """Every scope's risk state in the SQLite file at ``path``, read without writing
    anything (``live status``, the dashboard); None when the engine has no table there."""
    if not _IDENTIFIER.match(table):
        raise ConfigError(f"risk state table name {table!r} is not a plain SQL identifier")
    uri = f"{Path(path).resolve().as_uri()}?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True, timeout=5.0)
    except sqlite3.DatabaseError as exc:
        raise DataError(f"cannot read risk state {path}: {exc}") from None
    try:
        known = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        if known is None:
            return None
        rows = db.execute(f"SELECT scope, state, updated_at FROM {table} ORDER BY scope")
        fetched = rows.fetchall()
    except sqlite3.Error as exc:  # locked, vanished, not SQLite: one clear error
        raise read_fault(path, exc) from None
    else:
        out = []
        for scope, text, updated in fetched:
            try:
                state = json.loads(text)
            except ValueError:
                state = {}
            out.append(StoredRiskState(scope, state if isinstance(state, dict) else {}, updated))
        return out
    finally:
        db.close()
