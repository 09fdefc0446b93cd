"""The broker's positions and open orders against the state file: what the bot did not create.

The runner trades on the broker's positions. A position it did not build (a manual
trade, another bot on the same account, a state file from another account) or an open
order it did not send would be silently taken over and traded on: a strategy that was
never validated with it. :func:`compare_holdings` lists every such difference; the
runner calls it before its first order and before the first bar of each new day, and
stops on a difference (:class:`~workbench.errors.ReconciliationError`) unless
``--adopt-positions`` takes them over; ``workbench reconcile --broker`` prints the same.

What the state explains:

- a position: the signed sum of the recorded fills of that symbol, plus the positions
  adopted before; an order the state thinks open and that filled at the broker while
  the runner was down counts with what the broker says it filled, and so do its
  attached exits (restart recovery records those fills; the comparison only reads);
- an open order: one whose client order id the runner recorded (a bracket's legs are
  ``<entry>-tp`` / ``<entry>-sl``, named after their entry), or one adopted before;
- an order the state thinks open that the broker no longer shows open is normal after a
  crash (it filled or ended while the runner was down): it is resolved from the
  broker's order status and fills, not reported.

Quantities are compared in the runner's units (a ``--pennies`` run's virtual sizes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import pandas as pd

from workbench.broker import Broker
from workbench.errors import ReconciliationError
from workbench.live.state import StateStore
from workbench.orders import Order

log = logging.getLogger(__name__)

#: Quantities apart by less than this (absolute, or relative to the larger) are equal.
TOLERANCE = 1e-6
#: The suffixes of a bracket's exit legs, after the entry's client order id.
LEG_SUFFIXES = ("-tp", "-sl")


@dataclass(frozen=True)
class Difference:
    """One position the broker and the state disagree on (either may hold more), or an
    open order at the broker that the state does not explain.

    ``kind`` is ``position`` or ``order``. For an order, ``broker_quantity`` is its
    signed remaining quantity and ``state_quantity`` 0 (the state does not know it).
    """

    kind: str
    symbol: str
    broker_quantity: float
    state_quantity: float
    order_id: str | None = None
    client_order_id: str | None = None

    def describe(self) -> str:
        if self.kind == "position":
            gap = self.broker_quantity - self.state_quantity
            side = "the broker holds" if gap > 0 else "the state holds"
            other = "the state does not explain" if gap > 0 else "the broker does not have"
            return (
                f"position {self.symbol}: broker {self.broker_quantity:g}, "
                f"state {self.state_quantity:g} (fills and adoptions): {side} "
                f"{abs(gap):g} more, that {other}"
            )
        return (
            f"open order {self.symbol} {self.broker_quantity:+g}: order id {self.order_id}, "
            f"client order id {self.client_order_id} (not sent by this runner)"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "symbol": self.symbol,
            "broker_quantity": self.broker_quantity,
            "state_quantity": self.state_quantity,
            "order_id": self.order_id,
            "client_order_id": self.client_order_id,
        }


@dataclass(frozen=True)
class HoldingsCheck:
    """The outcome of one comparison: the differences, and what was compared."""

    differences: tuple[Difference, ...]
    positions: int
    open_orders: int

    @property
    def clean(self) -> bool:
        return not self.differences

    def message(self, state: object = "the state file") -> str:
        """Every difference, one per line (the fix is :data:`FIX`)."""
        lines = [
            f"the broker and {state} disagree on {len(self.differences)} position(s) or "
            "open order(s):",
            *(f"  {d.describe()}" for d in self.differences),
        ]
        return "\n".join(lines)

    def summary(self, when: str, *, adopted: bool = False) -> str:
        """One line for ``live status``: the verdict, when, and how many differences."""
        stamp = pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")
        if self.clean:
            return f"match ({when}, {stamp})"
        verdict = "adopted" if adopted else "mismatch"
        return f"{verdict} ({when}, {stamp}): {len(self.differences)} difference(s)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "positions": self.positions,
            "open_orders": self.open_orders,
            "differences": [d.as_dict() for d in self.differences],
        }


FIX = (
    "take them over with --adopt-positions (the state then takes the broker's quantities; "
    "logged, and recorded in the state), or close them at the broker (a position only "
    "the state holds: trade it back there), then start again"
)


def compare_holdings(state: StateStore, broker: Broker) -> HoldingsCheck:
    """Compare ``broker``'s positions and open orders with ``state`` (reads only).

    The function the runner calls at start and each day, that ``workbench reconcile
    --broker`` prints, and that a runner calls again after a venue outage.
    """
    expected = state.explained_positions()
    for symbol, quantity in _unrecorded_fills(state, broker).items():
        expected[symbol] = expected.get(symbol, 0.0) + quantity
    positions = {s: p.quantity for s, p in broker.get_positions().items()}
    differences = [
        Difference("position", symbol, positions.get(symbol, 0.0), expected.get(symbol, 0.0))
        for symbol in sorted(set(positions) | set(expected))
        if not _same(positions.get(symbol, 0.0), expected.get(symbol, 0.0))
    ]
    known = state.known_order_ids()
    orders = broker.get_open_orders()
    for order in orders:
        if not explains(order, known):
            remaining = order.side.sign * ((order.quantity or 0.0) - order.filled_quantity)
            cid = order.client_order_id
            differences.append(Difference("order", order.symbol, remaining, 0.0, order.id, cid))
    return HoldingsCheck(tuple(differences), len(positions), len(orders))


def _unrecorded_fills(state: StateStore, broker: Broker) -> dict[str, float]:
    """What the orders the state thinks open filled at the broker beyond the recorded fills
    (signed, per symbol): fills of a crash that restart recovery has not recorded yet."""
    out: dict[str, float] = {}
    seen: set[str] = set()
    for row in state.open_orders():
        entry = broker.get_order_by_client_id(row["client_order_id"])
        for order in [] if entry is None else with_legs(broker, entry):
            if order.id in seen:
                continue
            seen.add(order.id)
            missing = order.filled_quantity - state.filled(order.id)[0]
            if missing > TOLERANCE * max(1.0, order.filled_quantity):
                out[order.symbol] = out.get(order.symbol, 0.0) + order.side.sign * missing
    return out


def with_legs(broker: Broker, order: Order) -> list[Order]:
    """``order`` and its attached exits as the broker shows them: a bracket's legs may have
    filled while the runner was down, before the state ever heard of them."""
    return [order, *(broker.get_order(leg_id) for leg_id in order.legs)]


def explains(order: Order, known: set[str]) -> bool:
    """Whether ``order`` is one of ``known`` (:meth:`StateStore.known_order_ids`), or a leg
    of one."""
    if order.id in known:
        return True
    cid = order.client_order_id
    if not cid:
        return False
    if cid in known:
        return True
    return any(cid.endswith(s) and cid[: -len(s)] in known for s in LEG_SUFFIXES)


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= TOLERANCE * max(1.0, abs(a), abs(b))


def log_check(check: HoldingsCheck, when: str, strategy: str) -> None:
    """One line when all is explained, else one structured line per difference."""
    if check.clean:
        log.info(
            "broker holdings match the state (%s): %d position(s), %d open order(s)",
            when, check.positions, check.open_orders,
            extra={"event": "holdings_checked", "strategy": strategy, "state": "match",
                   "reason": when},
        )  # fmt: skip
        return
    for d in check.differences:
        log.warning(
            "%s", d.describe(),
            extra={"event": "holdings_difference", "strategy": strategy, "symbol": d.symbol,
                   "quantity": d.broker_quantity, "state_quantity": d.state_quantity,
                   "order_id": d.order_id, "client_order_id": d.client_order_id,
                   "reason": when},
        )  # fmt: skip


def refuse(check: HoldingsCheck, state: StateStore, when: str, strategy: str) -> NoReturn:
    """Record and log the mismatch (notified as ``reconcile_mismatch``), then stop."""
    message = check.message(state.path)
    state.record_event("holdings_mismatch", {"when": when, **check.as_dict()})
    log.error(
        "%s\n%s", message, FIX,
        extra={"event": "holdings_mismatch", "strategy": strategy, "state": "mismatch",
               "reason": when},
    )  # fmt: skip
    raise ReconciliationError(message, hint=FIX, differences=check.differences)


def take_over(
    check: HoldingsCheck,
    state: StateStore,
    broker: Broker,
    learn: Callable[[Order], None],
    strategy: str,
) -> None:
    """``--adopt-positions``: open orders first (``learn`` records them and their fills so
    far, as the runner records its own), then what positions the state still lacks,
    recorded as adopted; one log line each."""
    for d in check.differences:
        if d.kind != "order" or d.order_id is None:
            continue
        learn(broker.get_order(d.order_id))
        state.record_adoption("order", d.symbol, d.broker_quantity, d.order_id, d.client_order_id)
        log.warning(
            "adopted open order %s %s %+g (%s)", d.order_id, d.symbol, d.broker_quantity,
            d.client_order_id,
            extra={"event": "adopted_order", "strategy": strategy, "symbol": d.symbol,
                   "quantity": d.broker_quantity, "order_id": d.order_id,
                   "client_order_id": d.client_order_id, "reason": "--adopt-positions"},
        )  # fmt: skip
    for d in compare_holdings(state, broker).differences:
        if d.kind != "position":
            continue
        delta = d.broker_quantity - d.state_quantity
        state.record_adoption("position", d.symbol, delta)
        log.warning(
            "adopted position %s: broker %g, state %g (recorded %+g)",
            d.symbol, d.broker_quantity, d.state_quantity, delta,
            extra={"event": "adopted_position", "strategy": strategy, "symbol": d.symbol,
                   "quantity": d.broker_quantity, "state_quantity": d.state_quantity,
                   "reason": "--adopt-positions"},
        )  # fmt: skip
    state.record_event("holdings_adopted", check.as_dict())
