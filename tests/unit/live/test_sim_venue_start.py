"""How a ``--broker sim`` run starts on its state file: ``--cash`` sets a new venue only (a
resumed one must be given the cash it started with, or none), and a file whose run traded
without a saved venue (written before venues were saved) is refused naming why and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.bundle import Bundle, write_bundle
from workbench.cli.main import main
from workbench.compose import LiveOptions, build_runner
from workbench.live.state import StateStore
from workbench.runspec import RunSpec
from workbench.strategies.ma_crossover import MACrossover

DATA = "synthetic:AAA?freq=1D&session=XNYS&start=2024-01-02&end=2024-06-28&seed=7"
SPEC = RunSpec(symbols=("AAA",), timeframe="1Day", session="all", cash=25_000, commission=0.001)


@pytest.fixture
def bundle(tmp_path) -> Bundle:
    return write_bundle(
        tmp_path / "promoted", MACrossover(fast=2, slow=5), data={"spec": DATA, "symbols": {}},
        gates=[], metrics={}, report="# t\n", run_spec=SPEC,
    )  # fmt: skip


def trade(bundle: Bundle, state: Path, bars: int, cash: float | None = None) -> float:
    """Run ``bars`` bars of the replay on ``state``; the venue's cash at the end."""
    runner, _ = build_runner(
        LiveOptions(bundle=str(bundle.path), feed="replay:" + DATA, state=str(state), cash=cash)
    )
    try:
        runner.run(max_bars=bars)
        return runner.broker.inner.portfolio.cash
    finally:
        runner.state.close()


def contents(state: Path) -> tuple:
    """What the file says: meta (but the heartbeat), orders, fills, equity and the venue."""
    with StateStore.reader(state) as store:
        meta = {k: v for k, v in store.meta().items() if not k.startswith("heartbeat")}
        return (meta, store.order_records(), store.fill_records(), store.equity_points(),
                store.saved_venue())  # fmt: skip


def live(bundle: Bundle, state: Path, *extra: str) -> int:
    return main(["live", "--bundle", str(bundle.path), "--feed", "replay:" + DATA,
                 "--state", str(state), *extra])  # fmt: skip


def test_cash_other_than_the_resumed_venues_is_refused_naming_it_and_the_fix(
    bundle, tmp_path, capsys
) -> None:
    """It was ignored without a word (the saved cash won) while the log said it replaced
    the bundle's capital."""
    state = tmp_path / "live.sqlite"
    cash = trade(bundle, state, 40, cash=30_000)
    with StateStore.reader(state) as store:
        assert store.fill_records() and store.saved_venue() is not None  # a venue that traded
    before = contents(state)
    capsys.readouterr()
    assert live(bundle, state, "--cash", "60000", "--max-bars", "5") == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: --cash 60000: ")
    assert f"resumes a simulated venue started with 30,000.00, holding {cash:,.2f} in cash" in err
    assert "omit --cash to resume this venue, or give a new --state" in err
    assert contents(state) == before  # refused before anything was written
    # the same --cash (the command started again) and none both resume it
    assert trade(bundle, state, 10, cash=30_000) != 30_000.0
    assert live(bundle, state, "--max-bars", "5") == 0


def test_cash_sets_a_new_state_files_venue(bundle, tmp_path) -> None:
    state = tmp_path / "live.sqlite"
    trade(bundle, state, 1, cash=12_345)
    with StateStore.reader(state) as store:
        assert float(store.get_meta("sim_cash")) == 12_345.0
        assert store.saved_venue() is not None


def old_file(bundle: Bundle, path: Path, broker: str = "sim") -> None:
    """A state file of a run that traded before venues were saved: its records, no venue."""
    trade(bundle, path, 40)
    with StateStore(path) as store, store.transaction() as db:
        for table in ("sim_venue", "sim_orders", "sim_fills"):  # added by a later workbench
            db.execute(f"DROP TABLE {table}")
        db.execute("DELETE FROM meta WHERE key = 'sim_cash'")
        db.execute("UPDATE meta SET value = ? WHERE key = 'broker'", (broker,))


def test_a_file_that_predates_saving_the_venue_is_refused_saying_so(
    bundle, tmp_path, capsys
) -> None:
    """It started a flat venue with the bundle's cash against the state's fills, which the
    start-up reconciliation stopped (exit code 6) advising --adopt-positions (a loss)."""
    state = tmp_path / "live.sqlite"
    old_file(bundle, state)
    with StateStore.reader(state) as store:
        orders, fills = len(store.order_records()), len(store.fill_records())
    assert orders and fills
    before = contents(state)
    capsys.readouterr()
    assert live(bundle, state, "--max-bars", "5") == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"{state} predates saving the simulated venue in the state file" in err
    assert f"records {orders} order(s) and {fills} fill(s) but not the venue" in err
    assert "start the run on a new --state file" in err
    assert contents(state) == before
    assert live(bundle, tmp_path / "new.sqlite", "--max-bars", "5") == 0


def test_an_alpaca_runs_file_is_refused_to_a_sim_run(bundle, tmp_path, capsys) -> None:
    state = tmp_path / "live.sqlite"
    old_file(bundle, state, broker="alpaca")
    capsys.readouterr()
    assert live(bundle, state, "--max-bars", "5") == 2
    err = capsys.readouterr().err
    assert "is a --broker alpaca run" in err and "resume it with --broker alpaca" in err


def test_a_file_that_never_traded_starts_a_new_venue(bundle, tmp_path) -> None:
    """No order recorded: the venue it had is a new one, so nothing is refused."""
    state = tmp_path / "live.sqlite"
    with StateStore(state) as store:
        store.set_meta(broker="sim", note="an older run that saw bars only")
    assert trade(bundle, state, 3, cash=20_000) == 20_000.0


def test_a_sim_runs_file_is_refused_to_an_alpaca_run(bundle, tmp_path, capsys) -> None:
    """The other way round: its account is the file's simulated venue, not Alpaca's (the
    start-up reconciliation would have stopped it later, exit code 6, advising adoption)."""
    state = tmp_path / "live.sqlite"
    trade(bundle, state, 40)
    before = contents(state)
    capsys.readouterr()
    url = "http://127.0.0.1:9"  # never reached: refused before any broker is made
    assert live(bundle, state, "--max-bars", "5", "--broker", "alpaca", "--feed", "alpaca",
                "--alpaca-url", url) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "is a --broker sim run" in err and "resume it with --broker sim" in err
    assert contents(state) == before
