"""The emulator held to Alpaca's documented behaviour, through the real alpaca-py client.

Each test pins one row of the audit table (README, "The emulator against Alpaca") where
the emulator used to differ from Alpaca's reference or changelog. One emulator per
module over the hand-made AAA bars, reset before each test, keeps this fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pandas as pd
import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.requests import StockLatestQuoteRequest
from alpaca.trading.enums import OrderClass
from alpaca.trading.requests import (
    ClosePositionRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    StopLossRequest,
    TakeProfitRequest,
    TrailingStopOrderRequest,
)

from workbench.brokers.alpaca import AlpacaBroker
from workbench.data.sources import load_symbols
from workbench.emulator import Emulator
from workbench.emulator import testing as emt
from workbench.orders import OrderRequest, OrderType, Side, TimeInForce

KEY, SECRET = "audit-key", "audit-secret"
BARS = [  # daily AAA bars from Monday 2024-01-01: open, high, low, close, volume
    (100.0, 101.0, 99.0, 100.0, 1000.0),
    (101.0, 103.0, 100.0, 102.0, 1000.0),
    (102.0, 104.0, 98.0, 99.0, 1000.0),
    (99.0, 100.0, 95.0, 96.0, 1000.0),
    (96.0, 99.0, 94.0, 98.0, 1000.0),
    (98.0, 105.0, 97.0, 104.0, 1000.0),
]
PDT_FIELDS = {"pattern_day_trader", "daytrade_count", "daytrading_buying_power"}


@pytest.fixture(scope="module")
def shared() -> Iterator[Emulator]:
    index = pd.bdate_range("2024-01-01", periods=len(BARS), tz="UTC", name="time")
    frame = pd.DataFrame(BARS, index=index, columns=["open", "high", "low", "close", "volume"])
    with Emulator({"AAA": frame}, key=KEY, secret=SECRET) as emu:
        yield emu


@pytest.fixture
def emu(shared: Emulator) -> Emulator:
    shared.reset()
    shared.step()  # 2024-01-01 published (close 100)
    return shared


def _refused(call: Callable[..., object], *args: object) -> tuple[int, int, str]:
    """``call(*args)`` must be refused by the venue: its (HTTP status, Alpaca code, message)."""
    with pytest.raises(APIError) as exc:
        call(*args)
    return exc.value.status_code, exc.value.code, exc.value.message


def test_account_has_no_pattern_day_trading_fields(emu: Emulator) -> None:
    """Alpaca removed the PDT/DTBP fields from the account and its configurations on
    2026-07-06 (Trading API changelog); alpaca-py 0.44 reads them as None."""
    raw = requests.get(f"{emu.base_url}/v2/account", headers=emt.headers(emu), timeout=5).json()
    assert not PDT_FIELDS & set(raw)
    client = emt.trading_client(emu)
    account = client.get_account()
    assert account.pattern_day_trader is None and account.daytrade_count is None
    config = requests.get(
        f"{emu.base_url}/v2/account/configurations", headers=emt.headers(emu), timeout=5
    ).json()
    assert not {"dtbp_check", "pdt_check"} & set(config)
    parsed = client.get_account_configurations()
    assert parsed.pdt_check is None and parsed.dtbp_check is None
    assert client.set_account_configurations(parsed).no_shorting is False  # a round trip


def test_close_by_percentage_sells_whole_shares_of_a_whole_position(emu: Emulator) -> None:
    """Alpaca "would only sell fractional if position is originally fractional" (Close a
    Position): 50% of 5 shares sells 2, not 2.5; of a 2.5-share position, 1.25."""
    c = emt.trading_client(emu)
    c.submit_order(MarketOrderRequest(symbol="AAA", qty=5, side="buy", time_in_force="day"))
    emu.step()
    assert c.close_position("AAA", ClosePositionRequest(percentage="50")).qty == "2"
    with pytest.raises(APIError) as exc:  # 10% of the 3 left is not a whole share
        c.cancel_orders()
        c.close_position("AAA", ClosePositionRequest(percentage="10"))
    assert exc.value.status_code == 422 and "less than one share" in exc.value.message
    c.close_all_positions(cancel_orders=True)
    emu.step()
    c.submit_order(MarketOrderRequest(symbol="AAA", qty=2.5, side="buy", time_in_force="day"))
    emu.step()
    assert c.close_position("AAA", ClosePositionRequest(percentage="50")).qty == "1.25"


def test_replace_refuses_what_alpaca_refuses(emu: Emulator) -> None:
    """Replace Order by ID: notional orders cannot be replaced; only whole shares may be
    patched and a fractional order's quantity not at all; a patch that changes nothing
    is 403 "order parameters are not changed" (alpaca-trade-api-js #123)."""
    c = emt.trading_client(emu)
    notional = c.submit_order(
        MarketOrderRequest(symbol="AAA", notional=50, side="buy", time_in_force="day")
    )
    gtc = ReplaceOrderRequest(time_in_force="gtc")
    refusal = _refused(c.replace_order_by_id, notional.id, gtc)
    assert refusal == (422, 42210000, "notional orders cannot be replaced")
    fractional = c.submit_order(
        MarketOrderRequest(symbol="AAA", qty=0.5, side="buy", time_in_force="day")
    )
    refusal = _refused(c.replace_order_by_id, fractional.id, ReplaceOrderRequest(qty=1))
    assert refusal[:2] == (422, 40010001)
    limit = c.submit_order(
        LimitOrderRequest(symbol="AAA", qty=2, side="buy", time_in_force="gtc", limit_price=90)
    )
    same = ReplaceOrderRequest(limit_price=90, qty=2)
    refusal = _refused(c.replace_order_by_id, limit.id, same)
    assert refusal == (403, 40310000, "order parameters are not changed")
    moved = c.replace_order_by_id(limit.id, ReplaceOrderRequest(limit_price=91))
    assert moved.replaces == limit.id and moved.limit_price == "91"
    whole = requests.patch(
        f"{emu.base_url}/v2/orders/{moved.id}", json={"qty": 1.5}, headers=emt.headers(emu),
        timeout=5,
    )  # fmt: skip
    assert whole.status_code == 422 and "whole number" in whole.json()["message"]


def test_an_order_queued_while_the_market_is_closed_cannot_be_replaced() -> None:
    """Alpaca: "Order cannot be replaced when the status is accepted" (Replace Order by ID); the
    message is the one Alpaca answers (alpaca-trade-api-python #306)."""
    spec = "synthetic:AAA?freq=1min&session=XNYS&start=2023-11-24&end=2023-11-27&seed=11"
    with Emulator(load_symbols(spec), key=KEY, secret=SECRET) as emu:
        emu.step(210)  # Black Friday's early close: the market is closed till Monday
        c = emt.trading_client(emu)
        assert c.get_clock().is_open is False
        queued = c.submit_order(
            LimitOrderRequest(symbol="AAA", qty=1, side="buy", time_in_force="day", limit_price=1)
        )
        assert c.get_order_by_id(queued.id).status.value == "accepted"
        assert _refused(c.replace_order_by_id, queued.id, ReplaceOrderRequest(limit_price=2)) == (
            422, 42210000, "unable to replace order, order isn't sent to exchange yet"
        )  # fmt: skip
        emu.step()  # Monday's open: the order is at the venue and can be replaced
        assert c.replace_order_by_id(queued.id, ReplaceOrderRequest(limit_price=2)).replaces


def test_an_order_may_name_its_asset_by_id(emu: Emulator) -> None:
    """Create an Order: ``symbol`` is a "symbol or asset ID" (Alpaca-API #184)."""
    c = emt.trading_client(emu)
    asset = c.get_asset("AAA")
    order = c.submit_order(
        MarketOrderRequest(symbol=str(asset.id), qty=1, side="buy", time_in_force="day")
    )
    assert order.symbol == "AAA" and order.asset_id == asset.id
    unknown = MarketOrderRequest(symbol="ZZZ", qty=1, side="buy", time_in_force="day")
    assert _refused(c.submit_order, unknown) == (422, 40010001, 'asset "ZZZ" not found')


def test_an_order_id_that_is_not_a_uuid_is_422(emu: Emulator) -> None:
    """alpaca-py checks ids itself; raw clients get 422 40010001 (Alpaca-API #135), and an
    unknown UUID 404 "order not found"."""
    base, headers = f"{emu.base_url}/v2/orders", emt.headers(emu)
    for method in ("GET", "PATCH", "DELETE"):
        r = requests.request(method, f"{base}/some_order_id", json={}, headers=headers, timeout=5)
        assert (r.status_code, r.json()["code"]) == (422, 40010001), method
    missing = requests.get(
        f"{base}/{'0' * 8}-0000-4000-8000-{'0' * 12}", headers=headers, timeout=5
    )
    assert (missing.status_code, missing.json()) == (
        404, {"code": 40410000, "message": "order not found"}
    )  # fmt: skip


def test_fractional_shares_are_never_sold_short(emu: Emulator) -> None:
    """Alpaca: "We only support long fractional trading positions; short selling fractional
    shares is not supported" (Alpaca, Fractional Trading); a fractional sell of what is
    held is fine."""
    c = emt.trading_client(emu)
    for req in (
        MarketOrderRequest(symbol="AAA", qty=0.5, side="sell", time_in_force="day"),
        MarketOrderRequest(symbol="AAA", notional=20, side="sell", time_in_force="day"),
    ):
        assert _refused(c.submit_order, req)[:2] == (403, 40310000)
    whole = c.submit_order(
        MarketOrderRequest(symbol="AAA", qty=1, side="sell", time_in_force="day")
    )
    assert whole.qty == "1"  # a whole-share short is allowed
    c.cancel_orders()
    c.submit_order(MarketOrderRequest(symbol="AAA", qty=1.5, side="buy", time_in_force="day"))
    emu.step()
    sold = c.submit_order(
        MarketOrderRequest(symbol="AAA", qty=0.5, side="sell", time_in_force="day")
    )
    assert sold.qty == "0.5"


def test_an_oco_is_an_exit_order_only(emu: Emulator) -> None:
    """Alpaca on oco: "currently only exit order is supported" (Orders at Alpaca); with
    a position it closes, its limit defaulting to the take-profit's."""
    c = emt.trading_client(emu)

    def oco() -> LimitOrderRequest:
        return LimitOrderRequest(
            symbol="AAA", qty=2, side="sell", time_in_force="gtc", order_class=OrderClass.OCO,
            take_profit=TakeProfitRequest(limit_price=110),
            stop_loss=StopLossRequest(stop_price=90),
        )  # fmt: skip

    assert _refused(c.submit_order, oco()) == (
        422,
        42210000,
        "oco orders must be exit orders",
    )
    c.submit_order(MarketOrderRequest(symbol="AAA", qty=2, side="buy", time_in_force="day"))
    emu.step()
    placed = c.submit_order(oco())
    assert placed.order_class is OrderClass.OCO and placed.limit_price == "110"
    # the stop-loss a cent below its base prices: the take-profit's limit and the market
    # (the last close, 102): "Threshold on stop price of stop-loss orders"
    c.cancel_orders()
    for stop in (105.0, 102.0):
        high = oco()
        high.stop_loss = StopLossRequest(stop_price=stop)
        assert _refused(c.submit_order, high) == (
            422,
            40010001,
            "stop_loss.stop_price must be <= base_price - 0.01",
        )
    ok = oco()
    ok.stop_loss = StopLossRequest(stop_price=101.99)
    assert c.submit_order(ok).order_class is OrderClass.OCO


def test_an_opening_short_is_valued_3_percent_above_the_ask(emu: Emulator) -> None:
    """Alpaca ("Placing Orders", Buying Power): an opening short sell is valued at
    MAX(limit price, 3% above the current ask) * qty, a market short at 3% above the ask.
    The ask here is the synthetic quote's: 100.01 over the close of 100."""
    c = emt.trading_client(emu)
    data = emt.data_client(emu)
    ask = data.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols="AAA"))["AAA"]
    assert ask.ask_price == 100.01
    per_share = 1.03 * 100.01
    short = c.submit_order(  # 970 * 103.0103 = 99,920: within the 100,000
        MarketOrderRequest(symbol="AAA", qty=970, side="sell", time_in_force="day")
    )
    c.cancel_order_by_id(short.id)
    big = MarketOrderRequest(symbol="AAA", qty=971, side="sell", time_in_force="day")
    # 971 * 103.0103 > 100,000 (at the close: 97,100)
    assert _refused(c.submit_order, big) == (403, 40310000, "insufficient buying power")
    with pytest.raises(APIError):  # a limit under the buffered ask counts at the ask
        c.submit_order(
            LimitOrderRequest(
                symbol="AAA", qty=1000, side="sell", time_in_force="gtc", limit_price=90
            )
        )
    c.submit_order(
        LimitOrderRequest(symbol="AAA", qty=500, side="sell", time_in_force="gtc", limit_price=90)
    )
    assert float(c.get_account().buying_power) == pytest.approx(100_000 - 500 * per_share)


