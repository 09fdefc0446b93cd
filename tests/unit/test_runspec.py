import json

import pytest

from workbench.errors import ConfigError
from workbench.execution.config import ConflictPolicy
from workbench.risk.config import RiskConfig
from workbench.runspec import ExecutionPolicy, RunSpec
from workbench.sim.costs import Commission, Slippage


def full_spec() -> RunSpec:
    return RunSpec(
        symbols=["SPY", "QQQ"],
        timeframe="1Day",
        session="regular",
        calendar="XNYS",
        cash=50_000,
        commission="per_share=0.005,minimum=1",
        slippage="5bps",
        volume_limit=0.1,
        lot_size=1,
        margin=2,
        risk={"max_drawdown": 0.2, "kill_switch_file": "/tmp/kill"},
        execution={"conflict": "wait", "max_failures": 3},
    )


def test_plain_values_become_typed():
    spec = full_spec()
    assert spec.symbols == ("SPY", "QQQ")
    assert spec.timeframe.name == "1Day"
    assert spec.commission == Commission(per_share=0.005, minimum=1.0)
    assert spec.slippage == Slippage(bps=5.0)
    assert spec.risk == RiskConfig(max_drawdown=0.2, kill_switch_file="/tmp/kill")
    assert spec.execution == ExecutionPolicy(ConflictPolicy.WAIT, 3)
    assert spec.cash == 50_000.0 and spec.lot_size == 1.0 and spec.margin == 2.0
    with pytest.raises(AttributeError):
        spec.cash = 1  # type: ignore[misc]


def test_round_trip_through_json():
    spec = full_spec()
    again = RunSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    cfg = again.execution.config(lot_size=again.lot_size)
    assert cfg.conflict is ConflictPolicy.WAIT and cfg.max_failures == 3 and cfg.lot_size == 1.0


def test_missing_field_is_named():
    data = full_spec().to_dict()
    del data["lot_size"]
    with pytest.raises(ConfigError, match="missing lot_size") as err:
        RunSpec.from_dict(data, source="bundle b/1 run_spec")
    assert "bundle b/1 run_spec" in str(err.value) and "promote" in str(err.value)


def test_a_part_missing_a_field_is_named_too():
    data = full_spec().to_dict()
    del data["commission"]["minimum"]
    del data["execution"]["max_failures"]
    with pytest.raises(ConfigError, match=r"missing commission\.minimum, execution\.max_failures"):
        RunSpec.from_dict(data)


def test_unknown_key_is_named():
    data = full_spec().to_dict() | {"bar_interval": "1min"}
    with pytest.raises(ConfigError, match=r"unknown field.*bar_interval"):
        RunSpec.from_dict(data)
    data = full_spec().to_dict()
    data["execution"]["retries"] = 3
    with pytest.raises(ConfigError, match=r"execution\.retries"):
        RunSpec.from_dict(data)


def test_a_spec_from_before_protect_partial_fills_reads_as_on():
    """Bundles promoted before the option was recorded have no such field: they load, with
    the protection on (the default), while any other missing field is still refused."""
    data = full_spec().to_dict()
    assert data["execution"]["protect_partial_fills"] is True  # promotion writes it
    del data["execution"]["protect_partial_fills"]
    spec = RunSpec.from_dict(json.loads(json.dumps(data)))
    assert spec == full_spec() and spec.execution.protect_partial_fills is True
    assert spec.execution.config(lot_size=None).protect_partial_fills is True
    del data["execution"]["max_failures"]
    with pytest.raises(ConfigError, match=r"missing execution\.max_failures") as err:
        RunSpec.from_dict(data)
    assert "protect_partial_fills" not in err.value.message


def test_a_spec_can_turn_the_protection_off():
    spec = full_spec().replace(
        execution={"conflict": "wait", "max_failures": 3, "protect_partial_fills": False}
    )
    data = json.loads(json.dumps(spec.to_dict()))
    assert data["execution"]["protect_partial_fills"] is False
    again = RunSpec.from_dict(data)
    assert again == spec and again != full_spec()
    assert again.execution.config(lot_size=1.0).protect_partial_fills is False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"timeframe": "2Hour"}, "2Hour"),
        ({"session": "extended"}, "session"),
        ({"cash": -5}, "cash"),
        ({"lot_size": 0}, "lot_size"),
        ({"volume_limit": 1.5}, "volume_limit"),
        ({"margin": float("nan")}, "margin"),
        ({"symbols": "SPY"}, "symbols"),
        ({"risk": {"max_drawdown": 2}}, "max_drawdown"),
        ({"execution": {"conflict": "yolo", "max_failures": 1}}, "conflict"),
        (
            {"execution": {"conflict": "wait", "max_failures": 1, "protect_partial_fills": "no"}},
            "protect_partial_fills",
        ),
        ({"commission": "bogus=1"}, "ommission"),
    ],
)
def test_bad_values_name_the_field(change, message):
    data = full_spec().to_dict() | change
    with pytest.raises(ConfigError, match=message):
        RunSpec.from_dict(data)


def test_replace_checks_again():
    spec = full_spec().replace(timeframe="1h", lot_size=None)
    assert spec.timeframe.name == "1Hour" and spec.lot_size is None
    with pytest.raises(ConfigError):
        spec.replace(cash=0)
