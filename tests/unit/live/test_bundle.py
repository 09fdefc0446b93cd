"""Promotion bundles: written read-only, verified, and refused when anything changed."""

from __future__ import annotations

import importlib
import json
import logging
import os
import platform
import sys

import pandas as pd
import pytest

import workbench.bundle as bundle_module
from workbench.bundle import (
    Bundle,
    BundleError,
    drift,
    load_bundle,
    sha256_bytes,
    verify,
    write_bundle,
)
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
    env = loaded.manifest["environment"]  # what reproducing its backtest needs
    assert env["python"] == platform.python_version()
    assert env["packages"]["pandas"] == pd.__version__


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


def _rewrite_manifest(bundle, change) -> None:
    """Edit a bundle's manifest as a hand would, and its hash too (a consistent forgery)."""
    manifest = bundle.path / "manifest.json"
    os.chmod(manifest, 0o644)
    os.chmod(bundle.path / "manifest.sha256", 0o644)
    doc = json.loads(manifest.read_text())
    change(doc)
    text = json.dumps(doc).encode()
    manifest.write_bytes(text)
    (bundle.path / "manifest.sha256").write_text(sha256_bytes(text) + "\n")


def test_every_file_is_hashed_and_an_added_one_is_named(tmp_path, strategy_module) -> None:
    bundle = write(tmp_path, make_strategy("pkg_bundle_test:MyCross"))
    assert set(bundle.manifest["files"]) == {"strategy.py", "report.md"}
    report = bundle.path / "report.md"
    os.chmod(report, 0o644)
    report.write_text("# every gate passed\n")
    (bundle.path / "params.json").write_text('{"fast": 5}')
    (bundle.path / ".DS_Store").write_bytes(b"\0")  # a file manager's: hidden, not counted
    with pytest.raises(BundleError) as info:
        load_bundle(bundle.path)
    assert "report.md changed since promotion" in info.value.message
    assert "params.json was added after promotion" in info.value.message
    assert ".DS_Store" not in info.value.message
    assert "promote the strategy again" in info.value.hint


@pytest.mark.parametrize(
    "change",
    [
        lambda doc: doc.update(strategy="pkg_bundle_test:MyCross"),
        lambda doc: doc["strategy"].pop("params"),
        lambda doc: doc["strategy"].update(import_path=None),
    ],
    ids=["a-name", "no-params", "no-import-path"],
)
def test_a_manifest_without_its_strategy_is_named_not_a_traceback(
    change, tmp_path, strategy_module
) -> None:
    bundle = write(tmp_path, make_strategy("pkg_bundle_test:MyCross"))
    _rewrite_manifest(bundle, change)
    with pytest.raises(BundleError) as info:
        load_bundle(bundle.path)  # AttributeError, KeyError or TypeError before
    assert info.value.message == (
        f"bundle {bundle.path} does not verify: manifest.json names no strategy (an "
        "import_path and its params)"
    )
    (bundle.path / "manifest.json").write_text('{"strategy": 5}')  # the hash no longer agrees
    assert verify(Bundle(bundle.path, {"strategy": 5})) == [
        "manifest.json changed since promotion (its SHA-256 is not manifest.sha256)",
        "manifest.json names no strategy (an import_path and its params)",
    ]


def test_a_manifest_hash_that_is_not_text_is_a_changed_manifest(tmp_path, strategy_module):
    bundle = write(tmp_path, make_strategy("pkg_bundle_test:MyCross"))
    os.chmod(bundle.path / "manifest.sha256", 0o644)
    (bundle.path / "manifest.sha256").write_bytes(b"\xff\xfe\n")  # UnicodeDecodeError before
    assert verify(bundle) == [
        "manifest.json changed since promotion (its SHA-256 is not manifest.sha256)"
    ]


def test_a_bundle_without_file_hashes_still_loads(tmp_path, strategy_module) -> None:
    bundle = write(tmp_path, make_strategy("pkg_bundle_test:MyCross"))
    _rewrite_manifest(bundle, lambda doc: (doc.pop("files"), doc.update(format=1)))
    assert load_bundle(bundle.path).params["fast"] == bundle.params["fast"]


def test_a_promotion_that_dies_midway_leaves_no_version(tmp_path, strategy_module, monkeypatch):
    strategy = make_strategy("pkg_bundle_test:MyCross")
    write(tmp_path, strategy)
    real = bundle_module._write_readonly

    def disk_full(path, data):
        if path.name == "manifest.sha256":
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(bundle_module, "_write_readonly", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write(tmp_path, strategy)
    assert sorted(p.name for p in (tmp_path / "my_cross").iterdir()) == ["1"]
    monkeypatch.setattr(bundle_module, "_write_readonly", real)
    assert write(tmp_path, strategy).path.name == "2"  # the number was not taken


def test_a_version_taken_meanwhile_is_never_overwritten(tmp_path, strategy_module, monkeypatch):
    strategy = make_strategy("pkg_bundle_test:MyCross", {"fast": 20})
    first = write(tmp_path, strategy)
    before = (first.path / "manifest.json").read_bytes()
    answers = iter([1, 2])  # a second promotion read the versions before the first was done
    monkeypatch.setattr(bundle_module, "next_version", lambda root, name: next(answers))
    second = write(tmp_path, make_strategy("pkg_bundle_test:MyCross", {"fast": 30}))
    assert second.path.name == "2" and second.manifest["version"] == 2
    assert (first.path / "manifest.json").read_bytes() == before
    assert load_bundle(second.path).params["fast"] == 30


@pytest.mark.parametrize("text", ["{not json", "[1, 2]"])
def test_a_damaged_manifest_is_named(tmp_path, strategy_module, text) -> None:
    bundle = write(tmp_path, make_strategy("pkg_bundle_test:MyCross"))
    manifest = bundle.path / "manifest.json"
    os.chmod(manifest, 0o644)
    manifest.write_text(text)
    with pytest.raises(BundleError, match=r"manifest\.json is damaged"):
        load_bundle(bundle.path)


def test_another_workbench_is_a_warning_naming_it(tmp_path, strategy_module, monkeypatch, caplog):
    bundle = write(tmp_path, make_strategy("pkg_bundle_test:MyCross"))
    assert drift(bundle) == []
    monkeypatch.setattr(bundle_module, "workbench_fingerprint", lambda: "0" * 64)
    with caplog.at_level(logging.WARNING, logger="workbench.bundle"):
        assert load_bundle(bundle.path).params == bundle.params  # runs, but says so
    assert "is not the code it was promoted with" in caplog.text
    _rewrite_manifest(bundle, lambda doc: doc["workbench"].update(version="0.0.1"))
    assert drift(load_bundle(bundle.path))[0].startswith("promoted with workbench 0.0.1, running")