def test_qty_and_notional_together_are_400(emu: Emulator) -> None:
    """Alpaca, Fractional Trading: "If both qty and notional are entered the request will
    be rejected with an error status 400" (alpaca-py refuses it before sending)."""
    body = {"symbol": "AAA", "qty": 1, "notional": 50, "side": "buy", "type": "market",
            "time_in_force": "day"}  # fmt: skip
    r = requests.post(f"{emu.base_url}/v2/orders", json=body, headers=emt.headers(emu), timeout=5)
    assert r.status_code == 400 and r.json()["code"] == 40010001


def test_a_trailing_stops_stop_price_follows_its_mark(emu: Emulator) -> None:
    """Alpaca's orders guide: a trailing stop's ``stop_price`` "is derived from hwm and
    trail parameter, and continuously updates as hwm changes" (it was null)."""
    c = emt.trading_client(emu)
    c.submit_order(MarketOrderRequest(symbol="AAA", qty=2, side="buy", time_in_force="day"))
    emu.step()  # bought at 101
    by_price = c.submit_order(
        TrailingStopOrderRequest(
            symbol="AAA", qty=1, side="sell", time_in_force="gtc", trail_price=5
        )
    )
    by_percent = c.submit_order(
        TrailingStopOrderRequest(
            symbol="AAA", qty=1, side="sell", time_in_force="gtc", trail_percent=10
        )
    )
    emu.step()
    price, percent = (c.get_order_by_id(o.id) for o in (by_price, by_percent))
    assert price.status.value == "new" and price.hwm is not None
    assert float(price.stop_price) == pytest.approx(float(price.hwm) - 5)
    assert float(percent.stop_price) == pytest.approx(float(percent.hwm) * 0.9)


