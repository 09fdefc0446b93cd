"""Start-up reconciliation through the real alpaca-py against the emulator: a position or an
open order placed by another client stops ``workbench live`` (exit code 6) before any
order; ``workbench reconcile --broker alpaca`` reports the same; ``--adopt-positions``
(on the command line too) takes them over and a restart does not stop again; a trade by
another client during the run halts it before the next day's decision (its fills never
recorded as the runner's)."""

from __future__ import annotations

import threading

import pytest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest

from workbench.cli.main import main
from workbench.compose import LiveOptions, build_runner
from workbench.emulator.testing import wait_until
from workbench.errors import ReconciliationError
from workbench.live.chaos import (
    KEY,
    SECRET,
    chaos_bars,
    chaos_emulator,
    finished_bars,
    write_chaos_bundle,
)
from workbench.live.session import drive

BARS = 12


@pytest.fixture
def emu(monkeypatch):
    monkeypatch.setenv("APCA_API_KEY_ID", KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    with chaos_emulator(chaos_bars(60)) as emulator:
        yield emulator


def other_client(emu) -> TradingClient:
    """Someone else on the same account (the web UI, another bot)."""
    return TradingClient(KEY, SECRET, url_override=emu.base_url)


def live_args(bundle, emu, state, *extra: str) -> list[str]:
    return ["live", "--bundle", str(bundle.path), "--broker", "alpaca", "--feed", "alpaca",
            "--alpaca-url", emu.base_url, "--state", str(state), *extra]  # fmt: skip


def test_a_position_from_another_client_stops_live_and_reconcile_reports_it(
    emu, tmp_path, capsys
) -> None:
    other_client(emu).submit_order(
        MarketOrderRequest(symbol="SPX", qty=5, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    emu.step(1)  # fills at this bar's open
    assert [p["qty"] for p in emu.state()["positions"]] == ["5"]
    bundle, state = write_chaos_bundle(tmp_path), tmp_path / "live.sqlite"
    assert main(live_args(bundle, emu, state, "--max-bars", "3")) == 6
    err = capsys.readouterr().err
    assert "position SPX: broker 5, state 0" in err and "--adopt-positions" in err
    assert len(emu.state()["orders"]) == 1  # the other client's: the runner sent nothing
    code = main(["reconcile", "--broker", "alpaca", "--alpaca-url", emu.base_url,
                 "--state", str(state)])  # fmt: skip
    assert code == 6
    out = capsys.readouterr().out
    assert "position SPX: broker 5, state 0" in out and "fix: take them over" in out
    # then take it over from the command line, for one bar (stepped once the runner listens)
    wait_until(lambda: emu.state()["connections"]["data"] == 0, 30, "the stopped run's stream")

    def step_when_listening() -> None:
        wait_until(lambda: emu.state()["connections"]["data_ready"] >= 1, 30, "the stream")
        emu.step(1)

    stepper = threading.Thread(target=step_when_listening, daemon=True)
    stepper.start()
    assert main(live_args(bundle, emu, state, "--adopt-positions", "--max-bars", "1")) == 0
    stepper.join(30)
    assert "adopted position SPX: broker 5, state 0" in capsys.readouterr().err
    assert main(["reconcile", "--broker", "alpaca", "--alpaca-url", emu.base_url,
                 "--state", str(state)]) == 0  # fmt: skip
    assert "all explained by" in capsys.readouterr().out
    missing = ["reconcile", "--broker", "alpaca", "--state", str(tmp_path / "none.sqlite")]
    assert main(missing) == 2 and "no state file" in capsys.readouterr().err


def test_an_open_order_from_another_client_stops_live(emu, tmp_path, capsys) -> None:
    order = other_client(emu).submit_order(
        LimitOrderRequest(symbol="SPX", qty=2, side=OrderSide.BUY, limit_price=1.0,
                          time_in_force=TimeInForce.GTC, client_order_id="by-hand-1")
    )  # fmt: skip
    bundle, state = write_chaos_bundle(tmp_path), tmp_path / "live.sqlite"
    assert main(live_args(bundle, emu, state, "--max-bars", "3")) == 6
    err = capsys.readouterr().err
    assert f"open order SPX +2: order id {order.id}, client order id by-hand-1" in err
    assert len(emu.state()["orders"]) == 1


def test_adopt_positions_then_a_restart_runs_clean(emu, tmp_path, capsys) -> None:
    client = other_client(emu)
    client.submit_order(
        MarketOrderRequest(symbol="SPX", qty=5, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    emu.step(1)
    resting = client.submit_order(
        LimitOrderRequest(symbol="SPX", qty=2, side=OrderSide.BUY, limit_price=1.0,
                          time_in_force=TimeInForce.GTC, client_order_id="by-hand-2")
    )  # fmt: skip
    bundle, state = write_chaos_bundle(tmp_path), tmp_path / "live.sqlite"
    options = LiveOptions(bundle=str(bundle.path), broker="alpaca", feed="alpaca",
                          state=str(state), alpaca_url=emu.base_url)  # fmt: skip
    runner, _ = build_runner(LiveOptions(**{**options.__dict__, "adopt_positions": True}))
    assert drive(runner, emu, state, BARS).bars == BARS
    store = runner.state
    adopted = store.adoptions()
    assert list(adopted["kind"]) == ["order", "position"]
    assert list(adopted["order_id"].iloc[:1]) == [str(resting.id)]
    assert adopted["quantity"].tolist() == [2.0, 5.0]
    assert len(store.orders()) > 2  # it traded, the adopted position included
    store.close()
    runner, _ = build_runner(options)  # a restart, without the flag
    assert drive(runner, emu, state, 3).bars == 3
    assert runner.state.events("holdings_mismatch").empty
    assert len(runner.state.adoptions()) == 2
    runner.state.close()
    code = main(["reconcile", "--broker", "alpaca", "--alpaca-url", emu.base_url,
                 "--state", str(state), "--json"])  # fmt: skip
    assert code == 0
    assert '"clean": true' in capsys.readouterr().out


def test_a_trade_by_another_client_during_the_run_halts_it_before_the_next_decision(
    emu, tmp_path
) -> None:
    bundle, state = write_chaos_bundle(tmp_path), tmp_path / "live.sqlite"
    runner, _ = build_runner(LiveOptions(bundle=str(bundle.path), broker="alpaca", feed="alpaca",
                                         state=str(state), alpaca_url=emu.base_url))  # fmt: skip
    failure: list[BaseException] = []

    def run() -> None:
        try:
            runner.run(max_bars=BARS)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    wait_until(lambda: emu.state()["connections"]["data_ready"] >= 1, 30, "the runner's streams")
    for i in range(8):
        emu.step(1)
        wait_until(lambda i=i: finished_bars(state) > i, 30, f"bar {i + 1}")
    ours = len(emu.state()["orders"])
    other_client(emu).submit_order(
        MarketOrderRequest(symbol="SPX", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    emu.step(1)  # the other client's order fills at this bar's open; its day is a new one
    thread.join(30)
    assert not thread.is_alive()
    assert len(failure) == 1 and isinstance(failure[0], ReconciliationError)
    assert "position SPX: broker" in str(failure[0])
    assert len(emu.state()["orders"]) == ours + 1  # nothing sent after the other trade
    store = runner.state
    assert store.decided_through() < store.last_bar_ns()  # the new day's bar never decided
    assert store.fills()["client_order_id"].str.startswith("wb-").all()  # only its own
    store.close()
