"""``workbench dashboard``: a small web page over a live run's state file."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dashboard",
        help="serve a read-only web dashboard over a live run's state file",
        description="Status, risk, positions, P&L, orders, fills and logs of a live run; "
        "pages refresh by themselves, /api/status has the same data as JSON. Binds "
        "127.0.0.1 by default; any other address needs a token (WORKBENCH_DASHBOARD_TOKEN "
        "or --token-file).",
    )
    p.add_argument("--state", default="live.sqlite", help="the run's SQLite state file")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8050, help="port (default 8050; 0: any free)")
    p.add_argument("--token-file", help="file holding the access token (else the env variable)")
    p.add_argument("--allow-kill", action="store_true", help="show a kill switch (needs the token)")
    p.add_argument("--reports", help="reconciliation reports folder (default: reconcile/ beside)")
    p.add_argument(
        "--behind-proxy",
        action="store_true",
        help="trust one reverse proxy's X-Forwarded-For/-Proto (TLS ends at the proxy; "
        "see the README)",
    )
    p.set_defaults(handler=run)


def read_token(token_file: str | None) -> str | None:
    """The token from ``--token-file`` or ``WORKBENCH_DASHBOARD_TOKEN`` (never the command line,
    where other users could read it)."""
    from workbench.dashboard.security import TOKEN_ENV
    from workbench.errors import ConfigError

    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read --token-file {token_file}: {exc.strerror}") from None
        if not token:
            raise ConfigError(f"--token-file {token_file} is empty")
        return token
    return os.environ.get(TOKEN_ENV) or None


def run(args: argparse.Namespace) -> int:
    from workbench.dashboard import create_app
    from workbench.dashboard.app import run_server
    from workbench.logs import configure

    token = read_token(args.token_file)
    app = create_app(  # refuses a public address without a token, a missing state file
        args.state,
        token=token,
        allow_kill=args.allow_kill,
        reports_dir=args.reports,
        host=args.host,
        behind_proxy=args.behind_proxy,
    )
    configure()
    guarded = " (token required)" if token else ""

    def announce(url: str) -> None:  # once bound: the port the system chose for --port 0
        print(f"dashboard for {args.state} on {url}{guarded}", flush=True)

    run_server(app, args.host, args.port, announce=announce)
    return 0
