"""Real pennies: a bundle traded for real at a fraction of its size, every path exercised.

``workbench live --pennies DOLLARS`` runs a promoted bundle on a real (or paper)
account with every order ``scale = DOLLARS / capital`` times its size, ``capital``
being the bundle's backtest cash. :class:`ScaledBroker` sits between the broker and
everything above it (strategy context, risk engine, execution engine, state file) and
shows them a *virtual* account of ``capital``, so they decide exactly as at full size:

- an order going down is multiplied by ``scale`` (quantity or notional; prices stay);
- whatever comes back (orders, fills, order updates, positions) is divided by it, and
  the virtual cash is ``capital + (real cash - real cash at the start) / scale``; the
  virtual equity is that cash plus the virtual positions' value, so
  ``cash + positions == equity`` holds in the virtual account as in the real one;
- client order ids and order ids pass through unchanged, so idempotency, restarts and
  the reconciliation against the backtest work on the virtual sizes as they are.

Alpaca's minimums (``min_notional``, ``quantity_decimals``): a notional order is at
least $1 and a quantity has at most 9 decimals. A scaled order that *opens* (or adds
to) a position below the minimum is raised to it, and a warning says so (event
``pennies_minimum``); the virtual account then honestly shows the larger fill. An
order that closes a whole virtual position sells the whole real position, so no dust
is left. A whole quantity that scaling made fractional becomes a DAY order (Alpaca
takes fractional orders only as DAY orders). Alpaca takes fractional quantities only in
simple market, limit, stop and stop-limit orders: a bracket, OCO or OTO order or a
trailing stop that scaling made fractional is rejected by the venue (logged with Alpaca's
code), so a strategy that uses them needs a ``--pennies`` amount that keeps its orders in
whole shares.

The scale and the real cash it is anchored to are written to the state file's meta
(``pennies``, ``scale``, ``pennies_capital``, ``pennies_anchor``) on the first start
and read back on a restart, so a resumed run keeps its virtual account; a state file
of a full-size run cannot be resumed in pennies, nor the other way round.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

from workbench.broker import AccountSnapshot, Broker, OrderUpdate
from workbench.errors import ConfigError
from workbench.live.state import StateStore
from workbench.orders import Fill, Order, OrderRequest, TimeInForce
from workbench.portfolio import PositionView

log = logging.getLogger(__name__)

#: Alpaca's smallest notional order, in dollars.
MIN_NOTIONAL = 1.0
#: Alpaca's quantity precision (decimals of a share).
QUANTITY_DECIMALS = 9


class ScaledBroker:
    """``inner`` at ``scale`` times the size, shown as a virtual account of ``capital``.

    ``anchor`` is the real cash that corresponds to the virtual ``capital`` (the real
    account's cash when the run first started).
    """

    def __init__(
        self,
        inner: Broker,
        scale: float,
        *,
        capital: float,
        anchor: float,
        min_notional: float = MIN_NOTIONAL,
        quantity_decimals: int = QUANTITY_DECIMALS,
    ) -> None:
        if not (math.isfinite(scale) and 0 < scale <= 1):
            raise ConfigError(f"the pennies scale must be in (0, 1], got {scale}")
        self.inner = inner
        self.scale = float(scale)
        self.capital = float(capital)
        self.anchor = float(anchor)
        self.min_notional = min_notional
        self.decimals = quantity_decimals
        self.quantum = 10.0**-quantity_decimals
        self._asked: dict[str, OrderRequest] = {}  # client order id -> the virtual request

    def __repr__(self) -> str:
        return f"ScaledBroker({self.inner!r}, scale={self.scale:g}, capital={self.capital:g})"

    # -- sizes -------------------------------------------------------------------------
    def _virtual(self, real: float) -> float:
        """A real size (quantity or notional) as a virtual one, at the precision it can carry."""
        return round(real / self.scale, self.decimals)

    def _virtual_or_none(self, real: float | None) -> float | None:
        return None if real is None else self._virtual(real)

    # -- reads ---------------------------------------------------------------------------
    def get_account(self) -> AccountSnapshot:
        real = self.inner.get_account()
        cash = self.capital + (real.cash - self.anchor) / self.scale
        equity = cash + sum(p.market_value for p in self.get_positions().values())
        # the real account may hold far more than the pennies: a cash account's power
        buying_power = min(real.buying_power / self.scale, max(cash, 0.0))
        return AccountSnapshot(cash, equity, buying_power, real.currency)

    def get_positions(self) -> dict[str, PositionView]:
        return {sym: self._up_position(p) for sym, p in self.inner.get_positions().items()}

    def _up_position(self, p: PositionView) -> PositionView:
        s = self.scale
        return PositionView(
            p.symbol, self._virtual(p.quantity), p.average_price, p.last_price,
            p.market_value / s, p.unrealized_pnl / s, p.realized_pnl / s,
        )  # fmt: skip

    def get_open_orders(self) -> list[Order]:
        return [self._up(o) for o in self.inner.get_open_orders()]

    def get_order(self, order_id: str) -> Order:
        return self._up(self.inner.get_order(order_id))

    def get_order_by_client_id(self, client_order_id: str) -> Order | None:
        order = self.inner.get_order_by_client_id(client_order_id)
        return None if order is None else self._up(order)

    def drain_updates(self) -> list[OrderUpdate]:
        return [
            dataclasses.replace(
                u, order=self._up(u.order), fill=None if u.fill is None else self._up_fill(u.fill)
            )
            for u in self.inner.drain_updates()
        ]

    # -- actions -------------------------------------------------------------------------
    def submit_order(self, request: OrderRequest) -> Order:
        real = self._down(request)
        if request.client_order_id is not None:
            self._asked[request.client_order_id] = request
        return self._up(self.inner.submit_order(real))

    def cancel_order(self, order_id: str) -> None:
        self.inner.cancel_order(order_id)

    def cancel_all_orders(self) -> None:
        self.inner.cancel_all_orders()

    def close(self) -> None:
        self.inner.close()

    # -- down: virtual request -> real request ---------------------------------------------
    def _down(self, request: OrderRequest) -> OrderRequest:
        if request.notional is not None:
            notional = request.notional * self.scale
            if notional < self.min_notional:
                self._raised(request, notional, self.min_notional, "notional")
                notional = self.min_notional
            return dataclasses.replace(request, notional=notional)
        quantity: float = request.quantity  # type: ignore[assignment]
        held = self._held(request.symbol)
        reduces = held != 0.0 and (held > 0) != (request.side.sign > 0)
        real = round(quantity * self.scale, self.decimals)
        if reduces and real >= abs(held) - self.quantum:
            # the whole virtual position (or more: a flip): the whole real one, no dust
            real = abs(held) if real <= abs(held) + self.quantum else real
        elif real < self.quantum:
            self._raised(request, quantity * self.scale, self.quantum, "quantity")
            real = self.quantum
        tif = request.tif
        if tif is TimeInForce.GTC and float(quantity).is_integer() and not real.is_integer():
            tif = TimeInForce.DAY  # Alpaca: fractional orders are DAY orders
        return dataclasses.replace(request, quantity=real, tif=tif)

    def _held(self, symbol: str) -> float:
        position = self.inner.get_positions().get(symbol)
        return 0.0 if position is None else position.quantity

    def _raised(self, request: OrderRequest, scaled: float, minimum: float, what: str) -> None:
        reason = (
            f"scaled {what} {scaled:.10g} is below the broker's minimum {minimum:g}: "
            f"raised to it (virtual {what} {getattr(request, what):g}, scale {self.scale:g})"
        )
        log.warning(
            "pennies: %s %s %s",
            request.side,
            request.symbol,
            reason,
            extra={
                "event": "pennies_minimum",
                "client_order_id": request.client_order_id,
                "symbol": request.symbol,
                "side": str(request.side),
                "quantity": minimum,
                "reason": reason,
            },
        )

    # -- up: real order, fill -> virtual ------------------------------------------------------
    def _up(self, order: Order) -> Order:
        real = order.request
        asked = self._asked.get(real.client_order_id) if real.client_order_id else None
        request = dataclasses.replace(
            asked or real,
            quantity=self._virtual_or_none(real.quantity),
            notional=self._virtual_or_none(real.notional),
        )
        return dataclasses.replace(
            order,
            request=request,
            quantity=self._virtual_or_none(order.quantity),
            filled_quantity=self._virtual(order.filled_quantity),
            commission=order.commission / self.scale,
        )

    def _up_fill(self, fill: Fill) -> Fill:
        return dataclasses.replace(
            fill, quantity=self._virtual(fill.quantity), commission=fill.commission / self.scale
        )


def apply_pennies(broker: Any, state: StateStore, dollars: float | None, capital: float) -> Any:
    """``broker`` for a run with ``--pennies dollars`` (``broker`` itself without it).

    The first start anchors the virtual account to the real cash and records the scale
    in the state's meta; a restart reads them back. Mixing a pennies state file with a
    full-size run (or another ``--pennies``) is refused.
    """
    recorded = state.get_meta("pennies")
    if dollars is None:
        if recorded is not None:
            raise ConfigError(
                f"{state.path} is a real-pennies run at ${float(recorded):g}",
                hint=f"resume it with --pennies {float(recorded):g}, or use a new --state file",
            )
        return broker
    check_pennies(dollars, capital)
    if recorded is not None:
        if float(recorded) != float(dollars):
            raise ConfigError(
                f"{state.path} is a real-pennies run at ${float(recorded):g}, not ${dollars:g}",
                hint=f"resume it with --pennies {float(recorded):g}, or use a new --state file",
            )
        capital = float(state.get_meta("pennies_capital") or capital)
        anchor = float(state.get_meta("pennies_anchor") or 0.0)
        return ScaledBroker(broker, dollars / capital, capital=capital, anchor=anchor)
    if state.last_bar_ns() is not None:
        raise ConfigError(
            f"{state.path} holds a full-size run: it cannot continue in real pennies",
            hint="start the pennies run with a new --state file",
        )
    account = broker.get_account()
    held = {s: p.quantity for s, p in broker.get_positions().items() if p.quantity}
    if held:
        raise ConfigError(
            f"--pennies: the account already holds {held}; a pennies run starts flat "
            "(its positions would count 1/scale times in the virtual account)",
            hint="close those positions, or use another (paper) account",
        )
    if account.cash < dollars:
        raise ConfigError(
            f"--pennies {dollars:g}: the account has only ${account.cash:,.2f} in cash",
            hint="lower --pennies or fund the account",
        )
    scale = dollars / capital
    state.set_meta(
        pennies=float(dollars), scale=scale, pennies_capital=float(capital),
        pennies_anchor=float(account.cash),
    )  # fmt: skip
    log.info(
        "real pennies: a virtual account of %s traded at %s (scale %.6g)",
        f"${capital:,.2f}", f"${dollars:,.2f}", scale,
        extra={"event": "pennies", "cash": float(account.cash), "reason": f"scale={scale:.6g}"},
    )  # fmt: skip
    return ScaledBroker(broker, scale, capital=capital, anchor=account.cash)


def check_pennies(dollars: float, capital: float) -> None:
    """Refuse a ``--pennies`` that is not a positive amount below the bundle's capital."""
    if not (math.isfinite(dollars) and dollars > 0):
        raise ConfigError(
            f"--pennies {dollars:g} is not a positive amount of dollars",
            hint="e.g. --pennies 100: the bundle's capital is traded as $100",
        )
    if dollars > capital:
        raise ConfigError(
            f"--pennies {dollars:g} is more than the bundle's capital ({capital:,.2f})",
            hint="pennies scale the bundle down: give less than its backtest cash",
        )
