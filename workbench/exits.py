"""Exits attached to an entry (bracket, OTO and OCO orders): what a strategy asks for, and the
exit orders (legs) an entry's request makes.

A take-profit is a limit order, a stop-loss a stop (or stop-limit) order, or a trailing stop;
their prices are absolute or relative to the entry's fill. Legs take the other side (an OCO
pair: both on the one side of the position they exit), the entry's time in force (or its
own ``exit_tif``) and client order ids derived from the entry's, so a restart finds them
again. The simulated venue (:mod:`workbench.sim.legs`, behind the backtest, the dry run and
the Alpaca emulator) makes them so; Alpaca makes its own from the same request.

An entry that ends partly filled takes its held legs along; the execution layer then sends
a protective exit for what it filled (:mod:`workbench.execution.protect`), named after the
entry too (:func:`protect_client_id`), so a restart finds it and a broker that reads it back
knows it for an exit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from workbench.errors import ConfigError
from workbench.orders import Leg, OrderClass, OrderRequest, OrderType, Side, TimeInForce

__all__ = ["PROTECT_SUFFIX", "Exits", "exit_legs", "protect_client_id", "relative_exit_prices"]

#: The suffix of a protective exit's client order id, after its entry's.
PROTECT_SUFFIX = "-px"
_MAX_CLIENT_ID = 128  # Alpaca's


def protect_client_id(entry_client_order_id: str) -> str:
    """``<entry cid>-px``: the protective exit of a partly filled entry, the same for the
    same entry (a long entry id is hashed, as :func:`~workbench.execution.ids.client_order_id`
    hashes one)."""
    cid = entry_client_order_id + PROTECT_SUFFIX
    if len(cid) > _MAX_CLIENT_ID:
        cid = f"wb-{hashlib.sha256(cid.encode()).hexdigest()[:16]}{PROTECT_SUFFIX}"
    return cid


@dataclass(frozen=True, slots=True)
class Exits:
    """Exits to attach to an entry: a take-profit, and a stop-loss or a trailing stop.

    Prices are absolute, or relative to the entry's fill (``*_percent``); ``exit_tif``
    is the legs' time in force when it differs from the entry's.
    """

    take_profit: float | None = None
    stop_loss: float | None = None
    stop_loss_limit: float | None = None
    trail_price: float | None = None
    trail_percent: float | None = None
    take_profit_percent: float | None = None
    stop_loss_percent: float | None = None
    exit_tif: TimeInForce | None = None

    @property
    def any(self) -> bool:
        return bool(self.fields())

    def fields(self) -> dict[str, object]:
        """The :class:`OrderRequest` fields (``order_class`` included) for these exits."""
        values = {
            "take_profit": self.take_profit,
            "stop_loss": self.stop_loss,
            "stop_loss_limit": self.stop_loss_limit,
            "trail_price": self.trail_price,
            "trail_percent": self.trail_percent,
            "take_profit_percent": self.take_profit_percent,
            "stop_loss_percent": self.stop_loss_percent,
            "exit_tif": self.exit_tif,
        }
        n = (self.take_profit is not None or self.take_profit_percent is not None) + (
            self.stop_loss is not None
            or self.stop_loss_percent is not None
            or self.trail_price is not None
            or self.trail_percent is not None
        )
        if n == 0 and self.stop_loss_limit is None:
            return {}
        values["order_class"] = OrderClass.BRACKET if n == 2 else OrderClass.OTO
        return values


def relative_exit_prices(
    parent: OrderRequest, fill_price: float
) -> tuple[float | None, float | None]:
    """(take-profit, stop-loss) of ``parent``'s relative exits, its entry filled at ``fill_price``.

    A long's take-profit is ``fill * (1 + take_profit_percent / 100)`` and its stop
    ``fill * (1 - stop_loss_percent / 100)``; a short's mirror them. The vectorized
    path (:mod:`workbench.backtesting.nb`) computes them with the same operations.
    """
    sign = 1.0 if parent.side is Side.BUY else -1.0
    tp = parent.take_profit_percent
    sl = parent.stop_loss_percent
    return (
        None if tp is None else fill_price * (1.0 + sign * tp / 100.0),
        None if sl is None else fill_price * (1.0 - sign * sl / 100.0),
    )


def exit_legs(
    parent: OrderRequest, quantity: float, fill_price: float | None = None
) -> list[OrderRequest]:
    """The exit orders ``parent`` (bracket, oto or oco) attaches, for ``quantity``.

    Legs take the other side, the parent's time in force (or its ``exit_tif``), and
    client order ids derived from the parent's (``<cid>-tp``, ``<cid>-sl``) so a restart
    finds them again. Relative exits need the entry's ``fill_price``.
    """
    side = Side.SELL if parent.side is Side.BUY else Side.BUY
    cid = parent.client_order_id
    tif = parent.exit_tif or parent.tif
    common = {"tif": tif, "reason": parent.reason, "quantity": quantity}
    legs: list[OrderRequest] = []
    take_profit, stop_loss = parent.take_profit, parent.stop_loss
    if parent.relative_exits:
        if fill_price is None:
            raise ConfigError(f"exits of {parent.symbol} relative to a fill need its price")
        tp, sl = relative_exit_prices(parent, fill_price)
        take_profit = take_profit if tp is None else tp
        stop_loss = stop_loss if sl is None else sl
    if take_profit is not None and parent.order_class is not OrderClass.OCO:
        legs.append(
            OrderRequest(
                parent.symbol,
                side,
                type=OrderType.LIMIT,
                limit_price=take_profit,
                client_order_id=None if cid is None else f"{cid}-tp",
                leg=Leg.TAKE_PROFIT,
                **common,
            )
        )
    if parent.order_class is OrderClass.OCO:
        side = parent.side  # an oco pair exits one position: both legs on the same side
    if stop_loss is not None or parent.trail_price or parent.trail_percent:
        if stop_loss is None:
            kind, stop, limit = OrderType.TRAILING_STOP, None, None
        elif parent.stop_loss_limit is None:
            kind, stop, limit = OrderType.STOP, stop_loss, None
        else:
            kind, stop, limit = OrderType.STOP_LIMIT, stop_loss, parent.stop_loss_limit
        legs.append(
            OrderRequest(
                parent.symbol,
                side,
                type=kind,
                stop_price=stop,
                limit_price=limit,
                trail_price=parent.trail_price,
                trail_percent=parent.trail_percent,
                client_order_id=None if cid is None else f"{cid}-sl",
                leg=Leg.STOP_LOSS,
                **common,
            )
        )
    return legs
