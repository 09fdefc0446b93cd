"""Reconciliation of live emulator sessions: none, extra slippage, a dropped fill.

Each session is a real one (emulator servers, alpaca-py, the live runner, SQLite); the
differences are injected at the venue: a higher slippage than the bundle models, or a
trading stream that goes silent while one order fills (its fill event is lost, the
broker's position still moves). The report must name exactly those, and the command
must exit non-zero for them.
"""

from __future__ import annotations

import json

import pytest
from emulator_session import FAKE_SECRET, EmulatorSession

from workbench.cli.main import main
from workbench.dashboard import create_app
from workbench.emulator import Fault
from workbench.live.reconcile import reconcile

pytestmark = pytest.mark.slow
MODELLED_BPS = 2.0  # the bundle's slippage (emulator_session.COSTS)


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


def test_a_clean_session_reconciles_with_no_difference(
    tmp_path, capsys, page, serve, screenshots
) -> None:
    with EmulatorSession(tmp_path, bars=120) as session:
        session.finish()
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
