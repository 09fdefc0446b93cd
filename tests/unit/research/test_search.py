"""Random and TPE searches (optuna): seeded, every trial recorded and counted, resumable."""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd
import pytest

from workbench.errors import ConfigError
from workbench.research.overfitting import deflated_sharpe_ratio, overfitting_report
from workbench.research.search import axis_of
from workbench.research.sweep import sweep, trial_returns

GRID = {"fast": range(5, 101, 5), "slow": range(20, 301, 10)}
DATA = {"bars": "sample:SPX", "start": "2009-01-01", "end": "2012-12-31"}


def run(search: str = "tpe", n: int = 25, seed: int | None = 7, **kw):
    return sweep("ma_crossover", DATA["bars"], GRID, start=DATA["start"], end=DATA["end"],
                 search=search, n_trials=n, seed=seed, **kw)  # fmt: skip


def sampled(frame):
    return frame.sort_index()[["fast", "slow", "sharpe", "samples"]]


def test_axes_keep_the_grid_values() -> None:
    assert axis_of("fast", list(range(5, 101, 5))).kind == "int"
    a = axis_of("x", [0.1, 0.2, 0.3])
    assert (a.kind, a.low, a.high, a.step) == ("float", 0.1, 0.3, pytest.approx(0.1))
    assert axis_of("w", [10, 20, 50]).kind == "categorical"  # uneven: no made-up values
    assert axis_of("flag", [True, False]).kind == "categorical"


@pytest.mark.parametrize("search", ["tpe", "random"])
def test_the_same_seed_gives_the_same_trials(search: str) -> None:
    a, b = run(search), run(search)
    assert sampled(a).equals(sampled(b))
    assert a.attrs["n_samples"] == 25 and a.attrs["n_trials"] == len(a) <= 25
    assert not sampled(run(search, seed=8)).equals(sampled(a))
    # every value drawn is one of the grid's, and satisfies fast < slow
    assert set(a["fast"]) <= set(GRID["fast"]) and set(a["slow"]) <= set(GRID["slow"])
    assert (a["fast"] < a["slow"]).all()


def test_tpe_results_equal_the_grid_sweep_of_the_same_combinations() -> None:
    found = run("tpe", n=12)
    grid = sweep("ma_crossover", DATA["bars"], GRID, start=DATA["start"], end=DATA["end"],
                 keep_returns=False).set_index(["fast", "slow"])  # fmt: skip
    for row in found.itertuples():
        assert row.sharpe == pytest.approx(grid.loc[(row.fast, row.slow), "sharpe"])


