"""The look-ahead audit: re-run a strategy on data cut short and check its past decisions hold.

A strategy's decision on bar t may depend on bars up to t only. So if the data ended at
t, every decision up to t must come out the same. The audit runs the strategy once on
all the data, recording each decision (the intents it emits on each bar: targets, orders,
cancels, with their sizes and reasons), then again on the data truncated at many cuts:
every bar where it acted, and a seeded sample of the others. Any decision up to a cut
that differs from the full run means the strategy used data it could not have had: the
finding names the bar and both versions of the decision.

The context already refuses direct reads of the future (``LookAheadError``); this catches
what it cannot: an indicator whose batch form is not causal (a centred window, a
``shift(-1)``), a strategy reading internals or a file, normalisation over the whole
series. The vectorized form, when a strategy has one, is audited the same way on its
entry and exit signals. Truncation leaves the portfolio up to the cut unchanged (fills at
a bar depend on bars up to it), so an honest strategy always passes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from workbench.backtesting.api import load_universe
from workbench.backtesting.vectorized import has_vectorized, vectorized_signals
from workbench.compose import run_backtest
from workbench.context import Context
from workbench.data.bars import BarsLike
from workbench.intents import CancelIntent, Intent, OrderIntent, TargetIntent
from workbench.logs import bulk_runs
from workbench.research.watch import Watched
from workbench.runspec import RunSpec
from workbench.sim.costs import Commission, Slippage
from workbench.strategy import Strategy, make_strategy, resolve_strategy

__all__ = ["AuditResult", "Finding", "audit", "describe_intent"]

log = logging.getLogger(__name__)

Decision = tuple[Any, ...]
SIGNALS = ("entries", "exits", "short_entries", "short_exits")


@dataclass(frozen=True, slots=True)
class Finding:
    """A decision that changed when the data was cut at ``cut_time``: look-ahead at ``time``."""

    path: str  # "event-driven" or "vectorized"
    cut: int
    cut_time: pd.Timestamp
    bar: int
    time: pd.Timestamp
    full: str  # the decision with all the data
    truncated: str  # the decision with data up to the cut

    def message(self) -> str:
        return (
            f"{self.path}: bar {self.bar} ({self.time.isoformat()}): with all the data "
            f"{self.full}; with data up to {self.cut_time.isoformat()} {self.truncated}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "cut": self.cut,
            "cut_time": self.cut_time.isoformat(),
            "bar": self.bar,
            "time": self.time.isoformat(),
            "full": self.full,
            "truncated": self.truncated,
            "message": self.message(),
        }


@dataclass
class AuditResult:
    """What the audit checked and what it found; ``passed`` when nothing changed."""

    strategy: str
    params: dict[str, Any]
    bars: int
    decisions: int
    cuts: list[int]
    vectorized_cuts: list[int] | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.findings

    def summary(self, limit: int = 5) -> str:
        checked = f"{len(self.cuts)} event-driven cuts"
        if self.vectorized_cuts is not None:
            checked += f" and {len(self.vectorized_cuts)} vectorized cuts"
        else:
            checked += " (no vectorized form)"
        head = (
            f"{self.strategy} ({', '.join(f'{k}={v}' for k, v in self.params.items())}): "
            f"{self.bars} bars, {self.decisions} decisions, {checked}"
        )
        if self.passed:
            return f"{head}\nno look-ahead found: every decision is unchanged on truncated data"
        lines = [head, f"LOOK-AHEAD: {len(self.findings)} changed decision(s); first ones:"]
        lines += [f"  {f.message()}" for f in self.findings[:limit]]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "params": self.params,
            "passed": self.passed,
            "bars": self.bars,
            "decisions": self.decisions,
            "cuts": len(self.cuts),
            "vectorized_cuts": None if self.vectorized_cuts is None else len(self.vectorized_cuts),
            "findings": [f.to_dict() for f in self.findings],
        }


@bulk_runs()  # every replay's orders: compared here, not news
def audit(
    strategy: str | type[Strategy] | Strategy,
    bars: str | BarsLike,
    params: Mapping[str, Any] | None = None,
    *,
    start: Any = None,
    end: Any = None,
    samples: int = 50,
    seed: int = 0,
    vectorized: bool = True,
    cash: float = 100_000.0,
    commission: Commission | float | str | None = None,
    slippage: Slippage | float | str | None = None,
    progress: bool | None = None,
) -> AuditResult:
    """Audit ``strategy`` with ``params`` on ``bars`` (a spec, a frame or a dict of frames).

    ``samples`` extra cuts are drawn (with ``seed``) among the bars where the strategy did
    not act; the vectorized form, if any, is checked at its signal bars and as many samples.
    """
    cls = resolve_strategy(strategy)
    values = dict(params or {})
    if isinstance(strategy, Strategy) and not values:
        values = dict(strategy.p)
    template = make_strategy(cls, values)
    universe = load_universe(bars, start, end)
    config = RunSpec(  # the bars as given: the audit cuts them, never resamples
        symbols=tuple(universe), timeframe=None, cash=cash,
        commission=Commission.parse(commission), slippage=Slippage.parse(slippage),
    )  # fmt: skip
    times = _union_times(universe)
    full = _decisions(cls, values, universe, config)
    acted = _positions(times, full)
    cuts = sorted(set(acted) | set(_sample(len(times), set(acted), samples, seed)))
    findings: list[Finding] = []
    steps: Iterable[int] = cuts
    show = progress if progress is not None else len(cuts) > 20
    if show:
        steps = tqdm(cuts, desc=f"audit {cls.label()}", unit="cut", mininterval=0.5)
    for cut in steps:
        truncated = _decisions(cls, values, _truncate(universe, times[cut]), config)
        finding = _compare(full, truncated, cut, times)
        if finding is not None:
            findings.append(finding)
    vector_cuts: list[int] | None = None
    if vectorized and has_vectorized(template):
        vector_cuts, vector_findings = _audit_vectorized(cls, values, universe, samples, seed)
        findings.extend(vector_findings)
    elif vectorized and hasattr(template, "target_weights"):
        vector_cuts, vector_findings = _audit_weights(cls, values, universe, samples, seed)
        findings.extend(vector_findings)
    result = AuditResult(
        strategy=cls.label(),
        params=dict(template.p),
        bars=len(times),
        decisions=sum(len(v) for v in full.values()),
        cuts=cuts,
        vectorized_cuts=vector_cuts,
        findings=sorted(findings, key=lambda f: (f.bar, f.path)),
    )
    log.info("audit %s: %d cuts, %d findings", result.strategy, len(cuts), len(result.findings))
    return result


def describe_intent(intent: Intent) -> str:
    """A decision as people read it: ``target SPX percent=1 (MA_CROSS_BUY)``."""
    if isinstance(intent, TargetIntent):
        sizes = [
            f"{name}={_num(v)}"
            for name, v in (
                ("quantity", intent.quantity),
                ("notional", intent.notional),
                ("percent", intent.percent),
                ("stop", intent.stop),
            )
            if v is not None
        ]
        return f"target {intent.symbol} {' '.join(sizes)}{_reason(intent.reason)}"
    if isinstance(intent, OrderIntent):
        r = intent.request
        size = f"quantity={_num(r.quantity)}" if r.quantity is not None else ""
        size = size or f"notional={_num(r.notional)}"
        prices = "".join(
            f" {n}={_num(v)}" for n, v in (("limit", r.limit_price), ("stop", r.stop_price)) if v
        )
        return f"{r.side} {r.type} {r.symbol} {size}{prices}{_reason(r.reason)}"
    if isinstance(intent, CancelIntent):
        what = intent.order_id or intent.symbol or "all"
        return f"cancel {what}{_reason(intent.reason)}"
    return repr(intent)  # pragma: no cover - Intent is a closed union


# -- event-driven ---------------------------------------------------------------------


def _decisions(
    cls: type[Strategy],
    params: Mapping[str, Any],
    universe: Mapping[str, pd.DataFrame],
    config: RunSpec,
) -> dict[int, list[Intent]]:
    """Each bar's decisions (keyed by the bar time in ns) of a fresh instance on ``universe``."""
    by_time: dict[int, list[Intent]] = {}

    def record(ctx: Context) -> None:
        if ctx.intents:
            by_time.setdefault(ctx.time_ns, []).extend(ctx.intents)

    strategy = Watched(make_strategy(cls, params), record)
    run_backtest(strategy, universe, config, progress=False)
    return by_time


