"""Promotion: gates a strategy must pass before it may trade, then an immutable bundle.

Gates (thresholds configurable, defaults in :data:`DEFAULT_THRESHOLDS`):

========================  ==========================================================
``oos_sharpe``            annualised Sharpe of the stitched out-of-sample equity of the
                          walk-forward run (without one: of the last 30% of the data)
``deflated_sharpe``       probability that the Sharpe is real given the trials tried
                          (mean in-sample DSR of the walk-forward folds; without a run,
                          the probabilistic Sharpe ratio of the full backtest)
``pbo``                   probability of backtest overfitting (walk-forward folds' mean)
``walk_forward_efficiency``  annualised out-of-sample return / in-sample return
``lookahead_audit``       the audit finds no decision that changes with later data
``parity``                vectorized and event-driven runs agree (when the strategy has
                          a vectorized form; otherwise not applicable and passed)
``min_trades``            closed trades of the full-sample backtest
========================  ==========================================================

The walk-forward figures must be of the promoted strategy on the promoted data spec
(another run is refused); the manifest records the run (path, configuration, SHA-256 of
its ``summary.json``). A strategy that fails is promoted only with ``force`` and a
reason, both recorded in the manifest. The CLI exits 0 when promoted and
:data:`EXIT_GATES_FAILED` when not.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.backtesting.api import backtest, load_universe, on_timeframe
from workbench.backtesting.result import BacktestResult
from workbench.backtesting.vectorized import has_vectorized
from workbench.bundle import Bundle, sha256_bytes, write_bundle
from workbench.data.bars import data_fingerprint
from workbench.errors import ConfigError
from workbench.logs import bulk_runs
from workbench.research.audit import audit
from workbench.research.overfitting import probabilistic_sharpe_ratio, return_moments
from workbench.research.parity import check_parity
from workbench.risk.config import RiskConfig
from workbench.runspec import ExecutionPolicy, RunSpec
from workbench.sim.costs import Commission, Slippage
from workbench.strategy import Strategy, make_strategy, resolve_strategy
from workbench.timeframe import infer_timeframe, parse_timeframe

EXIT_GATES_FAILED = 10
HOLDOUT_FRACTION = 0.3

#: gate -> (comparison, default threshold)
DEFAULT_THRESHOLDS: dict[str, tuple[str, float]] = {
    "oos_sharpe": (">=", 0.3),
    "deflated_sharpe": (">=", 0.9),
    "pbo": ("<=", 0.5),
    "walk_forward_efficiency": (">=", 0.5),
    "min_trades": (">=", 5.0),
}


@dataclass(frozen=True)
class Gate:
    name: str
    value: float | str | None
    threshold: str
    passed: bool
    note: str = ""

    def line(self) -> str:
        shown = (
            "n/a"
            if self.value is None
            else (f"{self.value:.4g}" if isinstance(self.value, float) else str(self.value))
        )
        mark = "PASS" if self.passed else "FAIL"
        note = f"  ({self.note})" if self.note else ""
        return f"  {mark}  {self.name:<24} {shown:>10}  {self.threshold}{note}"


@dataclass
class Promotion:
    gates: list[Gate]
    metrics: dict[str, Any]
    bundle: Bundle | None

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    def report(self) -> str:
        lines = ["gates:"] + [g.line() for g in self.gates]
        lines.append("promoted" if self.bundle else "not promoted: gates failed")
        return "\n".join(lines)


def _threshold_gate(
    name: str, value: float | None, thresholds: Mapping[str, float], note: str = ""
) -> Gate:
    op, default = DEFAULT_THRESHOLDS[name]
    limit = float(thresholds.get(name, default))
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return Gate(name, None, f"{op} {limit:g}", False, note or "not available")
    ok = value >= limit if op == ">=" else value <= limit
    return Gate(name, float(value), f"{op} {limit:g}", ok, note)


@bulk_runs()  # the gates' backtests: their orders are results, not news
def run_gates(
    strategy: Strategy,
    bars: dict[str, pd.DataFrame],
    *,
    walkforward: str | Path | None,
    thresholds: Mapping[str, float],
    spec: RunSpec,
    data: str | None = None,
) -> tuple[list[Gate], dict[str, Any], BacktestResult]:
    """Every gate's figure and verdict, the full-sample metrics and that backtest.

    The backtests run with ``spec``'s money, costs and venue settings (volume limit, lot
    size, margin), the ones the bundle will trade with; the risk rules stay out of the
    gates (they judge the strategy itself). A walk-forward run of another strategy, or
    on other data than ``data`` (the data spec), is refused: its figures would not be
    about what is promoted."""
    unknown = set(thresholds) - set(DEFAULT_THRESHOLDS)
    if unknown:
        raise ConfigError(
            f"unknown gate(s) {', '.join(sorted(unknown))}",
            hint="thresholds exist for " + ", ".join(DEFAULT_THRESHOLDS),
        )
    params = dict(strategy.p)
    costs = {"cash": spec.cash, "commission": spec.commission, "slippage": spec.slippage}
    venue = {"volume_limit": spec.volume_limit, "lot_size": spec.lot_size, "margin": spec.margin}
    summary: dict[str, Any] = {}
    if walkforward is not None:
        summary = _read_summary(walkforward)
        _check_walkforward(summary, strategy, data, walkforward)
    full = backtest(strategy, bars, params, progress=False, **costs, **venue)
    gates: list[Gate] = []
    if summary:
        oos = summary.get("out_of_sample") or {}
        gates.append(_threshold_gate("oos_sharpe", oos.get("sharpe"), thresholds, "walk-forward"))
        over = summary.get("overfitting") or {}
        gates.append(_threshold_gate("deflated_sharpe", over.get("mean_in_sample_dsr"), thresholds,
                                     f"{over.get('n_trials')} trials"))  # fmt: skip
        gates.append(_threshold_gate("pbo", over.get("mean_in_sample_pbo"), thresholds))
        gates.append(_threshold_gate(
            "walk_forward_efficiency", summary.get("walk_forward_efficiency"), thresholds
        ))  # fmt: skip
    else:
        split = {s: f.index[int(len(f) * (1 - HOLDOUT_FRACTION))] for s, f in bars.items()}
        first = max(split.values())
        holdout = backtest(strategy, bars, params, start=first, progress=False, **costs, **venue)
        gates.append(_threshold_gate("oos_sharpe", holdout.metrics.get("sharpe"), thresholds,
                                     f"holdout from {first.date()}"))  # fmt: skip
        returns = full.equity.pct_change().dropna().to_numpy()
        moments = return_moments(returns)
        psr = probabilistic_sharpe_ratio(
            moments["sharpe"], 0.0, int(moments["n_obs"]), moments["skew"], moments["kurtosis"]
        )
        gates.append(_threshold_gate("deflated_sharpe", psr, thresholds, "1 trial: PSR"))
        missing = "needs --walkforward RUN_DIR"
        gates.append(_threshold_gate("pbo", None, thresholds, missing))
        gates.append(_threshold_gate("walk_forward_efficiency", None, thresholds, missing))
    found = audit(strategy, bars, params, progress=False)
    shown = "clean" if found.passed else f"{len(found.findings)} found"
    first = "" if found.passed else found.findings[0].message()
    gates.append(Gate("lookahead_audit", shown, "no changed decision", found.passed, first))
    gates.append(_parity_gate(strategy, bars, costs, venue))
    closed = int(full.metrics.get("number_of_trades", 0))
    gates.append(_threshold_gate("min_trades", float(closed), thresholds))
    return gates, {k: v for k, v in full.metrics.items() if isinstance(v, int | float)}, full


def _read_summary(run: str | Path) -> dict[str, Any]:
    """``run``'s summary.json, refused (naming it) unless it is a walk-forward summary: a
    broken file was a traceback, and one without its run's configuration read as no
    walk-forward at all (the holdout's gates), while the manifest recorded the run."""
    path = Path(run) / "summary.json"
    fix = f"run workbench walkforward again with --out {run} (it writes summary.json anew)"
    if not path.is_file():
        raise ConfigError(f"no summary.json in {run}", hint="run workbench walkforward first")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(
            f"{path} cannot be read as a walk-forward summary ({exc})", hint=fix
        ) from None
    config = summary.get("config") if isinstance(summary, dict) else None
    if not (isinstance(config, dict) and isinstance(config.get("strategy"), str)):
        raise ConfigError(f"{path} is not a walk-forward summary (no run config)", hint=fix)
    return summary


def _check_walkforward(
    summary: Mapping[str, Any], strategy: Strategy, data: str | None, run: str | Path
) -> None:
    """Refuse a walk-forward run of another strategy or on other data, naming both."""
    config = summary.get("config") or {}
    ran = config.get("strategy")
    if ran is not None and resolve_strategy(ran).import_path() != type(strategy).import_path():
        raise ConfigError(
            f"the walk-forward run {run} is of strategy {ran}, not of "
            f"{type(strategy).import_path()}: its out-of-sample Sharpe, DSR and PBO are not "
            "this strategy's",
            hint="run workbench walkforward for this strategy, or promote the one it ran",
        )
    if data is not None and config.get("data") not in (None, data):
        raise ConfigError(
            f"the walk-forward run {run} is on data {config['data']}, not {data}: its "
            "out-of-sample figures are not about the data promoted on",
            hint=f"promote with --data {config['data']}, or run workbench walkforward on {data}",
        )


def _walkforward_record(run: str | Path) -> dict[str, Any]:
    """What the manifest keeps of the walk-forward run the gates read: where it was, its
    configuration and the SHA-256 of its ``summary.json``."""
    text = (Path(run) / "summary.json").read_bytes()
    return {
        "path": str(Path(run).resolve()),
        "summary_sha256": sha256_bytes(text),
        "config": json.loads(text).get("config"),
    }


def _parity_gate(
    strategy: Strategy,
    bars: dict[str, pd.DataFrame],
    costs: dict[str, Any],
    venue: dict[str, Any],
) -> Gate:
    if not (has_vectorized(strategy) or hasattr(strategy, "target_weights")):
        return Gate("parity", "n/a", "vectorized == event", True, "no vectorized form")
    if venue != {"volume_limit": None, "lot_size": None, "margin": 1.0}:
        note = "the vectorized form has no volume limit, lot size or margin to compare"
        return Gate("parity", "n/a", "vectorized == event", True, note)
    try:
        result = check_parity(strategy, bars, dict(strategy.p), **costs)
    except ConfigError as exc:  # an unaligned universe, costs the kernel cannot reproduce
        if len(bars) == 1:
            raise
        return Gate("parity", "n/a", "vectorized == event", True, exc.message)
    shown = "equal" if result.ok else "differs"
    first = "" if result.ok else result.summary().splitlines()[0]
    return Gate("parity", shown, "vectorized == event", result.ok, first)


def promote(
    strategy: str | type[Strategy] | Strategy,
    data: str,
    params: Mapping[str, Any] | None = None,
    *,
    out: str | Path = "promoted",
    walkforward: str | Path | None = None,
    risk: str | Path | None = None,
    thresholds: Mapping[str, float] | None = None,
    cash: float = 100_000.0,
    commission: Any = None,
    slippage: Any = None,
    start: Any = None,
    end: Any = None,
    force: bool = False,
    reason: str | None = None,
    timeframe: str | None = None,
    session: str = "regular",
    calendar: str = "XNYS",
    volume_limit: float | None = None,
    lot_size: float | None = None,
    margin: float = 1.0,
    conflict: str = "cancel_replace",
    protect_partial_fills: bool = True,
) -> Promotion:
    """Run the gates; write a bundle if they pass (or if forced, with a reason).

    ``timeframe`` resamples the data on the exchange's sessions first, as
    ``backtest --timeframe`` does; without it the timeframe is the data's own (every bar
    counting). The bundle's run spec records it with the money, costs, venue settings
    (``volume_limit``, ``lot_size``, ``margin``), risk rules and execution policy
    (``conflict``, ``protect_partial_fills``): a run of the bundle trades with those and
    nothing else.
    """
    if force and not (reason and reason.strip()):
        raise ConfigError(
            "--force needs --reason", hint='e.g. --reason "paper test of the plumbing"'
        )
    instance = make_strategy(strategy, params)
    bars = load_universe(data, start, end)
    if timeframe is not None:
        bars, _ = on_timeframe(bars, timeframe, session=session, calendar=calendar)
        tf = parse_timeframe(timeframe)
    else:
        tf, session = infer_timeframe(next(iter(bars.values()))), "all"
    spec = RunSpec(
        symbols=tuple(bars), timeframe=tf, session=session, calendar=calendar, cash=cash,
        commission=Commission.parse(commission), slippage=Slippage.parse(slippage),
        volume_limit=volume_limit, lot_size=lot_size, margin=margin,
        risk=RiskConfig.load(risk) if risk is not None else RiskConfig(),
        execution=ExecutionPolicy(conflict=conflict, protect_partial_fills=protect_partial_fills),
    )  # fmt: skip
    gates, metrics, full = run_gates(
        instance, bars, walkforward=walkforward, thresholds=thresholds or {}, spec=spec, data=data
    )
    result = Promotion(gates, metrics, None)
    if result.passed or force:
        report = f"# {instance.label()} promotion\n\n```\n{result.report()}\n```\n"
        result.bundle = write_bundle(
            out, instance,
            data={
                "spec": data, "start": _text(start), "end": _text(end),
                "symbols": data_fingerprint(bars),
                "walkforward": _walkforward_record(walkforward) if walkforward else None,
            },
            gates=[asdict(g) for g in gates], metrics=metrics, report=report, run_spec=spec,
            forced_reason=reason if (force and not result.passed) else None,
            files=_report_files(full, gates, walkforward, reason if force else None),
        )  # fmt: skip
    return result


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _report_files(
    full: BacktestResult, gates: list[Gate], walkforward: str | Path | None, reason: str | None
) -> dict[str, bytes]:
    """The HTML reports a bundle keeps: the full-sample backtest with the gate table
    (``report.html``) and the walk-forward run's own report (``walkforward.html``)."""
    from workbench.reports.backtest import backtest_report
    from workbench.reports.html import Section, paragraph, table

    rows = pd.DataFrame(
        [{"gate": g.name, "result": "PASS" if g.passed else "FAIL",
          "value": g.value if isinstance(g.value, float) else str(g.value or "n/a"),
          "threshold": g.threshold, "note": g.note} for g in gates]
    )  # fmt: skip
    verdict = "every gate passed" if all(g.passed for g in gates) else "gates failed"
    body = paragraph(verdict + (f"; promoted with force: {reason}" if reason else ""))
    if walkforward is not None:
        body += paragraph(f"walk-forward run: {walkforward} (its report: walkforward.html)")
    sections = [Section("gates", "Promotion gates", body + table(rows, table_id="gates"))]
    page = backtest_report(full, title=f"Promotion: {full.strategy}", extra=sections)
    files = {"report.html": page.encode("utf-8")}
    wf_report = Path(walkforward) / "report.html" if walkforward is not None else None
    if wf_report is not None and wf_report.is_file():
        files["walkforward.html"] = wf_report.read_bytes()
    return files
