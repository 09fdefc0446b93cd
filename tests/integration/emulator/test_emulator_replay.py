"""The replay clock, the account's arithmetic and the emulator's life cycle."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pandas as pd
import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest

from workbench.emulator import Emulator
from workbench.emulator import testing as emt
from workbench.emulator.shapes import num
from workbench.errors import ConfigError


def test_interval_steps_the_replay_by_itself(hand_frames) -> None:
    with Emulator(hand_frames, interval=0.02) as emu:
        stream = emt.data_stream(emu, "AAA", ready=False)
        try:
            emt.wait_until(lambda: emu.state()["finished"], 5, "the end of the replay")
            clock = emt.trading_client(emu).get_clock()
            assert emu.step() == 0
        finally:
            stream.stop()
    assert not clock.is_open
    # the end of the last bar's day (2024-01-10) on the calendar's clock: New York midnight
    assert clock.timestamp == pd.Timestamp("2024-01-11", tz="America/New_York")


def test_symbols_with_different_calendars(hand_frames) -> None:
    aaa = hand_frames["AAA"]
    bbb = aaa.iloc[2:].copy() * 2  # starts two days later
    with Emulator({"AAA": aaa, "BBB": bbb}) as emu:
        client = emt.trading_client(emu)
        emu.step()  # 2024-01-01: only AAA
        order = client.submit_order(
            MarketOrderRequest(symbol="BBB", qty=1, side="buy", time_in_force="gtc")
        )
        emu.step()  # 2024-01-02: no BBB bar, nothing to fill on
        assert client.get_order_by_id(order.id).status.value == "new"
        emu.step()  # 2024-01-03: BBB's first bar
        filled = client.get_order_by_id(order.id)
        assert (filled.status.value, float(filled.filled_avg_price)) == ("filled", 204.0)
        assert emu.state()["cursor"] == 3


def test_money_adds_up_at_every_bar(spx_bars) -> None:
    """cash + long + short market value = equity, with costs, shorts and partial fills."""
    rng = np.random.default_rng(7)
    with Emulator(
        spx_bars, replay_from="2008-09-01", commission="0.001", slippage="5bps", volume_limit=0.5
    ) as emu:
        client = emt.trading_client(emu)
        for _ in range(60):
            position = emu.state()["positions"]
            held = float(position[0]["qty"]) if position else 0.0
            qty = float(rng.integers(1, 6))
            side = "buy" if held <= 0 and rng.random() < 0.6 else "sell"
            if side == "sell" and 0 < held < qty:
                qty = held
            if side == "buy" and held < 0:
                qty = min(qty, -held)
            client.cancel_orders()
            try:
                client.submit_order(
                    MarketOrderRequest(symbol="SPX", qty=qty, side=side, time_in_force="day")
                )
            except APIError as exc:
                assert exc.status_code in (403, 422), exc
            emu.step()
            account = client.get_account()
            cash, equity = float(account.cash), float(account.equity)
            long_value, short_value = (
                float(account.long_market_value),
                float(account.short_market_value),
            )
            assert cash + long_value + short_value == pytest.approx(equity, abs=1e-6)
            pf = emu.core.venue.broker.portfolio
            assert equity == pytest.approx(pf.equity, abs=1e-9)
            values = sum(float(p.market_value) for p in client.get_all_positions())
            assert values == pytest.approx(long_value + short_value, abs=1e-6)
        fills = emu.core.venue.broker.fills
        assert len(fills) > 20 and any(f.side.value == "sell" for f in fills)
        paid = sum(f.commission for f in fills)
        assert pf.commission_paid == pytest.approx(paid)


def test_short_positions_are_negative(emulator: Emulator, trading_client) -> None:
    trading_client.submit_order(
        MarketOrderRequest(symbol="SPX", qty=5, side="sell", time_in_force="day")
    )
    emulator.step()
    position = trading_client.get_open_position("SPX")
    assert (position.qty, position.side.value) == ("-5", "short")
    assert float(position.market_value) == pytest.approx(-5 * 1132.98999)
    account = trading_client.get_account()
    assert float(account.short_market_value) == pytest.approx(-5 * 1132.98999)
    assert float(account.cash) == pytest.approx(100_000 + 5 * 1116.560059)


def test_no_short_account(spx_bars) -> None:
    with (
        Emulator(spx_bars, replay_from="2010-01-04", allow_short=False) as emu,
        pytest.raises(APIError) as exc,
    ):
        emt.trading_client(emu).submit_order(
            MarketOrderRequest(symbol="SPX", qty=1, side="sell", time_in_force="day")
        )
    assert (exc.value.status_code, exc.value.message) == (403, "account is not allowed to short")


def test_notional_order_resolves_its_quantity_at_the_fill(emulator, trading_client) -> None:
    order = trading_client.submit_order(
        MarketOrderRequest(symbol="SPX", notional=1000, side="buy", time_in_force="day")
    )
    assert (order.notional, order.qty) == ("1000", None)
    emulator.step()
    filled = trading_client.get_order_by_id(order.id)
    assert float(filled.qty) == pytest.approx(1000 / 1116.560059)
    assert float(trading_client.get_account().cash) == pytest.approx(99_000, abs=1e-6)


def test_buying_power_counts_open_orders(emulator, trading_client) -> None:
    trading_client.submit_order(
        LimitOrderRequest(symbol="SPX", qty=80, side="buy", time_in_force="gtc", limit_price=1000)
    )
    assert trading_client.get_account().buying_power == "20000"
    with pytest.raises(APIError) as exc:  # 20 x 1115.1 > 20000 left
        trading_client.submit_order(
            LimitOrderRequest(
                symbol="SPX", qty=20, side="buy", time_in_force="gtc", limit_price=1100
            )
        )
    assert exc.value.code == 40310000


def test_history_before_replay_from_is_served_not_traded(emulator, data_client, spx_bars) -> None:
    from alpaca.data.requests import StockBarsRequest
    from alpaca.data.timeframe import TimeFrame

    req = StockBarsRequest(
        symbol_or_symbols="SPX", timeframe=TimeFrame.Day, start=pd.Timestamp("2009-12-01")
    )
    bars = data_client.get_stock_bars(req)["SPX"]
    assert bars[-1].timestamp == pd.Timestamp("2009-12-31 05:00", tz="UTC")
    history = len(spx_bars["SPX"].loc[:"2009-12-31"])
    assert emulator.state()["cursor"] == history


def test_python_reset(emulator: Emulator, trading_client, spx_bars) -> None:
    trading_client.submit_order(
        MarketOrderRequest(symbol="SPX", qty=1, side="buy", time_in_force="day")
    )
    emulator.step(3)
    emulator.reset()
    state = emulator.state()
    history = len(spx_bars["SPX"].loc[:"2009-12-31"])
    assert (state["cursor"], state["orders"], state["positions"]) == (history, [], [])
    assert trading_client.get_account().equity == "100000"


def test_life_cycle_is_bounded_and_leaves_no_thread(hand_frames) -> None:
    before = {t.name for t in threading.enumerate()}
    emu = Emulator(hand_frames)
    with pytest.raises(ConfigError, match="not running"):
        _ = emu.base_url
    for _ in range(2):  # stop, then start again
        with emu:
            assert requests.get(f"{emu.base_url}/v2/clock", timeout=5).status_code == 401
        assert emu.port is None
    assert "workbench-emulator" not in {t.name for t in threading.enumerate()} - before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"replay_from": "2030-01-01"}, "replay_from 2030-01-01 00:00:00+00:00 is after the last"),
        ({"replay_from": "soon"}, "replay_from 'soon' is not a time"),
        ({"secret": ""}, "the emulator needs a key and a secret"),
        ({"interval": -1}, "interval must be a positive number of seconds"),
        ({"commission": "cheap"}, "commission percent: 'cheap' is not a number"),
        ({"volume_limit": 2}, "volume_limit must be in (0, 1], got 2"),
        ({"faults": ["slow"]}, "slow fault needs delay > 0 seconds"),
    ],
)
def test_bad_settings_fail_at_construction(hand_frames, kwargs, message) -> None:
    with pytest.raises(ConfigError) as exc:
        Emulator(hand_frames, **kwargs)
    assert str(exc.value).startswith(message)


def test_secrets_are_never_logged_or_shown(emulator: Emulator, caplog) -> None:
    from alpaca.trading.client import TradingClient

    caplog.set_level(logging.DEBUG)
    wrong = TradingClient(emulator.key, "leaked-secret-1", url_override=emulator.base_url)
    with pytest.raises(APIError) as exc:
        wrong.get_account()
    stream = emt.trading_stream(emulator, ready=False)
    emt.wait_until(lambda: emulator.state()["connections"]["trading_ready"] == 1)
    stream.stop()
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("workbench")]
    assert any("fault drop" in m for m in ours)  # the emulator did log
    shown = "\n".join(ours) + str(exc.value) + repr(emulator) + repr(emulator.config)
    shown += str(emulator.state())
    assert emulator.secret not in shown and "leaked-secret-1" not in shown


@pytest.mark.parametrize(
    ("value", "text"),
    [(100000.0, "100000"), (0.1 + 0.2, "0.30000000000000004"), (-5.0, "-5"), (1e-7, "0.0000001"),
     (-0.0, "0"), (1234567.25, "1234567.25"), (None, None), (float("nan"), None)],
)  # fmt: skip
def test_numbers_are_written_as_alpaca_writes_them(value, text) -> None:
    assert num(value) == text
