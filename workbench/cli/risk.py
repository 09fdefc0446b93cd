"""``workbench risk``: look at, halt, and re-enable trading through the risk state file.

The running engine reads the same SQLite file on every bar, so ``kill`` halts it at its
next bar (cancel every order and, unless configured otherwise, liquidate), and
``reset --confirm`` re-enables it. ``validate`` checks a risk config file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "risk",
        help="risk state: status, kill switch, reset; validate a risk config",
        description="Show or change the persisted risk state (a SQLite file shared with the "
        "running engine), or check a risk config file.",
    )
    actions = p.add_subparsers(dest="risk_command", metavar="ACTION")
    actions.required = True

    def state_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("--state", required=True, metavar="FILE", help="the risk state SQLite file")
        q.add_argument("--table", default=None, help="table name (default risk_state)")
        q.add_argument("--scope", default=None, help="account or strategy scope (default default)")

    q = actions.add_parser("status", help="show the trading state, peak, day and counters")
    state_args(q)
    q.add_argument("--json", action="store_true", help="print one JSON document")
    q.set_defaults(handler=status)

    q = actions.add_parser(
        "kill", help="halt trading (kill switch): the running engine acts at its next bar"
    )
    state_args(q)
    q.add_argument("--reason", default="kill switch from the command line", help="why")
    q.add_argument(
        "--no-liquidate",
        action="store_true",
        help="halt and cancel orders but keep positions (default: also liquidate)",
    )
    q.set_defaults(handler=kill)

    q = actions.add_parser("reset", help="lift a halt or reduce-only state (needs --confirm)")
    state_args(q)
    q.add_argument("--confirm", action="store_true", help="yes, re-enable trading")
    q.add_argument("--reason", default="reset from the command line", help="why")
    q.add_argument(
        "--config", metavar="FILE", help="risk config: warn if its kill-switch file still exists"
    )
    q.set_defaults(handler=reset)

    q = actions.add_parser("reduce", help="allow only orders that reduce exposure")
    state_args(q)
    q.add_argument("--reason", default="reduce-only from the command line", help="why")
    q.set_defaults(handler=reduce)

    q = actions.add_parser("validate", help="check a risk config file and print its rules")
    q.add_argument("config", metavar="FILE", help="risk config (.yaml, .yml or .toml)")
    q.set_defaults(handler=validate)


def _store(args: argparse.Namespace, *, create: bool):  # -> SQLiteRiskStore
    from workbench.risk.state import DEFAULT_SCOPE, DEFAULT_TABLE, SQLiteRiskStore

    return SQLiteRiskStore(
        args.state,
        table=args.table or DEFAULT_TABLE,
        scope=args.scope or DEFAULT_SCOPE,
        create=create,
    )


def _now():  # -> pd.Timestamp
    import pandas as pd

    return pd.Timestamp.now(tz="UTC")


def status(args: argparse.Namespace) -> int:
    from workbench.errors import ConfigError

    with _store(args, create=False) as store:
        state = store.load()
    if state is None:
        raise ConfigError(
            f"no risk state for scope {args.scope or 'default'} in {args.state}",
            hint="the engine writes it on its first bar; check --scope and --table",
        )
    if args.json:
        print(json.dumps(state.to_dict(), sort_keys=True))
        return 0
    print(f"trading        {state.trading}")
    if state.rule or state.reason:
        print(f"why            {state.rule}: {state.reason}")
    for label, value in (
        ("since", state.since),
        ("until day", state.until_day),  # the run's trading days: its calendar's dates
        ("peak equity", state.peak_equity),
        ("day", state.day),
        ("day start", state.day_start_equity),
        ("last equity", state.last_equity),
        ("orders today", state.orders_today),
    ):
        if value is not None:
            text = f"{value:,.2f}" if isinstance(value, float) else str(value)
            print(f"{label:<14} {text}")
    return 0


def kill(args: argparse.Namespace) -> int:
    from workbench.risk.state import halted

    now = _now()
    existed = Path(args.state).exists()
    with _store(args, create=True) as store:
        before = store.load()
        state = store.update(
            lambda s: halted(
                s,
                rule="kill_switch",
                reason=args.reason,
                time=now,
                flatten=not args.no_liquidate,
            )
        )
    print(f"HALTED ({state.rule}: {state.reason}) since {state.since}")
    act = "cancels every order and liquidates" if state.flatten else "cancels every order"
    print(f"the running engine {act} at its next bar; orders already working until then stay")
    _warn_if_no_run(args, existed=existed, ran=before is not None, what="halted")
    return 0


def reset(args: argparse.Namespace) -> int:
    from workbench.errors import ConfigError
    from workbench.risk.state import TradingState
    from workbench.risk.state import reset as reset_state

    if not args.confirm:
        raise ConfigError(
            "reset re-enables trading and is not done without confirmation",
            hint="check `workbench risk status`, then run again with --confirm",
        )
    with _store(args, create=False) as store:
        before = store.load()
        if before is None or before.trading is TradingState.ACTIVE:
            print("trading is already ACTIVE; nothing to reset")
            return 0
        now = _now()
        store.update(lambda s: reset_state(s, reason=args.reason, time=now))
    print(f"ACTIVE (was {before.trading}: {before.rule}: {before.reason})")
    print("the drawdown peak restarts from the next equity the engine sees")
    if args.config:
        from workbench.risk.config import RiskConfig

        kill_file = RiskConfig.load(args.config).kill_switch_file
        if kill_file and Path(kill_file).exists():
            print(f"warning: the kill-switch file {kill_file} exists: remove it, or trading")
            print("halts again at the next bar")
    return 0


def reduce(args: argparse.Namespace) -> int:
    from workbench.risk.state import reducing

    now = _now()
    existed = Path(args.state).exists()
    with _store(args, create=True) as store:
        before = store.load()
        state = store.update(lambda s: reducing(s, rule="manual", reason=args.reason, time=now))
    print(f"{state.trading} ({state.rule}: {state.reason})")
    _warn_if_no_run(args, existed=existed, ran=before is not None, what="reduce-only")
    return 0


def _warn_if_no_run(args: argparse.Namespace, *, existed: bool, ran: bool, what: str) -> None:
    """Say so when no run has used this state: a mistyped ``--state`` (or ``--scope``) stores
    the halt where no engine reads it, while the bot that was meant goes on trading. The
    state is kept (a run started on it starts so: halting before the first bar is a use),
    but the operator must not take it for the running engine's."""
    scope = args.scope or "default"
    if not existed:
        where = f"{args.state} did not exist: it was created now"
    elif not ran:
        where = f"{args.state} holds no risk state for scope {scope!r} yet"
    else:
        return
    print(
        f"warning: {where}, so no running engine has read it. A run started with "
        f"--state {args.state} (scope {scope!r}) starts {what}; a run trading now reads "
        "another file or scope: check the path its --state names, and run this again there",
        file=sys.stderr,
    )


def validate(args: argparse.Namespace) -> int:
    from workbench.risk.config import RiskConfig

    config = RiskConfig.load(args.config)
    rules = config.to_dict()
    if not rules:
        print(f"{args.config}: valid, but no rule is configured")
        return 0
    print(f"{args.config}: valid; rules: {', '.join(config.enabled)}")
    print(json.dumps(rules, indent=2, sort_keys=False))
    return 0
