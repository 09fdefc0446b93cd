"""``workbench live`` runs a bundle on the simulated broker; ``live status`` reads its state."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from workbench import backtest, load_bars
from workbench.bundle import write_bundle
from workbench.cli.main import main
from workbench.live.state import StateStore
from workbench.runspec import RunSpec
from workbench.strategy import make_strategy


@pytest.fixture
def bundle(tmp_path):
    strategy = make_strategy("ma_crossover", {"fast": 10, "slow": 30})
    return write_bundle(
        tmp_path / "promoted",
        strategy,
        data={"spec": "sample:SPX", "symbols": {"SPX": {"bars": 5031}}},
        gates=[],
        metrics={},
        report="# test bundle\n",
        run_spec=RunSpec(
            symbols=("SPX",),
            timeframe="1Day",
            session="all",
            cash=50_000.0,
            commission={"percent": 0.001},
            slippage={"bps": 1.0},
        ),
    )


def test_live_run_then_status(bundle, tmp_path, capsys) -> None:
    state = tmp_path / "live.sqlite"
    args = ["--broker", "sim", "--feed", "replay:sample:SPX", "--max-bars", "600"]
    code = main(["live", "--bundle", str(bundle.path), "--state", str(state), *args])
    assert code == 0
    assert "600 bars" in capsys.readouterr().out
    assert main(["live", "status", "--state", str(state), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["status"] == "stopped" and status["stopped_by"] == "max bars"
    assert status["strategy"] == "ma_crossover"
    expected = backtest(
        "ma_crossover", load_bars("sample:SPX").iloc[:600], {"fast": 10, "slow": 30},
        cash=50_000, commission=0.001, slippage=1.0,
    )  # fmt: skip
    assert status["equity"] == pytest.approx(expected.final_equity, rel=1e-12)
    assert status["fill_count"] == len(status["fills"]) == len(expected.fills)
    for live, ours in zip(status["fills"], expected.fills.to_dict("records"), strict=True):
        assert pd.Timestamp(live["time"]) == ours["time"]
        assert (live["symbol"], live["side"]) == (ours["symbol"], ours["side"])
        assert live["quantity"] == pytest.approx(ours["quantity"], rel=1e-12)
        assert live["price"] == pytest.approx(ours["price"], rel=1e-12)
        assert live["client_order_id"]  # deterministic ids, one per order
    assert main(["live", "status", "--state", str(state)]) == 0
    text = capsys.readouterr().out
    assert f"fill_count           {len(expected.fills)}" in text
    assert status["fills"][-1]["client_order_id"] in text  # the latest fills, readable
    assert status["error"] is None and "error                -" in text  # not "None"
    assert "None" not in text


def test_live_refuses_a_tampered_bundle(bundle, tmp_path, capsys) -> None:
    (bundle.path / "manifest.sha256").chmod(0o644)
    (bundle.path / "manifest.sha256").write_text("0" * 64)
    code = main(["live", "--bundle", str(bundle.path), "--state", str(tmp_path / "s.sqlite")])
    assert code == 2
    err = capsys.readouterr().err
    assert "does not verify" in err and "manifest.json changed" in err


def test_status_without_a_state_file(tmp_path, capsys) -> None:
    assert main(["live", "status", "--state", str(tmp_path / "none.sqlite")]) == 2
    assert "no state file" in capsys.readouterr().err


MINUTES = "replay:synthetic:SPX?freq=1min&session=XNYS&start=2024-01-02&end=2024-02-29&seed=7"


def promote_other(root, strategy: str, params: dict, timeframe: str):
    return write_bundle(
        root, make_strategy(strategy, params),
        data={"spec": "sample:SPX", "symbols": {"SPX": {"bars": 5031}}}, gates=[], metrics={},
        report="# test bundle\n",
        run_spec=RunSpec(symbols=("SPX",), timeframe=timeframe, session="all", cash=50_000.0),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("strategy", "params", "timeframe", "what"),
    [
        ("equal_weight", {}, "1Day", "strategy 'equal_weight' on 1Day bars"),
        ("ma_crossover", {"fast": 10, "slow": 30}, "1Hour", "strategy 'ma_crossover' on 1Hour"),
    ],
    ids=["another-strategy", "another-timeframe"],
)
def test_live_refuses_a_state_file_another_bundle_wrote_and_keeps_it(
    bundle, tmp_path, capsys, strategy, params, timeframe, what
) -> None:
    state = tmp_path / "live.sqlite"
    feed = ["--feed", MINUTES]  # that either bundle trades
    first = ["live", "--bundle", str(bundle.path), "--state", str(state), *feed, "--max-bars", "20"]
    assert main(first) == 0
    capsys.readouterr()
    with StateStore.reader(state) as store:
        meta, bars = store.meta(), store.bar_times()
    other = promote_other(tmp_path / "other", strategy, params, timeframe)
    code = main(["live", "--bundle", str(other.path), "--state", str(state), *feed])
    assert code == 2  # was taken: the meta rewritten to the other bundle, its bars added
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert err == [
        f"error: {state} is a run of bundle {bundle.path} (strategy 'ma_crossover', 1Day "
        f"bars); --bundle {other.path} is {what}{' bars' if timeframe == '1Hour' else ''} "
        f"(give this bundle a new --state file, or resume that run with --bundle {bundle.path})"
    ]
    with StateStore.reader(state) as store:
        assert store.bar_times() == bars
        kept = store.meta()
    assert {k: kept.get(k) for k in ("bundle", "strategy", "timeframe")} == {
        "bundle": str(bundle.path), "strategy": "ma_crossover", "timeframe": "1Day"
    }  # fmt: skip
    assert kept == meta
    assert main([*first[:-1], "5"]) == 0  # the run it belongs to resumes on it (flat so far:
    assert "5 bars" in capsys.readouterr().out  # the simulated broker starts flat again)


def test_a_newer_version_of_the_strategy_takes_the_run_over_and_says_so(
    bundle, tmp_path, capsys
) -> None:
    state, log_file = tmp_path / "live.sqlite", tmp_path / "live.jsonl"
    feed = ["--feed", MINUTES]
    assert main(["live", "--bundle", str(bundle.path), "--state", str(state), *feed,
                 "--max-bars", "20"]) == 0  # fmt: skip
    newer = promote_other(
        bundle.path.parent.parent, "ma_crossover", {"fast": 5, "slow": 20}, "1Day"
    )
    assert newer.manifest["version"] == bundle.manifest["version"] + 1
    assert main(["live", "--bundle", str(newer.path), "--state", str(state), *feed,
                 "--max-bars", "5", "--log-file", str(log_file)]) == 0  # fmt: skip
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    [changed] = [x for x in lines if x.get("event") == "bundle_changed"]
    assert changed["level"] == "warning"
    assert f"traded bundle {bundle.path}; bundle {newer.path}" in changed["msg"]
    with StateStore.reader(state) as store:
        assert store.meta()["bundle"] == str(newer.path)


@pytest.mark.parametrize(
    ("feed", "code", "message"),
    [
        ("replay:csv:{tmp}/missing.csv", 3, "error: {tmp}/missing.csv: file not found"),
        ("replay:csv:{tmp}/bad.csv", 3, "error: BAD (csv:{tmp}/bad.csv): 1 bar(s) with a price "
         "at or below zero, the first at 2020-01-03 00:00:00+00:00: open -5"),
        ("replay:csv:{tmp}/ohlc.csv", 3, "error: OHLC (csv:{tmp}/ohlc.csv): 1 bar(s) with open, "
         "high, low and close that disagree, the first at 2020-01-03 00:00:00+00:00: open 1 "
         "high 2 low 0.5 close 2.5: close above high (correct or remove those rows"),
        ("replay:csv:{tmp}/daily.csv", 2, "error: the replayed data"),  # coarser than 1Hour
        ("bogus", 2, "error: --feed 'bogus' is not known"),
    ],
    ids=["missing", "bad-price", "bad-ohlc", "too-coarse", "unknown-feed"],
)  # fmt: skip
def test_bad_replay_data_is_refused_before_the_state_file_is_made(
    tmp_path, capsys, feed: str, code: int, message: str
) -> None:
    rows = "date,open,high,low,close,volume\n2020-01-02,1,2,0.5,1.5,10\n"
    (tmp_path / "bad.csv").write_text(rows + "2020-01-03,-5,2,-6,-5,10\n")
    (tmp_path / "ohlc.csv").write_text(rows + "2020-01-03,1,2,0.5,2.5,10\n")
    (tmp_path / "daily.csv").write_text(rows + "2020-01-03,1,2,0.5,1.5,10\n")
    hourly = promote_other(tmp_path / "b", "ma_crossover", {"fast": 10, "slow": 30}, "1Hour")
    state = tmp_path / "live.sqlite"
    argv = ["live", "--bundle", str(hourly.path), "--state", str(state)]
    assert main([*argv, "--feed", feed.format(tmp=tmp_path)]) == code
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(err) == 1 and err[0].startswith(message.format(tmp=tmp_path)), err
    assert not state.exists()  # an empty state file was left behind


def test_a_replay_reads_its_data_once(bundle, tmp_path, capsys, monkeypatch) -> None:
    import workbench.data.sources as sources

    reads: list[str] = []
    load = sources.load_symbols
    monkeypatch.setattr(
        sources, "load_symbols", lambda spec, *a: reads.append(spec) or load(spec, *a)
    )
    state = tmp_path / "live.sqlite"
    argv = ["live", "--bundle", str(bundle.path), "--state", str(state), "--max-bars", "3"]
    assert main([*argv, "--feed", "replay:sample:SPX"]) == 0
    assert reads == ["sample:SPX"] and "3 bars" in capsys.readouterr().out
