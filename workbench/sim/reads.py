"""What the simulated venue shows: the Broker protocol's reads of :mod:`workbench.sim.broker`.

:class:`BrokerReads` is this part of :class:`~workbench.sim.broker.SimulatedBroker` (a
base of it), kept here by concept: the account, positions and orders as the venue holds
them, and the updates queued since the last drain. Nothing here changes an order; the
methods are the broker's own (no wrapper on the backtest's path).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.broker import AccountSnapshot, OrderUpdate
from workbench.errors import BrokerError
from workbench.orders import Order, Side
from workbench.portfolio import PositionView
from workbench.sim.codes import CODE_NOT_FOUND

if TYPE_CHECKING:
    from workbench.portfolio import Portfolio
    from workbench.sim.legs import LiveOrder

__all__ = ["BrokerReads"]


class BrokerReads:
    """The reads of :class:`~workbench.sim.broker.SimulatedBroker` (a base of it)."""

    # the broker's, declared here for what reads them
    portfolio: Portfolio
    margin: float
    _orders: dict[str, Order]
    _live: dict[str, LiveOrder]
    _book: dict[str, list[LiveOrder]]
    _by_client_id: dict[str, str]
    _updates: list[OrderUpdate]
    drained: list[OrderUpdate]

    @property
    def orders(self) -> list[Order]:
        """Every order ever submitted (latest state), in submission order."""
        return list(self._orders.values())

    def get_account(self) -> AccountSnapshot:
        pf = self.portfolio
        value = gross = 0.0
        for p in pf.positions.values():  # Position.market_value, written out
            q = p.quantity
            if q != 0.0:
                v = q * p.last_price
                value += v
                gross += abs(v)
        equity = pf.cash + value
        power = equity * self.margin - gross
        return AccountSnapshot(pf.cash, equity, 0.0 if power < 0.0 else power)  # max(power, 0.0)

    def get_positions(self) -> dict[str, PositionView]:
        return self.portfolio.open_positions()

    def get_open_orders(self) -> list[Order]:
        live = self._live
        if not live:  # the usual answer on the order path: no comprehension to run
            return []
        return [x.order for x in live.values()]

    @property
    def open_book(self) -> dict[str, list]:
        """Open orders by symbol (read only): ``open_book.get(symbol)`` is true when
        :meth:`process_bar` has work for ``symbol``, the check the engine's loop makes."""
        return self._book

    def has_open_orders(self, symbol: str) -> bool:
        """Cheap check the engine makes before calling :meth:`process_bar`."""
        return bool(self._book.get(symbol))

    def sells_first(self, symbols: list[tuple[str, int]]) -> list[tuple[str, int]]:
        """``(symbol, row)`` pairs of one time step, those with a working sell first.

        Orders of several symbols that meet the same bar time execute together at a
        venue; simulated one symbol after another, a rebalance's buys would otherwise
        be checked against cash its sells have not yet raised. Order kept otherwise.
        """
        if not self._live or len(symbols) < 2:
            return symbols
        book = self._book
        selling = [r for r in symbols if any(x.order.side is Side.SELL for x in book.get(r[0], ()))]
        if not selling:
            return symbols
        chosen = {r[0] for r in selling}
        return selling + [r for r in symbols if r[0] not in chosen]

    def get_order(self, order_id: str) -> Order:
        try:
            return self._orders[order_id]
        except KeyError:
            raise BrokerError(f"order {order_id} not found", code=CODE_NOT_FOUND) from None

    def get_order_by_client_id(self, client_order_id: str) -> Order | None:
        order_id = self._by_client_id.get(client_order_id)
        return None if order_id is None else self._orders[order_id]

    def drain_updates(self) -> list[OrderUpdate]:
        """The updates queued since the last call. The last non-empty batch is kept
        (:attr:`drained`) until the next one: its reader may die before it recorded them."""
        out, self._updates = self._updates, []
        if out:
            self.drained = out
        return out

    def close(self) -> None:
        """Nothing to release: the simulated venue is in process, without a stream."""
