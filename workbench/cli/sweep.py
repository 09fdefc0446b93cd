"""``workbench sweep``: every combination of a parameter grid, vectorized; a table, JSON, files."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="backtest every combination of a parameter grid (vectorized)",
        description=(
            "Backtest every valid combination of a parameter grid with the vectorized path "
            "(same fills, costs and sizing as the event engine) and rank them by a metric. "
            "Combinations that break the strategy's constraints are skipped and counted."
        ),
    )
    p.add_argument("--strategy", required=True, help="built-in name (ma_crossover) or module:Class")
    p.add_argument("--data", default="sample:SPX", help="data spec (default: sample:SPX)")
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        required=True,
        metavar="NAME=VALUES",
        help="swept parameter: START:STOP:STEP (STOP included) or V1,V2,... (repeatable)",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="fixed parameter (repeatable)",
    )
    p.add_argument("--metric", default="sharpe", help="ranking metric (default: sharpe)")
    p.add_argument(
        "--benchmark",
        help="benchmark for excess return, alpha, beta, tracking error, information ratio: "
        "'universe' (equal-weight buy-and-hold of the data) or a spec (sample:SP500_INDEX)",
    )
    p.add_argument("--start", help="first bar (inclusive), e.g. 2007-01-01")
    p.add_argument("--end", help="last bar (inclusive)")
    p.add_argument("--cash", type=float, default=100_000.0, help="starting cash (default 100000)")
    p.add_argument("--commission", default=None, help="fraction of traded notional, e.g. 0.0005")
    p.add_argument("--slippage", default=None, help="basis points, e.g. 2")
    add_search_options(p)
    p.add_argument(
        "--storage",
        help="optuna storage of the study, e.g. sqlite:///study.db: a re-run resumes it",
    )
    p.add_argument("--study", help="study name in --storage (default: strategy-metric-search)")
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="Dask scheduler (e.g. tcp://host:8786): spread the combinations over its workers",
    )
    p.add_argument("--top", type=int, default=10, help="rows in the printed table (default 10)")
    p.add_argument(
        "--out",
        help="folder for results.csv, summary.json, heatmap.png and trial_returns.parquet",
    )
    p.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    p.set_defaults(handler=run)


def add_search_options(p: argparse.ArgumentParser, *, where: str = "") -> None:
    """--search, --trials, --seed: a sampled search instead of the whole grid (optuna)."""
    suffix = f" ({where})" if where else ""
    p.add_argument(
        "--search",
        choices=("grid", "random", "tpe"),
        default="grid",
        help="grid: every combination (default); random or tpe: --trials samples of the "
        f"grid's values with optuna{suffix}",
    )
    p.add_argument("--trials", type=int, help=f"combinations sampled by random|tpe{suffix}")
    p.add_argument("--seed", type=int, help="seed of the random or TPE sampler (reproducible)")


def run(args: argparse.Namespace) -> int:
    from workbench.cli.flags import check_venue
    from workbench.errors import ConfigError
    from workbench.outdir import check_output_folder
    from workbench.params import parse_assignments
    from workbench.research.sweep import parse_grid, sweep, sweep_info, top

    if args.top < 1:
        raise ConfigError(f"--top must be at least 1, got {args.top}")
    check_venue(args)  # a negative --cash was swept (final equity -5)
    if args.out:
        check_output_folder(args.out)  # before the sweep, not after it
    frame = sweep(
        args.strategy,
        args.data,
        parse_grid(args.grid),
        metric=args.metric,
        params=parse_assignments(args.param),
        cash=args.cash,
        commission=args.commission,
        slippage=args.slippage,
        start=args.start,
        end=args.end,
        keep_returns=bool(args.out),
        returns_now=bool(args.out),  # written to trial_returns.parquet below
        progress=False if args.json else None,
        search=args.search,
        n_trials=args.trials,
        seed=args.seed,
        storage=args.storage,
        study_name=args.study,
        scheduler=args.scheduler,
        benchmark=args.benchmark,
    )
    info = sweep_info(frame)
    written = _save(frame, args.out) if args.out else []
    if args.json:
        json.dump(_document(frame, args.data), sys.stdout, indent=None)
        sys.stdout.write("\n")
        return 0
    how = "combinations"
    if args.search != "grid":
        how = f"distinct combinations of {frame.attrs['n_samples']} {args.search} samples"
    print(
        f"{info.strategy} on {args.data}: {info.n_trials} {how}, {info.skipped} skipped "
        f"(constraints), {info.seconds:.2f} s; best by {info.metric}:"
    )
    print(top(frame, args.top).to_string(float_format=lambda v: f"{v:.4g}"))
    if written:
        print(f"wrote {len(written)} files to {args.out}")
    return 0


def _document(frame: Any, data: str) -> dict[str, Any]:
    from workbench.research.sweep import sweep_info

    info = sweep_info(frame)
    rows = [
        {"trial": int(trial), **{k: _number(v) for k, v in row.items()}}
        for trial, row in zip(frame.index, frame.to_dict("records"), strict=True)
    ]
    return {
        "strategy": info.strategy,
        "data": data,
        "metric": info.metric,
        "search": frame.attrs.get("search", "grid"),
        "seed": frame.attrs.get("seed"),
        "n_trials": info.n_trials,
        "n_samples": frame.attrs.get("n_samples", info.n_trials),
        "skipped": info.skipped,
        "grid": {k: [_number(v) for v in vs] for k, vs in info.grid.items()},
        "params": {k: _number(v) for k, v in info.params.items()},
        "seconds": info.seconds,
        "rows": rows,
    }


def _save(frame: Any, out: str) -> list[str]:

    import matplotlib.pyplot as plt

    from workbench.errors import ConfigError
    from workbench.outdir import output_folder
    from workbench.research.heatmap import plot_heatmap
    from workbench.research.sweep import sweep_info, trial_returns

    folder = output_folder(out)
    written = [folder / "results.csv", folder / "summary.json"]
    frame.to_csv(written[0])
    summary = _document(frame, "")
    summary.pop("rows")
    written[1].write_text(json.dumps(summary, indent=2) + "\n")
    returns = trial_returns(frame)
    path = folder / "trial_returns.parquet"
    returns.rename(columns=str).to_parquet(path)
    written.append(path)
    (folder / "heatmap.png").unlink(missing_ok=True)  # an earlier sweep's is not this one's
    if len(sweep_info(frame).grid) >= 2:
        try:
            fig = plot_heatmap(frame)
        except ConfigError:
            fig = None  # fewer than two numeric swept parameters
        if fig is not None:
            fig.savefig(folder / "heatmap.png", dpi=100)
            plt.close(fig)
            written.append(folder / "heatmap.png")
    return [str(p) for p in written]


def _number(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v
