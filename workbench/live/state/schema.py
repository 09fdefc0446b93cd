"""The tables of a live run's state file, and the statuses after which an order is final.

Only the state store (this package) knows them; everything else reads through
:class:`~workbench.live.state.StateStore`.
"""

from __future__ import annotations

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bars (
    symbol TEXT NOT NULL, time_ns INTEGER NOT NULL,
    open REAL, high REAL, low REAL, close REAL, volume REAL,
    PRIMARY KEY (symbol, time_ns));
CREATE TABLE IF NOT EXISTS decisions (
    time_ns INTEGER PRIMARY KEY, intents TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY, order_id TEXT, symbol TEXT NOT NULL, side TEXT NOT NULL,
    quantity REAL, notional REAL, type TEXT NOT NULL, limit_price REAL, stop_price REAL,
    tif TEXT NOT NULL, status TEXT NOT NULL, filled_quantity REAL NOT NULL DEFAULT 0,
    average_price REAL NOT NULL DEFAULT 0, reason TEXT, decision_ns INTEGER,
    created_at TEXT, updated_at TEXT);
CREATE TABLE IF NOT EXISTS fills (
    fill_key TEXT PRIMARY KEY, order_id TEXT NOT NULL, client_order_id TEXT, symbol TEXT NOT NULL,
    side TEXT NOT NULL, quantity REAL NOT NULL, price REAL NOT NULL, commission REAL NOT NULL,
    time TEXT NOT NULL, reason TEXT);
CREATE TABLE IF NOT EXISTS equity (
    time_ns INTEGER PRIMARY KEY, cash REAL NOT NULL, equity REAL NOT NULL, positions TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, kind TEXT NOT NULL,
    symbol TEXT, detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS adoptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, kind TEXT NOT NULL,
    symbol TEXT NOT NULL, quantity REAL NOT NULL, order_id TEXT, client_order_id TEXT);
CREATE TABLE IF NOT EXISTS sim_venue (id INTEGER PRIMARY KEY CHECK (id = 1), record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sim_orders (
    order_id TEXT PRIMARY KEY, position INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sim_fills (position INTEGER PRIMARY KEY, body TEXT NOT NULL);
"""


UPSERT_ORDER = """
INSERT INTO orders (client_order_id, order_id, symbol, side, quantity, notional, type,
    limit_price, stop_price, tif, status, filled_quantity, average_price, reason,
    created_at, updated_at)
VALUES (:cid, :oid, :symbol, :side, :qty, :notional, :type, :limit, :stop, :tif, :status,
    :filled, :avg, :reason, :created, :updated)
ON CONFLICT(client_order_id) DO UPDATE SET order_id = excluded.order_id,
    status = excluded.status, filled_quantity = excluded.filled_quantity,
    average_price = excluded.average_price,
    quantity = COALESCE(excluded.quantity, quantity), updated_at = excluded.updated_at
"""

#: Order statuses after which nothing more happens to an order.
FINAL_STATUSES = ("filled", "canceled", "expired", "rejected", "replaced")
#: An order planned and held back by the execution engine (``wait``), not sent yet: open.
WAITING = "waiting"
