"""``workbench reconcile`` on live runs over the simulated broker: each injected fault, exactly.

The live runner trades the reference crossover on SPX through a SimulatedBroker and keeps
its real SQLite state; differences are injected where they happen in life: a venue that
slips or charges more than the bundle models, a fill row lost from the state, a fill
event lost on the broker's stream.
"""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest

from workbench import backtest, load_bars
from workbench.broker import UpdateEvent
from workbench.bundle import write_bundle
from workbench.cli.main import main
from workbench.errors import ConfigError, DataError, OrderRejected
from workbench.live.reconcile import Tolerances, reconcile, reconcile_daily
from workbench.live.replay import ReplayFeed, SimulatedVenueFeed
from workbench.live.runner import LiveRunner
from workbench.live.state import StateStore
from workbench.risk import RiskConfig, RiskEngine
from workbench.runspec import RunSpec
from workbench.sim.broker import SimulatedBroker
from workbench.sim.costs import Commission, Slippage
from workbench.strategy import make_strategy

PARAMS = {"fast": 10, "slow": 30}
SETTINGS = {"cash": 100_000.0, "commission": {"percent": 0.0005}, "slippage": {"bps": 2.0}}


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return load_bars("sample:SPX", end="2000-12-31")


@pytest.fixture
def bundle(tmp_path):
    return write_bundle(
        tmp_path / "promoted", make_strategy("ma_crossover", PARAMS),
        data={"spec": "sample:SPX", "symbols": {"SPX": {}}},
        gates=[], metrics={}, report="",
        run_spec=RunSpec(symbols=("SPX",), timeframe="1Day", session="all", **SETTINGS),
    )  # fmt: skip


class LosesOneFillEvent:
    """A broker whose update stream loses the ``n``-th fill event (the venue still fills)."""

    def __init__(self, inner: SimulatedBroker, n: int) -> None:
        self.inner, self.n, self.seen = inner, n, 0

    def __getattr__(self, name: str):  # the rest of the Broker protocol, unchanged
        return getattr(self.inner, name)

    def drain_updates(self):
        kept = []
        for update in self.inner.drain_updates():
            if update.event is UpdateEvent.FILL:
                self.seen += 1
                if self.seen == self.n:
                    continue
            kept.append(update)
        return kept


class RefusesOneOrder:
    """A broker that refuses the ``n``-th order sent (as Alpaca refuses one for buying
    power): the runner records it rejected, nothing filled."""

    def __init__(self, inner, n: int) -> None:
        self.inner, self.n, self.sent = inner, n, 0

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def submit_order(self, request):
        self.sent += 1
        if self.sent == self.n:
            raise OrderRejected("insufficient buying power")
        return self.inner.submit_order(request)


def run_live(tmp_path, bundle, bars, *, commission=0.0005, slippage=2.0, lose_fill=None, risk=None,
             volume_limit=None, refuse=None):  # fmt: skip
    venue = SimulatedBroker(
        100_000.0, commission=Commission(percent=commission), slippage=Slippage(bps=slippage),
        volume_limit=volume_limit,
    )  # fmt: skip
    broker = LosesOneFillEvent(venue, lose_fill) if lose_fill else venue
    broker = RefusesOneOrder(broker, refuse) if refuse else broker
    state = StateStore(tmp_path / "live.sqlite")
    state.set_meta(bundle=str(bundle.path))
    feed = SimulatedVenueFeed(ReplayFeed({"SPX": bars}), venue)
    spec = bundle.run_spec  # the bundle's strategy, risk rules and execution policy, as live
    LiveRunner(
        bundle.make_strategy(), ["SPX"], broker, feed, state,
        execution=spec.execution.config(lot_size=spec.lot_size),
        risk=RiskEngine(risk or spec.risk) if risk or spec.risk.to_dict() else None,
    ).run()  # fmt: skip
    state.close()
    return tmp_path / "live.sqlite"


def nonzero(rec) -> dict[str, int]:
    return {k: v for k, v in rec.summary["counts"].items() if v}


