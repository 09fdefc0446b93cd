"""The strategy's intents through the order rules: what passes, resized or refused.

The second of the risk engine's calls per bar (:meth:`~workbench.risk.engine.RiskEngine.check`)
after its bar update: targets are resolved into their orders at the decision price (the
close of the decision bar), every order runs through the rules in turn, and what passes
comes back as intents: unchanged, resized, or dropped. A resized target becomes the
target that sends exactly the approved orders. Cancels always pass. Each refusal and
resize is a :class:`~workbench.risk.events.RiskEvent`, given to ``record``; the orders
approved are counted on the :class:`~workbench.risk.book.Book`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from workbench.execution.targets import orders_for_target
from workbench.intents import CancelIntent, Intent, OrderIntent, TargetIntent
from workbench.orders import OrderRequest
from workbench.risk.book import EPSILON, Book
from workbench.risk.events import RiskAction, RiskEvent
from workbench.risk.rules import OrderRule
from workbench.sim.fills import round_lot

__all__ = ["approve"]

A = RiskAction


def approve(
    intents: Sequence[Intent],
    book: Book,
    rules: Sequence[OrderRule],
    lot_size: float | None,
    record: Callable[[RiskEvent], None],
) -> list[Intent]:
    """The intents that may go to execution, in their order (see the module's docstring)."""
    out: list[Intent] = []
    for intent in intents:
        if isinstance(intent, CancelIntent):
            out.append(intent)
            continue
        if isinstance(intent, OrderIntent):
            requests = [intent.request]
        else:
            requests = orders_for_target(
                intent,
                position=book.positions.get(intent.symbol, 0.0),
                price=book.price(intent.symbol),
                equity=book.equity,
                lot_size=lot_size,
            )
        approved: list[OrderRequest] = []
        changed = False
        for request in requests:
            final = _judge(book, request, intent.stop, rules, lot_size, record)
            changed = changed or final is not request
            if final is not None:
                approved.append(final)
        if not changed:
            out.append(intent)
        elif approved:
            out.append(_rebuilt(intent, approved, book))
    return out


def _judge(
    book: Book,
    request: OrderRequest,
    stop: float | None,
    rules: Sequence[OrderRule],
    lot_size: float | None,
    record: Callable[[RiskEvent], None],
) -> OrderRequest | None:
    """Run every rule over one order: the request to send (maybe resized) or None."""
    p = book.proposal(request, stop)
    asked = p.quantity
    for rule in rules:
        decision = rule.check(p, book)
        if decision.quantity is None:
            continue
        name = decision.rule or rule.name
        q = decision.quantity
        if q > 0 and request.quantity is not None:
            q = round_lot(q, lot_size)
        details = {
            "side": str(request.side),
            "quantity": p.quantity,
            "price": p.price,
            "equity": book.equity,
        }
        sym, signal = request.symbol, request.reason  # the strategy's reason for it
        if q <= EPSILON * max(1.0, p.quantity):
            why = decision.reason
            record(RiskEvent(book.time, name, A.REFUSED, why, sym, details, signal))
            return None
        resized = f"{decision.reason}; {request.side} {p.quantity:.6g} -> {q:.6g}"
        details["new_quantity"] = q
        record(RiskEvent(book.time, name, A.RESIZED, resized, sym, details, signal))
        p = p.resized(q)
    book.approve(p)
    if p.quantity == asked:
        return request
    if request.quantity is not None:
        return dataclasses.replace(request, quantity=p.quantity)
    return dataclasses.replace(request, notional=p.quantity * p.entry)


def _rebuilt(intent: Intent, approved: list[OrderRequest], book: Book) -> Intent:
    """The intent that sends exactly ``approved`` (an order, or the equivalent target)."""
    if isinstance(intent, OrderIntent):
        return dataclasses.replace(intent, request=approved[0])
    assert isinstance(intent, TargetIntent)
    sym = intent.symbol
    held = book.positions.get(sym, 0.0)
    for r in approved:
        if r.quantity is not None:
            held += r.side.sign * r.quantity
    spend = sum(r.side.sign * r.notional for r in approved if r.notional is not None)
    if spend:
        value = held * book.price(sym) + spend
        return dataclasses.replace(intent, quantity=None, notional=value, percent=None)
    return dataclasses.replace(intent, quantity=held, notional=None, percent=None)
