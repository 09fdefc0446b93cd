"""The risk state in a real SQLite file: persistence, restarts, atomic updates, bad files."""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from workbench.errors import ConfigError, DataError
from workbench.intents import OrderIntent, TargetIntent
from workbench.orders import OrderRequest, Side
from workbench.risk import RiskConfig, RiskEngine, RiskState, SQLiteRiskStore, TradingState
from workbench.risk.state import halted

T0 = pd.Timestamp("2024-03-04 15:00", tz="UTC")


def test_state_round_trips_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "live.sqlite"
    state = RiskState(
        trading=TradingState.REDUCING,
        rule="daily_loss_limit",
        reason="loss 6.0% of start-of-day equity 10,000.00 > limit 5.0%",
        since=T0.isoformat(),
        until_day="2024-03-05",
        peak_equity=12_345.5,
        day="2024-03-04",
        day_start_equity=10_000.0,
        last_equity=9_400.0,
        orders_today=3,
    )
    with SQLiteRiskStore(path, table="risk", scope="acct-1") as store:
        assert store.load() is None
        assert store.update(lambda _: state) == state
    with SQLiteRiskStore(path, table="risk", scope="acct-1") as store:
        assert store.load() == state
    with SQLiteRiskStore(path, table="risk", scope="acct-2") as other:
        assert other.load() is None  # scopes are separate rows
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT scope FROM risk").fetchall() == [("acct-1",)]
    db.close()


def test_a_halt_survives_a_restart_and_only_a_reset_lifts_it(
    tmp_path: Path, account: Callable, market: Callable
) -> None:
    path = tmp_path / "live.sqlite"
    config = RiskConfig(max_drawdown=0.10)
    engine = RiskEngine(config, SQLiteRiskStore(path))
    engine.on_bar(T0, account(10_000.0))
    engine.on_bar(T0 + pd.Timedelta(hours=1), account(8_900.0, {"X": (10.0, 100.0)}))
    assert engine.trading is TradingState.HALTED
    engine.store.close()

    # the process dies before the liquidation filled; a new one starts on the same file
    t2 = T0 + pd.Timedelta(hours=2)
    reborn = RiskEngine(config, SQLiteRiskStore(path))
    assert reborn.trading is TradingState.HALTED
    assert reborn.state.peak_equity == 10_000.0
    acct = account(8_900.0, {"X": (10.0, 100.0)})
    intent = OrderIntent(OrderRequest("X", Side.BUY, quantity=1.0), t2)
    out = reborn.check([intent], t2, acct, market({"X": 100.0}))
    assert out == [TargetIntent("X", t2, quantity=0.0, reason="risk=max_drawdown")]

    # a person resets it from another process
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench.cli.main",
            "risk",
            "reset",
            "--confirm",
            "--state",
            str(path),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "ACTIVE (was HALTED: max_drawdown: equity 8,900.00 is 11.0% below" in done.stdout
    t3 = T0 + pd.Timedelta(hours=3)
    assert reborn.on_bar(t3, account(8_900.0)) == []
    assert reborn.trading is TradingState.ACTIVE
    assert reborn.state.peak_equity == 8_900.0
    assert [str(e.action) for e in reborn.events][-1] == "reset"
    intent = OrderIntent(OrderRequest("X", Side.BUY, quantity=1.0), t3)
    assert reborn.check([intent], t3, account(8_900.0), market({"X": 100.0})) == [intent]


def test_a_kill_from_another_process_halts_the_running_engine(
    tmp_path: Path, account: Callable
) -> None:
    path = tmp_path / "live.sqlite"
    engine = RiskEngine(RiskConfig(), SQLiteRiskStore(path))
    acct = account(5_000.0, {"X": (50.0, 100.0)})
    assert engine.on_bar(T0, acct) == []
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench.cli.main",
            "risk",
            "kill",
            "--state",
            str(path),
            "--reason",
            "fat finger",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    later = T0 + pd.Timedelta(minutes=1)
    assert engine.on_bar(later, acct) == [
        TargetIntent("X", later, quantity=0.0, reason="risk=kill_switch")
    ]
    kinds = [(str(e.action), e.rule, e.reason) for e in engine.events]
    assert kinds[0] == ("kill_switch", "kill_switch", "fat finger")
    assert engine.state.peak_equity == 5_000.0  # the engine's numbers were kept


