"""The risk config: YAML and TOML, unknown keys, ranges, the documented example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from workbench.errors import ConfigError
from workbench.risk import Correlation, GroupExposure, PositionSizing, RiskConfig

ROOT = Path(__file__).resolve().parents[3]

YAML = """
position_sizing:
  risk_per_trade: 0.01
  max_position_fraction: 0.25
max_drawdown: 0.15
daily_loss_limit: 0.05
group_exposure:
  groups: {AAPL: tech, MSFT: tech}
  limits: {tech: 0.3}
max_orders_per_day: 10
"""

TOML = """
max_drawdown = 0.15
daily_loss_limit = 0.05
max_orders_per_day = 10

[position_sizing]
risk_per_trade = 0.01
max_position_fraction = 0.25

[group_exposure.groups]
AAPL = "tech"
MSFT = "tech"

[group_exposure.limits]
tech = 0.3
"""


def test_yaml_and_toml_give_the_same_config(tmp_path: Path) -> None:
    (tmp_path / "risk.yaml").write_text(YAML)
    (tmp_path / "risk.toml").write_text(TOML)
    from_yaml = RiskConfig.load(tmp_path / "risk.yaml")
    assert from_yaml == RiskConfig.load(tmp_path / "risk.toml")
    assert from_yaml.position_sizing == PositionSizing(
        risk_per_trade=0.01, max_position_fraction=0.25
    )
    assert from_yaml.group_exposure.limits == {"tech": 0.3}
    assert RiskConfig.from_dict(from_yaml.to_dict()) == from_yaml


def test_the_documented_example_sets_every_rule() -> None:
    config = RiskConfig.load(ROOT / "examples" / "risk.yaml")
    assert config.enabled == [
        "position_sizing",
        "max_drawdown",
        "daily_loss_limit",
        "group_exposure",
        "correlation",
        "max_order_notional",
        "max_orders_per_day",
        "max_open_positions",
        "kill_switch_file",
    ]
    sizing = config.position_sizing
    assert (sizing.risk_per_trade, sizing.atr_period, sizing.atr_multiple) == (0.01, 14, 2.0)
    assert config.group_exposure.limits["tech"] == 0.30
    assert config.correlation == Correlation(
        lookback=60, threshold=0.8, max_fraction=0.4, min_periods=40
    )


def test_an_empty_file_means_no_rules(tmp_path: Path) -> None:
    (tmp_path / "risk.yml").write_text("# nothing yet\n")
    assert RiskConfig.load(tmp_path / "risk.yml") == RiskConfig()


BAD = [
    # (case, text, message fragment)
    (
        "unknown top-level key",
        "max_drawdon: 0.1\n",
        "unknown key max_drawdon (known keys: position_sizing,",
    ),
    (
        "unknown nested key",
        "position_sizing:\n  risk: 0.01\n",
        "unknown key position_sizing.risk (known keys of position_sizing: risk_per_trade,",
    ),
    (
        "percent instead of a fraction",
        "max_drawdown: 15\n",
        "max_drawdown must be a fraction in (0, 1], got 15 (write 0.15 for 15%)",
    ),
    (
        "1 meant as 1%",
        "max_drawdown: 1\n",
        "max_drawdown must be a fraction below 1, got 1: that is 100%, not 1% (write 0.01 for 1%)",
    ),
    (
        "1.0 meant as 1% risk per trade",
        "position_sizing:\n  risk_per_trade: 1.0\n",
        "position_sizing.risk_per_trade must be a fraction below 1, got 1.0: that is 100%",
    ),
    (
        "1 meant as a 1% daily loss",
        "daily_loss_limit: 1\n",
        "daily_loss_limit must be a fraction below 1, got 1",
    ),
    (
        "negative loss limit",
        "daily_loss_limit: -0.05\n",
        "daily_loss_limit must be a fraction in (0, 1]",
    ),
    (
        "text for a number",
        "max_order_notional: lots\n",
        "max_order_notional must be a number, got 'lots'",
    ),
    (
        "fractional count",
        "max_orders_per_day: 2.5\n",
        "max_orders_per_day must be a whole number >= 1, got 2.5",
    ),
    (
        "zero positions",
        "max_open_positions: 0\n",
        "max_open_positions must be a whole number >= 1, got 0",
    ),
    ("bool for a number", "max_drawdown: true\n", "max_drawdown must be a number, got True"),
    (
        "atr period",
        "position_sizing:\n  atr_period: 0\n",
        "position_sizing.atr_period must be a whole number >= 1",
    ),
    (
        "section as a number",
        "position_sizing: 0.01\n",
        "position_sizing must be a mapping of settings, got 0.01",
    ),
    (
        "group limit without symbols",
        "group_exposure:\n  groups: {AAPL: tech}\n  limits: {tech: 0.3, energy: 0.2}\n",
        "group_exposure.limits names group(s) with no symbol: energy",
    ),
    (
        "group without a limit",
        "group_exposure:\n  groups: {AAPL: tech, XOM: energy}\n  limits: {tech: 0.3}\n",
        "group_exposure: group(s) without a limit: energy",
    ),
    (
        "correlation threshold",
        "correlation:\n  threshold: 1.5\n",
        "correlation.threshold must be in [-1, 1), got 1.5",
    ),
    (
        "correlation periods",
        "correlation:\n  lookback: 20\n  min_periods: 30\n",
        "correlation.min_periods (30) exceeds lookback (20)",
    ),
    (
        "groups as a list",
        "group_exposure:\n  groups: [AAPL, MSFT]\n",
        "group_exposure.groups must map symbols to groups, or be 'gics', got ['AAPL', 'MSFT']",
    ),
    (
        "groups as a number",
        "group_exposure:\n  groups: 5\n",
        "group_exposure.groups must map symbols to groups, or be 'gics', got 5",
    ),
    (
        "limits as a number",
        "group_exposure:\n  groups: {AAPL: tech}\n  limits: 0.3\n",
        "group_exposure.limits must map groups to fractions of equity, got 0.3",
    ),
    (
        "limits as a list",
        "group_exposure:\n  groups: {AAPL: tech}\n  limits: [0.3]\n",
        "group_exposure.limits must map groups to fractions of equity, got [0.3]",
    ),
    (
        "limits as a name",
        "group_exposure:\n  groups: {AAPL: tech}\n  limits: tech\n",
        "group_exposure.limits must map groups to fractions of equity, got 'tech'",
    ),
    ("a list, not rules", "- max_drawdown\n", "expected a mapping of rules, got list"),
    ("broken yaml", "max_drawdown: [0.1\n", "is not valid yaml"),
]


@pytest.mark.parametrize(("text", "fragment"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_configs_name_the_file_and_the_problem(
    tmp_path: Path, text: str, fragment: str
) -> None:
    path = tmp_path / "risk.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        RiskConfig.load(path)
    message = str(info.value)
    assert str(path) in message
    assert fragment in message
    assert "\n" not in message


def test_bad_toml_and_unknown_formats(tmp_path: Path) -> None:
    (tmp_path / "risk.toml").write_text("max_drawdown = \n")
    with pytest.raises(ConfigError, match="is not valid toml"):
        RiskConfig.load(tmp_path / "risk.toml")
    (tmp_path / "risk.json").write_text("{}")
    with pytest.raises(
        ConfigError, match=re.escape("unknown format '.json' (use a .yaml, .yml or .toml file)")
    ):
        RiskConfig.load(tmp_path / "risk.json")
    with pytest.raises(ConfigError, match="cannot read risk config"):
        RiskConfig.load(tmp_path / "missing.yaml")


def test_a_config_that_is_not_text_is_named(tmp_path: Path) -> None:
    path = tmp_path / "risk.yaml"
    path.write_bytes(b"max_drawdown: 0.1\n\xff\xfe\n")  # saved as UTF-16, or not a config
    with pytest.raises(ConfigError) as info:
        RiskConfig.load(path)
    assert str(info.value) == (
        f"risk config {path} is not text (UTF-8): byte 18 cannot be read (save it as UTF-8 text)"
    )


def test_configs_built_in_python_are_checked_too() -> None:
    with pytest.raises(
        ConfigError, match=re.escape("position_sizing.risk_per_trade must be a fraction")
    ):
        PositionSizing(risk_per_trade=2.0)
    with pytest.raises(ConfigError, match=re.escape("max_drawdown must be a fraction")):
        RiskConfig(max_drawdown=0.0)
    with pytest.raises(
        ConfigError, match=re.escape("group_exposure.limits.tech must be a fraction")
    ):
        GroupExposure(groups={"A": "tech"}, limits={"tech": 3})
    with pytest.raises(
        ConfigError, match=re.escape("risk must be a RiskConfig, a mapping or a path")
    ):
        RiskConfig.coerce(0.15)
