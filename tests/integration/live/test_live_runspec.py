"""The bundle's run spec is what a live run trades with: a bundle promoted with a volume
limit, a lot size and a margin fills the same in a ``workbench live`` replay on the
simulated broker as ``workbench backtest`` with those settings, fill by fill, and
``workbench reconcile`` (which replays the run through the backtest with the same run
spec) finds nothing to explain."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from workbench.bundle import load_bundle
from workbench.cli.main import main

DATA = "synthetic:AAA?freq=1D&session=XNYS&start=2022-01-03&end=2023-12-28&seed=7"
PARAMS = ["--param", "fast=5", "--param", "slow=20"]
#: A tenth of a bar's volume (about 1,000 shares against orders of about 2,000), lots of
#: ten shares, and twice the equity in buying power: each changes the fills.
VENUE = ["--volume-limit", "0.1", "--lot-size", "10", "--margin", "2"]
COSTS = ["--commission", "0.001", "--slippage", "2"]


def _backtest_fills(tmp_path, name: str, venue: list[str]) -> pd.DataFrame:
    out = tmp_path / name
    args = ["backtest", "--strategy", "ma_crossover", "--data", DATA, *PARAMS, *COSTS]
    assert main([*args, *venue, "--out", str(out), "--json"]) == 0
    fills = pd.read_csv(out / "fills.csv")
    return pd.DataFrame({
        "time": pd.to_datetime(fills["time"], utc=True), "side": fills["side"],
        "quantity": fills["quantity"].astype(float), "price": fills["price"].astype(float),
    })  # fmt: skip


def test_a_live_replay_fills_as_the_backtest_with_the_bundles_venue(tmp_path, capsys) -> None:
    promoted = tmp_path / "promoted"
    code = main(["promote", "--strategy", "ma_crossover", "--data", DATA, *PARAMS, *COSTS,
                 *VENUE, "--force", "--reason", "run spec test",
                 "--out", str(promoted)])  # fmt: skip
    assert code == 0
    bundle = load_bundle(next(promoted.glob("*/1")))
    spec = bundle.run_spec
    assert (spec.volume_limit, spec.lot_size, spec.margin) == (0.1, 10.0, 2.0)
    state = tmp_path / "live.sqlite"
    code = main(["live", "--bundle", str(bundle.path), "--broker", "sim",
                 "--feed", "replay:" + DATA, "--state", str(state)])  # fmt: skip
    assert code == 0
    capsys.readouterr()
    assert main(["live", "status", "--state", str(state), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["fills"]
    live = pd.DataFrame({
        "time": pd.to_datetime([r["time"] for r in rows], utc=True),
        "side": [r["side"] for r in rows], "quantity": [float(r["quantity"]) for r in rows],
        "price": [float(r["price"]) for r in rows],
    })  # fmt: skip

    want = _backtest_fills(tmp_path, "bt", VENUE)
    plain = _backtest_fills(tmp_path, "plain", [])
    # the settings matter here: without them the backtest fills otherwise
    assert len(plain) != len(want) or not plain["quantity"].equals(want["quantity"])
    assert (want["quantity"] % 10 == 0).all() and len(want) > len(plain)  # lots; split fills
    assert len(live) == len(want) >= 10
    assert list(live["time"]) == list(want["time"])
    assert list(live["side"]) == list(want["side"])
    assert list(live["quantity"]) == pytest.approx(list(want["quantity"]), rel=1e-12)
    assert list(live["price"]) == pytest.approx(list(want["price"]), rel=1e-12)

    # reconciliation reads the same run spec: its backtest of the live bars is the run
    out = tmp_path / "reconcile"
    capsys.readouterr()  # what the backtests printed
    code = main(["reconcile", "--state", str(state), "--out", str(out), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0, summary
    assert summary["verdict"] == "match" and summary["unexplained"] == 0
    assert summary["venue"] == {"volume_limit": 0.1, "lot_size": 10.0, "margin": 2.0}
    assert summary["fills"]["live"] == summary["fills"]["backtest"] == len(want)
