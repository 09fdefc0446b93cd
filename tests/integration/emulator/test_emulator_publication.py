"""The publication delay, seen through the real SDK: the clock moves with each step, its
bar reaches the stream and the REST endpoints only later, and never out of order."""

from __future__ import annotations

import pandas as pd
import pytest
import requests
from alpaca.data.requests import StockBarsRequest, StockLatestBarRequest
from alpaca.data.timeframe import TimeFrame

from workbench.emulator import Emulator
from workbench.emulator import testing as emt
from workbench.errors import ConfigError

SPEC = "synthetic:AAA?freq=1min&session=XNYS&start=2024-01-02&end=2024-01-02&seed=3"
OPEN = pd.Timestamp("2024-01-02 14:30", tz="UTC")
MINUTE = pd.Timedelta("1min")


def _rest_minutes(client) -> list[pd.Timestamp]:
    req = StockBarsRequest(symbol_or_symbols="AAA", timeframe=TimeFrame.Minute, start=OPEN)
    return [pd.Timestamp(b.timestamp) for b in client.get_stock_bars(req).data.get("AAA", [])]


def test_a_steps_bar_is_published_after_the_delay_and_before_the_next_step() -> None:
    with Emulator(SPEC, key="k", secret="s", publication_delay=60.0) as emu:
        client = emt.data_client(emu)
        stream = emt.data_stream(emu, "AAA", channels=("bars",))  # the minutes, in order
        try:
            emu.step(2)
            assert emu.state()["clock"]["timestamp"].startswith("2024-01-02T09:32")
            assert _rest_minutes(client) == [OPEN]  # 09:31 is over, its bar not out yet
            latest = client.get_stock_latest_bar(StockLatestBarRequest(symbol_or_symbols="AAA"))
            assert pd.Timestamp(latest["AAA"].timestamp) == OPEN
            assert emu.state()["publication"] == {"delay_s": 60.0, "withholding": True}
            emu.step()  # stepping on publishes 09:31 first
            assert _rest_minutes(client) == [OPEN, OPEN + MINUTE]
            url = f"{emu.base_url}/_emulator/publication_delay"
            answer = requests.post(url, json={"seconds": 0}, timeout=5).json()
            assert answer == {"delay_s": 0.0, "withholding": False}  # 09:32 published now
            assert _rest_minutes(client) == [OPEN + i * MINUTE for i in range(3)]
            got = [pd.Timestamp(b.timestamp) for b in stream.take(3)]
            assert got == [OPEN + i * MINUTE for i in range(3)]  # in order, each once
            emu.set_publication_delay(0.2)
            emu.step()
            (bar,) = stream.take(1)  # comes by itself after 0.2 s
            assert pd.Timestamp(bar.timestamp) == OPEN + 3 * MINUTE
        finally:
            stream.stop()


@pytest.mark.parametrize("bad", [-1, "soon", float("nan")])
def test_a_bad_delay_is_refused_with_what_to_give(bad) -> None:
    with pytest.raises(ConfigError, match="publication delay is a number of seconds"):
        Emulator(SPEC, publication_delay=bad)


def test_the_control_api_refuses_a_bad_delay() -> None:
    with Emulator(SPEC, key="k", secret="s") as emu:
        url = f"{emu.base_url}/_emulator/publication_delay"
        assert requests.post(url, json={"seconds": -2}, timeout=5).status_code == 422
        assert requests.post(url, json={"delay": 1}, timeout=5).status_code == 422
        assert emu.state()["publication"]["delay_s"] == 0.0
