"""The dashboard shows a live run's exposure per sector, with the bundle's sector caps."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from workbench.broker import Bar
from workbench.dashboard import create_app, snapshot
from workbench.live.state import StateStore
from workbench.orders import Fill, Side
from workbench.risk import RiskConfig

T1, T2 = pd.Timestamp("2024-01-02", tz="UTC"), pd.Timestamp("2024-01-03", tz="UTC")


@pytest.fixture
def state(tmp_path):
    """Holds 10 AAPL (100), 5 MSFT (200) and 20 XOM (50): 1,000 + 1,000 + 1,000 of 10,000."""
    risk = RiskConfig.from_dict(
        {"group_exposure": {"groups": "gics", "default": 0.3, "limits": {"Energy": 0.15}}}
    )
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_text(json.dumps({"run_spec": {"risk": risk.to_dict()}}))
    path = tmp_path / "live.sqlite"
    store = StateStore(path)
    store.set_meta(
        strategy="momentum_rotation",
        status="running",
        bundle=str(bundle),
        broker="sim",
        feed="replay:x",
        started_at=T1.isoformat(),
        last_bar=T2.isoformat(),
    )
    prices = {"AAPL": 100.0, "MSFT": 200.0, "XOM": 50.0}
    store.record_bars([Bar(s, t, p, p, p, p, 1e6) for s, p in prices.items() for t in (T1, T2)])
    held = {"AAPL": 10.0, "MSFT": 5.0, "XOM": 20.0}
    for k, (sym, qty) in enumerate(held.items()):
        store.record_fill(
            Fill(f"o{k}", sym, Side.BUY, qty, prices[sym], 0.0, T1), f"c{k}", f"o{k}:{qty}"
        )
    store.record_equity(T1.value, 7_000.0, 10_000.0, held)
    store.record_equity(T2.value, 7_000.0, 10_000.0, held)
    store.close()
    return path


def test_exposure_per_sector_with_its_cap(state) -> None:
    sectors = {x["sector"]: x for x in snapshot(state)["sectors"]}
    assert set(sectors) == {"Information Technology", "Energy"}
    tech, energy = sectors["Information Technology"], sectors["Energy"]
    assert tech["market_value"] == 2_000.0 and tech["weight"] == pytest.approx(0.2)
    assert tech["limit"] == 0.3
    assert energy["market_value"] == 1_000.0 and energy["weight"] == pytest.approx(0.1)
    assert energy["limit"] == 0.15
    page = create_app(state).test_client().get("/").get_data(as_text=True)
    assert 'id="sectors"' in page and 'data-sector="Information Technology"' in page
    assert "20.00%" in page and "15.00%" in page
