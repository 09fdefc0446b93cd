"""The dashboard's only write: the kill switch, which halts the runner through the risk engine.

The halt is written to the risk engine's state in the run's SQLite file (the same
atomic update ``workbench risk kill`` makes), so it survives restarts and only a
person lifts it; the engine reads it at the next bar, cancels every order and, when
its config says so, liquidates. The event is also recorded in the run's events table.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from workbench.live.state import StateStore

log = logging.getLogger(__name__)


def halt(state_path: str | Path, *, reason: str, source: str = "dashboard") -> str:
    """Halt the run behind ``state_path``; returns the trading state now stored."""
    from workbench.risk.state import SQLiteRiskStore, halted

    now = pd.Timestamp.now(tz="UTC")
    with SQLiteRiskStore(state_path, create=False) as store:
        state = store.update(
            lambda s: halted(s, rule="kill_switch", reason=reason, time=now, flatten=True)
        )
    store_ = StateStore(state_path)
    try:
        store_.set_meta(kill_requested=now.isoformat())
        store_.record_event("kill_switch", {"source": source, "reason": reason})
    finally:
        store_.close()
    log.warning(
        "kill switch: %s",
        reason,
        extra={"event": "kill_switch", "reason": reason, "action": source},
    )
    return str(state.trading)
