"""Orders held back (``conflict = wait``) until the working order on the other side is done.

The execution engine holds a new order that contradicts a working order of the other side
for the same symbol and sends it from :meth:`~workbench.execution.engine.ExecutionEngine.on_update`
once no such order works any more. Each held request keeps the client order id it was
planned with, so a live runner can write it down before it is sent (the plan, then
``waiting``) and find it at the broker after a restart, or hand it back to a new engine
that holds it again: the same id is never held twice, so handing it back is harmless.
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

    def release(self, symbol: str) -> list[OrderRequest]:
        """The requests held for ``symbol``, oldest first, no longer held."""
        return self._held.pop(symbol, [])
