"""``workbench backtest``: one event-driven run, printed as a table, JSON, or files."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backtest",
        help="run a strategy through the event-driven backtester",
        description="Run a strategy bar by bar over a data spec and report trades and metrics.",
    )
    p.add_argument("--strategy", required=True, help="built-in name (ma_crossover) or module:Class")
    p.add_argument("--data", default="sample:SPX", help="data spec (default: sample:SPX)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="strategy parameter (repeatable)",
    )
    p.add_argument("--start", help="first bar (inclusive), e.g. 2007-01-01")
    p.add_argument("--end", help="last bar (inclusive)")
    p.add_argument("--cash", type=float, default=100_000.0, help="starting cash (default 100000)")
    p.add_argument(
        "--commission",
        default=None,
        help="fraction of notional (0.001) or per_share=..,percent=..,minimum=..",
    )
    p.add_argument(
        "--slippage",
        default=None,
        help="basis points (5 or 5bps) or range=FRACTION of the bar's range",
    )
    p.add_argument(
        "--volume-limit",
        type=float,
        default=None,
        help="largest share of a bar's volume one order may take",
    )
    p.add_argument("--lot-size", type=float, help="round quantities down to this lot (1: whole)")
    p.add_argument(
        "--margin", type=float, default=1.0, help="buying power multiple (default 1: no leverage)"
    )
    p.add_argument(
        "--risk",
        metavar="FILE",
        help="risk config (YAML or TOML, see examples/risk.yaml) applied between strategy and "
        "execution; its decisions are listed (risk_events in --json)",
    )
    p.add_argument(
        "--timeframe",
        help="resample the data on the exchange's sessions first: 1Min, 5Min, 15Min, 1Hour or "
        "1Day (a daily bar is one session, closes included; see README 'Time')",
    )
    p.add_argument(
        "--session",
        choices=("regular", "all"),
        default="regular",
        help="with --timeframe: only regular-session bars count (default), or all bars",
    )
    p.add_argument("--calendar", default="XNYS", help="exchange calendar (default XNYS)")
    p.add_argument(
        "--benchmark",
        help="benchmark for excess return, alpha, beta, tracking error, information ratio: "
        "'universe' (equal-weight buy-and-hold of the data) or a spec (sample:SP500_INDEX)",
    )
    p.add_argument(
        "--out", help="folder for trades.csv, orders.csv, equity.csv, metrics.json and plots"
    )
    p.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from workbench.backtesting.api import backtest
    from workbench.cli.flags import check_venue
    from workbench.outdir import check_output_folder
    from workbench.params import parse_assignments

    check_venue(args)  # in the flags' words, before anything is read or made
    if args.out:
        check_output_folder(args.out)  # before the run, not after it
    result = backtest(
        args.strategy,
        args.data,
        parse_assignments(args.param),
        cash=args.cash,
        commission=args.commission,
        slippage=args.slippage,
        start=args.start,
        end=args.end,
        volume_limit=args.volume_limit,
        lot_size=args.lot_size,
        margin=args.margin,
        progress=False if args.json else None,
        risk=args.risk,
        timeframe=args.timeframe,
        session=args.session,
        calendar=args.calendar,
        benchmark=args.benchmark,
    )
    if args.out:
        paths = result.save(args.out)
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=None)
        sys.stdout.write("\n")
        return 0
    print(result.summary())
    if args.out:
        print(f"wrote {len(paths)} files to {args.out}")
    return 0
