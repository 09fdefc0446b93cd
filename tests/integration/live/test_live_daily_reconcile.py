"""``workbench live --reconcile-daily``: after each finished trading day (the calendar's
local day: New York's for ``XNYS``, UTC's for ``24/7``) the runner reconciles that day
against the backtest of its bars, writes the report and logs the verdict."""

from __future__ import annotations

import json
import logging

import pytest

from workbench.bundle import write_bundle
from workbench.compose import LiveOptions, build_runner
from workbench.runspec import RunSpec
from workbench.strategy import make_strategy

DATA = "synthetic:SYN?bars=96&freq=1h&seed=3"  # four UTC days of hourly bars
FEED = "replay:" + DATA
SPEC = RunSpec(symbols=("SYN",), timeframe="1Hour", session="all")  # every hour counts


@pytest.mark.parametrize(("calendar", "zone"), [("XNYS", "America/New_York"), ("24/7", "UTC")])
def test_each_finished_day_is_reconciled_and_its_verdict_logged(
    tmp_path, caplog, calendar: str, zone: str
) -> None:
    bundle = write_bundle(
        tmp_path / "promoted", make_strategy("ma_crossover", {"fast": 3, "slow": 8}),
        data={"spec": DATA, "symbols": {"SYN": {}}}, gates=[], metrics={}, report="# test\n",
        run_spec=SPEC.replace(calendar=calendar),
    )  # fmt: skip
    state = tmp_path / "live.sqlite"
    options = LiveOptions(
        bundle=str(bundle.path), feed=FEED, state=str(state), reconcile_daily=True
    )
    runner, _ = build_runner(options)
    with caplog.at_level(logging.INFO, logger="workbench"):
        runner.run()
    assert len(runner.state.fills()) > 0, "the strategy never traded: the check would be empty"
    days = sorted(p.name for p in (tmp_path / "reconcile").iterdir())
    # the days of the bars on the calendar's clock, but the last (unfinished when the feed
    # ends): from 00:00 UTC, New York's begin with the evening of the day before
    dates = runner.state.bars()["SYN"].index.tz_convert(zone).date
    expected = sorted({d.isoformat() for d in dates})[:-1]
    assert days == expected and len(expected) == (4 if zone != "UTC" else 3)
    for day in days:
        summary = json.loads((tmp_path / "reconcile" / day / "summary.json").read_text())
        assert summary["verdict"] == "match"
    verdicts = [r for r in caplog.records if getattr(r, "event", None) == "reconcile"]
    assert len(verdicts) == len(days) and all("match" in r.getMessage() for r in verdicts)
    assert [r.getMessage().split(":")[0] for r in verdicts] == [f"reconciliation {d}" for d in days]


def test_without_the_option_nothing_is_reconciled(tmp_path) -> None:
    bundle = write_bundle(
        tmp_path / "promoted", make_strategy("ma_crossover", {"fast": 3, "slow": 8}),
        data={"spec": DATA, "symbols": {"SYN": {}}}, gates=[], metrics={}, report="# test\n",
        run_spec=SPEC,
    )  # fmt: skip
    runner, _ = build_runner(
        LiveOptions(bundle=str(bundle.path), feed=FEED, state=str(tmp_path / "live.sqlite"))
    )
    runner.run()
    assert not (tmp_path / "reconcile").exists()