def _compare(
    full: Mapping[int, list[Intent]],
    truncated: Mapping[int, list[Intent]],
    cut: int,
    times: np.ndarray,
) -> Finding | None:
    """The first bar up to ``cut`` whose decisions differ, as a finding."""
    limit = int(times[cut])
    keys = sorted(k for k in set(full) | set(truncated) if k <= limit)
    for key in keys:
        a, b = full.get(key, []), truncated.get(key, [])
        if not _same(a, b):
            bar = int(np.searchsorted(times, key))
            return Finding(
                "event-driven",
                cut,
                pd.Timestamp(limit, tz="UTC"),
                bar,
                pd.Timestamp(key, tz="UTC"),
                _describe(a),
                _describe(b),
            )
    return None


def _same(a: list[Intent], b: list[Intent]) -> bool:
    return len(a) == len(b) and all(_key(x) == _key(y) for x, y in zip(a, b, strict=True))


def _key(intent: Intent) -> Decision:
    """What the decision is, with numbers rounded to 10 significant digits."""
    if isinstance(intent, TargetIntent):
        return (
            "target",
            intent.symbol,
            *map(_round, (intent.quantity, intent.notional, intent.percent, intent.stop)),
            intent.reason,
            intent.exits,
        )
    if isinstance(intent, OrderIntent):
        r = intent.request
        return (
            "order",
            r.symbol,
            str(r.side),
            str(r.type),
            str(r.tif),
            *map(_round, (r.quantity, r.notional, r.limit_price, r.stop_price, intent.stop)),
            r.reason,
            r.oco_group,
            str(r.order_class),
            *map(_round, (r.take_profit, r.stop_loss, r.stop_loss_limit)),
            *map(_round, (r.trail_price, r.trail_percent)),
            *map(_round, (r.take_profit_percent, r.stop_loss_percent)),
            r.exit_tif,
        )
    return ("cancel", intent.order_id, intent.symbol, intent.reason)


