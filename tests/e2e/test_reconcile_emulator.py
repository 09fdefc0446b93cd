"""Reconciliation of live emulator sessions: none, extra slippage, a dropped fill, a late fill.

Each session is a real one (emulator servers, alpaca-py, the live runner, SQLite); the
differences are injected at the venue: a higher slippage than the bundle models, a
trading stream that goes silent while one order fills (its fill event is lost, the
broker's position still moves), or a bar that fills only part of an order (its rest
fills on the next bar, or is canceled and sent again as a second order). The report
must name exactly those, and the command must exit non-zero for them.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from emulator_session import FAKE_SECRET, PARAMS, EmulatorSession, session_bars
from wholeshare_strategy import WholeShareCross

from workbench import backtest
from workbench.cli.main import main
from workbench.dashboard import create_app
from workbench.emulator import Fault
from workbench.live.reconcile import reconcile
from workbench.live.state import StateStore

pytestmark = pytest.mark.slow
MODELLED_BPS = 2.0  # the bundle's slippage (emulator_session.COSTS)


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


def test_a_clean_session_reconciles_with_no_difference(
    tmp_path, capsys, page, serve, screenshots
) -> None:
    with EmulatorSession(tmp_path, bars=120) as session:
        session.finish()
    with StateStore(session.state) as state:
        times = pd.to_datetime(state.fills()["time"], utc=True, format="ISO8601")
    # the venue fills at the session's open (09:30 New York, winter and summer: January to
    # June), not at the daily bars' labels (00:00 UTC): each is still found in its bar
    opens = times.dt.tz_convert("America/New_York").dt.strftime("%H:%M")
    assert len(times) >= 10 and (opens == "09:30").all()
    offsets = {t.utcoffset() for t in times.dt.tz_convert("America/New_York")}
    assert offsets == {pd.Timedelta(hours=-5), pd.Timedelta(hours=-4)}
    rec = reconcile(session.state)
    s = rec.summary
    assert s["verdict"] == "match" and s["unexplained"] == 0 and _nonzero(s["counts"]) == {}
    assert s["trades"]["live"] == s["trades"]["backtest"] == s["trades"]["matched"] >= 5
    assert s["fills"]["live"] == s["fills"]["backtest"]
    assert s["equity"]["live_final"] == pytest.approx(s["equity"]["backtest_final"], rel=1e-9)
    out = tmp_path / "reconcile" / "clean"
    assert main(["reconcile", "--state", str(session.state), "--out", str(out)]) == 0
    assert "match: 0 unexplained" in capsys.readouterr().out
    for name in ("summary.json", "trades.csv", "differences.csv", "equity.png", "fills.png"):
        assert (out / name).stat().st_size > 0, name
    html = (out / "report.html").read_text()
    assert FAKE_SECRET not in html and 'id="verdict">match' in html
    # the dashboard links the latest report
    with serve(create_app(session.state)) as url:
        page.goto(url + "/")
        assert page.text_content("#report-link").strip() == "clean"
        page.click("#report-link")
        assert page.text_content("#verdict").startswith("match")
        page.screenshot(path=str(screenshots / "reconcile-report-clean.png"), full_page=True)


def test_extra_slippage_is_reported_as_exactly_the_fill_price_differences(
    tmp_path, capsys, page, screenshots
) -> None:
    with EmulatorSession(tmp_path, bars=120, slippage_bps=MODELLED_BPS + 5) as session:
        session.finish()
    rec = reconcile(session.state)
    s = rec.summary
    legs = s["fills"]["live"]  # one fill per order here: every leg paid 5 bps more
    assert _nonzero(s["counts"]) == {"fill_price": legs} and s["unexplained"] == legs
    assert s["trades"]["matched"] == s["trades"]["live"] == s["trades"]["backtest"]
    t = rec.trades
    for leg in ("entry", "exit"):
        done = t[f"{leg}_price_bps"].notna()
        # (1 + 7bps) / (1 + 2bps) - 1 for a buy, (1 - 2bps) / (1 - 7bps) - 1 for a sell
        assert t.loc[done, f"{leg}_price_bps"].to_numpy() == pytest.approx(5.0, abs=0.01)
        assert t.loc[done, f"live_{leg}_slip_bps"].to_numpy() == pytest.approx(7.0, abs=0.01)
        assert t.loc[done, f"bt_{leg}_slip_bps"].to_numpy() == pytest.approx(2.0, abs=0.01)
    out = tmp_path / "report"
    assert main(["reconcile", "--state", str(session.state), "--out", str(out)]) == 1
    assert f"fill_price     {legs}" in capsys.readouterr().out
    assert main(["reconcile", "--state", str(session.state), "--out", str(tmp_path / "loose"),
                 "--price-bps", "5.5"]) == 0  # fmt: skip
    page.goto((out / "report.html").as_uri())
    page.screenshot(path=str(screenshots / "reconcile-report-slippage.png"), full_page=True)


def test_a_dropped_fill_is_reported_as_exactly_that(tmp_path, capsys) -> None:
    with EmulatorSession(tmp_path, bars=120) as session:
        session.step_until(19)  # the first entry was decided on bar 19 and is at the venue
        session.emulator.set_faults(Fault.silent("trading"))
        session.step_until(20)  # it fills; the fill event is never sent
        session.emulator.set_faults(Fault.drop("trading"))  # the client reconnects

        def reconnected() -> bool:
            c = session.emulator.state()["connections"]
            return c["accepted"]["trading"] >= 2 and c["trading_ready"] >= 1

        session._wait(reconnected, "the trading stream to reconnect")
        session.emulator.clear_faults()
        session.finish()
    rec = reconcile(session.state)
    s = rec.summary
    assert _nonzero(s["counts"]) == {"dropped_fill": 1} and s["unexplained"] == 1
    assert s["fills"] == {"live": s["fills"]["backtest"] - 1, "backtest": s["fills"]["backtest"],
                          "dropped": 1}  # fmt: skip
    (diff,) = rec.differences.itertuples(index=False)
    assert diff.trade == 1 and diff.leg == "entry" and diff.decision_bar == 18
    assert "position moved without a recorded fill" in diff.detail
    assert main(["reconcile", "--state", str(session.state), "--out", str(tmp_path / "r"),
                 "--json"]) == 1  # fmt: skip
    doc = json.loads(capsys.readouterr().out)
    assert doc["counts"]["dropped_fill"] == 1 and doc["verdict"] == "differences"


def test_an_entry_whose_rest_filled_a_bar_later_is_exactly_one_fill_time(tmp_path) -> None:
    with EmulatorSession(tmp_path, bars=120) as session:
        session.step_until(19)  # the first entry was decided on bar 19 and is at the venue
        session.emulator.set_faults(Fault.partial(qty=10, times=1))  # 10 shares on bar 20
        session.step_until(21)  # the GTC order's rest fills on bar 21
        session.emulator.clear_faults()
        session.finish()
    rec = reconcile(session.state)
    s = rec.summary
    assert _nonzero(s["counts"]) == {"fill_time": 1} and s["unexplained"] == 1
    assert s["trades"]["matched"] == s["trades"]["live"] == s["trades"]["backtest"]
    assert s["fills"]["live"] == s["fills"]["backtest"] + 1  # the entry in two fills
    (diff,) = rec.differences.itertuples(index=False)
    assert diff.trade == 1 and diff.leg == "entry" and diff.decision_bar == 18
    assert "entry filled 1 bar later than in the backtest" in diff.detail
    first = rec.trades.iloc[0]
    assert first["entry_fill_shift"] == 1 and first["differences"] == "fill_time"
    # the 10 shares filled on the backtest's bar, the rest a bar later: timing, not price
    p = s["pnl"]
    assert p["timing"] == pytest.approx(first["pnl_timing"]) and p["timing"] != 0
    parts = ("price", "timing", "quantity", "fees", "missing_trades", "extra_trades")
    assert sum(p[k] for k in parts) == pytest.approx(p["difference"], abs=1e-6)


def _first_leg_sent_again(tmp_path, leg: str) -> tuple[EmulatorSession, pd.DatetimeIndex, int]:
    """A restating session whose first ``leg`` order fills 10 shares on the bar the backtest
    fills it whole; the runner cancels its rest and sends it again on the next bar. The
    session, its bars' times and that bar's number."""
    bars = session_bars(120)
    bt = backtest(WholeShareCross, bars, {**PARAMS, "restate": True}, cash=100_000, slippage=2)
    at = int(bars.index.get_loc(bt.trades[f"{leg}_time"].dropna().iloc[0]))
    with EmulatorSession(tmp_path, bars=120, restate=True) as session:
        session.step_until(at)  # the first order of the leg was decided and is at the venue
        session.emulator.set_faults(Fault.partial(qty=10, times=1))  # 10 shares of it fill
        session.step_until(at + 1)  # the runner cancels the rest and sends it again
        session.emulator.clear_faults()
        session.finish()
    return session, bars.index, at


def test_an_exit_closed_by_two_orders_is_one_trade_filled_a_bar_later(tmp_path) -> None:
    session, _, _ = _first_leg_sent_again(tmp_path, "exit")
    rec = reconcile(session.state)
    s = rec.summary
    # one round trip, not a trade and an extra one
    assert s["trades"]["matched"] == s["trades"]["live"] == s["trades"]["backtest"]
    assert _nonzero(s["counts"]) == {"fill_time": 1}
    (diff,) = rec.differences.itertuples(index=False)
    assert diff.trade == 1 and diff.leg == "exit" and "by 2 orders live" in diff.detail
    first = rec.trades.iloc[0]
    assert first["live_exits"] == 2 and first["bt_exits"] == 1
    assert first["exit_fill_shift"] == 1 and first["live_quantity"] == first["bt_quantity"]
    p = s["pnl"]
    parts = ("price", "timing", "quantity", "fees", "missing_trades", "extra_trades")
    assert sum(p[k] for k in parts) == pytest.approx(p["difference"], abs=1e-6)
    assert p["timing"] == pytest.approx(first["pnl_timing"]) and p["extra_trades"] == 0


def test_an_entry_whose_rest_was_sent_again_is_one_trade_filled_a_bar_later(tmp_path) -> None:
    session, times, at = _first_leg_sent_again(tmp_path, "entry")
    with StateStore(session.state) as state:
        orders = state.orders()
    first = orders[orders["side"] == "buy"].iloc[:2]
    assert first["status"].tolist() == ["canceled", "filled"]  # two entry orders at the venue
    assert first["filled_quantity"].iloc[0] == 10
    rec = reconcile(session.state)
    s = rec.summary
    # one round trip, not a smaller trade and an extra one
    assert s["trades"]["matched"] == s["trades"]["live"] == s["trades"]["backtest"]
    assert _nonzero(s["counts"]) == {"fill_time": 1}
    (diff,) = rec.differences.itertuples(index=False)
    assert diff.trade == 1 and diff.leg == "entry" and "by 2 orders live" in diff.detail
    assert "entry filled 1 bar later than in the backtest" in diff.detail
    trade = rec.trades.iloc[0]
    assert trade["live_entries"] == 2 and trade["bt_entries"] == 1
    assert trade["live_quantity"] == trade["bt_quantity"] and trade["entry_fill_shift"] == 1
    # the first entry's time (in its bar, at the session's open), not the rest's
    assert times[at] <= trade["live_entry_time"] < times[at + 1]
    p = s["pnl"]
    parts = ("price", "timing", "quantity", "fees", "missing_trades", "extra_trades")
    assert sum(p[k] for k in parts) == pytest.approx(p["difference"], abs=1e-6)
    assert p["timing"] == pytest.approx(trade["pnl_timing"]) and p["extra_trades"] == 0
