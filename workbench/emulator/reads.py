"""What the emulated account shows: the account, its positions and its orders as Alpaca's JSON.

:class:`VenueReads` is this part of :class:`~workbench.emulator.venue.Venue` (its base),
kept here by concept: the reads of the GET routes and the order documents the trade
updates carry. They read the venue's tables and call its ``buying_power`` and ``_held``;
nothing here changes the account.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workbench.emulator import rules
from workbench.emulator.checks import INITIAL_MARGIN, maintenance_margin
from workbench.emulator.rules import CODE_NOT_FOUND
from workbench.emulator.shapes import (
    ApiError,
    OrderRecord,
    account_json,
    order_json,
    position_json,
    stable_uuid,
)
from workbench.orders import Order, Side

if TYPE_CHECKING:
    from workbench.emulator.lifecycle import Lifecycle
    from workbench.sim.broker import SimulatedBroker

__all__ = ["VenueReads"]


class VenueReads:
    """The reads of :class:`~workbench.emulator.venue.Venue` (its base)."""

    # the venue's, declared here for what reads them
    broker: SimulatedBroker
    account_id: str
    exchange: str
    symbols: list[str]
    records: dict[str, OrderRecord]
    pending: Lifecycle
    sim_ids: dict[str, str]
    _by_cid: dict[str, str]
    lastday_close: dict[str, float]
    last_equity: float
    last_maintenance: float
    held_overnight: dict[str, float]
    created_at: pd.Timestamp

    def account(self) -> dict[str, Any]:
        pf = self.broker.portfolio
        snap = self.broker.get_account()
        long_value = sum(p.market_value for p in pf.positions.values() if p.quantity > 0)
        short_value = sum(p.market_value for p in pf.positions.values() if p.quantity < 0)
        return account_json(
            account_id=self.account_id,
            cash=snap.cash,
            equity=snap.equity,
            buying_power=self.buying_power(),
            long_value=long_value,
            short_value=short_value,
            last_equity=self.last_equity,
            initial_margin=INITIAL_MARGIN * (long_value - short_value),
            maintenance_margin=maintenance_margin(pf),
            last_maintenance_margin=self.last_maintenance,
            margin=self.broker.margin,
            allow_short=self.broker.allow_short,
            created_at=self.created_at,
        )

    def positions(self) -> list[dict[str, Any]]:
        return [self.position(s) for s in sorted(self.broker.get_positions())]

    def position(self, symbol_or_id: str) -> dict[str, Any]:
        symbol = self._symbol(symbol_or_id)
        pos = self.broker.get_positions().get(symbol)
        if pos is None:
            raise ApiError(404, CODE_NOT_FOUND, "position does not exist")
        held = self._held(symbol, Side.SELL if pos.quantity > 0 else Side.BUY)
        return position_json(
            symbol=symbol,
            quantity=pos.quantity,
            average_price=pos.average_price,
            last_price=pos.last_price,
            lastday_price=self.lastday_close.get(symbol, pos.last_price),
            available=pos.quantity - np.sign(pos.quantity) * held,
            exchange=self.exchange,
            opened_today=self.held_overnight.get(symbol, 0.0) * pos.quantity <= 0,
        )

    def order(self, order_id: str, *, nested: bool = True) -> dict[str, Any]:
        rec = self.records.get(rules.order_id(order_id))
        if rec is None:
            raise ApiError(404, CODE_NOT_FOUND, "order not found")
        return self.order_doc(self.broker.get_order(rec.sim_id), rec, nested=nested)

    def order_doc(
        self, order: Order, rec: OrderRecord, *, status: str | None = None, nested: bool = True
    ) -> dict[str, Any]:
        """``order`` as Alpaca's JSON; with ``nested``, an entry carries its legs."""
        if status is None:  # accepted, pending_cancel, pending_replace: as Alpaca shows it
            status = self.pending.shown(rec.id, order)
        legs = None
        if nested and order.legs:
            legs = [
                self.order_doc(self.broker.get_order(i), self.records[self.sim_ids[i]])
                for i in order.legs
                if i in self.sim_ids
            ]
        hwm = self.broker.trailing_mark(order.id)
        return order_json(order, rec, status=status, legs=legs, hwm=hwm)

    def order_by_client_id(self, client_order_id: str) -> dict[str, Any]:
        order_id = self._by_cid.get(client_order_id)
        if order_id is None:
            raise ApiError(404, CODE_NOT_FOUND, "order not found")
        return self.order(order_id)

    def all_orders(self) -> list[tuple[Order, OrderRecord]]:
        return [(self.broker.get_order(r.sim_id), r) for r in self.records.values()]

    def _symbol(self, symbol_or_id: str) -> str:
        key = symbol_or_id.strip()
        if key.upper() in self.symbols:
            return key.upper()
        for symbol in self.symbols:
            if stable_uuid("asset", symbol) == key.lower():
                return symbol
        raise ApiError(404, CODE_NOT_FOUND, "position does not exist")
