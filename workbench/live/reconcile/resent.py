"""Entry orders that are one trade: the rest of a partly filled entry, sent again.

An entry order can end before its full quantity (its rest canceled or expired: a day
order at the close, a limit, a venue's partial fill) while the strategy's target stays
the same: the execution engine then sends the rest as a second entry order. Read per
entry order, that is a smaller trade plus an extra one, while the backtest, whose entry
filled whole, made one trade. A trader counts one (freqtrade a trade with several entry
orders, nautilus a position built by several fills), and so does the reconciliation.

The rule, the same on both sides: a later entry order of the same symbol and direction
belongs to the trade of the entry order before it when

- that earlier order *ended short*: canceled, expired or replaced with part of its
  quantity filled (one that filled whole was meant to be a trade of its own: a strategy
  that adds to a position, pyramiding or rebalancing, keeps one trade per entry, as its
  backtest has);
- the later order was decided (its decision bar) once the earlier one had filled, so
  the position it opened was open;
- and that position was never reduced in between: no fill of the other side of the
  symbol from the trade's first fill up to the later order's decision bar (a fill on the
  decision bar came before the decision, made at that bar's close).

A chain (a rest sent again, partly filled, its rest sent again) is one trade. The trade
takes from the later order no more than what its orders left unfilled: an order that
carries the rest and an add together (a target raised while its entry was partly filled:
the engine cancels the entry and sends the target's whole difference) gives the rest to
the trade and starts a trade of its own with the remainder, as the backtest, whose entry
filled whole, has an entry and an add. Without the orders' quantities (``short`` a set)
the later order joins the trade whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

#: Final statuses of an order that stopped before its full quantity.
ENDED = frozenset({"canceled", "expired", "replaced"})
EPS = 1e-9
#: An order's parts: (the first entry order of the trade it belongs to, fraction of it).
Parts = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class PlacedFill:
    """A fill on the bar it belongs to (as :func:`~.roundtrips.fill_spans` places it)."""

    order_id: str
    symbol: str
    sign: float  # +1 buy, -1 sell
    bar: int


@dataclass(frozen=True)
class ShortOrder:
    """An order that ended with part of its quantity filled: what it asked, what it got."""

    quantity: float  # NaN when unknown (a notional order's)
    filled: float
    status: str

    @property
    def rest(self) -> float:
        """What it left unfilled (infinite when its quantity is unknown)."""
        return float("inf") if pd.isna(self.quantity) else self.quantity - self.filled

    def describe(self) -> str:
        asked = "" if pd.isna(self.quantity) else f" of {self.quantity:g}"
        return f"filled {self.filled:g}{asked}, its rest {self.status}"


def short_orders(orders: pd.DataFrame, ids: Iterable[str]) -> dict[str, ShortOrder]:
    """The orders (``ids``: one per row of ``orders``) that ended with part of their
    quantity filled: a final status other than filled, something filled, less than the
    quantity asked (when known: a notional order's may not be)."""
    out: dict[str, ShortOrder] = {}
    rows = zip(ids, orders["status"], orders["quantity"], orders["filled_quantity"], strict=True)
    for oid, status, quantity, filled in rows:
        done = float(filled) if pd.notna(filled) else 0.0
        whole = pd.notna(quantity) and done >= float(quantity) - EPS * max(1.0, float(quantity))
        if str(status) in ENDED and done > EPS and not whole:
            asked = float(quantity) if pd.notna(quantity) else float("nan")
            out[str(oid)] = ShortOrder(asked, done, str(status))
    return out


def ended_short(orders: pd.DataFrame, ids: Iterable[str]) -> set[str]:
    """The ids of :func:`short_orders`."""
    return set(short_orders(orders, ids))


def short_rests(orders: pd.DataFrame, ids: Iterable[str]) -> dict[str, float]:
    """:func:`short_orders` with the quantity each left unfilled (infinite when the
    quantity asked is unknown: a notional order's)."""
    return {oid: order.rest for oid, order in short_orders(orders, ids).items()}


def resent_entries(
    trades: pd.DataFrame,
    fills: Iterable[PlacedFill],
    short: set[str] | Mapping[str, float],
    decisions: dict[str, int],
    carried: Mapping[str, tuple[str, float]] | None = None,
) -> dict[str, Parts]:
    """Each entry order of ``trades`` (:func:`build_trades` rows) -> its parts: the first
    entry order of the trade each part belongs to and the part's fraction of the order's
    entry quantity (one part, itself, unless it carries a rest sent again, by the module's
    rule).

    ``short``: the orders that ended short with the quantity each left unfilled
    (:func:`short_rests`; a set: unknown, each later order joins whole); ``decisions``:
    each order's decision bar (an order without one starts a trade of its own);
    ``carried``: an order that replaced one that filled nothing and asks more -> (that
    order, what it asked): that much of it is a trade keyed by the replaced order
    (:mod:`~workbench.live.reconcile.replaced`), the rest a trade of its own."""
    carried = carried or {}
    rests = short if isinstance(short, Mapping) else dict.fromkeys(short, float("inf"))
    placed = list(fills)
    first: dict[str, int] = {}
    for f in placed:
        first[f.order_id] = min(first.get(f.order_id, f.bar), f.bar)
    entered = trades.groupby(trades["entry_order_id"].astype(str))["quantity"].sum()
    out: dict[str, Parts] = {}
    entries = trades.drop_duplicates(["symbol", "direction", "entry_order_id"])
    for (symbol, direction), group in entries.groupby(["symbol", "direction"], sort=False):
        sign = 1.0 if direction == "long" else -1.0
        exits = sorted(f.bar for f in placed if f.symbol == symbol and f.sign == -sign)
        orders = [str(o) for o in group["entry_order_id"]]
        orders.sort(key=lambda o: (first.get(o, -1), decisions.get(o, -1)))
        head, last = "", None
        owed = 0.0  # what the trade's orders left unfilled and no later order gave it yet
        for oid in orders:
            decided = decisions.get(oid)
            qty = float(entered.get(oid, 0.0))
            if (
                last is not None
                and owed > EPS
                and decided is not None
                and first.get(last, decided + 1) <= decided
                and not _any_between(exits, first.get(head, decided), decided)
            ):
                take = min(owed, qty)
                rest = qty - take
                if rest > EPS * max(1.0, qty):  # a rest and an add: the add is a trade
                    out[oid] = ((head, take / qty), (oid, rest / qty))
                    head, owed = oid, rests.get(oid, 0.0)
                else:
                    out[oid] = ((head, 1.0),)
                    owed = min(owed - take, rests[oid]) if oid in rests else 0.0
            elif oid in carried and qty > EPS:
                first_id, asked = carried[oid]
                take = qty if pd.isna(asked) else min(asked, qty)  # unknown: all of it
                parts = [(first_id, take / qty)]
                if qty - take > EPS * max(1.0, qty):
                    parts.append((oid, (qty - take) / qty))
                out[oid] = tuple(parts)
                head, owed = oid, rests.get(oid, 0.0)
            else:
                head = oid
                out[oid] = ((oid, 1.0),)
                owed = rests.get(oid, 0.0)
            last = oid
    return out


def _any_between(bars: list[int], start: int, end: int) -> bool:
    """Whether a bar of the sorted ``bars`` is in ``[start, end]``."""
    return any(start <= b <= end for b in bars)
