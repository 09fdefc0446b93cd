"""Parity, look-ahead audit and promotion accept universes (sample:SP500 stocks)."""

from __future__ import annotations

from workbench import check_parity
from workbench.promote import promote
from workbench.research.audit import audit
from workbench.strategies.portfolio import MomentumRotation

SPEC = "sample:SP500?symbols=AAPL,JPM,KO,XOM,PFE,WMT,MSFT"


class PeekingRotation(MomentumRotation):
    """Ranks on closes ten bars ahead (five past its skip) in its vectorized form."""

    name = "peeking_rotation"

    def target_weights(self, bars):
        ahead = {}
        for sym, frame in bars.items():
            shifted = frame.copy()
            shifted["close"] = frame["close"].shift(-10).ffill()
            ahead[sym] = shifted
        return super().target_weights(ahead)


def test_parity_over_a_universe_compares_trade_by_trade():
    report = check_parity(
        "momentum_rotation",
        SPEC,
        {"top_k": 3, "lookback": 126},
        commission=0.001,
        slippage=2,
        start="2010-01-01",
    )
    assert report.ok, report.summary()
    assert report.engine == "portfolio kernel" and report.event_trades > 50
    assert report.max_price_rel_diff < 1e-9


def test_audit_of_a_universe_is_clean_and_finds_a_peeking_vectorized_form():
    params = {"lookback": 63, "skip": 5, "top_k": 3}
    clean = audit("momentum_rotation", SPEC, params, start="2021-01-01", samples=3)
    assert clean.passed, clean.summary()
    assert clean.vectorized_cuts and clean.decisions > 20
    peeking = audit(PeekingRotation, SPEC, params, start="2021-01-01", samples=3)
    assert not peeking.passed
    finding = peeking.findings[0]
    assert finding.path == "vectorized" and "weight" in finding.full


def test_promote_a_universe_strategy_runs_every_gate(tmp_path):
    result = promote(
        "momentum_rotation",
        SPEC,
        {"lookback": 63, "skip": 5, "top_k": 3},
        out=tmp_path,
        start="2020-01-01",
        commission=0.0005,
        force=True,
        reason="universe plumbing test",
    )
    gates = {g.name: g for g in result.gates}
    assert gates["parity"].value == "equal" and gates["parity"].passed
    assert gates["lookahead_audit"].passed
    manifest = result.bundle.manifest
    assert (result.bundle.path / "manifest.json").is_file()
    assert sorted(manifest["data"]["symbols"]) == sorted(SPEC.split("=")[1].split(","))
