"""The demo run by ``make demo``: research to production on the embedded sample, in one go.

Each step is a function of :data:`STEPS`, called in order by :func:`run_demo`:

1. load the bundled samples, check their quality, summarise them;
2. backtest the moving-average crossover on ``sample:SPX`` and write its report;
3. sweep a grid of its two windows over the whole sample (vectorized) with a heatmap;
4. a small walk-forward run up to :data:`RESEARCH_END`: one papermill notebook per fold,
   ``summary.json`` and the report notebook;
5. promote the last fold's parameters through the gates into a bundle; when the gates
   fail, the bundle is forced and the reason is recorded in its manifest (and said so);
6. a short live session: the bundle against the Alpaca emulator on 127.0.0.1 through the
   unmodified alpaca-py SDK, replaying the bars that follow the research window; then the
   run's status as ``workbench live status`` shows it;
7. reconcile that session with a backtest of the bars it saw.

Outputs go under ``out/demo/`` (``WORKBENCH_DEMO_OUT``); each step's folder is replaced on
every run and the last lines list where everything is. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.backtesting.api import backtest
from workbench.bundle import load_bundle
from workbench.cli.main import main as cli
from workbench.compose import LiveOptions, build_runner, emulator_venue
from workbench.data.quality import QualityReport, validate
from workbench.data.sources import load_symbols
from workbench.emulator import Emulator
from workbench.errors import WorkbenchError
from workbench.live.reconcile import reconcile
from workbench.live.session import drive
from workbench.live.status import read_status, status_lines
from workbench.logs import configure
from workbench.promote import promote
from workbench.research.walkforward import WalkForwardConfig, run_walk_forward
from workbench.research.walkforward_report import fold_table

SAMPLE_SPEC = "sample:SPX,NASDAQ"
DATA = "sample:SPX"
STRATEGY = "ma_crossover"
#: Where the demo writes its outputs (override with WORKBENCH_DEMO_OUT).
OUT = Path(os.environ.get("WORKBENCH_DEMO_OUT", "out/demo"))
#: Research (sweep aside) and promotion see bars up to here; the live session replays the next.
RESEARCH_END = "2018-06-30"
TRAIN, TEST = 756, 252
SWEEP_GRID = ("fast=5:100:5", "slow=20:300:10")
#: Short windows, so that a live session of a hundred-odd bars (no history) can trade.
WALKFORWARD_GRID = {"fast": [5, 10, 15, 20], "slow": [30, 40, 50, 60]}
#: Alpaca charges no commission on stocks; 2 bps of slippage, modelled and emulated alike.
COSTS: dict[str, Any] = {"commission": None, "slippage": 2.0}
FORCE_REASON = "demo: a paper session on the emulator to show the plumbing, not a trading decision"
#: The emulator's made-up credentials, exported as Alpaca's variables during the session.
KEY_ID, SECRET = "demo-key-id", "demo-secret-key"

State = dict[str, Any]


@dataclass(frozen=True)
class DemoConfig:
    out: Path
    bars: int = 120  # bars in the live session
    folds: int = 4  # walk-forward folds
    jobs: int = 2  # walk-forward notebooks run at once


def _folder(state: State, name: str) -> Path:
    """``out/<name>``, emptied: every run starts clean."""
    folder = state["config"].out / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def _output(state: State, name: str, path: Path) -> None:
    state["outputs"][name] = path
    print(f"  {name:<22} {path}")


def load_data(state: State) -> None:
    """Load both bundled samples (real S&P 500 and Nasdaq Composite daily bars)."""
    state["bars"] = load_symbols(SAMPLE_SPEC)
    print(
        f"loaded {SAMPLE_SPEC}: "
        + ", ".join(f"{s} {len(b)} bars" for s, b in state["bars"].items())
    )


def check_quality(state: State) -> None:
    """Validate each sample against the NYSE calendar and print the report."""
    reports: dict[str, QualityReport] = {s: validate(b) for s, b in state["bars"].items()}
    state["reports"] = reports
    for report in reports.values():
        print(report)


def summarise(state: State) -> None:
    """One line per symbol: range, total return, annualised volatility, worst day."""
    for symbol, bars in state["bars"].items():
        close = bars["close"]
        returns = close.pct_change().dropna()
        total = close.iloc[-1] / close.iloc[0] - 1.0
        vol = returns.std() * 252**0.5
        worst = returns.idxmin()
        print(
            f"{symbol}: {bars.index[0].date()} to {bars.index[-1].date()}, "
            f"total return {total:+.1%}, annualised vol {vol:.1%}, "
            f"worst day {worst.date()} ({returns[worst]:+.1%})"
        )


def backtest_crossover(state: State) -> None:
    """The reference strategy on the S&P 500: SMA 50/200, next-open fills, small costs."""
    result = backtest(
        STRATEGY,
        state["bars"]["SPX"],
        {"fast": 50, "slow": 200},
        cash=100_000,
        commission=0.0005,
        slippage=2.0,
    )
    state["backtest"] = result
    print(result.summary())
    trades = result.trades[["entry_time", "exit_time", "entry_price", "exit_price", "pnl"]]
    print(trades.tail().to_string(float_format=lambda v: f"{v:,.2f}"))


def write_report(state: State) -> None:
    """Trades, orders, fills, equity, metrics and plots of the backtest, as files."""
    out = _folder(state, "backtest_ma_crossover_spx")
    paths = state["backtest"].save(out)
    print(f"wrote {len(paths)} files to {out}/")
    for name, path in paths.items():
        print(f"  {name:<16} {path}")
    _output(state, "backtest report", out)


def sweep_grid(state: State) -> None:
    """``workbench sweep``: every combination of the grid, one vectorized pass; the heatmap."""
    out = _folder(state, "sweep")
    grid = [arg for item in SWEEP_GRID for arg in ("--grid", item)]
    code = cli(["sweep", "--strategy", STRATEGY, "--data", DATA, *grid, "--top", "5",
                "--slippage", str(COSTS["slippage"]), "--out", str(out)])  # fmt: skip
    if code != 0:
        raise RuntimeError(f"workbench sweep exited {code}")
    _output(state, "sweep results", out / "results.csv")
    _output(state, "sweep heatmap", out / "heatmap.png")


def walk_forward(state: State) -> None:
    """Optimise on 3 years, trade the next one, fold by fold, each fold a papermill notebook."""
    cfg: DemoConfig = state["config"]
    research = state["bars"]["SPX"].loc[:RESEARCH_END]
    start = research.index[-(TRAIN + cfg.folds * TEST)]
    config = WalkForwardConfig(
        strategy=STRATEGY, data=DATA, train=TRAIN, test=TEST, grid=WALKFORWARD_GRID,
        start=start.date().isoformat(), end=RESEARCH_END, **COSTS,
    )  # fmt: skip
    out = _folder(state, "walkforward")
    run = run_walk_forward(config, out, workers=cfg.jobs, progress=True)
    if run.failed:
        raise RuntimeError(f"walk-forward folds failed: {[f.name for f in run.failed]}")
    summary = run.summary
    columns = ["test", "fast", "slow", "IS sharpe", "OOS sharpe", "OOS trades", "WFE"]
    table = fold_table(summary)[columns].astype({"OOS trades": int})
    print(table.to_string(float_format=lambda v: f"{v:.2f}"))
    oos, over = summary["out_of_sample"], summary["overfitting"]
    print(
        f"stitched out of sample: sharpe {oos['sharpe']:.2f}, CAGR {oos['cagr']:.1%}; "
        f"walk-forward efficiency {summary['walk_forward_efficiency']:.2f}; "
        f"mean in-sample DSR {over['mean_in_sample_dsr']:.2f}, PBO {over['mean_in_sample_pbo']:.2f}"
    )
    state["walkforward"] = (config, out)
    state["chosen"] = {k: v for k, v in summary["chosen_params"][-1].items() if k != "fold"}
    print(f"chosen for promotion (the last fold's choice): {state['chosen']}")
    _output(state, "walk-forward folds", out / "folds")
    _output(state, "walk-forward summary", out / "summary.json")
    _output(state, "walk-forward report", out / "report.ipynb")


def promote_chosen(state: State) -> None:
    """The gates on the research window; a bundle (forced, with a reason, if they fail)."""
    config, run_dir = state["walkforward"]
    result = promote(
        STRATEGY, DATA, state["chosen"], out=_folder(state, "promoted"), walkforward=run_dir,
        start=config.start, end=config.end, force=True, reason=FORCE_REASON, **COSTS,
    )  # fmt: skip
    print(result.report())
    bundle = result.bundle
    assert bundle is not None  # forced: always written
    if not result.passed:
        failed = ", ".join(g.name for g in result.gates if not g.passed)
        print(
            f"THE GATES FAILED ({failed}): `workbench promote` would exit 10 here. The demo "
            f"promotes anyway with --force; the manifest records forced=true and the reason "
            f"{bundle.manifest['forced_reason']!r}"
        )
    state["bundle"] = bundle.path
    _output(state, "bundle", bundle.path)


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def live_session(state: State) -> None:
    """The bundle live against the Alpaca emulator (alpaca-py, 127.0.0.1), then its status."""
    cfg: DemoConfig = state["config"]
    spx = state["bars"]["SPX"]
    bars = spx.loc[spx.index > pd.Timestamp(RESEARCH_END, tz="UTC")].iloc[: cfg.bars]
    out = _folder(state, "live")
    path, log_file = out / "live.sqlite", out / "live.jsonl"
    venue = emulator_venue(load_bundle(state["bundle"]).run_spec)  # the promoted backtest's
    emulator = Emulator({"SPX": bars}, key=KEY_ID, secret=SECRET, **venue)
    print(f"replaying {len(bars)} bars, {bars.index[0].date()} to {bars.index[-1].date()}, "
          f"on the emulator at {emulator.host}; JSON log {log_file}")  # fmt: skip
    configure(json_file=str(log_file), console=False)
    try:
        with emulator, _environ({"APCA_API_KEY_ID": KEY_ID, "APCA_API_SECRET_KEY": SECRET}):
            options = LiveOptions(bundle=str(state["bundle"]), broker="alpaca", feed="alpaca",
                                  state=str(path), alpaca_url=emulator.base_url)  # fmt: skip
            runner, _ = build_runner(options)
            runner.state.set_meta(log_file=str(log_file))
            print(f"trading the bundle's timeframe: {runner.state.get_meta('timeframe')} bars")
            try:
                summary = drive(runner, emulator, path, len(bars), progress=True)
            finally:
                runner.broker.close()
                runner.feed.stop()
                runner.state.close()
            venue = emulator.state()
    finally:
        configure(console=False)  # detach the log file
    account = {k: venue[k] for k in ("account", "positions", "fills")}
    (out / "emulator_account.json").write_text(json.dumps(account, indent=2, default=str) + "\n")
    print(f"{summary.bars} bars, {summary.decisions} decisions, {summary.orders_sent} orders "
          f"({summary.stopped_by}); the emulator filled {venue['fills']}")  # fmt: skip
    print("\n$ workbench live status --state", path)
    print("\n".join(status_lines(read_status(path))))
    state["live"] = path
    _output(state, "live state", path)
    _output(state, "live log", log_file)
    _output(state, "emulator account", out / "emulator_account.json")


def reconcile_session(state: State) -> None:
    """``workbench reconcile``: the live session against a backtest of the bars it saw."""
    rec = reconcile(state["live"])
    page = rec.write(_folder(state, "reconcile"))
    s, t = rec.summary, rec.summary["trades"]
    print(f"{s['verdict']}: {s['unexplained']} unexplained, {s['explained']} explained "
          f"difference(s); trades live {t['live']}, backtest {t['backtest']}, matched "
          f"{t['matched']}; final equity live {s['equity']['live_final']:,.2f}, backtest "
          f"{s['equity']['backtest_final']:,.2f}")  # fmt: skip
    for name, count in s["counts"].items():
        if count:
            print(f"  {name:<14} {count}")
    state["reconciliation"] = s
    _output(state, "reconciliation", page)


STEPS: list[Callable[[State], None]] = [
    load_data,
    check_quality,
    summarise,
    backtest_crossover,
    write_report,
    sweep_grid,
    walk_forward,
    promote_chosen,
    live_session,
    reconcile_session,
]


def run_demo(
    out: str | Path = OUT,
    *,
    bars: int = 120,
    folds: int = 4,
    jobs: int = 2,
    steps: list[Callable[[State], None]] | None = None,
) -> State:
    """Run ``steps`` (default: all of :data:`STEPS`) in order; returns what they produced."""
    state: State = {"config": DemoConfig(Path(out), bars, folds, jobs), "outputs": {}}
    with pd.option_context("display.width", 120):
        for step in steps or STEPS:
            started = time.perf_counter()
            print(f"\n== {step.__name__.replace('_', ' ')}", flush=True)
            step(state)
            print(f"({time.perf_counter() - started:.1f} s)", flush=True)
    return state


def main(argv: list[str] | None = None) -> int:
    """Run every step and list the outputs; exit 1 if a quality report or the
    reconciliation finds errors."""
    handler = logging.StreamHandler()
    handler.setLevel(logging.WARNING)  # the live session logs INFO to its JSON file only
    logging.basicConfig(level=logging.WARNING, handlers=[handler],
                        format="%(levelname)s %(name)s: %(message)s")  # fmt: skip
    started = time.perf_counter()
    try:
        state = run_demo(OUT)
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"\n== outputs (under {OUT}/, {time.perf_counter() - started:.0f} s in all)")
    for name, path in state["outputs"].items():
        print(f"  {name:<22} {path}")
    ok = all(r.ok for r in state["reports"].values())
    return 0 if ok and state["reconciliation"]["unexplained"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
