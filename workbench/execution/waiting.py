"""Orders held back (``conflict = wait``) until the working order on the other side is done.

The execution engine holds a new order that contradicts a working order of the other side
for the same symbol and sends it from :meth:`~workbench.execution.engine.ExecutionEngine.on_update`
once no such order works any more. Each held request keeps the client order id it was
planned with, so a live runner can write it down before it is sent (the plan, then
``waiting``) and find it at the broker after a restart, or hand it back to a new engine
that holds it again: the same id is never held twice, so handing it back is harmless.
A target's held order is that target's: a newer target of its symbol replaces it before it
is sent (:meth:`WaitQueue.drop_targets`), and once sent it is the target's working order,
which a newer target cancels.
"""

from __future__ import annotations

import logging

from workbench.orders import Order, OrderRequest

__all__ = ["WaitQueue"]

log = logging.getLogger("workbench.execution.engine")  # the engine's records, as before


class WaitQueue:
    """The held requests, per symbol, in the order they came."""

    def __init__(self, strategy: str) -> None:
        self.strategy = strategy
        self._held: dict[str, list[OrderRequest]] = {}
        self._targets: set[str] = set()  # client order ids of held targets' orders
        self._dropped: list[str] = []  # held target orders a newer target replaced

    def hold(self, request: OrderRequest, *, working: Order) -> bool:
        """Hold ``request`` (its client order id set) until ``working`` and any other
        order it contradicts are done; False if that id is held already."""
        held = self._held.setdefault(request.symbol, [])
        cid = request.client_order_id
        if any(r.client_order_id == cid for r in held):
            return False
        held.append(request)
        log.info(
            "holding %s %s until the working %s order is done",
            request.side,
            request.symbol,
            working.side,
            extra={
                "event": "order_waiting",
                "strategy": self.strategy,
                "symbol": request.symbol,
                "client_order_id": cid,
                "reason": f"signal={request.reason}",
                "signal": request.reason or None,
            },
        )
        return True

    def holds(self, client_order_id: str) -> bool:
        """Whether the order ``client_order_id`` is held (not sent yet)."""
        return any(r.client_order_id == client_order_id for rs in self._held.values() for r in rs)

    def holds_targets(self) -> bool:
        """Whether any held order is a target's (else :meth:`drop_targets` has nothing to
        drop: asked before each plan is sent, where nothing is held on most)."""
        return bool(self._targets)

    def mark_target(self, client_order_id: str) -> None:
        """The held order ``client_order_id`` is a target's: a newer target of its symbol
        replaces it (:meth:`drop_targets`), and once sent it is that target's working order."""
        if self.holds(client_order_id):
            self._targets.add(client_order_id)

    def was_target(self, client_order_id: str | None) -> bool:
        """Whether the request just released was a target's (asked once per release)."""
        if client_order_id not in self._targets:
            return False
        self._targets.discard(client_order_id)
        return True

    def drop_targets(self, symbol: str) -> None:
        """Forget the held target orders of ``symbol``, never sent: a new target is planned
        from the position, as a working target order is canceled, so sending both would
        trade the difference twice. :meth:`take_dropped` names them."""
        held = self._held.get(symbol, [])
        kept = [r for r in held if r.client_order_id not in self._targets]
        for request in (r for r in held if r.client_order_id in self._targets):
            cid = request.client_order_id or ""
            self._targets.discard(cid)
            self._dropped.append(cid)
            log.info(
                "dropped held %s %s %s: replaced by a new target",
                request.side, symbol, cid,
                extra={"event": "order_dropped", "strategy": self.strategy, "symbol": symbol,
                       "client_order_id": cid, "side": str(request.side),
                       "quantity": request.quantity, "reason": "replaced by a new target",
                       "signal": request.reason or None},
            )  # fmt: skip
        if len(kept) != len(held):
            self._held[symbol] = kept

    def take_dropped(self) -> list[str]:
        """The client order ids :meth:`drop_targets` dropped since the last call."""
        dropped, self._dropped = self._dropped, []
        return dropped

    def release(self, symbol: str) -> list[OrderRequest]:
        """The requests held for ``symbol``, oldest first, no longer held."""
        return self._held.pop(symbol, [])
