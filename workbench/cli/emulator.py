"""``workbench emulator``: an Alpaca-compatible server over replayed bars, until Ctrl-C."""

from __future__ import annotations

import argparse
import os
from typing import Any

FAULT_HELP = (
    "inject a fault (repeatable): KIND[,name=value...], e.g. 429,path=/v2/orders,times=3 | "
    "504,method=POST,path=/v2/orders,ambiguous=true | slow,delay=5,probability=0.1 | "
    "reject,code=40310000,times=1 | partial,qty=10 | drop,stream=data,every=50 | "
    "silent,stream=trading,every=100,pings=false | refuse,stream=data,times=2"
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "emulator",
        help="serve an Alpaca-compatible API (REST + WebSockets) over replayed bars",
        description=(
            "Serve Alpaca's trading REST API, the trading stream and the market-data stream "
            "on 127.0.0.1, filling orders with the simulated broker against a replayed data "
            "spec. Point alpaca-py at it with url_override. Stop with Ctrl-C or SIGTERM."
        ),
    )
    p.add_argument("--port", type=int, default=8765, help="TCP port (default 8765; 0: any free)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--data", default="sample:SPX", help="data spec (default: sample:SPX)")
    p.add_argument("--start", help="first bar loaded (inclusive)")
    p.add_argument("--end", help="last bar loaded (inclusive)")
    p.add_argument(
        "--replay-from", help="start the replay here; earlier bars are history (e.g. 2010-01-04)"
    )
    p.add_argument(
        "--bundle",
        help="a promoted bundle: the venue's cash, costs, volume limit, lot size, margin and "
        "calendar are its run spec's (then not given here), so a session fills as its backtest",
    )
    p.add_argument("--cash", type=float, help="starting cash (default 100000)")
    p.add_argument(
        "--interval",
        type=float,
        help="stream the data's bars by themselves, one bar time every SECONDS (default: step "
        "by hand with POST /_emulator/step?n=1)",
    )
    p.add_argument("--key", help="API key id (default: $APCA_API_KEY_ID or emulator-key)")
    p.add_argument("--secret", help="API secret (default: $APCA_API_SECRET_KEY or emulator-secret)")
    p.add_argument("--commission", help="as for backtest: 0.001 or per_share=..,minimum=..")
    p.add_argument("--slippage", help="as for backtest: 5bps or range=0.1")
    p.add_argument("--volume-limit", type=float, help="largest share of a bar's volume per order")
    p.add_argument("--lot-size", type=float, help="round quantities down to this lot (1: whole)")
    p.add_argument("--margin", type=float, help="buying power multiple (default 1)")
    p.add_argument("--no-short", action="store_true", help="refuse short sales")
    p.add_argument("--rate-limit", type=int, help="refuse with 429 past this many requests/min")
    p.add_argument(
        "--calendar",
        help="exchange calendar of the data: /v2/clock, /v2/calendar, daily bars (default XNYS)",
    )
    p.add_argument("--fault", action="append", default=[], metavar="SPEC", help=FAULT_HELP)
    p.add_argument(
        "--outage",
        metavar="AT,DURATION",
        help="a venue outage on the replay clock: every REST call 503, streams dropped and "
        "refused, from the first bar at or after AT for DURATION (e.g. 2023-11-22T15:00Z,2min; "
        "AT empty: from the start; DURATION empty: until DELETE /_emulator/outage)",
    )
    p.add_argument(
        "--publication-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="publish each bar (stream and REST) SECONDS after the clock says its minute is "
        "over, as Alpaca does a moment after (default 0; POST /_emulator/publication_delay)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import signal
    import threading

    from workbench.emulator import Emulator
    from workbench.logs import configure

    _check_numbers(args)  # in the flags' words, before the data is read
    venue = _venue(args)
    key = args.key or os.environ.get("APCA_API_KEY_ID") or "emulator-key"
    secret = args.secret or os.environ.get("APCA_API_SECRET_KEY") or "emulator-secret"
    emulator = Emulator(
        args.data,
        key=key,
        secret=secret,
        host=args.host,
        port=args.port,
        start=args.start,
        end=args.end,
        replay_from=args.replay_from,
        interval=args.interval,
        faults=args.fault,
        outage=args.outage,
        publication_delay=args.publication_delay,
        allow_short=not args.no_short,
        rate_limit=args.rate_limit,
        **venue,
    )
    configure()
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        emulator.start()
        state = emulator.state()
        print(f"emulator: {emulator.data_spec}, {state['bars']} bar times, key id {key}")
        print(f"REST (url_override):  {emulator.base_url}")
        print(f"trading stream:       {emulator.trading_stream_url}")
        print(f"market-data stream:   {emulator.data_stream_url}")
        pace = f"one bar every {args.interval:g} s" if args.interval else "by hand"
        print(f"replay: {pace}; step with: curl -X POST '{emulator.base_url}/_emulator/step?n=1'")
        print("stop with Ctrl-C", flush=True)
        while not stop.wait(0.2):
            pass
    finally:
        emulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("emulator stopped")
    return 0


#: The venue settings a bundle's run spec gives, with their defaults without one.
VENUE = {"cash": 100_000.0, "commission": None, "slippage": None, "volume_limit": None,
         "lot_size": None, "margin": 1.0, "calendar": "XNYS"}  # fmt: skip


def _check_numbers(args: argparse.Namespace) -> None:
    """Refuse the server's numbers in the flags' words (they were refused in the Python
    names, ``interval must be ...``, ``rate_limit must be ...``, the data read first)."""
    from workbench.cli.flags import check_number

    check_number("--port", args.port, 0, "0 picks a free port", high=65535)
    check_number("--interval", args.interval, None, "e.g. --interval 1 streams a bar a second")
    check_number("--rate-limit", args.rate_limit, 0, "e.g. --rate-limit 200 (Alpaca's)")
    check_number("--publication-delay", args.publication_delay, 0, "e.g. --publication-delay 1.5")


def _venue_numbers() -> tuple:
    """The venue's numbers as the backtest's flags, but a cash of 0 (an account with none,
    as the simulated venue takes it)."""
    from workbench.cli.flags import VENUE_NUMBERS

    cash = ("--cash", "cash", 0, None, "e.g. --cash 100000 (0: an account with no cash)")
    return (cash, *(row for row in VENUE_NUMBERS if row[0] != "--cash"))


def _venue(args: argparse.Namespace) -> dict[str, Any]:
    """The venue's settings: the flags' (refused in their words), or the bundle's run
    spec's (refusing both)."""
    given = {k: getattr(args, k) for k in VENUE if getattr(args, k) is not None}
    if not args.bundle:
        from workbench.cli.flags import check_venue

        check_venue(args, _venue_numbers())
        return VENUE | given
    from workbench.bundle import load_bundle
    from workbench.compose import emulator_venue
    from workbench.errors import ConfigError

    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise ConfigError(
            f"{flags}: the venue's settings come from the bundle's run spec with --bundle",
            hint="drop them, or drop --bundle",
        )
    return emulator_venue(load_bundle(args.bundle).run_spec)
