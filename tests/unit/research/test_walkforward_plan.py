"""Walk-forward planning and aggregation: grids, configuration checks, one fold by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from workbench import load_bars
from workbench.errors import ConfigError, DataError
from workbench.research.fold import run_fold
from workbench.research.notebook_runner import JobOutcome
from workbench.research.sweep import parse_grid
from workbench.research.walkforward import (
    WalkForwardConfig,
    fold_parameters,
    n_trials,
    plan_folds,
    run_walk_forward,
    stitch,
    summarize,
)

GRID = {"fast": [10, 20], "slow": [40, 80]}


def test_the_issue_grid_has_exactly_100_valid_combinations() -> None:
    config = WalkForwardConfig(
        "ma_crossover", "sample:SPX", 756, 252, parse_grid(["fast=10:100:10", "slow=50:300:25"])
    )
    assert config.grid["fast"] == list(range(10, 101, 10))
    assert config.grid["slow"] == list(range(50, 301, 25))
    assert n_trials(config) == 100


def test_config_stores_validated_values() -> None:
    config = WalkForwardConfig(
        "ma_crossover",
        "sample:SPX",
        756,
        252,
        parse_grid(["fast=10,20", "allow_short=true,false"]),
        params={"slow": "100"},
    )
    assert config.grid == {"fast": [10, 20], "allow_short": [True, False]}
    assert config.params == {"slow": 100}
    assert n_trials(config) == 4


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"grid": {}}, "grid is empty"),
        ({"params": {"fast": 5}}, "both in the grid and as fixed"),
        ({"grid": {"fast": [300], "slow": [100]}}, "satisfies fast < slow"),
        ({"grid": {"fast": [0, 10]}}, "out of range"),
        ({"grid": {"speed": [1]}}, "unknown parameter"),
        ({"metric": "luck"}, "unknown metric 'luck'"),
        ({"step": 100}, "test windows would overlap"),
        ({"train": "2y", "test": "1y", "step": "6mo"}, "test windows would overlap"),
        ({"train": "3q"}, "not a length"),
        ({"strategy": "nope"}, "unknown strategy"),
    ],
)
def test_config_refuses(kwargs: dict, match: str) -> None:
    base = {
        "strategy": "ma_crossover",
        "data": "sample:SPX",
        "train": 500,
        "test": 250,
        "grid": GRID,
    }
    with pytest.raises(ConfigError, match=match):
        WalkForwardConfig(**{**base, **kwargs})


def test_plan_folds_on_the_data_of_one_symbol_or_a_universe() -> None:
    config = WalkForwardConfig("ma_crossover", "sample:SPX", 756, 252, GRID)
    folds, index = plan_folds(config)
    assert len(folds) == 16 and len(index) == 5031
    both, union = plan_folds(WalkForwardConfig("ma_crossover", "sample:SPX,NASDAQ", 756, 252, GRID))
    assert len(both) == 16 and union.equals(index)  # the two indices share their days
    cut = {"SPX": index[:3000], "NASDAQ": index[2000:]}
    frames = {s: pd.DataFrame(index=i) for s, i in cut.items()}
    from workbench.research.walkforward import universe_index

    assert universe_index(frames).equals(index)


@pytest.mark.parametrize(
    ("kwargs", "line"),
    [
        ({"train": 5000, "test": 250, "start": "2010-01-01", "end": "2014-12-31"},
         "no complete fold: the data holds 1,258 bars from 2010-01-04 to 2014-12-31; "
         "train=5000 + test=250 needs 5,250 (shorten train/test or widen start/end)"),
        ({"train": 5000, "test": 250},
         "no complete fold: the data holds 5,031 bars from 1999-01-04 to 2018-12-31; "
         "train=5000 + test=250 needs 5,250 (shorten train/test or give data= a longer "
         "history)"),
    ],
)  # fmt: skip
def test_plan_folds_refuses_short_data_in_the_config_s_fields(kwargs: dict, line: str) -> None:
    """In the fields a WalkForwardConfig is given (before: "does not fit in 1258 bars ...
    use shorter windows or more data", not naming the fields that give more)."""
    config = WalkForwardConfig("ma_crossover", "sample:SPX", grid=GRID, **kwargs)
    with pytest.raises(ConfigError) as caught:
        plan_folds(config)
    assert str(caught.value) == line


def test_run_walk_forward_refuses_short_data_in_the_config_s_fields(tmp_path: Path) -> None:
    config = WalkForwardConfig(
        "ma_crossover", "sample:SPX", 500, 250, GRID, start="2014-12-31", end="2014-12-31"
    )
    with pytest.raises(ConfigError) as caught:
        run_walk_forward(config, tmp_path / "wf", progress=False)
    assert str(caught.value) == (
        "no complete fold: the data holds 1 bar, on 2014-12-31; train=500 + test=250 needs 750 "
        "(shorten train/test or widen start/end)"
    )
    assert not (tmp_path / "wf").exists()


def test_stitch_chains_the_curves_by_hand() -> None:
    t = pd.date_range("2020-01-01", periods=6, freq="D", tz="UTC")
    a = pd.Series([100.0, 110.0, 121.0], index=t[:3])  # +21 %
    b = pd.Series([50.0, 45.0, 60.0], index=t[3:])  # +20 %, from another starting cash
    out = stitch([a, b], 1000.0)
    np.testing.assert_allclose(out.to_numpy(), [1000, 1100, 1210, 1210, 1089, 1452])
    assert out.index.equals(t)


@pytest.fixture(scope="module")
def one_fold(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, dict]:
    config = spx_config()
    folds, _ = plan_folds(config)
    out = tmp_path_factory.mktemp("wf")
    params = fold_parameters(config, folds[1], out)
    return run_fold(**params), out / "folds", params


def test_fold_chooses_the_best_in_sample_combination(one_fold) -> None:
    record, folder, _ = one_fold
    sweep = pd.read_csv(folder / "fold_001_sweep.csv", index_col="trial")
    assert len(sweep) == record["n_trials"] == 4
    best = sweep.loc[sweep["sharpe"].idxmax()]
    assert record["params"] == {"fast": int(best["fast"]), "slow": int(best["slow"])}
    assert record["score"] == pytest.approx(best["sharpe"])
    # the event-driven run of the choice agrees with the vectorized sweep
    assert record["in_sample"]["sharpe"] == pytest.approx(best["sharpe"], rel=1e-9)
    assert record["in_sample"]["final_equity"] == pytest.approx(best["final_equity"], rel=1e-9)
    assert record["overfitting"]["selected"] == int(best.name)


class _Clock:
    """What the warm-up gate may read of a context: the clock's nanoseconds and the intents
    (``time``, a Timestamp built per bar, is what made the gate a third of a fold's cost)."""

    def __init__(self, time_ns: int) -> None:
        self.time_ns = time_ns
        self.intents: list[str] = ["buy"]

    @property
    def time(self) -> pd.Timestamp:
        raise AssertionError("the gate builds a Timestamp on every bar")


def test_the_warm_up_gate_drops_decisions_before_the_test_window_by_the_clock_s_ns() -> None:
    from workbench.research.fold import _hold_back_before

    gate = _hold_back_before(1_000)
    before, first, after = _Clock(999), _Clock(1_000), _Clock(1_001)
    for ctx in (before, first, after):
        gate(ctx)
    assert (before.intents, first.intents, after.intents) == ([], ["buy"], ["buy"])


def test_fold_trades_only_in_the_test_window(one_fold) -> None:
    record, folder, params = one_fold
    equity = pd.read_csv(folder / "fold_001_equity.csv", index_col=0)["equity"]
    equity.index = pd.to_datetime(equity.index, utc=True)
    assert equity.index[0] == pd.Timestamp(params["test_start"])
    assert equity.index[-1] == pd.Timestamp(params["test_end"])
    assert equity.iloc[0] == 100_000.0  # flat and in cash on the first test bar
    assert record["out_of_sample"]["final_equity"] == pytest.approx(equity.iloc[-1])
    assert record["out_of_sample"]["total_return"] == pytest.approx(equity.iloc[-1] / 1e5 - 1)
    is_cagr, oos_cagr = record["in_sample"]["cagr"], record["out_of_sample"]["cagr"]
    if is_cagr > 0:
        assert record["efficiency"] == pytest.approx(oos_cagr / is_cagr)
    stats = record["overfitting"]
    assert stats["n_trials"] == 4 and stats["n_obs"] == 503  # returns of bars 1..T-1
    assert 0 <= stats["dsr"] <= stats["psr"] <= 1


def spx_config() -> WalkForwardConfig:
    """The 504/252 walk-forward on sample:SPX (2004-2008) the fold and summary tests plan."""
    return WalkForwardConfig(
        "ma_crossover",
        "sample:SPX",
        504,
        252,
        GRID,
        start="2004-01-01",
        end="2008-12-31",
        commission=0.0005,
    )


def copy_fold_001(folder: Path, into: Path) -> None:
    """Fold 1's record, equity and sweep files, as a finished fold leaves them."""
    for name in ("fold_001.json", "fold_001_equity.csv", "fold_001_sweep.csv"):
        (into / name).write_bytes((folder / name).read_bytes())


def run_with_fold_001(folder: Path, tmp_path: Path) -> tuple[WalkForwardConfig, list, Path]:
    """spx_config's plan and a run folder holding fold 1's files (fold 0 never finished)."""
    config = spx_config()
    folds, _ = plan_folds(config)
    run = tmp_path / "run"
    (run / "folds").mkdir(parents=True)
    copy_fold_001(folder, run / "folds")
    return config, folds, run


def test_fold_metrics_count_a_long_short_book_that_nets_to_zero_as_exposed() -> None:
    """A fold's in- and out-of-sample exposure is the share of its bars with a position:
    a long and a short of equal value (equity == cash) is in the market. It was read
    from |market value| > 1e-12, which nets the book to zero: exposure 0."""
    from workbench.backtesting.engine import BacktestConfig, Engine
    from workbench.research.fold import _metrics
    from workbench.strategy import Strategy

    class Pair(Strategy):
        def on_bar(self, ctx) -> None:
            if len(ctx.close) == 1:  # long A, short B from bar 1 to bar 4
                ctx.buy(10.0, symbol="A")
                ctx.sell(10.0, symbol="B")
            elif len(ctx.close) == 5:
                ctx.sell(10.0, symbol="A")
                ctx.buy(10.0, symbol="B")

    bars = load_bars("sample:SPX", start="2010-01-01", end="2010-01-31").iloc[:8]
    result = Engine(Pair(), {"A": bars, "B": bars.copy()}, BacktestConfig(cash=1e5)).run()
    assert (result.equity == result.cash).all() and len(result.fills) == 4
    assert _metrics(result, bars.index[0], 252.0)["exposure"] == 4 / 8
    assert _metrics(result, bars.index[2], 252.0)["exposure"] == 3 / 6  # bars 2 to 4 of 2-7


def test_fold_with_an_unknown_metric_is_refused(one_fold, tmp_path: Path) -> None:
    _, _, params = one_fold
    with pytest.raises(ConfigError, match="unknown metric 'nope'"):
        run_fold(**{**params, "metric": "nope", "out": str(tmp_path)})


def test_summarize_reports_a_failed_fold_and_stitches_the_rest(one_fold, tmp_path: Path) -> None:
    record, folder, _ = one_fold
    config, folds, run = run_with_fold_001(folder, tmp_path)
    outcomes = [
        JobOutcome("fold_000", "failed", run / "folds" / "fold_000.ipynb", 1.0, "KeyError: 'x'"),
        JobOutcome("fold_001", "ok", run / "folds" / "fold_001.ipynb", 2.0),
    ]
    summary = summarize(run, folds=folds, outcomes=outcomes, config=config)
    assert summary["n_folds"] == len(folds) and summary["n_failed"] == len(folds) - 1
    assert summary["failed"][0] == {
        "fold": 0,
        "notebook": str(run / "folds" / "fold_000.ipynb"),
        "error": "KeyError: 'x'",
    }
    assert summary["chosen_params"] == [{"fold": 1, **record["params"]}]
    oos = summary["out_of_sample"]
    assert oos["total_return"] == pytest.approx(record["out_of_sample"]["total_return"])
    if record["in_sample"]["cagr"] > 0:
        assert summary["walk_forward_efficiency"] == pytest.approx(
            oos["cagr"] / record["in_sample"]["cagr"]
        )
    doc = json.loads((run / "summary.json").read_text())
    assert doc["overfitting"]["n_trials"] == 4
    assert doc["folds"][0]["status"] == "failed"


def test_summarize_hands_the_stitched_curve_to_its_writer_with_no_earlier_curve_left(
    one_fold, tmp_path: Path
) -> None:
    _, folder, _ = one_fold
    config, folds, run = run_with_fold_001(folder, tmp_path)
    (run / "equity.csv").write_text("time,equity\n2001-01-01 00:00:00+00:00,1.0\n")
    handed: list[tuple[pd.Series, Path]] = []

    def later(equity: pd.Series, path: Path, *, times: Any = None) -> None:
        handed.append((equity, Path(path)))

    outcomes = [JobOutcome("fold_001", "ok", run / "folds" / "fold_001.ipynb", 2.0)]
    summarize(run, folds=folds, outcomes=outcomes, config=config, write_curve=later)
    assert not (run / "equity.csv").exists()  # not the earlier run's while this one is written
    [(equity, path)] = handed
    assert path == run / "equity.csv"
    fold_curve = pd.read_csv(run / "folds" / "fold_001_equity.csv", index_col=0)["equity"]
    assert equity.to_numpy() == pytest.approx(fold_curve.to_numpy(), rel=1e-12)  # at the cash


def test_summarize_leaves_out_a_psr_the_returns_give_no_variance_for(
    one_fold, tmp_path: Path
) -> None:
    """Returns of two sizes only (kurtosis = skew**2 + 1) at SR = 2 / skew: the PSR's variance
    term, a perfect square then, is 0 or rounds below it, and the PSR raises DataError. The
    summary said it would leave the PSR out (None) but caught ConfigError: after every fold
    had run, summarize raised and wrote no summary.json."""
    from workbench.research.equity_csv import read_equity, write_equity
    from workbench.research.overfitting import probabilistic_sharpe_ratio, return_moments

    config = spx_config()
    folds, _ = plan_folds(config)
    run = tmp_path / "run"
    (run / "folds").mkdir(parents=True)
    copy_fold_001(one_fold[1], run / "folds")
    times = load_bars("sample:SPX", start=folds[1].test.first, end=folds[1].test.last).index[:6]
    low = 2.0 / 1.5 * np.sqrt(0.2 * 0.8 * 5 / 4) * 0.02 - 0.2 * 0.02  # n=5, one high of +0.02
    returns = [low] * 4 + [low + 0.02]
    curve = pd.Series(1e5 * np.cumprod([1.0, *(1.0 + np.array(returns))]), index=times)
    write_equity(curve.rename("equity"), run / "folds" / "fold_001_equity.csv")
    # as the summary reads it: the PSR has no variance for these returns
    read = read_equity(run / "folds" / "fold_001_equity.csv")
    moments = return_moments(read.pct_change().dropna().to_numpy())
    with pytest.raises(DataError, match="variance term"):
        probabilistic_sharpe_ratio(
            moments["sharpe"], 0.0, int(moments["n_obs"]), moments["skew"], moments["kurtosis"]
        )

    outcomes = [
        JobOutcome(f"fold_{f.number:03d}", "ok" if f.number == 1 else "failed", run / "x.ipynb")
        for f in folds
    ]
    summary = summarize(run, folds=folds, outcomes=outcomes, config=config)
    assert summary["out_of_sample"]["psr"] is None
    assert summary["overfitting"]["out_of_sample_psr"] is None
    assert summary["out_of_sample"]["total_return"] == pytest.approx(curve.iloc[-1] / 1e5 - 1)
    written = json.loads((run / "summary.json").read_text())
    assert written["overfitting"]["out_of_sample_psr"] is None


def test_fold_bounds_given_as_plain_dates_are_utc(one_fold, tmp_path: Path) -> None:
    """The template's bounds as a person types them: dates, no zone (naive means UTC)."""
    record, _, params = one_fold
    bounds = ("train_start", "train_end", "test_start", "test_end")
    dates = {k: str(pd.Timestamp(params[k]).date()) for k in bounds}
    again = run_fold(**{**params, **dates, "out": str(tmp_path)})
    assert again["params"] == record["params"]
    assert again["out_of_sample"]["final_equity"] == record["out_of_sample"]["final_equity"]


def test_a_tpe_walk_forward_fold_samples_seeds_and_counts_its_trials(tmp_path: Path) -> None:
    big = {"fast": list(range(5, 101, 5)), "slow": list(range(20, 301, 10))}
    config = WalkForwardConfig("ma_crossover", "sample:SPX", 504, 252, big, start="2004-01-01",
                               end="2008-12-31", search="tpe", n_trials=12, seed=3)  # fmt: skip
    assert config.grid == big  # each parameter's values, never the 580-combination product
    assert {"search", "n_trials", "seed"} <= set(config.to_dict())
    grid_doc = WalkForwardConfig("ma_crossover", "sample:SPX", 504, 252, GRID).to_dict()
    assert "search" not in grid_doc  # a grid run's run.json is as it always was
    folds, _ = plan_folds(config)
    params = fold_parameters(config, folds[1], tmp_path)
    assert (params["search"], params["n_trials"], params["seed"]) == ("tpe", 12, 3)
    record = run_fold(**params)
    again = run_fold(**{**params, "out": str(tmp_path / "again")})
    assert record["params"] == again["params"] and record["score"] == again["score"]
    sweep = pd.read_csv(tmp_path / "folds" / "fold_001_sweep.csv", index_col="trial")
    assert len(sweep) == record["n_trials"] == record["overfitting"]["n_trials"] <= 12
    assert record["search"] == "tpe" and record["n_samples"] == 12
    assert n_trials(config, [record["n_trials"]]) == record["n_trials"]
    with pytest.raises(ConfigError, match="needs n_trials"):
        WalkForwardConfig("ma_crossover", "sample:SPX", 504, 252, GRID, search="tpe")


def test_parallel_folds_are_handed_out_last_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A later fold's out-of-sample run covers more bars: in parallel the folds go out last
    first (the cheapest ends the run), in turn in fold order; outcomes come in fold order.
    The runner prepares the kernels before the folds are planned."""
    from workbench.research import walkforward

    handed: list[Any] = []

    class Recording(walkforward.NotebookRunner):
        def prepare(self, preload):  # type: ignore[no-untyped-def, override]
            handed.append(("prepared", preload))

        def run(self, jobs, **kwargs):  # type: ignore[no-untyped-def, override]
            handed.append([job.name for job in jobs])
            return [JobOutcome(job.name, "failed", job.output, 0.0, "not run") for job in jobs]

    def planning(config, universe=None):  # type: ignore[no-untyped-def]
        handed.append("planned")
        return plan_folds(config, universe)

    monkeypatch.setattr(walkforward, "NotebookRunner", Recording)
    monkeypatch.setattr(walkforward, "plan_folds", planning)
    config = WalkForwardConfig(
        "ma_crossover", "sample:SPX", 252, 63, GRID, start="2015-01-01", end="2016-12-31"
    )
    names = [f"fold_{fold.number:03d}" for fold in plan_folds(config)[0]]
    assert len(names) == 4
    for workers in (1, 2):
        run = walkforward.run_walk_forward(
            config, tmp_path / str(workers), workers=workers, progress=False, report_template=None
        )
        assert [o.name for o in run.outcomes] == names
    # the kernels' start (one kernel's, or a pool's zygote's), before planning
    prepared = ("prepared", walkforward.FOLD_PRELOAD)
    assert handed == [prepared, "planned", names, prepared, "planned", names[::-1]]


def test_summarize_with_no_fold_finished_leaves_no_earlier_curve(one_fold, tmp_path: Path) -> None:
    """A re-run where every fold failed: the stitched curve of an earlier run is not this run's
    (the report would plot it as if it were)."""
    config = spx_config()
    folds, _ = plan_folds(config)
    run = tmp_path / "run"
    (run / "folds").mkdir(parents=True)
    (run / "equity.csv").write_text("time,equity\n2008-01-02T00:00:00+00:00,100000.0\n")
    outcomes = [
        JobOutcome(f"fold_{f.number:03d}", "failed", run / "folds" / f"fold_{f.number:03d}.ipynb")
        for f in folds
    ]
    summary = summarize(run, folds=folds, outcomes=outcomes, config=config)
    assert summary["n_failed"] == len(folds) and summary["out_of_sample"] == {}
    assert not (run / "equity.csv").exists()


def test_a_fold_that_fails_leaves_none_of_an_earlier_run_s_files(one_fold, tmp_path: Path) -> None:
    _, folder, params = one_fold
    copy_fold_001(folder, tmp_path)
    with pytest.raises(ConfigError, match="unknown metric"):
        run_fold(**{**params, "metric": "nope", "out": str(tmp_path)})
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_fold_before_a_symbol_s_history_names_the_symbol(tmp_path: Path) -> None:
    """Over a universe of different histories the early folds fail, each saying which symbol
    has no bars in its window, and since when it has."""
    load_bars("sample:SPX", start="2010-01-01", end="2012-12-31").to_csv(tmp_path / "AAA.csv")
    load_bars("sample:NASDAQ", start="2011-06-01", end="2012-12-31").to_csv(tmp_path / "BBB.csv")
    config = WalkForwardConfig(
        "momentum_rotation", f"csv:{tmp_path}", 252, 126, {"lookback": [20, 60]}
    )
    folds, _ = plan_folds(config)
    with pytest.raises(DataError, match=r"0 bar\(s\) of BBB \(its bars: 2011-06-01 to 2012-12-3"):
        run_fold(**fold_parameters(config, folds[0], tmp_path / "run"))
