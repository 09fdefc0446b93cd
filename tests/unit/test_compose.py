"""The composition root wires each part from the run spec, and from nothing else."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from tests.unit.execution.test_protect import DayBracket, frame
from workbench.bundle import write_bundle
from workbench.compose import LiveOptions, build_runner, run_backtest
from workbench.execution.config import ConflictPolicy
from workbench.runspec import RunSpec
from workbench.sim.broker import SimulatedBroker
from workbench.strategies.ma_crossover import MACrossover

DATA = "synthetic:AAA?freq=1D&session=XNYS&start=2024-01-02&end=2024-03-28&seed=7"
SPEC = RunSpec(
    symbols=("AAA",), timeframe="1Day", session="all", cash=25_000, commission=0.001,
    slippage=3, volume_limit=0.2, lot_size=5, margin=2, risk={"max_drawdown": 0.3},
    execution={"conflict": "wait", "max_failures": 3},
)  # fmt: skip


def test_a_live_replay_is_wired_from_the_bundles_run_spec(tmp_path) -> None:
    bundle = write_bundle(
        tmp_path / "promoted", MACrossover(fast=2, slow=5), data={"spec": DATA, "symbols": {}},
        gates=[], metrics={}, report="# t\n", run_spec=SPEC,
    )  # fmt: skip
    runner, _ = build_runner(
        LiveOptions(bundle=str(bundle.path), feed="replay:" + DATA, state=str(tmp_path / "s.db"))
    )
    try:
        venue = runner.broker.inner
        assert isinstance(venue, SimulatedBroker)
        assert (venue.portfolio.cash, venue.commission, venue.slippage) == (
            25_000.0, SPEC.commission, SPEC.slippage,
        )  # fmt: skip
        assert (venue.volume_limit, venue.lot_size, venue.margin) == (0.2, 5.0, 2.0)
        config = runner.execution.config
        assert (config.conflict, config.max_failures, config.lot_size) == (
            ConflictPolicy.WAIT, 3, 5.0,
        )  # fmt: skip
        assert runner.risk is not None and runner.risk.config == SPEC.risk
        assert runner.state.get_meta("timeframe") == "1Day"
    finally:
        runner.state.close()


def test_a_backtest_is_built_from_the_same_spec() -> None:
    from workbench.data.sources import load_symbols

    bars = load_symbols(DATA)
    result = run_backtest(MACrossover(fast=2, slow=5), bars, SPEC)
    assert result.equity.iloc[0] <= 25_000.0
    # lots of five shares; no order larger than a fifth of its bar's volume
    fills = result.fills
    assert len(fills) > 0 and (fills["quantity"] % 5 == 0).all()
    volume = bars["AAA"]["volume"].reindex(pd.DatetimeIndex(fills["time"]))
    assert (fills["quantity"].to_numpy() <= 0.2 * volume.to_numpy() + 1e-9).all()


@pytest.mark.parametrize(
    ("protect", "want"),
    [
        (True, [("buy", 4.0, 100.0), ("sell", 4.0, 90.0)]),  # the stop sells the four shares
        (False, [("buy", 4.0, 100.0)]),  # the four shares left without their stop
    ],
)
def test_the_protection_of_partial_fills_is_the_specs_in_backtest_and_live(
    tmp_path, protect, want
) -> None:
    """A day bracket for 10 fills 4 (half of a bar's 8 shares) and expires with its legs;
    whether a protective exit follows is the bundle's choice, the same in both runs."""
    bars = frame()
    bars.index = pd.bdate_range("2024-01-02", periods=len(bars), tz="UTC")  # session days
    (tmp_path / "data").mkdir()
    bars.rename_axis("time").to_csv(tmp_path / "data" / "X.csv")
    policy = {"conflict": "cancel_replace", "max_failures": 1, "protect_partial_fills": protect}
    spec = RunSpec(
        symbols=("X",), timeframe="1Day", session="all", volume_limit=0.5, execution=policy
    )
    bundle = write_bundle(
        tmp_path / "promoted", DayBracket(), data={"spec": "csv", "symbols": {}}, gates=[],
        metrics={}, report="# t\n", run_spec=spec,
    )  # fmt: skip
    assert bundle.manifest["run_spec"]["execution"]["protect_partial_fills"] is protect
    runner, _ = build_runner(
        LiveOptions(bundle=str(bundle.path), feed=f"replay:csv:{tmp_path / 'data'}",
                    state=str(tmp_path / "s.db"))
    )  # fmt: skip
    try:
        assert runner.execution.config.protect_partial_fills is protect
        runner.run()
        live = runner.state.fills()
    finally:
        runner.state.close()
    tested = run_backtest(DayBracket(), {"X": bars}, spec).fills

    def rows(fills: pd.DataFrame) -> list[tuple[str, float, float, pd.Timestamp]]:
        times = pd.to_datetime(fills["time"], utc=True)
        return list(zip(fills["side"].astype(str), fills["quantity"].astype(float),
                        fills["price"].astype(float), times, strict=True))  # fmt: skip

    assert [r[:3] for r in rows(tested)] == want
    assert rows(live) == rows(tested)


def test_an_emulator_session_has_the_bundles_venue(tmp_path, capsys) -> None:
    from workbench.cli.main import main
    from workbench.compose import emulator_venue
    from workbench.data.sources import load_symbols
    from workbench.emulator import Emulator

    emulator = Emulator(load_symbols(DATA), **emulator_venue(SPEC))
    config = emulator.config
    assert (config.cash, config.volume_limit, config.lot_size, config.margin) == (
        25_000.0, 0.2, 5.0, 2.0,
    )  # fmt: skip
    assert (config.commission, config.slippage) == (SPEC.commission, SPEC.slippage)
    # `workbench emulator --bundle` takes them from the run spec, and only from there
    bundle = write_bundle(
        tmp_path / "promoted", MACrossover(fast=2, slow=5), data={"spec": DATA, "symbols": {}},
        gates=[], metrics={}, report="# t\n", run_spec=SPEC,
    )  # fmt: skip
    code = main(["emulator", "--bundle", str(bundle.path), "--margin", "4", "--port", "0"])
    err = capsys.readouterr().err
    assert code == 2 and "--margin: the venue's settings come from the bundle's run spec" in err


def test_a_flag_or_replay_that_departs_from_the_bundle_says_so(tmp_path, caplog) -> None:
    bundle = write_bundle(
        tmp_path / "promoted", MACrossover(fast=2, slow=5), data={"spec": DATA, "symbols": {}},
        gates=[], metrics={}, report="# t\n", run_spec=SPEC,
    )  # fmt: skip
    other = DATA.replace("synthetic:AAA", "synthetic:BBB")
    with caplog.at_level(logging.WARNING, logger="workbench.compose"):
        runner, _ = build_runner(
            LiveOptions(bundle=str(bundle.path), feed="replay:" + other, cash=5_000,
                        state=str(tmp_path / "s.db"))
        )  # fmt: skip
    runner.state.close()
    assert runner.broker.inner.portfolio.cash == 5_000.0  # an override, but not a silent one
    assert "--cash 5000 replaces the bundle's capital 25000" in caplog.text
    assert "the replay trades BBB; the bundle was promoted on AAA" in caplog.text
