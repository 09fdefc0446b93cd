from __future__ import annotations

import numpy as np
import pytest

from workbench import series
from workbench.errors import ConfigError, LookAheadError
from workbench.series import SeriesView, SymbolData


@pytest.fixture(params=["compiled", "python"])
def view_class(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> type:
    """The views a SymbolData makes: the compiled read's and the Python one, which must
    behave the same (the compiled one is missing only from an install without a compiler,
    which test_the_read_is_compiled_in_this_install reports)."""
    if request.param == "compiled" and not series.COMPILED:
        pytest.skip("workbench._reads did not build in this install")
    cls = SeriesView if request.param == "compiled" else series.PySeriesView
    monkeypatch.setattr(series, "SeriesView", cls)
    return cls


def test_series_view_reveals_only_the_past(view_class: type) -> None:
    full = {f: np.arange(1.0, 6.0) for f in ("open", "high", "low", "close", "volume")}
    sd = SymbolData("X", full, times=range(5))
    view = sd.views["close"]
    assert type(view) is view_class
    for _ in range(3):
        sd.advance()
    assert len(view) == 3
    assert view[-1] == 3.0 and view[-3] == 1.0 and view[0] == 1.0
    assert list(view[-2:]) == [2.0, 3.0]
    assert list(view[0:5]) == [1.0, 2.0, 3.0]  # slices stop at the current bar
    with pytest.raises(LookAheadError, match=r"X.close\[3\] asked for bar 3"):
        view[3]
    for before_first in (-4, -5, np.int64(-4)):  # never wraps round to a later bar
        with pytest.raises(IndexError, match="only 3 bars so far"):
            view[before_first]
    assert view[np.int64(-2)] == 2.0 and view[True] == 2.0
    for far in (2**70, -(2**70)):  # beyond a C integer: the same errors
        with pytest.raises(LookAheadError if far > 0 else IndexError):
            view[far]
    with pytest.raises(TypeError, match="integers or slices"):
        view["x"]
    values = view.values
    assert list(values) == [1.0, 2.0, 3.0] and not values.flags.writeable
    assert repr(view) == "SeriesView(X.close, bars=3, last=3.0)" and view.name == "X.close"


class _Doubler:
    """A toy indicator with both forms, to check that they are revealed the same way."""

    def batch(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x) * 2

    def update(self, x: float) -> float:
        return x * 2


def test_precomputed_and_incremental_indicators_reveal_the_same_values(view_class: type) -> None:
    full = {f: np.arange(1.0, 6.0) for f in ("open", "high", "low", "close", "volume")}
    batch = SymbolData("X", full, times=range(5))
    live = SymbolData("X")
    vb = batch.add_indicator(_Doubler(), ("close",))
    vl = live.add_indicator(_Doubler(), ("close",))
    for i in range(5):
        v = float(i + 1)
        batch.advance()
        live.push(i, v, v, v, v, v)
        assert len(vb) == len(vl) == i + 1
        assert vb[-1] == vl[-1] == 2 * v
        assert vb[-i - 1] == vl[-i - 1] == 2.0  # the first bar
        with pytest.raises(IndexError, match="bars so far"):
            vl[-i - 2]
        with pytest.raises(LookAheadError):
            vl[i + 1]
    assert type(vb) is type(vl) is view_class


def test_a_view_of_another_buffer_reads_it_as_the_python_class_does(view_class: type) -> None:
    """Only float64 columns and lists take the compiled read; any other buffer is read
    by the rules' own path, with the values it holds."""
    sd = SymbolData("X")
    for i in range(3):
        sd.push(i, 1, 1, 1, 1, 1)
    ints = view_class(memoryview(np.arange(10, 13, dtype=np.int64)), sd, "X.n")
    assert ints[-1] == 12 and ints[-3] == 10 and type(ints[-1]) is int and len(ints) == 3
    with pytest.raises(LookAheadError):
        ints[3]


def test_views_and_their_symbol_are_freed_together(view_class: type) -> None:
    """A SymbolData and its views refer to each other: the cycle is collected, and the
    column they read is released with them."""
    import gc
    import weakref

    column = np.arange(1.0, 6.0)
    gone = weakref.ref(column)
    sd = SymbolData("X", {f: column for f in ("open", "high", "low", "close", "volume")}, range(5))
    sd.advance()
    assert sd.views["close"][-1] == 1.0 and type(sd.views["close"]) is view_class
    del column, sd
    gc.collect()
    assert gone() is None


def test_the_read_is_compiled_in_this_install() -> None:
    """``make install`` builds workbench._reads (an optional extension, setup.py): a failed
    build leaves the Python read in place, correct but slower, which this test reports."""
    assert series.COMPILED, (
        "workbench._reads is not built: reinstall with a C compiler (make install, or"
        " pip install -e .) to get the compiled per-bar read"
    )


def test_indicators_must_be_declared_before_the_first_bar() -> None:
    sd = SymbolData("X")
    sd.push(0, 1, 1, 1, 1, 1)
    with pytest.raises(ConfigError, match=r"Strategy\.init"):
        sd.add_indicator(_Doubler(), ("close",))


def test_the_last_value_of_a_symbol_without_bars_is_not_the_future() -> None:
    full = {f: np.arange(1.0, 6.0) for f in ("open", "high", "low", "close", "volume")}
    sd = SymbolData("X", full, times=range(5))
    with pytest.raises(LookAheadError, match="no bar yet"):
        sd.last("close")
    sd.advance()
    assert sd.last("close") == 1.0


def test_rebalance_targets_weights_closes_the_rest_and_skips_within_band():
    import pandas as pd

    from workbench.context import Context
    from workbench.intents import TargetIntent
    from workbench.portfolio import PositionView
    from workbench.series import SymbolData

    data = {s: SymbolData(s, {f: [10.0] for f in ("open", "high", "low", "close", "volume")},
                          [0]) for s in ("A", "B", "C", "D")}  # fmt: skip
    for sd in data.values():
        sd.advance()
    held = {"A": 480.0, "B": 200.0, "C": 0.0, "D": 300.0}  # A 48%, B 20%, D 30% of 10,000

    def position(sym: str) -> PositionView:
        q = held[sym]
        return PositionView(sym, q, 10.0, 10.0, q * 10.0, 0.0, 0.0)

    ctx = Context(data, lambda: (200.0, 10_000.0), position, lambda s: [])
    ctx.advance_to(pd.Timestamp("2024-01-31", tz="UTC").value)
    ctx.rebalance({"A": 0.5, "B": 0.1, "C": 0.3}, band=0.03, reason="R")
    got = [(i.symbol, i.percent) for i in ctx.intents]
    assert all(isinstance(i, TargetIntent) and i.reason == "R" for i in ctx.intents)
    # A within the band (48% vs 50%): nothing; B and D reduce first, then C opens
    assert got == [("B", 0.1), ("D", 0.0), ("C", 0.3)]
    with pytest.raises(ConfigError, match="band"):
        ctx.rebalance({"A": 0.5}, band=-1)
    with pytest.raises(ConfigError, match="unknown symbol"):
        ctx.rebalance({"ZZZ": 0.5})
