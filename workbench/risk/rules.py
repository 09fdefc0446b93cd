"""The risk rules: small classes, one method each, a decision with the numbers behind it.

Order rules judge one order (a :class:`~workbench.risk.book.Proposal`) against the
account (a :class:`~workbench.risk.book.Book`) and return :data:`APPROVE`, a resize
(a smaller quantity) or a refusal, always with a reason that carries the rule's numbers.
They run in the order of :func:`order_rules`; each sees the order as the previous ones
left it. Orders that only reduce a position pass every cap: a limit exists to stop risk
growing, never to trap a position (only a halt stops them, and the halt liquidates).

Bar rules (:class:`MaxDrawdownRule`, :class:`DailyLossRule`) watch the marked equity on
each bar and tell the engine when to change the trading state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Protocol

from workbench.risk.book import EPSILON, Book, Proposal, cap_quantity
from workbench.risk.config import Correlation, GroupExposure, PositionSizing, RiskConfig
from workbench.risk.state import TradingState

__all__ = [
    "APPROVE",
    "CorrelationRule",
    "DailyLossRule",
    "Decision",
    "GroupExposureRule",
    "MaxDrawdownRule",
    "MaxOpenPositionsRule",
    "MaxOrderNotionalRule",
    "MaxOrdersPerDayRule",
    "OrderRule",
    "PositionSizingRule",
    "TradingStateRule",
    "order_rules",
]


@dataclass(frozen=True, slots=True)
class Decision:
    """``quantity`` None: approved as it is; 0: refused; otherwise resized to it.

    ``rule`` names the rule to report when it is not the one deciding (a halt is
    reported under the rule that caused it).
    """

    quantity: float | None = None
    reason: str = ""
    rule: str | None = None

    @property
    def action(self) -> str:
        if self.quantity is None:
            return "approve"
        return "refuse" if self.quantity <= 0 else "resize"


APPROVE = Decision()

#: Enum members read on every order, as module globals (why: :mod:`workbench.orders`).
_ACTIVE = TradingState.ACTIVE


def refuse(reason: str, rule: str | None = None) -> Decision:
    return Decision(0.0, reason, rule)


def limit_to(p: Proposal, allowed: float, reason: str) -> Decision:
    """Approve, resize to ``allowed`` or refuse, whichever ``allowed`` means for ``p``.

    A cut that lands within floating-point dust of closing the position closes it exactly:
    a leftover of 1e-12 shares is a position no broker can trade away.
    """
    if allowed >= p.quantity * (1 - EPSILON):
        return APPROVE
    if allowed <= EPSILON * max(1.0, p.quantity):
        return refuse(reason)
    if p.reducing > 0 and abs(allowed - p.reducing) <= EPSILON * p.reducing:
        allowed = p.reducing
    return Decision(allowed, reason)


class OrderRule(Protocol):
    name: str

    def check(self, p: Proposal, book: Book) -> Decision: ...


class TradingStateRule:
    """HALTED: nothing passes. REDUCING: only what brings positions toward zero."""

    name: ClassVar[str] = "trading_state"

    def check(self, p: Proposal, book: Book) -> Decision:
        s = book.state
        if s.trading is _ACTIVE:
            return APPROVE
        rule = s.rule or self.name
        if s.trading is TradingState.HALTED:
            return refuse(f"trading halted since {s.since}: {s.reason}", rule)
        if not p.increases:
            return APPROVE
        reason = s.reason or "trading is REDUCING: only orders that reduce exposure pass"
        if p.reducing > 0:
            return Decision(p.reducing, reason, rule)
        return refuse(reason, rule)


class MaxOrdersPerDayRule:
    """At most ``limit`` orders that open or add per trading day (the calendar's local day,
    :mod:`workbench.data.days`); every approved order counts (the engine's own liquidations
    do not). Past the limit an exit still passes (a flip is cut to the part that closes):
    the cap stops new risk, never traps a position."""

    name: ClassVar[str] = "max_orders_per_day"

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def check(self, p: Proposal, book: Book) -> Decision:
        sent = book.state.orders_today + book.approved
        if sent < self.limit or not p.increases:
            return APPROVE
        return limit_to(
            p, p.reducing, f"{sent} orders sent on {book.state.day} (UTC) >= limit {self.limit}"
        )


class MaxOrderNotionalRule:
    """No single order that opens or adds may be worth more than ``limit``."""

    name: ClassVar[str] = "max_order_notional"

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def check(self, p: Proposal, book: Book) -> Decision:
        if not p.increases:
            return APPROVE
        value = p.quantity * p.entry
        if value <= self.limit * (1 + EPSILON):
            return APPROVE
        return limit_to(
            p,
            self.limit / p.entry,
            f"order {p.describe()} = {value:,.2f} > limit {self.limit:,.2f}",
        )


class PositionSizingRule:
    """Risk at most a fraction of equity per position, and cap its value.

    Risk: ``|position| * |entry - stop| <= equity * risk_per_trade``, so from flat the
    quantity is ``equity * risk / (entry - stop)`` (equity 10,000, risk 1%, entry 100,
    stop 95: 20 shares). Without a stop from the strategy, the stop is ``atr_multiple``
    ATR(``atr_period``) from the entry; while the ATR warms up, entries are refused.
    """

    name: ClassVar[str] = "position_sizing"

    def __init__(self, config: PositionSizing) -> None:
        self.config = config

    def check(self, p: Proposal, book: Book) -> Decision:
        if not p.increases:
            return APPROVE
        cfg = self.config
        equity = book.equity
        if not equity > 0:
            return refuse(f"equity {equity:,.2f} is not positive: no new risk")
        caps: list[tuple[float, str]] = []
        if cfg.risk_per_trade is not None:
            long = p.sign > 0
            stop, source = p.stop, ""
            if stop is None:
                atr, bars = book.atr(p.symbol, cfg.atr_period)
                if not math.isfinite(atr):
                    return refuse(
                        f"no stop given and ATR({cfg.atr_period}) is not ready "
                        f"({bars} bars of {p.symbol})"
                    )
                stop = p.entry - p.sign * cfg.atr_multiple * atr
                source = f" ({cfg.atr_multiple:g} x ATR({cfg.atr_period}) {atr:,.2f})"
            per_unit = p.sign * (p.entry - stop)
            if not per_unit > 0:
                return refuse(
                    f"stop {stop:,.2f} is not {'below' if long else 'above'} the entry "
                    f"{p.entry:,.2f} of a {'long' if long else 'short'} position"
                )
            budget = equity * cfg.risk_per_trade
            q = budget / per_unit
            caps.append(
                (
                    q,
                    f"risk {cfg.risk_per_trade:.1%} of equity {equity:,.2f} = {budget:,.2f} "
                    f"at {per_unit:,.2f} per unit to the stop {stop:,.2f}{source} "
                    f"allows {q:.6g}",
                )
            )
        if cfg.max_position_notional is not None:
            q = cfg.max_position_notional / p.price
            caps.append((q, f"position value cap {cfg.max_position_notional:,.2f} allows {q:.6g}"))
        if cfg.max_position_fraction is not None:
            q = cfg.max_position_fraction * equity / p.price
            caps.append(
                (
                    q,
                    f"position cap {cfg.max_position_fraction:.1%} of equity {equity:,.2f} "
                    f"allows {q:.6g}",
                )
            )
        if not caps:
            return APPROVE
        cap, why = min(caps)
        return limit_to(
            p, cap_quantity(p, cap), f"{p.describe()} would hold {abs(p.after):.6g}; {why}"
        )


class GroupExposureRule:
    """The symbols of a group together hold at most their limit (fraction of equity)."""

    name: ClassVar[str] = "group_exposure"

    def __init__(self, config: GroupExposure) -> None:
        self.groups = dict(config.groups)
        self.limits = dict(config.limits)

    def check(self, p: Proposal, book: Book) -> Decision:
        group = self.groups.get(p.symbol)
        if group is None or not p.increases:
            return APPROVE
        limit = self.limits[group]
        others = sum(
            book.exposure(s)
            for s in book.symbols()
            if s != p.symbol and self.groups.get(s) == group
        )
        total = others + abs(p.after) * p.price
        room = max(limit * book.equity - others, 0.0)
        return limit_to(
            p,
            cap_quantity(p, room / p.price),
            f"group {group} would hold {total:,.2f} = {total / book.equity:.1%} of equity "
            f"{book.equity:,.2f} > limit {limit:.1%}",
        )


class CorrelationRule:
    """A candidate and the held symbols correlated with it above the threshold together
    hold at most ``max_fraction`` of equity (returns over the last ``lookback`` bars)."""

    name: ClassVar[str] = "correlation"

    def __init__(self, config: Correlation) -> None:
        self.config = config

    def check(self, p: Proposal, book: Book) -> Decision:
        if not p.increases:
            return APPROVE
        cfg = self.config
        peers: list[tuple[str, float]] = []
        for s in sorted(book.symbols() - {p.symbol}):
            if book.exposure(s) > 0:
                c = book.correlation(p.symbol, s, cfg.lookback, cfg.periods)
                if c > cfg.threshold:  # NaN (too little history) is never above
                    peers.append((s, c))
        others = sum(book.exposure(s) for s, _ in peers)
        total = others + abs(p.after) * p.price
        room = max(cfg.max_fraction * book.equity - others, 0.0)
        with_peers = (
            " with " + ", ".join(f"{s} (corr {c:.2f})" for s, c in peers) if peers else " alone"
        )
        return limit_to(
            p,
            cap_quantity(p, room / p.price),
            f"{p.symbol}{with_peers} would hold {total:,.2f} = {total / book.equity:.1%} of "
            f"equity {book.equity:,.2f} > limit {cfg.max_fraction:.1%} (correlation above "
            f"{cfg.threshold:g} over {cfg.lookback} bars)",
        )


class MaxOpenPositionsRule:
    """At most ``limit`` symbols hold (or have orders that may open) a position."""

    name: ClassVar[str] = "max_open_positions"

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def check(self, p: Proposal, book: Book) -> Decision:
        if not p.increases or book.worst(p.symbol) > EPSILON:
            return APPROVE
        n = book.open_count()
        if n >= self.limit:
            return refuse(
                f"{n} positions open or pending >= limit {self.limit}; "
                f"{p.symbol} would open one more"
            )
        return APPROVE


def order_rules(config: RiskConfig) -> list[OrderRule]:
    """The configured order rules, in the order they run (the trading state first)."""
    rules: list[OrderRule] = [TradingStateRule()]
    if config.max_orders_per_day is not None:
        rules.append(MaxOrdersPerDayRule(config.max_orders_per_day))
    if config.max_order_notional is not None:
        rules.append(MaxOrderNotionalRule(config.max_order_notional))
    if config.position_sizing is not None:
        rules.append(PositionSizingRule(config.position_sizing))
    if config.group_exposure is not None:
        rules.append(GroupExposureRule(config.group_exposure))
    if config.correlation is not None:
        rules.append(CorrelationRule(config.correlation))
    if config.max_open_positions is not None:
        rules.append(MaxOpenPositionsRule(config.max_open_positions))
    return rules


class MaxDrawdownRule:
    """Halt when equity is ``limit`` or more below its peak (peak 11,000, equity 9,350: 15%)."""

    name: ClassVar[str] = "max_drawdown"

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.halts_at = limit - 1e-12  # a drop (share of the peak) from here on halts

    def breach(self, peak: float | None, equity: float) -> str | None:
        if peak is None or not peak > 0:
            return None
        drop = (peak - equity) / peak
        if drop >= self.halts_at:
            return (
                f"equity {equity:,.2f} is {drop:.1%} below its peak {peak:,.2f} "
                f">= limit {self.limit:.1%}"
            )
        return None


class DailyLossRule:
    """Reduce-only for the rest of the trading day once the day's loss exceeds ``limit``."""

    name: ClassVar[str] = "daily_loss_limit"

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.allows_up_to = limit + 1e-12  # a loss (share of the day's start) above breaches

    def breach(self, start: float | None, equity: float) -> str | None:
        if start is None or not start > 0:
            return None
        loss = (start - equity) / start
        if loss > self.allows_up_to:
            shown, limit = _distinct_percents(loss, self.limit)
            return f"loss {shown} of start-of-day equity {start:,.2f} > limit {limit}"
        return None


def _distinct_percents(value: float, limit: float) -> tuple[str, str]:
    """Both as percentages with one decimal, or more if one decimal shows them equal."""
    for digits in (1, 2, 3, 4):
        a, b = f"{value:.{digits}%}", f"{limit:.{digits}%}"
        if a != b:
            break
    return a, b