def test_a_faithful_live_run_reconciles_with_no_difference(tmp_path, bundle, bars, capsys):
    state = run_live(tmp_path, bundle, bars)
    rec = reconcile(state)
    expected = backtest("ma_crossover", bars, PARAMS, cash=100_000, commission=0.0005, slippage=2)
    assert rec.ok and rec.exit_code == 0 and nonzero(rec) == {}
    assert rec.summary["trades"] == {"live": len(expected.trades), "backtest": len(expected.trades),
                                     "matched": len(expected.trades)}  # fmt: skip
    assert rec.summary["equity"]["backtest_final"] == pytest.approx(
        expected.final_equity, rel=1e-12
    )
    t = rec.trades
    assert (t["match"] == "matched").all() and (t["differences"] == "").all()
    assert t["entry_price_bps"].abs().max() == 0.0
    assert t["live_entry_slip_bps"].to_numpy() == pytest.approx(2.0, abs=1e-6)  # modelled 2 bps
    assert t["fee_diff"].abs().max() < 1e-9
    out = tmp_path / "out"
    assert main(["reconcile", "--state", str(state), "--out", str(out)]) == 0
    assert "match: 0 unexplained" in capsys.readouterr().out
    trades = pd.read_csv(out / "trades.csv")
    assert len(trades) == len(expected.trades) and "live_entry_price" in trades.columns
    # each crossover trade a position of its own (flat in between), the same on both sides
    numbers = list(range(1, len(expected.trades) + 1))
    assert trades["live_episode"].tolist() == trades["bt_episode"].tolist() == numbers
    assert json.loads((out / "summary.json").read_text())["verdict"] == "match"


@pytest.mark.parametrize("extra_bps", [3.0, 10.0])
def test_extra_slippage_is_reported_on_every_leg_and_nothing_else(
    tmp_path, bundle, bars, extra_bps
):
    state = run_live(tmp_path, bundle, bars, slippage=2.0 + extra_bps)
    rec = reconcile(state)
    legs = rec.summary["fills"]["live"]
    assert nonzero(rec) == {"fill_price": legs} and rec.exit_code == 1
    done = rec.trades["entry_price_bps"].notna()
    # a buy pays open * (1 + (2 + x) bps) instead of open * (1 + 2 bps)
    expected = ((1 + (2 + extra_bps) * 1e-4) / (1 + 2e-4) - 1) * 1e4
    assert rec.trades.loc[done, "entry_price_bps"].to_numpy() == pytest.approx(expected, rel=1e-6)
    realised = rec.trades["live_entry_slip_bps"].to_numpy()
    assert realised == pytest.approx(2 + extra_bps, abs=1e-6)
    # each names its amount: the live quantity times the price difference, + = worse
    first = rec.trades.iloc[0]
    cost = first["live_quantity"] * (first["live_entry_price"] - first["bt_entry_price"])
    entry = rec.differences[(rec.differences["trade"] == 1) & (rec.differences["leg"] == "entry")]
    assert f" bps, {cost:+,.2f} on {first['live_quantity']:g}; slippage" in entry["detail"].iloc[0]
    assert cost > 0  # a buy that paid more
    loose = reconcile(state, tolerances=Tolerances(price_bps=extra_bps + 0.1))
    assert loose.ok and nonzero(loose) == {}


def test_a_venue_charging_more_than_the_model_is_a_fee_difference(tmp_path, bundle, bars):
    state = run_live(tmp_path, bundle, bars, commission=0.001)  # the bundle models 0.0005
    rec = reconcile(state)
    assert nonzero(rec) == {"fee": rec.summary["trades"]["live"]}
    t = rec.trades
    assert (t["fee_diff"] > 0).all()
    # twice the modelled rate: the live fee is about twice the model's on the same fills
    assert (t["live_fees"] / t["live_fees_model"]).to_numpy() == pytest.approx(2.0, rel=1e-3)


def test_a_fill_row_lost_from_the_state_is_exactly_one_dropped_fill(tmp_path, bundle, bars):
    state = run_live(tmp_path, bundle, bars)
    store = StateStore(state)
    lost = store.fills().iloc[4]
    store.conn.execute("DELETE FROM fills WHERE fill_key = ?", (lost["fill_key"],))
    store.close()
    rec = reconcile(state)
    assert nonzero(rec) == {"dropped_fill": 1} and rec.exit_code == 1
    (diff,) = rec.differences.itertuples(index=False)
    assert diff.trade == 3 and diff.leg == "entry"  # fills 0-3 are trades 1-2, fill 4 opens 3
    assert lost["order_id"] in diff.detail and "fill not recorded" in diff.detail
    row = rec.trades.loc[rec.trades["trade"] == 3].iloc[0]
    assert row["live_entry_price"] == pytest.approx(lost["price"], rel=1e-12)  # from the order


