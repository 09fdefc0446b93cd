"""The look-ahead audit flags strategies that peek and passes honest ones."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from workbench.backtesting.vectorized import VectorSignals
from workbench.cli.main import main
from workbench.context import Context
from workbench.data.sources import load_bars
from workbench.indicators import SMA, sma
from workbench.intents import CancelIntent, OrderIntent, TargetIntent
from workbench.orders import OrderRequest, OrderType, Side
from workbench.params import Param
from workbench.research.audit import audit, describe_intent
from workbench.research.fixtures import NextBarSMA, PeekingCrossover
from workbench.strategies.ma_crossover import MACrossover, crossings
from workbench.strategy import Strategy

PEEKING = "workbench.research.fixtures:PeekingCrossover"
WINDOW = {"start": "2005-01-01", "end": "2008-12-31"}


@pytest.fixture(scope="module")
def spx() -> pd.DataFrame:
    return load_bars("sample:SPX", **WINDOW)


def test_the_peeking_fixture_is_flagged_at_its_first_decision(spx: pd.DataFrame) -> None:
    result = audit(PEEKING, spx, {"fast": 10, "slow": 30}, progress=False)
    assert not result.passed
    # the first decision of the full run is the first cross of the next-bar average
    close = spx["close"].to_numpy()
    above, below = crossings(NextBarSMA(10).batch(close), sma(close, 30))
    first = int(np.flatnonzero(above | below)[0])
    event = [f for f in result.findings if f.path == "event-driven"]
    assert event[0].bar == first
    assert event[0].time == spx.index[first]
    assert event[0].cut == first  # cut right at the bar where it acted
    assert event[0].truncated == "no decision"
    expected = "MA_CROSS_BUY" if above[first] else "MA_CROSS_SELL"
    assert event[0].full.startswith("target SPX percent=") and expected in event[0].full
    assert f"bar {first} ({spx.index[first].isoformat()})" in event[0].message()
    # every decision it made was made with tomorrow's close: each acting cut is a finding
    acted = set(np.flatnonzero(above | below).tolist())
    assert {f.bar for f in event} == acted


def test_the_vectorized_form_of_the_fixture_is_flagged_too(spx: pd.DataFrame) -> None:
    result = audit(PEEKING, spx, {"fast": 10, "slow": 30}, samples=5, progress=False)
    vector = [f for f in result.findings if f.path == "vectorized"]
    assert result.vectorized_cuts is not None and vector
    assert vector[0].full in ("entries=True", "exits=True")
    assert vector[0].truncated in ("entries=False", "exits=False")


@pytest.mark.parametrize(
    "params",
    [
        {"fast": 10, "slow": 30},
        {"fast": 50, "slow": 200},
        {"fast": 5, "slow": 20, "allow_short": True},
    ],
)
def test_ma_crossover_passes(spx: pd.DataFrame, params: dict) -> None:
    result = audit("ma_crossover", spx, params, samples=20, progress=False)
    assert result.passed, result.summary()
    assert result.vectorized_cuts  # its vectorized form was audited too
    assert result.decisions > 0
    assert len(result.cuts) >= result.decisions // 2  # each acting bar (one or two intents) cut
    assert "no look-ahead found" in result.summary()


class CenteredCrossover(Strategy):
    """Another real-world bug: a centred rolling mean (pandas ``center=True``) as a signal."""

    name = "centered"
    params = (Param("n", int, 11, low=3, high=100),)

    def init(self, ctx: Context) -> None:
        self.smooth = ctx.indicator(_Centered(self.p.n))

    def on_bar(self, ctx: Context) -> None:
        if len(self.smooth) < 2 or math.isnan(self.smooth[-2]):
            return
        if self.smooth[-1] > self.smooth[-2] and not ctx.position().quantity:
            ctx.target(percent=1.0, reason="UP")
        elif self.smooth[-1] < self.smooth[-2] and ctx.position().quantity:
            ctx.target(percent=0.0, reason="DOWN")


class _Centered:
    inputs = ("close",)
    n_outputs = 1

    def __init__(self, n: int) -> None:
        self.n = n

    def batch(self, x: np.ndarray) -> np.ndarray:
        return pd.Series(x).rolling(self.n, center=True).mean().to_numpy()

    def update(self, x: float) -> float:
        return math.nan


class EquitySized(Strategy):
    """Honest, and its decisions depend on money: quantities from equity, explicit orders."""

    name = "equity_sized"

    def init(self, ctx: Context) -> None:
        self.avg = ctx.indicator(SMA(20))

    def on_bar(self, ctx: Context) -> None:
        n = len(ctx.close)
        if n % 15 == 0:
            qty = math.floor(ctx.equity * 0.5 / ctx.close[-1])
            ctx.target(quantity=qty, reason="HALF")
        elif n % 15 == 7 and ctx.position().quantity:
            ctx.order("sell", ctx.position().quantity / 2, type="limit", limit=ctx.close[-1] * 1.01)
        elif n % 15 == 11:
            ctx.cancel(reason="TIDY")


class LeakyVectorizedCrossover(MACrossover):
    """Honest on_bar, leaky vectorized form: only the vectorized half can catch it."""

    def vectorized(self, bars: pd.DataFrame) -> VectorSignals:
        close = bars["close"].to_numpy()
        fast = pd.Series(close).rolling(self.p.fast, center=True).mean().to_numpy()
        above, below = crossings(fast, sma(close, self.p.slow))
        return VectorSignals(pd.Series(above, index=bars.index), pd.Series(below, index=bars.index))


def test_a_leak_in_the_vectorized_form_alone_is_flagged(spx: pd.DataFrame) -> None:
    result = audit(
        LeakyVectorizedCrossover, spx, {"fast": 10, "slow": 30}, samples=5, progress=False
    )
    assert {f.path for f in result.findings} == {"vectorized"}
    skipped = audit(
        LeakyVectorizedCrossover,
        spx,
        {"fast": 10, "slow": 30},
        samples=5,
        vectorized=False,
        progress=False,
    )
    assert skipped.passed and skipped.vectorized_cuts is None


def test_a_centred_window_is_flagged(spx: pd.DataFrame) -> None:
    result = audit(CenteredCrossover, spx, samples=10, progress=False)
    assert not result.passed
    assert result.vectorized_cuts is None  # no vectorized form to audit
    assert "LOOK-AHEAD" in result.summary()


def test_decisions_that_depend_on_equity_do_not_raise_false_alarms(spx: pd.DataFrame) -> None:
    result = audit(EquitySized, spx, samples=10, commission=0.001, slippage=5, progress=False)
    assert result.passed, result.summary()
    assert result.decisions > 100


def test_multi_symbol_data_is_cut_on_the_union_of_times() -> None:
    result = audit(
        "ma_crossover",
        "sample:SPX,NASDAQ",
        {"fast": 10, "slow": 30},
        samples=5,
        start="2006-01-01",
        end="2007-12-31",
        progress=False,
    )
    assert result.passed


@pytest.mark.parametrize(
    ("intent", "text"),
    [
        (
            TargetIntent("SPX", pd.Timestamp(0, tz="UTC"), percent=0.5, reason="R"),
            "target SPX percent=0.5 (R)",
        ),
        (TargetIntent("SPX", pd.Timestamp(0, tz="UTC"), quantity=10.0), "target SPX quantity=10"),
        (
            OrderIntent(
                OrderRequest(
                    "SPX",
                    Side.BUY,
                    quantity=3.0,
                    type=OrderType.LIMIT,
                    limit_price=101.5,
                    reason="L",
                ),
                pd.Timestamp(0, tz="UTC"),
            ),
            "buy limit SPX quantity=3 limit=101.5 (L)",
        ),
        (CancelIntent(pd.Timestamp(0, tz="UTC"), symbol="SPX", reason="X"), "cancel SPX (X)"),
    ],
)
def test_describe_intent(intent, text: str) -> None:
    assert describe_intent(intent) == text


def test_cli_flags_the_fixture_with_a_non_zero_exit(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "audit",
        "--strategy",
        PEEKING,
        "--data",
        "sample:SPX",
        "--start",
        "2006-01-01",
        "--end",
        "2007-12-31",
        "--samples",
        "5",
    ]
    assert main(argv) == 4
    out = capsys.readouterr().out
    assert "LOOK-AHEAD" in out and "bar " in out and "no decision" in out


def test_cli_passes_ma_crossover_and_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "audit",
        "--strategy",
        "ma_crossover",
        "--data",
        "sample:SPX",
        "--start",
        "2006-01-01",
        "--end",
        "2007-12-31",
        "--param",
        "fast=10",
        "--param",
        "slow=30",
        "--json",
    ]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["passed"] is True and doc["findings"] == [] and doc["cuts"] > 0


def test_cli_bad_parameter_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--strategy", "ma_crossover", "--param", "fast=0"]) == 2
    assert "fast" in capsys.readouterr().err


def test_peeking_fixture_really_looks_better_than_it_should(spx: pd.DataFrame) -> None:
    from workbench import backtest

    peek = backtest(PeekingCrossover, spx, {"fast": 10, "slow": 30})
    honest = backtest("ma_crossover", spx, {"fast": 10, "slow": 30})
    assert peek.final_equity > honest.final_equity
