"""``workbench risk``: status, kill, reset (only with --confirm), reduce, validate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.cli.main import main
from workbench.risk import SQLiteRiskStore, TradingState

ROOT = Path(__file__).resolve().parents[3]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_kill_status_reset_cycle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = str(tmp_path / "risk.sqlite")
    code, out, _ = run(capsys, "risk", "kill", "--state", state, "--reason", "news")
    assert code == 0 and out.startswith("HALTED (kill_switch: news) since ")
    assert "the running engine cancels every order and liquidates at its next bar" in out

    code, out, _ = run(capsys, "risk", "status", "--state", state)
    assert code == 0
    assert "trading        HALTED" in out and "why            kill_switch: news" in out

    code, out, err = run(capsys, "risk", "reset", "--state", state)
    assert code == 2
    assert err.strip() == (
        "error: reset re-enables trading and is not done without confirmation "
        "(check `workbench risk status`, then run again with --confirm)"
    )
    assert SQLiteRiskStore(state).load().trading is TradingState.HALTED

    code, out, _ = run(capsys, "risk", "reset", "--state", state, "--confirm", "--reason", "ok")
    assert code == 0 and out.startswith("ACTIVE (was HALTED: kill_switch: news)")
    code, out, _ = run(capsys, "risk", "status", "--state", state, "--json")
    doc = json.loads(out)
    assert (doc["trading"], doc["rule"], doc["reason"]) == ("ACTIVE", "reset", "ok")

    code, out, _ = run(capsys, "risk", "reset", "--state", state, "--confirm")
    assert code == 0 and "already ACTIVE" in out


def test_kill_without_liquidation_and_reduce(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(tmp_path / "risk.sqlite")
    assert run(capsys, "risk", "reduce", "--state", state, "--table", "rs", "--scope", "a")[0] == 0
    stored = SQLiteRiskStore(state, table="rs", scope="a").load()
    assert (stored.trading, stored.rule) == (TradingState.REDUCING, "manual")
    assert (
        run(
            capsys,
            "risk",
            "kill",
            "--state",
            state,
            "--table",
            "rs",
            "--scope",
            "b",
            "--no-liquidate",
        )[0]
        == 0
    )
    stored = SQLiteRiskStore(state, table="rs", scope="b").load()
    assert (stored.trading, stored.flatten) == (TradingState.HALTED, False)


def test_reset_warns_about_a_kill_file_still_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(tmp_path / "risk.sqlite")
    flag = tmp_path / "KILL"
    flag.touch()
    config = tmp_path / "risk.toml"
    config.write_text(f'kill_switch_file = "{flag}"\n')
    run(capsys, "risk", "kill", "--state", state)
    code, out, _ = run(
        capsys, "risk", "reset", "--state", state, "--confirm", "--config", str(config)
    )
    assert code == 0 and f"warning: the kill-switch file {flag} exists" in out


def test_status_of_a_missing_state_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "risk", "status", "--state", str(tmp_path / "none.sqlite"))
    assert code == 2 and err.startswith("error: no risk state file at ")
    assert not (tmp_path / "none.sqlite").exists()


def test_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "risk", "validate", str(ROOT / "examples" / "risk.yaml"))
    assert code == 0 and "valid; rules: position_sizing, max_drawdown, daily_loss_limit" in out
    bad = tmp_path / "risk.yaml"
    bad.write_text("max_drawdown: 0.2\nmax_drawdon: 0.1\n")
    code, _, err = run(capsys, "risk", "validate", str(bad))
    assert code == 2
    assert err.startswith(f"error: {bad}: unknown key max_drawdon (known keys: position_sizing,")


def test_a_halt_stored_where_no_run_has_written_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped --state (or --scope) halts no running engine: the halt is stored (a run
    started on that file starts halted) but the operator is told, on stderr, that no engine
    has read it; once a state is there (the engine's, or an earlier halt's), nothing more."""
    typo = tmp_path / "live.sqlit"
    code, out, err = run(capsys, "risk", "kill", "--state", str(typo))
    assert code == 0 and out.startswith("HALTED (kill_switch: ")
    assert err.startswith(f"warning: {typo} did not exist: it was created now, so no running")
    assert "check the path its --state names" in err
    assert SQLiteRiskStore(str(typo)).load().trading is TradingState.HALTED

    code, _, err = run(capsys, "risk", "kill", "--state", str(typo))  # a state is there now
    assert code == 0 and err == ""
    code, _, err = run(capsys, "risk", "kill", "--state", str(typo), "--scope", "acct2")
    assert code == 0
    assert err.startswith(f"warning: {typo} holds no risk state for scope 'acct2' yet")

    fresh = tmp_path / "other.sqlite"
    code, out, err = run(capsys, "risk", "reduce", "--state", str(fresh))
    assert code == 0 and out.startswith("REDUCING (manual: ")
    assert err.startswith(f"warning: {fresh} did not exist") and "starts reduce-only" in err