def _describe(intents: list[Intent]) -> str:
    return "; ".join(describe_intent(i) for i in intents) if intents else "no decision"


def _round(value: float | None) -> float | None:
    if value is None or not math.isfinite(value) or value == 0:
        return value
    return round(value, 9 - math.floor(math.log10(abs(value))))


def _num(value: float | None) -> str:
    return "None" if value is None else f"{value:.10g}"


def _reason(reason: str) -> str:
    return f" ({reason})" if reason else ""


# -- vectorized -----------------------------------------------------------------------


def _audit_vectorized(
    cls: type[Strategy],
    params: Mapping[str, Any],
    universe: Mapping[str, pd.DataFrame],
    samples: int,
    seed: int,
) -> tuple[list[int], list[Finding]]:
    """Cut the bars of each symbol and compare the vectorized signals up to the cut."""
    cuts_all: set[int] = set()
    findings: list[Finding] = []
    for frame in universe.values():
        full = _signals(make_strategy(cls, params), frame)
        fired = np.flatnonzero(np.logical_or.reduce([s for s in full.values()]))
        cuts = sorted(set(fired.tolist()) | set(_sample(len(frame), set(fired), samples, seed)))
        cuts_all.update(cuts)
        for cut in cuts:
            part = _signals(make_strategy(cls, params), frame.iloc[: cut + 1])
            finding = _compare_signals(full, part, cut, frame.index)
            if finding is not None:
                findings.append(finding)
    return sorted(cuts_all), findings


