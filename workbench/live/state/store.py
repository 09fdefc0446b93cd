"""What a live run writes to its state file and reads back (see :mod:`workbench.live.state`).

Each write is its own transaction (:meth:`StateFile.transaction`); each read returns plain
values, frames or the typed rows of :mod:`workbench.live.state.records`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from workbench.broker import Bar
from workbench.errors import ConfigError
from workbench.live.state.file import StateFile
from workbench.live.state.records import EquityPoint, EventRecord, Plan
from workbench.live.state.schema import FINAL_STATUSES, UPSERT_ORDER, WAITING
from workbench.orders import Fill, Order
from workbench.sim.snapshot import SavedVenue, VenueJournal

T = TypeVar("T")


def _now() -> str:
    return pd.Timestamp.now(tz="UTC").isoformat()


class StateStore(StateFile):
    """One live run's state. Safe to open again after a crash; one writer at a time."""

    # -- meta ---------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else row[0]

    def meta(self) -> dict[str, str]:
        """Every meta key and value (as stored: text)."""
        return dict(self.conn.execute("SELECT key, value FROM meta").fetchall())

    def set_meta(self, **values: Any) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in values.items()],
            )

    def heartbeat(self, **extra: Any) -> None:
        self.set_meta(heartbeat=_now(), heartbeat_unix=str(time.time()), **extra)

    # -- bars and decisions ---------------------------------------------------------------
    def record_bars(self, bars: list[Bar]) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO bars VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(b.symbol, b.time.value, b.open, b.high, b.low, b.close, b.volume) for b in bars],
            )

    def bars(self) -> dict[str, pd.DataFrame]:
        """Every bar seen, per symbol, in the bars format (to rebuild indicators on restart)."""
        frame = pd.read_sql_query("SELECT * FROM bars ORDER BY time_ns", self.conn)
        out = {}
        for symbol, rows in frame.groupby("symbol", sort=False):
            index = pd.DatetimeIndex(rows["time_ns"].to_numpy().astype("datetime64[ns]"))
            bars = rows[["open", "high", "low", "close", "volume"]].set_index(
                index.tz_localize("UTC")
            )
            bars.attrs["symbol"] = symbol
            out[str(symbol)] = bars
        return out

    def bar_times(self) -> list[int]:
        """The time (ns) of every bar recorded, oldest first (a bar seen for several symbols
        counts once per symbol)."""
        return [r[0] for r in self.conn.execute("SELECT time_ns FROM bars ORDER BY time_ns")]

    def last_closes(self) -> dict[str, float]:
        """Each symbol's close at its latest recorded bar."""
        rows = self.conn.execute(
            "SELECT b.symbol, b.close FROM bars b JOIN (SELECT symbol, MAX(time_ns) AS t "
            "FROM bars GROUP BY symbol) m ON b.symbol = m.symbol AND b.time_ns = m.t"
        )
        return dict(rows.fetchall())

    def last_bar_ns(self) -> int | None:
        row = self.conn.execute("SELECT MAX(time_ns) FROM bars").fetchone()
        return row[0]

    def record_decision(
        self,
        time_ns: int,
        intents: list[dict[str, Any]],
        requests: Sequence[tuple[str, Any]] = (),
        events: Sequence[tuple[str, dict[str, Any], str | None]] = (),
    ) -> None:
        """Write a decision in one transaction: its plan, the orders it will send (client
        order id, request), the events it caused, and "decided through" this bar."""
        with self.transaction() as db:
            if intents:
                db.execute(
                    "INSERT OR IGNORE INTO decisions (time_ns, intents) VALUES (?, ?)",
                    (time_ns, json.dumps(intents, default=str)),
                )
            for cid, request in requests:
                self._insert_request(db, cid, request, time_ns)
            for kind, detail, symbol in events:
                self._insert_event(db, kind, detail, symbol)
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('decided_through', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), "
                "CAST(excluded.value AS INTEGER))",
                (str(time_ns),),
            )

    def decided_through(self) -> int | None:
        """The last bar whose decision is written (bars after it are still to decide)."""
        value = self.get_meta("decided_through")
        return None if value is None else int(value)

    def decision(self, time_ns: int) -> tuple[list[dict[str, Any]], bool] | None:
        row = self.conn.execute(
            "SELECT intents, done FROM decisions WHERE time_ns = ?", (time_ns,)
        ).fetchone()
        return None if row is None else (json.loads(row[0]), bool(row[1]))

    def plans(self) -> list[Plan]:
        """Every written decision, oldest first."""
        rows = self.conn.execute("SELECT time_ns, intents, done FROM decisions ORDER BY time_ns")
        return [Plan(t, json.loads(intents), bool(done)) for t, intents, done in rows]

    def pending_decisions(self) -> list[int]:
        rows = self.conn.execute("SELECT time_ns FROM decisions WHERE done = 0 ORDER BY time_ns")
        return [r[0] for r in rows]

    def finish_decision(self, time_ns: int) -> None:
        with self.transaction() as db:
            db.execute("UPDATE decisions SET done = 1 WHERE time_ns = ?", (time_ns,))

    # -- orders and fills ---------------------------------------------------------------
    def record_order_request(self, cid: str, request: Any, decision_ns: int) -> None:
        """Written before the order is sent: a crash after this resubmits the same id."""
        with self.transaction() as db:
            self._insert_request(db, cid, request, decision_ns)

    @staticmethod
    def _insert_request(db: sqlite3.Connection, cid: str, request: Any, decision_ns: int) -> None:
        db.execute(
            "INSERT INTO orders (client_order_id, symbol, side, quantity, notional, "
            "type, limit_price, stop_price, tif, status, reason, decision_ns, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending_new', ?, ?, ?) "
            "ON CONFLICT(client_order_id) DO UPDATE SET "
            "decision_ns = COALESCE(decision_ns, excluded.decision_ns)",
            (cid, request.symbol, str(request.side), request.quantity, request.notional,
             str(request.type), request.limit_price, request.stop_price, str(request.tif),
             request.reason, decision_ns, _now()),
        )  # fmt: skip

    def record_order(self, order: Order) -> None:
        cid = order.client_order_id
        if cid is None:
            return
        r = order.request
        row = {
            "cid": cid, "oid": order.id, "symbol": order.symbol, "side": str(order.side),
            "qty": order.quantity, "notional": r.notional, "type": str(r.type),
            "limit": r.limit_price, "stop": r.stop_price, "tif": str(r.tif),
            "status": str(order.status), "filled": order.filled_quantity,
            "avg": order.average_price, "reason": r.reason,
            "created": str(order.created_at), "updated": _now(),
        }  # fmt: skip
        with self.transaction() as db:
            db.execute(UPSERT_ORDER, row)

    def set_order_status(self, cid: str, status: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE orders SET status = ?, updated_at = ? WHERE client_order_id = ?",
                (status, _now(), cid),
            )

    def order_status(self, cid: str) -> str | None:
        """The status recorded for the order ``cid``; None when none is."""
        row = self.conn.execute(
            "SELECT status FROM orders WHERE client_order_id = ?", (cid,)
        ).fetchone()
        return None if row is None else row[0]

    def mark_waiting(self, cid: str) -> None:
        """The planned order ``cid`` is held back by the execution engine (``wait``) until
        a working order on the other side is done: open, not at the broker yet."""
        self.set_order_status(cid, WAITING)

    def waiting_orders(self) -> list[dict[str, Any]]:
        """Orders held back and not known at the broker since (:meth:`mark_waiting`), every
        column, in the order they were written: a restart hands them back to the engine."""
        return self._orders("WHERE status = ?", (WAITING,))

    def open_orders(self) -> list[dict[str, Any]]:
        """Orders not final yet, every column, in the order they were written."""
        marks = ", ".join("?" * len(FINAL_STATUSES))
        return self._orders(f"WHERE status NOT IN ({marks})", FINAL_STATUSES)

    def order_records(self) -> list[dict[str, Any]]:
        """Every order, every column, in the order they were written."""
        return self._orders()

    def _orders(self, where: str = "", params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cur = self.conn.execute(f"SELECT * FROM orders {where} ORDER BY rowid", params)
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    def filled(self, order_id: str) -> tuple[float, float]:
        """Quantity and notional of the fills recorded for ``order_id``."""
        row = self.conn.execute(
            "SELECT COALESCE(SUM(quantity), 0), COALESCE(SUM(quantity * price), 0) FROM fills "
            "WHERE order_id = ?",
            (order_id,),
        ).fetchone()
        return float(row[0]), float(row[1])

    def record_fill(self, fill: Fill, client_order_id: str | None, key: str) -> bool:
        """Store a fill once (``key`` identifies it); True if it was new."""
        with self.transaction() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO fills VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, fill.order_id, client_order_id, fill.symbol, str(fill.side), fill.quantity,
                 fill.price, fill.commission, fill.time.isoformat(), fill.reason),
            )  # fmt: skip
            return cur.rowcount == 1

    def traded(self) -> tuple[int, int]:
        """How many orders and fills the run recorded: (0, 0) when it never traded."""
        row = self.conn.execute(
            "SELECT (SELECT COUNT(*) FROM orders), (SELECT COUNT(*) FROM fills)"
        ).fetchone()
        return int(row[0]), int(row[1])

    def fills(self) -> pd.DataFrame:
        return pd.read_sql_query("SELECT * FROM fills ORDER BY rowid", self.conn)

    def fill_records(self) -> list[dict[str, Any]]:
        """Every recorded fill in booking order, as ``live status --json`` shows them."""
        rows = self.conn.execute(
            "SELECT time, symbol, side, quantity, price, commission, client_order_id, order_id,"
            " reason FROM fills ORDER BY rowid"
        ).fetchall()
        keys = ("time", "symbol", "side", "quantity", "price", "commission", "client_order_id",
                "order_id", "reason")  # fmt: skip
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def orders(self) -> pd.DataFrame:
        return pd.read_sql_query("SELECT * FROM orders ORDER BY rowid", self.conn)

    # -- what the state explains at the broker ----------------------------------------------
    def explained_positions(self) -> dict[str, float]:
        """Per symbol, the position the recorded fills and adopted positions add up to."""
        query = (
            "SELECT symbol, SUM(CASE WHEN side = 'sell' THEN -quantity ELSE quantity END) "
            "FROM fills GROUP BY symbol"
        )
        if self._adoptions_kept():
            query += (
                " UNION ALL SELECT symbol, SUM(quantity) FROM adoptions WHERE kind = 'position'"
                " GROUP BY symbol"
            )
        rows = self.conn.execute(query).fetchall()
        out: dict[str, float] = {}
        for symbol, quantity in rows:
            out[symbol] = out.get(symbol, 0.0) + float(quantity or 0.0)
        return out

    def known_order_ids(self) -> set[str]:
        """Client order ids of every order the runner recorded, and the (client) order ids
        of every order adopted: the broker's orders the state explains."""
        query = "SELECT client_order_id FROM orders"
        if self._adoptions_kept():
            query += (
                " UNION SELECT order_id FROM adoptions WHERE kind = 'order'"
                " UNION SELECT client_order_id FROM adoptions WHERE kind = 'order'"
            )
        return {r[0] for r in self.conn.execute(query).fetchall() if r[0]}

    def _adoptions_kept(self) -> bool:
        """False for a file of a runner older than adoptions, opened read-only."""
        return "adoptions" in self.tables()

    def record_adoption(
        self,
        kind: str,
        symbol: str,
        quantity: float,
        order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> None:
        """Take over a position (``quantity``: what the state lacked) or an open order that
        the runner did not create (``--adopt-positions``): a restart does not ask again."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO adoptions (at, kind, symbol, quantity, order_id, client_order_id) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (_now(), kind, symbol, quantity, order_id, client_order_id),
            )

    def adoptions(self) -> pd.DataFrame:
        """Every position and order taken over with ``--adopt-positions``, oldest first."""
        if not self._adoptions_kept():
            return pd.DataFrame(
                columns=["id", "at", "kind", "symbol", "quantity", "order_id", "client_order_id"]
            )
        return pd.read_sql_query("SELECT * FROM adoptions ORDER BY id", self.conn)

    # -- the simulated venue (a ``--broker sim`` run) ---------------------------------------
    def keep_venue(self, journal: VenueJournal) -> None:
        """Save the simulated venue with every write of the calling thread (the runner's),
        in the same transaction, whenever it changed: a bar's record carries the venue that
        traded it, an order's the venue that took it, so a kill between two writes leaves
        the file with a venue never behind its records (:mod:`workbench.sim.snapshot`)."""

        def write(db: sqlite3.Connection) -> Callable[[], None] | None:
            changes = journal.changes()
            if changes is None:
                return None
            db.execute(
                "INSERT INTO sim_venue (id, record) VALUES (1, ?) "
                "ON CONFLICT(id) DO UPDATE SET record = excluded.record",
                (changes.record,),
            )
            db.executemany(
                "INSERT INTO sim_orders (order_id, position, body) VALUES (?, ?, ?) "
                "ON CONFLICT(order_id) DO UPDATE SET body = excluded.body",
                changes.orders,
            )
            db.executemany("INSERT INTO sim_fills (position, body) VALUES (?, ?)", changes.fills)
            return lambda: journal.saved(changes)

        self.ride_along(write)

    def saved_venue(self) -> SavedVenue | None:
        """The simulated venue saved by :meth:`keep_venue`; None when none was."""
        if "sim_venue" not in self.tables():
            return None
        row = self.conn.execute("SELECT record FROM sim_venue WHERE id = 1").fetchone()
        if row is None:
            return None
        orders = self.conn.execute("SELECT body FROM sim_orders ORDER BY position").fetchall()
        fills = self.conn.execute("SELECT body FROM sim_fills ORDER BY position").fetchall()
        return SavedVenue(row[0], [r[0] for r in orders], [r[0] for r in fills])

    # -- equity and events ------------------------------------------------------------------
    def record_equity(
        self, time_ns: int, cash: float, equity: float, positions: dict[str, float]
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO equity VALUES (?, ?, ?, ?)",
                (time_ns, cash, equity, json.dumps(positions)),
            )

    def equity_points(self, last: bool = False) -> list[EquityPoint]:
        """The equity snapshots, oldest first (only the latest one if ``last``)."""
        rows = self.conn.execute(
            "SELECT time_ns, cash, equity, positions FROM equity ORDER BY time_ns"
            + (" DESC LIMIT 1" if last else "")
        )
        return [EquityPoint(t, c, e, json.loads(p)) for t, c, e, p in rows]

    def equity_curve(self) -> pd.DataFrame:
        frame = pd.read_sql_query("SELECT * FROM equity ORDER BY time_ns", self.conn)
        frame.index = pd.DatetimeIndex(
            frame.pop("time_ns").to_numpy().astype("datetime64[ns]")
        ).tz_localize("UTC")
        return frame

    def record_event(self, kind: str, detail: dict[str, Any], symbol: str | None = None) -> None:
        with self.transaction() as db:
            self._insert_event(db, kind, detail, symbol)

    @staticmethod
    def _insert_event(
        db: sqlite3.Connection, kind: str, detail: dict[str, Any], symbol: str | None
    ) -> None:
        db.execute(
            "INSERT INTO events (at, kind, symbol, detail) VALUES (?, ?, ?, ?)",
            (_now(), kind, symbol, json.dumps(detail, default=str)),
        )

    def events(self, kind: str | None = None) -> pd.DataFrame:
        query = "SELECT * FROM events" + (" WHERE kind = ?" if kind else "") + " ORDER BY id"
        return pd.read_sql_query(query, self.conn, params=(kind,) if kind else None)

    def recent_events(self, limit: int) -> list[EventRecord]:
        """The latest ``limit`` events, newest first."""
        rows = self.conn.execute(
            "SELECT at, kind, symbol, detail FROM events ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [EventRecord(*row) for row in rows]


def read_or(path: str | Path, read: Callable[[StateStore], T], default: T) -> T:
    """``read`` on the state opened read-only, or ``default`` while the file or its tables
    do not exist yet or SQLite is busy with it (a runner still creating it, or recovering
    it after a kill): for pollers such as the chaos harness."""
    try:
        with StateStore.reader(path) as store:
            return read(store)
    except (ConfigError, sqlite3.OperationalError):
        return default
