"""A venue outage, seen through the real SDK: every REST call 503, the streams dropped and
refused, the control API still answering; measured on the replay clock."""

from __future__ import annotations

import pandas as pd
import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.requests import MarketOrderRequest

from workbench.emulator import Emulator
from workbench.emulator import testing as emt
from workbench.emulator.outage import Outage
from workbench.errors import ConfigError

SPEC = "synthetic:AAA?freq=1min&session=XNYS&start=2023-11-22&end=2023-11-22&seed=5"


def _503(call) -> None:
    with pytest.raises(APIError) as exc:
        call()
    assert (exc.value.status_code, exc.value.code) == (503, 50310000)
    assert exc.value.message == "service unavailable"


def test_an_outage_answers_503_everywhere_drops_and_refuses_streams(
    emulator: Emulator, trading_client, data_client, trading_stream, data_stream
) -> None:
    trading = trading_stream()
    data = data_stream("SPX")
    order = trading_client.submit_order(
        MarketOrderRequest(symbol="SPX", qty=1, side="buy", time_in_force="day")
    )
    emulator.outage()  # now, until ended
    _503(trading_client.get_account)
    _503(lambda: trading_client.get_order_by_client_id(order.client_order_id))
    _503(trading_client.get_all_positions)
    _503(lambda: data_client.get_stock_bars(StockBarsRequest(symbol_or_symbols="SPX",
                                                             timeframe=TimeFrame.Day)))  # fmt: skip
    # the streams: the open connections were dropped, a new one is refused before upgrade
    state = emulator.state()
    assert state["connections"]["trading"] == state["connections"]["data"] == 0
    assert requests.get(emulator.base_url + "/stream", timeout=5).status_code == 503
    assert requests.get(emulator.base_url + "/v2/iex", timeout=5).status_code == 503
    # the market goes on: the order fills at the next bar, nobody is told
    assert emulator.step() == 1
    state = emulator.state()
    assert state["outage"]["active"] and state["orders"][0]["status"] == "filled"
    assert data.nothing_for(0.3)
    emulator.end_outage()
    assert emulator.state()["outage"] is None
    assert trading_client.get_order_by_client_id(order.client_order_id).status == "filled"
    trading.wait_ready()  # the SDK reconnects by itself
    data.wait_ready()
    emulator.step()
    assert data.take(1)[0].symbol == "SPX"


def test_an_outage_on_the_replay_clock_hides_the_bars_of_its_duration() -> None:
    with Emulator(SPEC, outage="2023-11-22T14:33Z,2min") as emu:
        client = emt.trading_client(emu)
        emu.step(3)  # 14:30-14:32
        scheduled = {"active": False, "at": "2023-11-22T14:33:00+00:00", "start": None,
                     "duration_s": 120.0, "until": None}  # fmt: skip
        assert emu.state()["outage"] == scheduled
        client.get_account()
        emu.step()  # 14:33: down before it is published
        assert emu.state()["outage"]["until"] == "2023-11-22T14:35:00+00:00"
        _503(client.get_clock)
        emu.step()  # 14:34: still down
        _503(client.get_clock)
        emu.step()  # 14:35: up again before it is published
        assert emu.state()["outage"] is None
        assert client.get_clock().timestamp.isoformat().startswith("2023-11-22T09:36")
        # the bars published meanwhile are served over REST, as Alpaca's endpoint does
        bars = emt.data_client(emu).get_stock_bars(
            StockBarsRequest(symbol_or_symbols="AAA", timeframe=TimeFrame.Minute)
        )
        assert [b.timestamp.minute for b in bars.data["AAA"]] == [30, 31, 32, 33, 34, 35]


def test_a_day_of_outage_on_daily_bars_hides_one_day() -> None:
    index = pd.bdate_range("2024-01-01", periods=4, tz="UTC", name="time")
    frame = pd.DataFrame([(100.0, 101.0, 99.0, 100.0, 1000.0)] * 4, index=index,
                         columns=["open", "high", "low", "close", "volume"])  # fmt: skip
    with Emulator({"AAA": frame}) as emu:
        client = emt.trading_client(emu)
        emu.step()  # Jan 1's day is over: 2024-01-02 00:00 New York
        emu.outage("1D")
        assert emu.state()["outage"]["until"] == "2024-01-03T05:00:00+00:00"
        emu.step()  # Jan 2, published to nobody
        _503(client.get_clock)
        emu.step()  # Jan 3: its day begins when the outage ends, up before it is published
        assert emu.state()["outage"] is None
        assert client.get_clock().timestamp == pd.Timestamp("2024-01-04", tz="America/New_York")


def test_the_control_api_starts_and_ends_an_outage_and_refuses_nonsense() -> None:
    with Emulator(SPEC) as emu:
        url = emu.base_url + "/_emulator/outage"
        answer = requests.post(url, json={"duration": "90s"}, timeout=5).json()
        assert answer["active"] and answer["duration_s"] == 90.0
        assert requests.get(emu.base_url + "/v2/clock", timeout=5).status_code == 503
        assert requests.delete(url, timeout=5).status_code == 200
        assert requests.get(emu.base_url + "/v2/clock", timeout=5).status_code != 503
        bad = requests.post(url, json={"duration": "soon"}, timeout=5)
        assert bad.status_code == 422 and "soon" in bad.json()["message"]
    with pytest.raises(ConfigError, match="AT,DURATION"):
        Outage.parse("2min")
    with pytest.raises(ConfigError, match="positive"):
        Outage.make(duration="-1min")