def test_the_alpaca_broker_reads_a_trailing_stop_with_its_stop_price(emu: Emulator) -> None:
    """The adapter relied on a trailing stop's ``stop_price`` being null: with Alpaca's
    (derived from the mark) it must still read the order, as a trailing stop."""
    broker = AlpacaBroker(KEY, SECRET, url=emu.base_url)
    try:
        broker.submit_order(OrderRequest("AAA", Side.BUY, quantity=2, tif=TimeInForce.DAY))
        emu.step()
        trailing = broker.submit_order(
            OrderRequest(
                "AAA", Side.SELL, quantity=2, type=OrderType.TRAILING_STOP,
                trail_percent=10, tif=TimeInForce.GTC,
            )
        )  # fmt: skip
        emu.step()
        assert emt.trading_client(emu).get_order_by_id(trailing.id).stop_price is not None
        read = broker.get_order(trailing.id)
        assert read.request.type is OrderType.TRAILING_STOP
        assert (read.request.trail_percent, read.request.stop_price) == (10, None)
        assert [o.id for o in broker.get_open_orders()] == [trailing.id]
    finally:
        broker.close()


def test_a_bracket_is_never_an_extended_hours_order(emu: Emulator) -> None:
    """Alpaca's orders guide on brackets: "Extended hours are not supported.
    `extended_hours` must be "false" or omitted"; a DAY limit simple order may be one."""
    c = emt.trading_client(emu)
    bracket = LimitOrderRequest(
        symbol="AAA", qty=1, side="buy", time_in_force="day", limit_price=99,
        extended_hours=True, order_class=OrderClass.BRACKET,
        take_profit=TakeProfitRequest(limit_price=110),
        stop_loss=StopLossRequest(stop_price=90),
    )  # fmt: skip
    status, code, message = _refused(c.submit_order, bracket)
    assert (status, code) == (422, 40010001) and "extended hours" in message
    simple = c.submit_order(
        LimitOrderRequest(
            symbol="AAA", qty=1, side="buy", time_in_force="day", limit_price=99,
            extended_hours=True,
        )
    )  # fmt: skip
    assert simple.extended_hours is True


def test_quantities_have_at_most_9_decimals(emu: Emulator) -> None:
    """Alpaca, Fractional Trading: "Both notional and qty fields can take up to 9 decimal
    point values"; a notional order fills a quantity of at most 9 decimals (rounded down),
    so the position can be sold whole."""
    c = emt.trading_client(emu)
    for req in (
        MarketOrderRequest(symbol="AAA", qty=0.1234567891, side="buy", time_in_force="day"),
        MarketOrderRequest(symbol="AAA", notional=10.0000000001, side="buy", time_in_force="day"),
    ):
        status, code, message = _refused(c.submit_order, req)
        assert (status, code) == (422, 40010001) and "9 decimal" in message
    c.submit_order(MarketOrderRequest(symbol="AAA", notional=7, side="buy", time_in_force="day"))
    emu.step()  # 7 / 101 = 0.069306930693... shares
    position = c.get_open_position("AAA")
    assert position.qty == "0.06930693"  # 0.069306930, rounded down
    sold = c.close_position("AAA")
    assert sold.qty == position.qty