def _audit_weights(
    cls: type[Strategy],
    params: Mapping[str, Any],
    universe: Mapping[str, pd.DataFrame],
    samples: int,
    seed: int,
) -> tuple[list[int], list[Finding]]:
    """Cut the universe and compare the target weights (portfolio strategies) up to the cut."""
    full = make_strategy(cls, params).target_weights(universe)
    values = full.to_numpy()
    decided = np.flatnonzero(np.isfinite(values).any(axis=1))
    cuts = sorted(set(decided.tolist()) | set(_sample(len(full), set(decided), samples, seed)))
    times = full.index.as_unit("ns").asi8
    findings: list[Finding] = []
    for cut in cuts:
        part = make_strategy(cls, params).target_weights(_truncate(universe, times[cut]))
        a, b = values[: cut + 1], part.to_numpy()[: cut + 1]
        differ = ~((a == b) | (np.isnan(a) & np.isnan(b)))
        if differ.any():
            bar, col = (int(k[0]) for k in np.nonzero(differ))
            symbol = full.columns[col]
            findings.append(
                Finding(
                    "vectorized",
                    cut,
                    full.index[cut],
                    bar,
                    full.index[bar],
                    f"{symbol} weight {a[bar, col]:.6g}",
                    f"{symbol} weight {b[bar, col]:.6g}",
                )
            )
    return cuts, findings


def _signals(strategy: Strategy, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    signals = vectorized_signals(strategy, frame)
    out: dict[str, np.ndarray] = {}
    for name in SIGNALS:
        series = getattr(signals, name)
        if series is not None:
            out[name] = series.to_numpy(dtype=bool)
    return out


def _compare_signals(
    full: Mapping[str, np.ndarray],
    part: Mapping[str, np.ndarray],
    cut: int,
    index: pd.DatetimeIndex,
) -> Finding | None:
    first: tuple[int, str, bool, bool] | None = None
    for name in SIGNALS:
        a, b = full.get(name), part.get(name)
        if a is None and b is None:
            continue
        a = np.zeros(cut + 1, bool) if a is None else a[: cut + 1]
        b = np.zeros(cut + 1, bool) if b is None else b[: cut + 1]
        diff = np.flatnonzero(a != b)
        if diff.size and (first is None or diff[0] < first[0]):
            first = (int(diff[0]), name, bool(a[diff[0]]), bool(b[diff[0]]))
    if first is None:
        return None
    bar, name, was, now = first
    return Finding(
        "vectorized",
        cut,
        index[cut],
        bar,
        index[bar],
        f"{name}={was}",
        f"{name}={now}",
    )


# -- helpers --------------------------------------------------------------------------


def _union_times(universe: Mapping[str, pd.DataFrame]) -> np.ndarray:
    stamps = [frame.index.as_unit("ns").asi8 for frame in universe.values()]
    return stamps[0] if len(stamps) == 1 else np.unique(np.concatenate(stamps))


def _truncate(universe: Mapping[str, pd.DataFrame], last_ns: int) -> dict[str, pd.DataFrame]:
    last = pd.Timestamp(int(last_ns), tz="UTC")
    out = {}
    for sym, frame in universe.items():
        part = frame.loc[:last]
        if len(part):
            out[sym] = part
    return out


def _sample(n: int, exclude: set[int], k: int, seed: int) -> list[int]:
    """``k`` bar positions in ``[1, n-1)`` not in ``exclude``, drawn with ``seed``."""
    pool = np.setdiff1d(np.arange(1, max(n - 1, 1)), np.fromiter(exclude, dtype=int))
    if k <= 0 or pool.size == 0:
        return []
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(pool, size=min(k, pool.size), replace=False).tolist())


def _positions(times: np.ndarray, keys: Iterable[int]) -> list[int]:
    return [int(np.searchsorted(times, k)) for k in keys]
