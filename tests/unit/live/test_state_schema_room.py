"""Only the state store knows the SQLite schema: no SQL and no sqlite3 anywhere else.

``live status``, the dashboard, reconciliation and the chaos harness read a run through
:meth:`StateStore.reader`; the risk engine's table belongs to its own store.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

import workbench
from workbench.live.state import StateStore

ROOT = Path(workbench.__file__).parent
#: The modules that own tables in the state file: the run's (the package
#: ``workbench.live.state``: its schema, file, records and store modules), and the risk
#: engine's; and the one that names SQLite's error codes (a full disk, a lock: no table,
#: no query).
RUN_STORE = ROOT / "live" / "state"
STORES = {*RUN_STORE.glob("*.py"), ROOT / "risk" / "state.py", ROOT / "storefaults.py"}
SQL = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE\s+FROM|CREATE\s+TABLE|PRAGMA|sqlite_master)\b"
    r"|\bsqlite3\b|\bread_sql"
)


#: Tokens that are code or text (f-string parts are their own tokens from Python 3.12).
CODE = {tokenize.STRING, tokenize.NAME, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}


def _offences(path: Path) -> list[str]:
    """Lines of ``path`` whose code or strings use SQL or sqlite3 (comments ignored)."""
    found = []
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    for tok in tokens:
        if tok.type in CODE and SQL.search(tok.string):
            found.append(f"{path.name}:{tok.start[0]}: {tok.string[:60]}")
    return found


def test_no_sql_outside_the_state_stores() -> None:
    assert {p.name for p in RUN_STORE.glob("*.py")} == {
        "__init__.py",
        "file.py",
        "records.py",
        "schema.py",
        "store.py",
    }, "a new module in the state store: is it the store's?"
    modules = [p for p in ROOT.rglob("*.py") if p not in STORES]
    assert len(modules) > 100
    offences = [f"{p.parent.name}/{line}" for p in modules for line in _offences(p)]
    assert offences == [], "SQL outside the state store:\n" + "\n".join(offences)


def test_the_check_sees_sql(tmp_path: Path) -> None:
    """The scan above would catch a query, an f-string query and an import of sqlite3."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import sqlite3\n"
        "q = 'SELECT value FROM meta'\n"
        "t = f'SELECT * FROM {name}'\n"
        "# a comment about SELECT is fine\n"
        "doc = 'the dashboard never writes'\n"
    )
    found = _offences(sample)
    assert [line.split(":")[1] for line in found] == ["1", "2", "3"]


def test_reader_never_creates_a_file_or_a_table(tmp_path: Path) -> None:
    from workbench.errors import ConfigError

    missing = tmp_path / "none.sqlite"
    with pytest.raises(ConfigError, match="no state file"):
        StateStore.reader(missing)
    assert not missing.exists()
    other = tmp_path / "other.sqlite"
    other.write_bytes(b"")
    with pytest.raises(ConfigError, match="not a workbench state file"):
        StateStore.reader(other)
    assert other.stat().st_size == 0


def test_reader_reads_what_the_writer_wrote(tmp_path: Path) -> None:
    path = tmp_path / "live.sqlite"
    writer = StateStore(path)
    writer.set_meta(status="running", strategy="x")
    writer.record_equity(1, 100.0, 100.0, {"SPY": 0.0})
    writer.record_equity(2, 50.0, 101.0, {"SPY": 1.0})
    writer.record_event("halt", {"why": "test"}, "SPY")
    with StateStore.reader(path) as reader:
        assert reader.meta() == {"status": "running", "strategy": "x"}
        last = reader.equity_points(last=True)
        assert [(p.time_ns, p.cash, p.positions) for p in last] == [(2, 50.0, {"SPY": 1.0})]
        assert len(reader.equity_points()) == 2
        [event] = reader.recent_events(5)
        assert (event.kind, event.symbol) == ("halt", "SPY")
        assert reader.plans() == [] and reader.open_orders() == []
    writer.close()
