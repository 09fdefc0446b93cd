"""``workbench data``: list sources, show bars, check their quality.

::

    workbench data list
    workbench data show sample:SPX --start 2018-01-01 --rows 3
    workbench data check csv:bars.csv --tz America/New_York --json

``check`` exits 1 when the report has errors, 0 otherwise. Load failures are
:class:`~workbench.errors.DataError` and become one ``error:`` line in ``workbench.cli.main``.
pandas is imported inside the handlers so that ``workbench --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

EPILOG = """spec strings:
  sample:SPX | sample:SPX,NASDAQ          bundled daily bars 1999-2018
  csv:PATH[?tz=ZONE&symbol=NAME]          a CSV file (naive timestamps need --tz)
  parquet:PATH                            a Parquet file
  synthetic:NAME?bars=N&freq=1min&seed=S  seeded synthetic bars"""


def register(subparsers: Any) -> None:
    """Add ``data list|show|check`` to the root parser."""
    data = subparsers.add_parser(
        "data",
        help="list, show and check bar data",
        description="Load bars from a spec string, show them and check their quality.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = data.add_subparsers(dest="data_command", metavar="ACTION")
    sub.required = True

    listing = sub.add_parser("list", help="the sources and the bundled sample symbols")
    listing.set_defaults(handler=run_list)

    show = sub.add_parser(
        "show",
        help="first and last bars and a summary",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_load_args(show)
    show.add_argument("--rows", type=int, default=5, metavar="N", help="rows from each end")
    show.set_defaults(handler=run_show)

    check = sub.add_parser(
        "check",
        help="quality report (exit 1 on errors)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_load_args(check)
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument(
        "--calendar",
        default="XNYS",
        help="exchange calendar for daily gaps (default XNYS; 'none' for calendar days)",
    )
    check.add_argument(
        "--stale-run",
        type=int,
        default=5,
        metavar="N",
        help="flag N or more bars with an unchanged close (0: off)",
    )
    check.set_defaults(handler=run_check)


def _add_load_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="source spec, e.g. sample:SPX or csv:data/aapl.csv")
    parser.add_argument("--start", help="first date/time, inclusive (naive = UTC)")
    parser.add_argument("--end", help="last date/time, inclusive (a date means the whole day)")
    parser.add_argument("--tz", help="time zone of naive timestamps in a file, e.g. UTC")


def _load(args: argparse.Namespace) -> dict[str, Any]:
    from workbench.data.sources import load_symbols

    return load_symbols(args.spec, args.start, args.end, tz=args.tz)


def run_list(args: argparse.Namespace) -> int:
    from workbench.data.samples import load_sample, sample_names
    from workbench.data.sources import describe_sources

    print("sources:")
    for source in describe_sources():
        print(f"  {source.scheme + ':':<11} {source.description}")
        print(f"  {'':<11} e.g. {source.example}")
    print("\nsample symbols (sample:NAME):")
    for name in sample_names():
        if name == "SP500":
            from workbench.data.sp500 import DESCRIPTIONS, sp500_symbols

            print(f"  {name:<11} {DESCRIPTIONS[name]}: {', '.join(sp500_symbols())}")
            continue
        bars = load_sample(name)
        first, last = bars.index[0].date(), bars.index[-1].date()
        only = "  (closes only)" if bars.attrs.get("close_only") else ""
        print(f"  {name:<11} {len(bars):>6} daily bars  {first} to {last}{only}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    import pandas as pd

    from workbench.data.bars import bar_interval
    from workbench.data.quality import format_interval
    from workbench.errors import DataError

    rows = max(args.rows, 0)
    with pd.option_context("display.width", 120, "display.max_columns", 12):
        for symbol, bars in _load(args).items():
            try:
                every = format_interval(bar_interval(bars.index))
            except DataError:  # a single bar: no spacing to infer
                every = "?"
            print(
                f"{symbol} ({args.spec}): {len(bars)} bars, {bars.index[0]} to "
                f"{bars.index[-1]}, every {every}"
            )
            print(f"columns: {', '.join(map(str, bars.columns))}")
            if rows and len(bars) > 2 * rows:
                print(bars.head(rows).to_string())
                print("...")
                print(bars.tail(rows).to_string(header=False))
            elif rows:
                print(bars.to_string())
            print()
    return 0


def run_check(args: argparse.Namespace) -> int:
    from workbench.data.quality import validate

    calendar = None if str(args.calendar).lower() in ("none", "") else args.calendar
    reports = {
        symbol: validate(bars, calendar=calendar, stale_run=args.stale_run or None)
        for symbol, bars in _load(args).items()
    }
    if args.json:
        print(json.dumps({s: r.to_dict() for s, r in reports.items()}, indent=2))
    else:
        print("\n".join(str(r) for r in reports.values()))
    return 0 if all(r.ok for r in reports.values()) else 1