def test_a_fill_event_lost_on_the_stream_is_exactly_one_dropped_fill(tmp_path, bundle, bars):
    state = run_live(tmp_path, bundle, bars, lose_fill=5)
    store = StateStore(state)
    assert len(store.fills()) == len(reconcile(state).backtest.fills) - 1
    store.close()
    rec = reconcile(state)
    assert nonzero(rec) == {"dropped_fill": 1}
    assert "position moved without a recorded fill" in rec.differences["detail"].iloc[0]
    assert rec.summary["trades"]["matched"] == rec.summary["trades"]["backtest"]


def test_a_trade_whose_live_entry_the_venue_refused_is_missing_with_that_reason(
    tmp_path, bundle, bars
):
    state = run_live(tmp_path, bundle, bars, refuse=3)  # the second trade's entry
    rec = reconcile(state)
    s = rec.summary
    assert s["trades"]["live"] == s["trades"]["matched"] == s["trades"]["backtest"] - 1
    assert nonzero(rec) == {"missing": 1}
    with StateStore.reader(state) as store:
        refused = store.orders().iloc[2]
    assert refused["status"] == "rejected" and pd.isna(refused["order_id"])
    (diff,) = rec.differences.itertuples(index=False)
    decided = pd.Timestamp(refused["decision_ns"], tz="UTC")
    assert diff.detail.endswith(
        f": the live run's buy order {refused['client_order_id']}, decided at {decided}, "
        "filled nothing (rejected)"
    )


def test_until_cuts_the_run_and_the_daily_check_logs_its_verdict(tmp_path, bundle, bars, caplog):
    state = run_live(tmp_path, bundle, bars, slippage=5.0)
    cut = reconcile(state, until="2000-06-30")
    full = reconcile(state)
    assert cut.summary["bars"]["last"] == "2000-06-30T00:00:00+00:00"
    assert 0 < cut.summary["trades"]["backtest"] < full.summary["trades"]["backtest"]
    with caplog.at_level(logging.INFO, logger="workbench"):
        verdict = reconcile_daily(state, day="2000-06-30")
    assert not verdict.ok and verdict.counts["fill_price"] == cut.summary["counts"]["fill_price"]
    assert verdict.report == tmp_path / "reconcile" / "2000-06-30" / "report.html"
    assert verdict.report.is_file()
    assert any("reconciliation 2000-06-30: differences" in r.getMessage() for r in caplog.records)
    missing = reconcile_daily(tmp_path / "nope.sqlite")
    assert missing.error and "no state file" in missing.error and not missing.ok


def test_bad_input_gets_a_one_line_error(tmp_path, bundle, bars, capsys):
    assert main(["reconcile", "--state", str(tmp_path / "none.sqlite")]) == 2
    assert "no state file" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="tolerance price_bps"):
        Tolerances(price_bps=-1)
    with pytest.raises(ConfigError, match="window_bars"):
        Tolerances(decision_bars=3, window_bars=1)
    empty = StateStore(tmp_path / "empty.sqlite")
    empty.close()
    with pytest.raises(DataError, match="not seen a bar"):
        reconcile(tmp_path / "empty.sqlite")
    state = run_live(tmp_path, bundle, bars.iloc[:60])
    store = StateStore(state)
    store.conn.execute("DELETE FROM meta WHERE key = 'bundle'")
    store.close()
    assert main(["reconcile", "--state", str(state)]) == 2
    assert "names no bundle" in capsys.readouterr().err
    assert main(["reconcile", "--state", str(state), "--bundle", str(bundle.path),
                 "--out", str(tmp_path / "o")]) == 0  # fmt: skip


def promote(root, strategy, **spec):
    settings = {**SETTINGS, **spec}
    return write_bundle(
        root, strategy, data={"spec": "sample:SPX", "symbols": {"SPX": {}}}, gates=[],
        metrics={}, report="",
        run_spec=RunSpec(symbols=("SPX",), timeframe="1Day", session="all", **settings),
    )  # fmt: skip


