"""The simulated venue saved and restored: a ``--broker sim`` run resumes its account.

Alpaca's paper account outlives the runner; the simulated venue lives in the runner's
process, so it is saved in the run's state file and restored when the run starts again
on it (:func:`workbench.compose.build_runner`). What is saved is everything its
accounting and its later fills depend on: cash and commissions paid, each position with
its cost basis, realised P&L and last price, every order (open ones with their venue-side
state: the end of a DAY order's session, a trailing stop's mark, a triggered stop, an
OCO group), the books, the order-id counter, the venue's time, the fills so far and the
order updates not drained yet (with the last batch drained: the runner may have died
before recording it all). A restored venue is the saved one: the same bars then give
the same fills, fees, cash and equity.

:class:`VenueJournal` says what changed since it last saved, so the state store writes it
in the same transaction as the state's own records (:meth:`StateStore.keep_venue`): the
venue saved is never behind what the state says of it. Orders and fills are saved one row
each, written once (fills) or when they change (orders), the rest as one small record.
Values are JSON (floats exactly, ``repr`` round-trips them; timestamps as ISO text).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any

import pandas as pd

from workbench.broker import OrderUpdate
from workbench.errors import ConfigError
from workbench.orders import Fill, Order
from workbench.portfolio import Position
from workbench.sim.broker import SimulatedBroker
from workbench.sim.legs import LiveOrder

__all__ = ["SavedVenue", "VenueChanges", "VenueJournal", "restore"]

#: Bumped when the saved form changes: an older form is refused, not misread.
FORM = 1


@dataclass(frozen=True)
class VenueChanges:
    """What to write: the venue's record (JSON), the orders new or changed since the last
    save as ``(id, position, JSON)`` (position: submission order), the new fills as
    ``(position, JSON)``, and the venue's :attr:`~SimulatedBroker.revision`."""

    record: str
    orders: list[tuple[str, int, str]]
    fills: list[tuple[int, str]]
    revision: int


@dataclass(frozen=True)
class SavedVenue:
    """What was written (:meth:`StateStore.saved_venue`): the record, every order's JSON in
    submission order, every fill's JSON in booking order."""

    record: str
    orders: list[str]
    fills: list[str]


class VenueJournal:
    """Follows one venue: :meth:`changes` since the last save, :meth:`saved` once written.

    It finds the orders that changed without walking them all (a long minute-bar run holds
    thousands): it hands the broker an order table that notes each id written to it
    (:class:`_NotedOrders`), and orders are frozen, so every change is such a write. The
    broker's code is not touched for it: a backtest, with no journal, keeps its plain dict
    and pays nothing. A table the journal did not hand out (a :func:`restore` after it was
    attached) is saved whole once and followed from then on.
    """

    def __init__(self, broker: SimulatedBroker, *, restored: bool = False) -> None:
        """``restored``: the venue was just restored from the file, which holds it already."""
        self.broker = broker
        self._revision = broker.revision if restored else -1
        self._fills = len(broker.fills) if restored else 0
        self._table: _NotedOrders | None = None
        self._positions: dict[str, int] = {}  # order id -> submission order (its row's position)
        self._sent: dict[str, Order] = {}  # what the last changes() encoded
        if restored:
            self._follow(pending=False)

    def _follow(self, *, pending: bool) -> _NotedOrders:
        """Hand the broker a noting copy of its table; ``pending``: none of it is saved."""
        table = _NotedOrders(self.broker._orders)
        if pending:
            table.written.update(dict.fromkeys(table))
        self.broker._orders = table
        self._table = table
        self._positions = {oid: n for n, oid in enumerate(table)}
        return table

    def changes(self) -> VenueChanges | None:
        """What changed since the last save; None when nothing may have."""
        b = self.broker
        if b.revision == self._revision:
            return None
        table = self._table
        if table is None or b._orders is not table:  # first save, or a restore replaced it
            table = self._follow(pending=True)
        positions = self._positions
        sent: dict[str, Order] = {}
        orders = []
        # ids are noted in the order they were first written, and a new id's first write
        # is its insertion: new ids come in submission order
        for oid in table.written:
            n = positions.get(oid)
            if n is None:
                n = positions[oid] = len(positions)
            order = sent[oid] = table[oid]
            orders.append((oid, n, json.dumps(_encode(order))))
        self._sent = sent
        fills = [
            (n, json.dumps(_encode(fill)))
            for n, fill in enumerate(b.fills[self._fills :], start=self._fills)
        ]
        return VenueChanges(json.dumps(_record(b)), orders, fills, b.revision)

    def saved(self, changes: VenueChanges) -> None:
        """``changes`` are committed: the next :meth:`changes` starts from them."""
        table = self._table
        if table is not None and self.broker._orders is table:
            written = table.written
            for oid, order in self._sent.items():
                if table.get(oid) is order:  # not written again since it was encoded
                    written.pop(oid, None)
        self._sent = {}
        self._fills += len(changes.fills)
        self._revision = changes.revision


