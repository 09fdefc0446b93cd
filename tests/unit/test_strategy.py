from __future__ import annotations

import pytest

from workbench.errors import ConfigError, ParameterError
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
    ],
)
def test_resolve_errors(spec: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        resolve_strategy(spec)


def test_params_are_validated_and_read_only() -> None:
    s = make_strategy("ma_crossover", {"fast": "10", "slow": 30})
    assert (s.p.fast, s.p.slow, s.p["allow_short"]) == (10, 30, False)
    with pytest.raises(AttributeError):
        s.p.fast = 3
    with pytest.raises(ParameterError, match="fast < slow"):
        make_strategy("ma_crossover", {"fast": 30, "slow": 10})