def test_a_risk_decision_both_sides_made_explains_no_difference(tmp_path, bars):
    # a position cap clips every entry, live and in the backtest alike: that explains
    # nothing about a venue slipping 10 bps more than the bundle models on every leg
    risk = {"position_sizing": {"max_position_fraction": 0.5}}
    capped = promote(tmp_path / "promoted", make_strategy("ma_crossover", PARAMS), risk=risk)
    state = run_live(tmp_path, capped, bars, slippage=12.0)
    rec = reconcile(state)
    legs = rec.summary["fills"]["live"]
    assert nonzero(rec) == {"fill_price": legs}
    assert rec.unexplained == legs and (rec.differences["explained_by"] == "").all()
    assert len(rec.backtest.risk_events) > 0 and rec.events["in_backtest"].all()


STRATEGY_MODULE = '''
from workbench.strategy import Strategy


class LowBidThenSell(Strategy):
    """Bids far under the market on bar 5 (never filled), sells one share on bar 10."""

    name = "low_bid_then_sell"
    params = ()

    def on_bar(self, ctx):
        if len(ctx.close) == 5:
            ctx.buy(1, type="limit", limit=ctx.close[-1] / 2)
        elif len(ctx.close) == 10:
            ctx.sell(1)
'''


def test_the_backtest_side_runs_the_bundles_execution_policy(tmp_path, bars, monkeypatch):
    # "wait": the sell waits for the working bid, which never fills, so the run never
    # trades; a backtest with the default "cancel_replace" would cancel it and sell
    (tmp_path / "rc_low_bid.py").write_text(STRATEGY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    strategy = make_strategy("rc_low_bid:LowBidThenSell")
    waits = promote(tmp_path / "promoted", strategy, execution={"conflict": "wait"})
    state = run_live(tmp_path, waits, bars.iloc[:30])
    rec = reconcile(state)
    assert rec.summary["fills"] == {"live": 0, "backtest": 0, "dropped": 0}
    assert rec.ok and nonzero(rec) == {}


def test_a_bundle_of_another_strategy_or_timeframe_is_refused(tmp_path, bundle, bars, capsys):
    state = run_live(tmp_path, bundle, bars.iloc[:60])
    other = promote(tmp_path / "other", make_strategy("equal_weight"))
    with pytest.raises(ConfigError, match="is a run of strategy 'ma_crossover'"):
        reconcile(state, bundle=other.path)
    assert main(["reconcile", "--state", str(state), "--bundle", str(other.path),
                 "--out", str(tmp_path / "o")]) == 2  # fmt: skip
    assert "'equal_weight'" in capsys.readouterr().err
    store = StateStore(state)
    store.set_meta(timeframe="1Hour")  # as the runner writes its bundle's timeframe
    store.close()
    with pytest.raises(ConfigError, match=r"a run on 1Hour bars; bundle .* trades 1Day bars"):
        reconcile(state)


def test_the_pnl_difference_adds_up_from_price_quantity_fees_and_lone_trades(
    tmp_path, bundle, bars
):
    # a venue slipping 10 bps more and charging twice the modelled commission
    state = run_live(tmp_path, bundle, bars, slippage=12.0, commission=0.001)
    p = reconcile(state).summary["pnl"]
    parts = ("price", "timing", "quantity", "fees", "missing_trades", "extra_trades")
    assert sum(p[k] for k in parts) == pytest.approx(p["difference"], abs=1e-6)
    assert p["difference"] == pytest.approx(p["equity_difference"], abs=1e-6)  # started flat
    assert p["price"] < 0 and p["fees"] < 0 and p["missing_trades"] == p["extra_trades"] == 0
    assert p["timing"] == 0  # every leg filled on the backtest's bar
    # the live run's kill switch is on from the start: each backtest trade is missing
    (killed := tmp_path / "killed").mkdir()
    (kill := killed / "kill").touch()
    rec = reconcile(run_live(killed, bundle, bars, risk=RiskConfig(kill_switch_file=str(kill))))
    p = rec.summary["pnl"]
    assert rec.summary["trades"]["live"] == 0 < rec.summary["trades"]["backtest"]
    assert p["missing_trades"] == pytest.approx(-p["backtest"], rel=1e-12) and p["backtest"]
    assert p["live"] == p["price"] == p["timing"] == p["quantity"] == p["fees"] == 0
    assert p["extra_trades"] == 0
    assert sum(p[k] for k in parts) == pytest.approx(p["difference"], abs=1e-6)


CROSS_MODULE = '''
import math

from workbench.indicators import SMA
from workbench.params import Param
from workbench.strategy import Strategy


class WholeCross(Strategy):
    """The crossover in whole shares (GTC orders: a capped order's rest fills on later
    bars); with ``restate`` it states its target on every bar, so a partly filled exit's
    rest is canceled and sent again as a second order on the next bar."""

    name = "rc_whole_cross"
    params = (Param("restate", bool, False),)

    def init(self, ctx):
        self.fast, self.slow = ctx.indicator(SMA(10)), ctx.indicator(SMA(30))
        self.shares = 0.0

    def on_bar(self, ctx):
        if len(self.fast) < 2:
            return
        above = self.fast[-1] > self.slow[-1]
        crossed = above != (self.fast[-2] > self.slow[-2])
        if crossed and above:
            self.shares = float(math.floor(0.9 * ctx.equity / ctx.close[-1]))
        if crossed or self.p.restate:
            ctx.target(quantity=self.shares if above else 0.0, reason="CROSS")
'''
THIN = 20.0  # shares a thin bar lets one order take at the live venue


def thin_bars(tmp_path, monkeypatch, bars, restate, leg="exit"):
    """The bundle of the whole-share crossover, and the bars with the volume of each bar the
    backtest fills a ``leg`` on cut to ``THIN`` shares: the live venue (volume-capped, the
    bundle models no cap) fills ``THIN`` of each such order there and the rest on the next
    bar."""
    (tmp_path / "rc_whole_cross.py").write_text(CROSS_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    strategy = make_strategy("rc_whole_cross:WholeCross", {"restate": restate})
    promoted = promote(tmp_path / "promoted", strategy)
    result = backtest(strategy, bars, cash=100_000, commission=0.0005, slippage=2)
    closed = result.trades[result.trades["status"] == "closed"]
    if leg == "entry":  # an exit the bar after the entry cancels the rest: a smaller trade
        closed = closed[closed["bars_held"] > 2]
    assert len(closed) >= 3 and (closed["quantity"] > THIN).all()
    thin = bars.copy()
    thin.loc[closed[f"{leg}_time"], "volume"] = THIN
    return promoted, thin, closed


def thin_leg_run(tmp_path, monkeypatch, bars, restate, leg):
    """Reconcile a live run whose ``leg`` orders fill partly on thin bars (:func:`thin_bars`):
    each is one trade with the backtest's, that leg filled a bar later (and nothing else)."""
    promoted, thin, closed = thin_bars(tmp_path, monkeypatch, bars, restate, leg)
    rec = reconcile(run_live(tmp_path, promoted, thin, volume_limit=1.0))
    s = rec.summary
    assert s["trades"]["live"] == s["trades"]["backtest"] == s["trades"]["matched"]
    assert nonzero(rec) == {"fill_time": len(closed)}
    late = rec.differences
    assert (late["leg"] == leg).all() and late["detail"].str.contains("1 bar later").all()
    return rec, closed


@pytest.mark.parametrize("restate", [False, True], ids=["rest-on-next-bar", "second-exit-order"])
def test_an_exit_filled_partly_and_its_rest_on_the_next_bar_is_a_fill_time_difference(
    tmp_path, bars, monkeypatch, restate
):
    # one round trip per entry however many orders closed it: none extra, none missing
    rec, _ = thin_leg_run(tmp_path, monkeypatch, bars, restate, "exit")
    s = rec.summary
    done = rec.trades[rec.trades["bt_status"] == "closed"]
    assert (done["exit_fill_shift"] == 1).all() and done["entry_fill_shift"].eq(0).all()
    assert (done["live_exits"] == (2 if restate else 1)).all() and (done["bt_exits"] == 1).all()
    # the exit price moved with the market between the bars: timing, not price
    p = s["pnl"]
    parts = ("price", "timing", "quantity", "fees", "missing_trades", "extra_trades")
    assert sum(p[k] for k in parts) == pytest.approx(p["difference"], abs=1e-6)
    assert p["timing"] == pytest.approx(done["pnl_timing"].sum()) and p["timing"] != 0
    assert p["price"] == pytest.approx(0.0, abs=1e-6)
    html = rec.write(tmp_path / "out").read_text()
    assert "filled a bar or more later" in html and "exit_fill_shift" in html


@pytest.mark.parametrize("restate", [False, True], ids=["rest-on-next-bar", "second-entry-order"])
def test_an_entry_filled_partly_and_its_rest_sent_again_is_one_trade_filled_later(
    tmp_path, bars, monkeypatch, restate
):
    # the entry's rest is canceled and sent again as a second entry order (restate), or
    # stays working (GTC): either way the one trade of the backtest, its rest a bar later
    rec, closed = thin_leg_run(tmp_path, monkeypatch, bars, restate, "entry")
    s = rec.summary
    t = rec.trades
    done = t[t["bt_entry_time"].isin(closed["entry_time"])]  # the thinned ones
    assert len(done) == len(closed) and (done["entry_fill_shift"] == 1).all()
    # the whole quantity (later ones are sized on equities the late fills moved apart)
    assert done["live_quantity"].iloc[0] == done["bt_quantity"].iloc[0]
    assert (done["live_entries"] == (2 if restate else 1)).all() and (done["bt_entries"] == 1).all()
    if restate:  # the entry orders listed, the first one's bar as the entry time
        assert done["live_entry_order_id"].str.count(r"\+").eq(1).all()
        assert (done["live_entry_time"] == done["bt_entry_time"]).all()
    # the rest's price is the market's move between the bars: timing, not price
    p = s["pnl"]
    parts = ("price", "timing", "quantity", "fees", "missing_trades", "extra_trades")
    assert sum(p[k] for k in parts) == pytest.approx(p["difference"], abs=1e-6)
    assert p["timing"] == pytest.approx(done["pnl_timing"].sum()) and p["timing"] != 0
    assert p["price"] == pytest.approx(0.0, abs=1e-6) and p["extra_trades"] == 0
    html = rec.write(tmp_path / "out").read_text()
    assert "live_entries" in html and "entry_fill_shift" in html


PYRAMID_MODULE = '''
from workbench.params import Param
from workbench.strategy import Strategy


class Pyramid(Strategy):
    """Buys 30 shares on bar 40, adds 30 on bar ``add_at`` (60), sells all on bar
    ``exit_at`` (80); it states its target on every bar, so a partly filled order's rest is
    canceled and sent again (with the add, when the add comes while the entry is partly
    filled; not at all when the exit comes then)."""

    name = "rc_pyramid"
    params = (Param("add_at", int, 60, low=41, high=99), Param("exit_at", int, 80, low=41))

    def on_bar(self, ctx):
        n = len(ctx.close)
        if n >= 40:
            add = n >= self.p.add_at
            out = n >= self.p.exit_at
            ctx.target(quantity=0.0 if out else 60.0 if add else 30.0, reason="STEP")
'''


def pyramid_run(tmp_path, monkeypatch, bars, thin=None, volume=THIN, **params):
    """Reconcile a live run of the pyramid (``params``) on the first 100 bars, bar ``thin``
    (an int or a list, when given) letting the volume-capped live venue fill ``volume``
    shares of an order."""
    (tmp_path / "rc_pyramid.py").write_text(PYRAMID_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    promoted = promote(tmp_path / "promoted", make_strategy("rc_pyramid:Pyramid", params))
    bars = bars.iloc[:100].copy()
    if thin is not None:
        bars.loc[bars.index[thin], "volume"] = volume
    return reconcile(run_live(tmp_path, promoted, bars, volume_limit=1.0))


def test_an_order_filled_a_bar_later_after_being_sent_again_whole_is_a_fill_time(
    tmp_path, bars, monkeypatch
):
    # no volume on the entry's and the exit's fill bars: the live orders fill nothing
    # there, the next decision cancels each and sends it again, and it fills on the next
    # bar. The strategy decided on the backtest's bars: each leg filled a bar later (the
    # price difference the market's move), not decided later nor slipped
    rec = pyramid_run(tmp_path, monkeypatch, bars, [40, 80], volume=0.0)
    with StateStore.reader(tmp_path / "live.sqlite") as store:
        orders = store.orders()
    assert (orders["status"] == "canceled").sum() == 2 and orders["filled_quantity"].min() == 0
    assert rec.summary["trades"] == {"live": 2, "backtest": 2, "matched": 2}
    assert nonzero(rec) == {"fill_time": 3}  # the first entry; both trades' exit
    d = rec.differences
    assert d["leg"].tolist() == ["entry", "exit", "exit"]
    assert d["detail"].str.startswith(("entry filled 1 bar later", "exit filled 1 bar later")).all()
    canceled = orders.loc[orders["status"] == "canceled", "order_id"].tolist()
    for n, first in enumerate([canceled[0], canceled[1], canceled[1]]):  # the reason named
        assert f"replaced {first}, which filled nothing) live" in d["detail"].iloc[n]
    t = rec.trades
    assert t["entry_fill_shift"].tolist() == [1, 0] and t["exit_fill_shift"].tolist() == [1, 1]
    for leg in ("entry", "exit"):  # decided on the same bars
        assert (t[f"live_{leg}_decision"] == t[f"bt_{leg}_decision"]).all()
    p = rec.summary["pnl"]
    assert p["price"] == pytest.approx(0.0, abs=1e-6) and p["timing"] != 0


@pytest.mark.parametrize("volume", [THIN, 0.0], ids=["entry-partly-filled", "entry-unfilled"])
def test_an_add_sent_with_the_entrys_rest_is_the_entry_filled_later_and_the_add(
    tmp_path, bars, monkeypatch, volume
):
    # the entry (30) fills 20 (or nothing) on a thin bar; the add, decided on that bar,
    # cancels it and sends one order of 40 (or 60): the entry's rest and the add. The
    # backtest filled 30, then 30: the entry's trade filled (its rest) a bar later, the
    # add as in the backtest, neither missing nor resized
    rec = pyramid_run(tmp_path, monkeypatch, bars, 40, volume=volume, add_at=41)
    with StateStore.reader(tmp_path / "live.sqlite") as store:
        orders = store.orders()
    assert orders["filled_quantity"].tolist() == [volume, 60.0 - volume, 60.0]  # as described
    assert rec.summary["trades"] == {"live": 2, "backtest": 2, "matched": 2}
    assert nonzero(rec) == {"fill_time": 1}
    t = rec.trades
    assert t["live_quantity"].tolist() == t["bt_quantity"].tolist() == [30.0, 30.0]
    assert t["entry_fill_shift"].tolist() == [1, 0]
    assert (t["live_entry_decision"] == t["bt_entry_decision"]).all()
    first, add = t["live_entry_order_id"]  # the order of the rest and the add in both
    assert first == (f"{orders['order_id'][0]}+{add}" if volume else add)
    # the rest's price, the market's move between the bars, named in money too
    detail = rec.differences["detail"].iloc[0]
    assert f"{-t['pnl_timing'].iloc[0]:+,.2f} on 30, + = worse" in detail
    p = rec.summary["pnl"]
    parts = ("price", "timing", "quantity", "fees", "missing_trades", "extra_trades")
    assert sum(p[k] for k in parts) == pytest.approx(p["difference"], abs=1e-6)
    assert p["difference"] == pytest.approx(p["equity_difference"], abs=1e-6)


def test_an_entry_filled_partly_and_its_rest_never_sent_is_a_partial_fill(
    tmp_path, bars, monkeypatch
):
    # the entry fills 20 of 30 on a thin bar and the exit, decided on that bar, cancels
    # its rest: the trade entered 20 where the backtest's entered 30, told as a partial
    # fill naming the order (not as a size difference, with no reason)
    rec = pyramid_run(tmp_path, monkeypatch, bars, 40, exit_at=41)  # the entry's fill bar
    assert rec.summary["trades"] == {"live": 1, "backtest": 1, "matched": 1}
    assert nonzero(rec) == {"partial_fill": 1} and rec.exit_code == 1
    (diff,) = rec.differences.itertuples(index=False)
    entry = rec.trades["live_entry_order_id"].iloc[0]
    assert diff.leg == "entry" and diff.detail == (
        f"entered 20 live vs 30 in the backtest (size -33.33%): live order {entry} "
        "filled 20 of 30, its rest canceled"
    )
    p = rec.summary["pnl"]
    assert p["quantity"] != 0 and p["price"] == pytest.approx(0.0, abs=1e-6)
    html = rec.write(tmp_path / "out").read_text()
    assert "partial_fill" in html and "never sent again" in html
