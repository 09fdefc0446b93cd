from __future__ import annotations

import sys
from pathlib import Path

import pytest

from workbench.errors import ConfigError, ParameterError, StrategyError
from workbench.strategies.ma_crossover import MACrossover
from workbench.strategy import Strategy, make_strategy, resolve_strategy


class Local(Strategy):
    def on_bar(self, ctx) -> None:  # pragma: no cover - never run
        pass


def test_resolve_by_name_and_by_import_path() -> None:
    assert resolve_strategy("ma_crossover") is MACrossover
    assert resolve_strategy("workbench.strategies.ma_crossover:MACrossover") is MACrossover
    assert resolve_strategy(f"{__name__}:Local") is Local
    assert resolve_strategy(MACrossover) is MACrossover


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("nope", "unknown strategy 'nope'"),
        ("no_such_module_xyz:Thing", "cannot import no_such_module_xyz"),
        ("workbench.strategy:Missing", "has no Missing"),
        ("workbench.strategy:make_strategy", "not a workbench Strategy"),
        (":MyCross", "expected module:Class"),  # ValueError: Empty module name
        (".mymod:MyCross", "expected module:Class"),  # TypeError: a relative import
        ("mymod:", "expected module:Class"),
    ],
)
def test_resolve_errors(spec: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        resolve_strategy(spec)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("x = 1\ndef on_bar(:\n", "SyntaxError: {msg} ({path}, line 2)"),
        ("x = 1\nraise RuntimeError('no data')\n", "RuntimeError: no data ({path}, line 2)"),
    ],
    ids=["syntax", "raises"],
)
def test_a_strategy_module_that_fails_to_import_is_a_strategy_error_with_its_place(
    source: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "broken_strategy_mod.py"
    path.write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "broken_strategy_mod", raising=False)
    try:  # the interpreter's own words for it (they change between Python versions)
        compile(source, str(path), "exec")
        msg = None
    except SyntaxError as exc:
        msg = exc.msg
    with pytest.raises(StrategyError) as info:  # a traceback from the CLI before
        resolve_strategy("broken_strategy_mod:MyCross")
    assert str(info.value) == (
        "strategy 'broken_strategy_mod:MyCross': importing broken_strategy_mod failed: "
        + message.format(path=path, msg=msg)
        + " (fix broken_strategy_mod, or run `python -c 'import broken_strategy_mod'` for the "
        "traceback)"
    )


def test_params_are_validated_and_read_only() -> None:
    s = make_strategy("ma_crossover", {"fast": "10", "slow": 30})
    assert (s.p.fast, s.p.slow, s.p["allow_short"]) == (10, 30, False)
    with pytest.raises(AttributeError):
        s.p.fast = 3
    with pytest.raises(ParameterError, match="fast < slow"):
        make_strategy("ma_crossover", {"fast": 30, "slow": 10})
