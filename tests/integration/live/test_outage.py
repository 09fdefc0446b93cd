"""Two minutes of venue outage mid-session: the runner stays up, degraded, and trades on.

``workbench live`` (a subprocess, alpaca-py inside) trades a minute-bar moving-average
crossover against the emulator. Right after the runner has sent an order (on bar 73,
or 93), the emulator goes down for two minutes of its replay clock: every REST call
answers 503, both streams are dropped and refused. Meanwhile the order fills at the
venue (the next bar's open), that bar and the one after are published to nobody, and
the third while the streams are still reconnecting. After bar 73 the backtest decides
nothing for 19 bars, so the run must end exactly as the backtest; after bar 93 it
decides a sell on bar 94, which the runner only gets once the outage is over: that
decision must be the backtest's, its order sent once and filled later. The test checks

- ``live status --json`` says ``degraded`` during the outage, ``running`` after it;
- ``outage_started`` and ``outage_ended`` arrive at a local apprise receiver, once each;
- the fill made during the outage is recorded once, from the reconciliation (the
  order is never sent again): every client order id reached the venue once;
- the missed bars are recovered (REST catch-up) and decided, in order: every bar of
  the session is in the state, and every decision (bar, side, quantity) equals the
  backtest's; without a decision in the outage every fill price and the final equity
  too, with one the fills before it;
- the runner exits 0 at the end of the session.

Time is the replay's: the outage ends with the bar two minutes after it began, so it
takes a few seconds of wall time (the probes back off from 0.05 s, capped at 0.5 s).

An outage longer than ``--max-outage`` stops ``workbench live`` with exit code 5 and one
line naming the limit, the state saying ``failed``.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pandas as pd
import pytest
from test_notify import Receiver

from workbench import backtest
from workbench.bundle import write_bundle
from workbench.cli.main import main
from workbench.data.sources import load_symbols
from workbench.emulator import Emulator
from workbench.emulator.testing import wait_until
from workbench.live.chaos import finished_bars
from workbench.live.state import StateStore
from workbench.live.status import read_status
from workbench.runspec import RunSpec
from workbench.strategies.ma_crossover import MACrossover

pytestmark = pytest.mark.slow  # about 20 s: a runner process and a 100-bar session
KEY, SECRET = "PKOUTAGEKEY000000001", "outage-secret-0123456789"
CASH = 100_000.0
SPEC = "synthetic:AAA?freq=1min&session=XNYS&start=2023-11-22&end=2023-11-22&seed=5"
PARAMS = {"fast": 3, "slow": 8, "fraction": 0.95}
BARS = 100
OUTAGE = "2min"  # of replay time: the two bars after ``before`` fall in it


def _status(state: Path) -> dict:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["live", "status", "--state", str(state), "--json"]) == 0
    return json.loads(out.getvalue())


def _streams_up(emu: Emulator, proc: subprocess.Popen) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"the runner exited {proc.returncode}: {proc.stderr.read()!r}")
    c = emu.state()["connections"]
    return c["trading_ready"] >= 1 and c["data_ready"] >= 1


@pytest.mark.parametrize(
    "before",
    [73, 93],  # the order decided on this bar fills at the next bar's open, in the outage
    ids=["no-decision-missed", "a-decision-on-a-recovered-bar"],
)
def test_two_minutes_of_outage_lose_nothing_send_nothing_twice_and_trading_resumes(
    tmp_path: Path, before: int
) -> None:
    frames = {"AAA": load_symbols(SPEC)["AAA"].iloc[:BARS]}
    bars = frames["AAA"]
    reference = backtest(MACrossover, frames, PARAMS, cash=CASH, timeframe="1Min")
    decided = [bars.index.get_loc(t) for t in reference.orders["created_at"]]
    hidden = [i for i in decided if before < i <= before + 3]  # decided late, live
    assert before in decided and hidden == ([] if before == 73 else [before + 1])
    bundle = write_bundle(
        tmp_path / "promoted", MACrossover(**PARAMS),
        data={"spec": SPEC, "symbols": {"AAA": {}}}, gates=[], metrics={}, report="# outage\n",
        run_spec=RunSpec(symbols=("AAA",), timeframe="1Min", cash=CASH),
    )  # fmt: skip
    state = tmp_path / "live.sqlite"
    log_file = tmp_path / "live.jsonl"
    receiver = Receiver()
    with Emulator(frames, key=KEY, secret=SECRET, cash=CASH) as emu:
        cmd = [
            sys.executable, "-m", "workbench.cli.main", "live", "--bundle", str(bundle.path),
            "--broker", "alpaca", "--feed", "alpaca", "--alpaca-url", emu.base_url,
            "--state", str(state), "--log-file", str(log_file),
            "--max-bars", str(BARS), "--notify", receiver.url, "--retry-delay", "0.05",
            "--outage-backoff-cap", "0.5", "--stream-grace", "0.2", "--max-outage", "120",
        ]  # fmt: skip
        env = {**os.environ, "APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET,
               "MPLBACKEND": "Agg"}  # fmt: skip
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_until(lambda: _streams_up(emu, proc), 60, "the runner's streams")

            def play(last: int) -> None:  # publish bars until the runner finished ``last``
                for i in range(emu.state()["cursor"], last + 1):
                    emu.step()
                    wait_until(lambda i=i: finished_bars(state) > i, 30, f"bar {i}")

            play(before)
            last_sent = emu.state()["orders"][-1]
            assert last_sent["status"] == "new"  # at the venue, not filled yet
            emu.outage(OUTAGE)
            wait_until(lambda: read_status(state)["status"] == "degraded", 30, "degraded")
            shown = _status(state)  # what `live status --json` says
            assert shown["status"] == "degraded" and shown["degraded_since"] is not None
            emu.step(2)  # two bars: the order fills at the first's open; nobody hears of it
            venue = emu.state()
            assert venue["outage"]["active"] and venue["orders"][-1]["status"] == "filled"
            assert read_status(state)["status"] == "degraded"
            emu.step()  # two minutes on: the venue is back (the streams are not yet)
            assert emu.state()["outage"] is None
            wait_until(lambda: read_status(state)["status"] == "running", 30, "running again")
            assert _status(state)["degraded_since"] is None
            wait_until(lambda: _streams_up(emu, proc), 60, "the streams to reconnect")
            play(BARS - 1)  # the next bar shows the gap: the three missed are fetched first
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
            receiver.close()
        venue = emu.state()
    assert proc.returncode == 0, err.decode()[-3000:]

    store = StateStore(state)
    try:
        # every bar of the session, the missed ones recovered, each decided once
        seen = store.bars()["AAA"]
        assert list(seen.index) == list(bars.index)
        assert store.pending_decisions() == []
        # the decisions of the backtest, on the same bars (a recovered one's included)
        orders, fills, want = store.orders(), store.fills(), reference.fills
        times = pd.to_datetime(orders["decision_ns"].astype("int64"), utc=True)
        assert list(times) == list(pd.to_datetime(reference.orders["created_at"], utc=True))
        assert list(orders["side"]) == list(reference.orders["side"])
        assert list(fills["side"]) == list(want["side"])
        assert list(fills["quantity"]) == pytest.approx(list(want["quantity"]), rel=1e-6)
        if not hidden:  # and its fills, the one filled in the outage included, to the cent
            assert list(fills["price"]) == pytest.approx(list(want["price"]), rel=1e-12)
            equity = float(venue["account"]["equity"])
            assert equity == pytest.approx(reference.final_equity, rel=1e-6)
        else:  # the recovered bar's order went out once the runner had it: filled later
            late = pd.Timestamp(fills["time"].iloc[-1])
            assert late == bars.index[before + 5] > want["time"].iloc[-1]
            assert list(fills["price"])[:-1] == pytest.approx(list(want["price"])[:-1], 1e-12)
        # nothing sent twice: one venue order per client order id, each submitted once
        cids = [o["client_order_id"] for o in venue["orders"]]
        assert len(cids) == len(set(cids)) == len(reference.orders) == venue["fills"]
        lines = [json.loads(line) for line in log_file.read_text().splitlines()]
        submitted = [r["client_order_id"] for r in lines if r.get("event") == "order_submitted"]
        assert sorted(submitted) == sorted(cids)
        missed = store.events("missed_fill")  # learned by the reconciliation, not the stream
        assert len(missed) == 1
        assert json.loads(missed["detail"][0])["order_id"] == last_sent["id"]
        assert len(store.events("outage_started")) == len(store.events("outage_ended")) == 1
        assert store.events("holdings_mismatch").empty
        assert store.get_meta("status") == "stopped"
        assert store.open_orders() == []  # a late "new" update did not reopen the filled sell
    finally:
        store.close()
    # two notifications about the outage, once each, and the run's own start and stop
    titles = receiver.titles()
    assert titles.count("outage started") == titles.count("outage ended") == 1
    assert titles.index("outage started") < titles.index("outage ended")
    assert "service unavailable" in receiver.posts[titles.index("outage started")]["message"]
    assert receiver.url not in log_file.read_text()


def test_an_outage_longer_than_max_outage_stops_with_exit_code_5(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("APCA_API_KEY_ID", KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    frames = {"AAA": load_symbols(SPEC)["AAA"].iloc[:20]}
    bundle = write_bundle(
        tmp_path / "promoted", MACrossover(**PARAMS),
        data={"spec": SPEC, "symbols": {"AAA": {}}}, gates=[], metrics={}, report="# outage\n",
        run_spec=RunSpec(symbols=("AAA",), timeframe="1Min", cash=CASH),
    )  # fmt: skip
    state = tmp_path / "live.sqlite"
    with Emulator(frames, key=KEY, secret=SECRET, cash=CASH, outage=",") as emu:
        assert emu.state()["outage"]["active"] is False  # scheduled: from the first bar
        emu.step()  # down from here on, for good
        code = main(["live", "--bundle", str(bundle.path), "--broker", "alpaca", "--feed",
                     "alpaca", "--alpaca-url", emu.base_url, "--state", str(state),
                     "--retry-delay", "0.05", "--outage-backoff-cap", "0.2",
                     "--max-outage", "1"])  # fmt: skip
    assert code == 5
    err = capsys.readouterr().err
    assert re.search(r"the venue has not answered for \d+ s", err) and "--max-outage" in err
    assert "Traceback" not in err
    store = StateStore(state)
    try:
        assert store.get_meta("status") == "failed"
        assert list(store.events()["kind"]) == ["outage_started", "outage_too_long"]
    finally:
        store.close()