def test_updates_from_two_writers_are_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    engine_side = SQLiteRiskStore(path)
    person_side = SQLiteRiskStore(path)
    engine_side.update(lambda s: dataclasses.replace(s, peak_equity=100.0))
    person_side.update(
        lambda s: halted(s, rule="kill_switch", reason="stop", time=T0, flatten=True)
    )
    engine_side.update(lambda s: dataclasses.replace(s, peak_equity=120.0))
    final = person_side.load()
    assert final is not None
    assert (final.trading, final.peak_equity) == (TradingState.HALTED, 120.0)


def test_a_failed_update_leaves_the_state_alone(tmp_path: Path) -> None:
    store = SQLiteRiskStore(tmp_path / "s.sqlite")
    store.update(lambda s: dataclasses.replace(s, orders_today=2))

    def broken(state: RiskState) -> RiskState:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.update(broken)
    assert store.load().orders_today == 2


BAD = [
    ("not json", "{nope", DataError, "is not JSON"),
    ("not an object", "[1, 2]", DataError, "is not a JSON object"),
    ("unknown field", '{"trading": "ACTIVE", "future": 1}', DataError, "unknown field(s) future"),
    ("unknown state", '{"trading": "PAUSED"}', DataError, "risk state is malformed"),
]


@pytest.mark.parametrize(
    ("text", "error", "fragment"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_malformed_state_is_a_clear_error(
    tmp_path: Path, text: str, error: type, fragment: str
) -> None:
    path = tmp_path / "s.sqlite"
    SQLiteRiskStore(path).close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO risk_state VALUES ('default', ?, 'now')", (text,))
    db.commit()
    db.close()
    with pytest.raises(error, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        SQLiteRiskStore(path).load()


def test_bad_store_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a plain SQL identifier"):
        SQLiteRiskStore(tmp_path / "s.sqlite", table="risk; DROP TABLE x")
    with pytest.raises(ConfigError, match="no risk state file at"):
        SQLiteRiskStore(tmp_path / "missing.sqlite", create=False)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DataError, match="cannot open risk state"):
        SQLiteRiskStore(junk)


def test_marked_equals_replace_field_by_field() -> None:
    """The per-bar update is built directly: it must stay what dataclasses.replace gives."""
    import dataclasses

    from workbench.risk.state import RiskState, TradingState

    s = RiskState(
        trading=TradingState.REDUCING, reason="r", rule="daily_loss_limit", since="t",
        until_day="2024-01-02", flatten=True, peak_equity=1.0, day="2024-01-01",
        day_start_equity=2.0, last_equity=3.0, orders_today=4,
    )  # fmt: skip
    assert dataclasses.fields(RiskState)  # every field set above is not a default
    assert s.marked(5.0, 6.0) == dataclasses.replace(s, peak_equity=5.0, last_equity=6.0)
    assert {f.name for f in dataclasses.fields(RiskState)} == set(s.to_dict())


def test_counted_equals_replace() -> None:
    import dataclasses

    from workbench.risk.state import RiskState

    s = RiskState(peak_equity=1.0, day="2024-01-01", last_equity=2.0, orders_today=4)
    assert s.counted(3) == dataclasses.replace(s, orders_today=7)


def test_stored_states_of_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path) -> None:
    """``live status`` and the dashboard read the risk table: a foreign file is named."""
    from workbench.errors import WorkbenchError
    from workbench.risk.state import stored_states

    path = tmp_path / "live.sqlite"
    path.write_bytes(b"this is not a database file at all, just some text" * 100)
    with pytest.raises(WorkbenchError, match="cannot be read as SQLite"):
        stored_states(path)