class _NotedOrders(dict[str, Order]):
    """The broker's order table while a journal follows it: notes each id written (an
    ordered set, so new ids keep their submission order) until the journal saved it."""

    __slots__ = ("written",)

    def __init__(self, orders: dict[str, Order]) -> None:
        super().__init__(orders)
        self.written: dict[str, None] = {}

    def __setitem__(self, oid: str, order: Order) -> None:
        super().__setitem__(oid, order)
        self.written[oid] = None


def restore(broker: SimulatedBroker, saved: SavedVenue) -> None:
    """Make the new ``broker`` the venue ``saved``: its account, orders, books, fills,
    counter, time and undrained updates (its costs and settings stay the run spec's)."""
    try:
        record = json.loads(saved.record)
        form = record.get("form")
        if form != FORM:
            raise ConfigError(
                f"the simulated venue in the state file is saved in form {form}, this "
                f"workbench reads form {FORM}",
                hint="resume it with the workbench version that wrote it, or start a new --state",
            )
        orders = [_decode(Order, json.loads(text)) for text in saved.orders]
        fills = [_decode(Fill, json.loads(text)) for text in saved.fills]
        _apply(broker, record, orders, fills)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"the simulated venue saved in the state file cannot be read ({exc!r})",
            hint="the file was changed or damaged: restore it from a backup or start a new --state",
        ) from None


def _apply(broker: SimulatedBroker, record: dict, orders: list[Order], fills: list[Fill]) -> None:
    pf = broker.portfolio
    pf.cash = record["cash"]
    pf.commission_paid = record["commission_paid"]
    pf.positions = {p["symbol"]: Position(**p) for p in record["positions"]}
    broker._orders = {o.id: o for o in orders}
    broker._by_client_id = {o.client_order_id: o.id for o in orders if o.client_order_id}
    live: dict[str, LiveOrder] = {}
    for row in record["live"]:
        item = LiveOrder(broker._orders[row["id"]], row["group"])
        item.created_ns, item.day_end, item.hwm = row["created_ns"], row["day_end"], row["hwm"]
        item.triggered = row["triggered"]
        live[row["id"]] = item
    broker._live = live
    broker._book = {s: [live[oid] for oid in ids] for s, ids in record["book"].items()}
    broker._oco = {g: list(ids) for g, ids in record["oco"].items()}
    broker._counter = record["counter"]
    broker._now = None if record["now"] is None else _timestamp(record["now"])
    broker._updates = [_decode(OrderUpdate, u) for u in record["updates"]]
    broker.drained = []
    broker.fills = fills
    broker.revision += 1


def _record(b: SimulatedBroker) -> dict[str, Any]:
    """The venue without its orders and fills (saved a row each): small, written whole."""
    pf = b.portfolio
    return {
        "form": FORM,
        "cash": pf.cash,
        "commission_paid": pf.commission_paid,
        "positions": [dataclasses.asdict(p) for p in pf.positions.values()],
        "live": [_live(oid, x) for oid, x in b._live.items()],
        "book": {s: [x.order.id for x in book] for s, book in b._book.items()},
        "oco": b._oco,
        "counter": b._counter,
        "now": None if b._now is None else b._now.isoformat(),
        # the last batch drained too: its reader (the runner) may die before recording
        # it all; handed out again after a restore, what was recorded is recorded once
        "updates": [_encode(u) for u in (*b.drained, *b._updates)],
    }


def _live(oid: str, x: LiveOrder) -> dict[str, Any]:
    """An open order's venue-side state (the order itself is saved with the orders)."""
    return {
        "id": oid, "group": x.group, "created_ns": x.created_ns, "day_end": x.day_end, "hwm": x.hwm,
        "triggered": x.triggered,
    }  # fmt: skip


# -- the codec of the frozen dataclasses (orders, requests, fills, updates) ----------------
def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    return value


def _timestamp(text: str) -> pd.Timestamp:
    """An ISO time back as the package keeps times: UTC, in nanoseconds."""
    return pd.Timestamp(text).as_unit("ns").tz_convert("UTC")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(kind: Any, data: Any) -> Any:
    if data is None:
        return None
    origin = typing.get_origin(kind)
    if origin is typing.Union or origin is types.UnionType:
        (inner,) = [a for a in typing.get_args(kind) if a is not type(None)]
        return _decode(inner, data)
    if origin is tuple:
        item = typing.get_args(kind)[0]
        return tuple(_decode(item, v) for v in data)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = _hints(kind)
        return kind(**{k: _decode(hints[k], v) for k, v in data.items()})
    if kind is pd.Timestamp:
        return _timestamp(data)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(data)
    if kind is float:
        return float(data)
    return data
