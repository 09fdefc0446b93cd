"""Each concern in its room: ``live/`` is broker-neutral, the mode branches are written in
the composition root only, and every broker closes through the ``Broker`` protocol."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import workbench
from workbench.broker import Broker

ROOT = Path(workbench.__file__).parent
#: Broker and feed names a mode branch would compare against.
MODES = {"sim", "alpaca", "replay"}
BROKER_CLASSES = {"SimulatedBroker", "AlpacaBroker", "ScaledBroker", "RetryingReads"}


def _modules(folder: Path) -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(), str(p))) for p in sorted(folder.rglob("*.py"))]


def _imports(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_live_imports_nothing_of_alpaca() -> None:
    found = {
        str(path.relative_to(ROOT)): sorted(n for n in _imports(tree) if "alpaca" in n)
        for path, tree in _modules(ROOT / "live")
    }
    assert {k: v for k, v in found.items() if v} == {}
    assert (ROOT / "brokers" / "alpaca_history.py").is_file()
    assert not (ROOT / "live" / "runtime.py").exists()


def _mode_branches(tree: ast.Module) -> list[int]:
    """Lines comparing with a broker or feed name, or asking a broker's class."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            parts = [node.left, *node.comparators]
            if any(isinstance(p, ast.Constant) and p.value in MODES for p in parts):
                lines.append(node.lineno)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "isinstance"
            and len(node.args) == 2
        ):
            kinds = node.args[1]
            named = {n.id for n in ast.walk(kinds) if isinstance(n, ast.Name)}
            if named & BROKER_CLASSES:
                lines.append(node.lineno)
    return lines


def test_mode_branches_live_in_the_composition_root_only() -> None:
    found = {
        str(path.relative_to(ROOT)): lines
        for path, tree in _modules(ROOT)
        if (lines := _mode_branches(tree)) and not path.is_relative_to(ROOT / "emulator")
    }
    root = found.pop("compose.py", [])
    assert root, "the composition root picks the broker and the feed"
    assert found == {}


def test_the_runner_closes_its_broker_through_the_protocol() -> None:
    source = (ROOT / "live" / "runner.py").read_text()
    assert 'getattr(self.broker, "close"' not in source and "self.broker.close" in source
    assert "close" in Broker.__dict__


@pytest.mark.parametrize("name", ["sim", "alpaca", "pennies", "retrying"])
def test_every_broker_closes(name: str) -> None:
    from workbench.brokers.alpaca import AlpacaBroker
    from workbench.live.pennies import ScaledBroker
    from workbench.live.resilience import RetryingReads
    from workbench.sim.broker import SimulatedBroker

    cls = {"sim": SimulatedBroker, "alpaca": AlpacaBroker, "pennies": ScaledBroker,
           "retrying": RetryingReads}[name]  # fmt: skip
    assert callable(getattr(cls, "close", None))
    if name == "sim":
        broker = SimulatedBroker(1000.0)
        assert isinstance(broker, Broker)
        broker.close()
        broker.close()  # safe twice


def test_only_the_root_builds_a_backtest_engine_or_a_live_runner() -> None:
    built: dict[str, list[int]] = {}
    for path, tree in _modules(ROOT):
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("Engine", "LiveRunner")
            ):
                built.setdefault(str(path.relative_to(ROOT)), []).append(node.lineno)
    assert list(built) == ["compose.py"] and len(built["compose.py"]) == 2
