"""Promotion bundles: written read-only, verified, and refused when anything changed."""

from __future__ import annotations

import importlib
import json
import os
import sys

import pytest

from workbench.bundle import BundleError, load_bundle, verify, write_bundle
from workbench.runspec import RunSpec
from workbench.strategy import make_strategy

SOURCE = """
from workbench.strategies.ma_crossover import MACrossover


class MyCross(MACrossover):
    name = "my_cross"
"""


@pytest.fixture
def strategy_module(tmp_path, monkeypatch):
    src = tmp_path / "pkg_bundle_test.py"
    src.write_text(SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("pkg_bundle_test", None)
    importlib.import_module("pkg_bundle_test")
    yield src
    sys.modules.pop("pkg_bundle_test", None)


def write(root, strategy):
    return write_bundle(
        root,
        strategy,
        data={"spec": "sample:SPX", "symbols": {"SPX": {"bars": 5031}}},
        gates=[{"name": "min_trades", "value": 9, "threshold": 5, "passed": True}],
        metrics={"sharpe": 0.5},
        report="# report\n",
        run_spec=RunSpec(symbols=("SPX",), timeframe="1Day", volume_limit=0.1, lot_size=1),
    )


def test_bundle_round_trip_and_versions(tmp_path, strategy_module) -> None:
    strategy = make_strategy("pkg_bundle_test:MyCross", {"fast": 20, "slow": 60})
    first = write(tmp_path, strategy)
    second = write(tmp_path, strategy)
    assert first.path == tmp_path / "my_cross" / "1" and second.path.name == "2"
    loaded = load_bundle(first.path)
    assert loaded.params["fast"] == 20 and loaded.make_strategy().p.slow == 60
    assert not os.access(first.path / "manifest.json", os.W_OK) or os.geteuid() == 0
    assert oct((first.path / "manifest.json").stat().st_mode)[-3:] == "444"
    # the run spec is the manifest's one word on how it trades, typed on the way back
    assert loaded.run_spec == RunSpec(("SPX",), "1Day", volume_limit=0.1, lot_size=1.0)
    assert "risk" not in loaded.manifest and "backtest" not in loaded.manifest


def test_tampering_is_refused_naming_what_differs(tmp_path, strategy_module) -> None:
    bundle = write(tmp_path, make_strategy("pkg_bundle_test:MyCross"))
    manifest = bundle.path / "manifest.json"
    os.chmod(manifest, 0o644)
    doc = json.loads(manifest.read_text())
    doc["strategy"]["params"]["fast"] = 5
    manifest.write_text(json.dumps(doc))
    with pytest.raises(BundleError, match=r"manifest\.json changed since promotion"):
        load_bundle(bundle.path)


def test_a_changed_strategy_source_is_refused(tmp_path, strategy_module) -> None:
    bundle = write(tmp_path, make_strategy("pkg_bundle_test:MyCross"))
    assert verify(bundle) == []
    strategy_module.write_text(SOURCE + "\n# edited after promotion\n")
    problems = verify(bundle)
    assert problems == [
        "the installed source of pkg_bundle_test:MyCross differs from the promoted one"
    ]
    copy = bundle.path / "strategy.py"
    os.chmod(copy, 0o644)
    copy.write_text("tampered")
    assert "strategy.py in the bundle differs from the promoted source" in verify(bundle)


def test_not_a_bundle(tmp_path) -> None:
    with pytest.raises(BundleError, match="is not a bundle"):
        load_bundle(tmp_path)