def test_the_recorded_trial_count_reaches_the_deflated_sharpe_ratio() -> None:
    frame = run("tpe", n=30)
    returns = trial_returns(frame)
    assert returns.shape[1] == frame.attrs["n_trials"]  # one column per distinct trial
    report = overfitting_report(returns, selected=frame.index[0])
    n = frame.attrs["n_trials"]
    assert report["n_trials"] == n
    args = (report["sharpe"], report["sr_variance"])
    shape = (report["n_obs"], report["skew"], report["kurtosis"])
    assert report["dsr"] == pytest.approx(deflated_sharpe_ratio(*args, n, *shape))
    # more trials raise the bar luck alone clears: the DSR falls as the count grows
    dsr = [deflated_sharpe_ratio(*args, k, *shape) for k in (1, n // 3, n, 10 * n)]
    assert dsr == sorted(dsr, reverse=True) and dsr[0] > dsr[-1]


def test_a_resumed_search_continues_the_same_study(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    first = run("tpe", n=8, storage=storage, study_name="cross")
    again = run("tpe", n=20, storage=storage, study_name="cross")
    study = optuna.load_study(study_name="cross", storage=storage)
    tried = [t for t in study.trials if "workbench_params" in t.user_attrs]
    assert len(tried) == 20 and again.attrs["n_samples"] == 20
    # the first 8 trials are the first run's, evaluated again into the frame
    assert set(map(tuple, first[["fast", "slow"]].to_numpy())) <= set(
        map(tuple, again[["fast", "slow"]].to_numpy())
    )
    for trial in tried[:8]:
        params = trial.user_attrs["workbench_params"]
        assert ((first["fast"] == params["fast"]) & (first["slow"] == params["slow"])).any()
    # asked for no more than it holds: nothing new runs
    same = run("tpe", n=20, storage=storage, study_name="cross")
    assert len(optuna.load_study(study_name="cross", storage=storage).trials) == len(study.trials)
    assert sampled(same).equals(sampled(again))
    # another grid on the same study is refused
    with pytest.raises(ConfigError, match="another grid"):
        sweep("ma_crossover", DATA["bars"], {"fast": [5, 10], "slow": [50, 60]},
              start=DATA["start"], end=DATA["end"], search="tpe", n_trials=5,
              storage=storage, study_name="cross")  # fmt: skip


def test_a_resumed_random_search_draws_new_combinations(tmp_path: Path) -> None:
    # a sampler seeded as the first run's drew that run's 10 combinations again
    storage = f"sqlite:///{tmp_path / 'random.db'}"
    first = run("random", n=10, storage=storage, study_name="r")
    again = run("random", n=20, storage=storage, study_name="r")
    assert again.attrs["n_samples"] == 20
    assert again.attrs["n_trials"] > first.attrs["n_trials"]
    assert again.loc[again.index >= 10, "samples"].sum() > 0  # new trials are rows of their own
    # the continuation is reproducible: the same two calls on a new study give the same frame
    other = f"sqlite:///{tmp_path / 'other.db'}"
    run("random", n=10, storage=other, study_name="r")
    assert sampled(run("random", n=20, storage=other, study_name="r")).equals(sampled(again))


def test_a_search_adds_the_benchmark_figures_as_the_grid_sweep_does() -> None:
    found = run("random", n=4, benchmark="universe")
    grid = sweep("ma_crossover", DATA["bars"], GRID, start=DATA["start"], end=DATA["end"],
                 benchmark="universe").set_index(["fast", "slow"])  # fmt: skip
    for row in found.itertuples():
        expected = grid.loc[(row.fast, row.slow)]
        assert row.alpha == pytest.approx(expected["alpha"])
        assert row.excess_return == pytest.approx(expected["excess_return"])


def test_a_search_over_a_universe_is_refused_by_name(spx: pd.DataFrame) -> None:
    universe = {"A": spx.iloc[:300], "B": spx.iloc[:300]}
    with pytest.raises(ConfigError, match=r"a sampled search .* runs one symbol, got 2"):
        sweep("ma_crossover", universe, GRID, search="random", n_trials=3, seed=1)


def test_bad_search_arguments_are_named() -> None:
    with pytest.raises(ConfigError, match="needs n_trials"):
        run("tpe", n=None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown search"):
        run("bayes")
    with pytest.raises(ConfigError, match="goes with search='random' or 'tpe'"):
        sweep("ma_crossover", DATA["bars"], {"fast": [5], "slow": [50]}, n_trials=3)


def test_samples_breaking_the_constraints_are_skipped_not_run() -> None:
    frame = sweep("ma_crossover", DATA["bars"], {"fast": range(10, 200, 10), "slow": [30, 60]},
                  start=DATA["start"], end=DATA["end"], search="random", n_trials=10,
                  seed=1)  # fmt: skip
    assert frame.attrs["skipped"] > 0 and (frame["fast"] < frame["slow"]).all()
    assert frame.attrs["n_samples"] == 10


def test_cli_sweep_searches_and_resumes(tmp_path: Path, capsys) -> None:
    import json

    from workbench.cli.main import main

    storage = f"sqlite:///{tmp_path / 's.db'}"
    argv = ["sweep", "--strategy", "ma_crossover", "--data", "sample:SPX", "--start",
            "2010-01-01", "--grid", "fast=5:100:5", "--grid", "slow=20:300:10",
            "--search", "tpe", "--seed", "2", "--storage", storage, "--json"]  # fmt: skip
    assert main([*argv, "--trials", "6"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["search"], first["seed"], first["n_samples"]) == ("tpe", 2, 6)
    assert main([*argv, "--trials", "10"]) == 0  # the same study, four more trials
    second = json.loads(capsys.readouterr().out)
    assert second["n_samples"] == 10
    assert {r["trial"] for r in first["rows"]} <= {r["trial"] for r in second["rows"]}


def test_a_search_on_a_dask_cluster_equals_the_local_one_with_its_batch() -> None:
    from distributed import Client, LocalCluster

    from workbench.research.search import search_sweep

    kw = {"search": "tpe", "n_trials": 12, "seed": 5, "start": DATA["start"], "end": DATA["end"]}
    local = search_sweep("ma_crossover", DATA["bars"], GRID, batch=4, **kw)
    with (
        LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                     dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        remote = search_sweep("ma_crossover", DATA["bars"], GRID, batch=4, scheduler=client, **kw)
        via_sweep = run("tpe", n=10, scheduler=client)  # 8 at a time by default
    assert sampled(remote).equals(sampled(local))
    assert trial_returns(remote).equals(trial_returns(local))
    assert via_sweep.attrs["n_samples"] == 10
