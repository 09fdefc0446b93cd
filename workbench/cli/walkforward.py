"""``workbench walkforward``: walk-forward analysis, one executed notebook per fold."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.research.walkforward import WalkForwardRun


def register(sub: argparse._SubParsersAction) -> None:
    from workbench.cli.sweep import add_search_options

    p = sub.add_parser(
        "walkforward",
        help="walk-forward analysis: optimise in sample, trade out of sample, fold by fold",
        description=(
            "Split the data into walk-forward folds; for each, sweep the grid on the train "
            "window and run the best combination through the event-driven engine on the test "
            "window, as one papermill notebook per fold. Writes every executed notebook, "
            "summary.json and a report notebook into --out. Re-running skips finished folds."
        ),
    )
    p.add_argument("--strategy", required=True, help="built-in name (ma_crossover) or module:Class")
    p.add_argument(
        "--data", default="sample:SPX", help="data spec of one symbol (default sample:SPX)"
    )
    p.add_argument("--train", required=True, help="train window: bars (756) or time (3y, 6mo)")
    p.add_argument("--test", required=True, help="test window: bars (252) or time (1y)")
    p.add_argument("--step", help="move between folds (default: the test length)")
    p.add_argument("--gap", default="0", help="bars (or time) purged between train and test")
    p.add_argument("--anchored", action="store_true", help="train windows all start at bar 0")
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        required=True,
        metavar="NAME=VALUES",
        help="swept parameter: LOW:HIGH:STEP or V1,V2,... (repeatable)",
    )
    p.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="fixed parameter"
    )
    p.add_argument("--metric", default="sharpe", help="in-sample metric to maximise (sharpe)")
    p.add_argument(
        "--benchmark",
        help="out-of-sample benchmark spec (default: equal-weight buy-and-hold of the data)",
    )
    p.add_argument("--start", help="first bar of the data (inclusive)")
    p.add_argument("--end", help="last bar of the data (inclusive)")
    p.add_argument("--cash", type=float, default=100_000.0, help="starting cash of each fold")
    p.add_argument("--commission", default=None, help="fraction of notional (0.001) or fields")
    p.add_argument("--slippage", default=None, help="basis points (5) or range=FRACTION")
    add_search_options(p, where="per fold; fold N seeded with seed + N")
    p.add_argument("--jobs", type=int, default=1, help="folds run in parallel (processes)")
    p.add_argument("--scheduler", help="Dask scheduler address: run the folds on that cluster")
    p.add_argument("--force", action="store_true", help="re-run folds that already finished")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--json", action="store_true", help="print summary.json instead of a table")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from workbench.cli.flags import check_jobs, check_venue
    from workbench.params import parse_assignments
    from workbench.research.grid import parse_grid
    from workbench.research.splits import NoFoldError
    from workbench.research.walkforward import WalkForwardConfig, run_walk_forward

    check_jobs(args.jobs)  # before --out is made
    check_venue(args)
    lengths = _lengths(args)
    config = WalkForwardConfig(
        strategy=args.strategy,
        data=args.data,
        **lengths,
        anchored=args.anchored,
        grid=parse_grid(args.grid),
        params=parse_assignments(args.param),
        metric=args.metric,
        start=args.start,
        end=args.end,
        cash=args.cash,
        commission=args.commission,
        slippage=args.slippage,
        search=args.search,
        n_trials=args.trials,
        seed=args.seed,
        benchmark=args.benchmark,
    )
    try:
        result = run_walk_forward(
            config,
            args.out,
            workers=args.jobs,
            scheduler=args.scheduler,
            force=args.force,
            progress=not args.json,
        )
    except NoFoldError as exc:  # planned in the Python names (train=5000): said in the flags'
        ranged = args.start is not None or args.end is not None
        more = "widen --start/--end" if ranged else "give --data a longer history"
        raise exc.worded(flags=True, more=more) from None
    summary = result.summary
    if args.json:
        json.dump(json.loads((result.out / "summary.json").read_text()), sys.stdout)
        sys.stdout.write("\n")
    else:
        _print(summary, result)
    for failure in result.failed:
        print(f"FAILED {failure.name}: {failure.error} (see {failure.notebook})", file=sys.stderr)
    return 1 if result.failed else 0


#: The flags that take a length, each with an example in bars and in time.
LENGTHS = {
    "train": "e.g. --train 756 or --train 3y",
    "test": "e.g. --test 252 or --test 1y",
    "step": "e.g. --step 63 or --step 3mo",
    "gap": "e.g. --gap 5 or --gap 1w",
}


def _lengths(args: argparse.Namespace) -> dict[str, int | str | None]:
    """The windows' lengths as run.json records them (bars as ints), refused in the flags'
    words with an example (they were refused in the Python names, ``gap='-5' is not a
    length``, and a mix of bars and time only once the data was read)."""
    from workbench.errors import ConfigError
    from workbench.research.splits import parse_length
    from workbench.research.walkforward_plan import is_shorter

    lengths: dict[str, int | str | None] = dict.fromkeys(LENGTHS)  # --step None: the test's
    in_bars: dict[str, bool] = {}
    for name, example in LENGTHS.items():
        text = getattr(args, name)
        if text is None:
            continue
        try:
            length = parse_length(
                text, name=name, allow_zero=name == "gap", label=f"--{name} {text}"
            )
        except ConfigError as exc:
            raise ConfigError(exc.message, hint=f"{exc.hint}; {example}") from None
        lengths[name] = int(text) if text.strip().isdigit() else text
        in_bars[name] = isinstance(length, int)
    if len({in_bars[n] for n in ("train", "test", "step") if n in in_bars}) > 1:
        given = [n for n in ("train", "test", "step") if n in in_bars]
        raise ConfigError(
            ", ".join(f"--{n} {getattr(args, n)}" for n in given) + " mix bars and time",
            hint="give them all in bars (--train 756 --test 252) or all in time (--train 3y "
            "--test 1y)",
        )
    if args.step is not None and is_shorter(args.step, args.test):
        raise ConfigError(
            f"--step {args.step} is shorter than --test {args.test}: test windows would overlap",
            hint="a stitched out-of-sample curve needs --step >= --test (omit --step: the test "
            "length)",
        )
    return lengths


def _print(summary: dict, result: WalkForwardRun) -> None:
    for fold in summary["folds"]:
        head = f"fold {fold['fold']:>3}  test {fold['test_first'][:10]}..{fold['test_last'][:10]}"
        if fold["status"] != "ok":
            print(f"{head}  FAILED")
            continue
        params = ", ".join(f"{k}={v}" for k, v in fold["params"].items())
        ins, oos = fold["in_sample"], fold["out_of_sample"]
        print(
            f"{head}  {params:<22} IS sharpe {_f(ins.get('sharpe'))}  "
            f"OOS sharpe {_f(oos.get('sharpe'))}  OOS return {_pct(oos.get('total_return'))}"
        )
    oos = summary["out_of_sample"]
    stats = summary["overfitting"]
    print(
        f"stitched out of sample: CAGR {_pct(oos.get('cagr'))}, sharpe {_f(oos.get('sharpe'))}, "
        f"max drawdown {_pct(oos.get('max_drawdown'))}"
    )
    print(f"walk-forward efficiency: {_f(summary['walk_forward_efficiency'])}")
    counts = {s: sum(o.status == s for o in result.outcomes) for s in ("ok", "skipped", "failed")}
    print(
        f"folds: {counts['ok']} run, {counts['skipped']} already done (skipped), "
        f"{counts['failed']} failed"
    )
    print(
        f"overfitting: {stats['n_trials']} trials per fold, mean in-sample DSR "
        f"{_f(stats['mean_in_sample_dsr'])}, mean in-sample PBO {_f(stats['mean_in_sample_pbo'])}, "
        f"out-of-sample PSR {_f(stats['out_of_sample_psr'])}"
    )
    print(f"wrote {result.out}/summary.json and {result.out}/report.ipynb")


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"
