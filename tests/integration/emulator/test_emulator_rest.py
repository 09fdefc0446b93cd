"""Every trading endpoint round-trips through the real alpaca-py SDK into its models."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import (
    AssetClass,
    AssetExchange,
    AssetStatus,
    OrderSide,
    OrderStatus,
    QueryOrderStatus,
    TimeInForce,
)
from alpaca.trading.models import Clock, Order, Position, TradeAccount
from alpaca.trading.requests import (
    ClosePositionRequest,
    GetAssetsRequest,
    GetOrderByIdRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    StopLimitOrderRequest,
    StopOrderRequest,
)

from workbench.emulator import Emulator, Fault
from workbench.emulator import testing as emt
from workbench.orders import OrderRequest, OrderType, Side
from workbench.sim.broker import SimulatedBroker
from workbench.sim.costs import Commission, Slippage

SPX_2010_01_04 = {"open": 1116.560059, "close": 1132.98999}
SPX_2010_01_05_OPEN = 1132.660034


def _status(exc: pytest.ExceptionInfo[APIError]) -> tuple[int, int]:
    return exc.value.status_code, exc.value.code


def test_account_and_clock_parse_into_models(trading_client) -> None:
    account = trading_client.get_account()
    assert isinstance(account, TradeAccount)
    assert account.status.value == "ACTIVE"
    assert (account.cash, account.equity, account.buying_power) == ("100000", "100000", "100000")
    clock = trading_client.get_clock()
    assert isinstance(clock, Clock)
    # history ends with 2009-12-31: the replay clock is the end of that day in New York
    # (Alpaca's daily bar runs until then), New Year's Day: closed till Monday's session
    assert clock.timestamp == pd.Timestamp("2010-01-01", tz="America/New_York")
    assert not clock.is_open
    assert clock.next_open == pd.Timestamp("2010-01-04 09:30", tz="America/New_York")
    assert clock.next_close == pd.Timestamp("2010-01-04 16:00", tz="America/New_York")


@pytest.mark.parametrize(
    ("request_type", "prices", "tif"),
    [
        (MarketOrderRequest, {}, TimeInForce.DAY),
        (MarketOrderRequest, {}, TimeInForce.GTC),
        (LimitOrderRequest, {"limit_price": 1000.5}, TimeInForce.DAY),
        (LimitOrderRequest, {"limit_price": 1000.5}, TimeInForce.GTC),
        (StopOrderRequest, {"stop_price": 1200.0}, TimeInForce.DAY),
        (StopOrderRequest, {"stop_price": 1200.0}, TimeInForce.GTC),
        (StopLimitOrderRequest, {"stop_price": 1200.0, "limit_price": 1201.0}, TimeInForce.DAY),
        (StopLimitOrderRequest, {"stop_price": 1200.0, "limit_price": 1201.0}, TimeInForce.GTC),
    ],
)
def test_each_order_type_round_trips(trading_client, request_type, prices, tif) -> None:
    cid = f"cid-{request_type.__name__}-{tif.value}"
    order = trading_client.submit_order(
        request_type(
            symbol="SPX",
            qty=3,
            side=OrderSide.BUY,
            time_in_force=tif,
            client_order_id=cid,
            **prices,
        )
    )
    assert isinstance(order, Order)
    assert order.status is OrderStatus.ACCEPTED
    assert (order.client_order_id, order.symbol, order.qty, order.filled_qty) == (
        cid,
        "SPX",
        "3",
        "0",
    )
    assert order.time_in_force is tif and order.order_class.value == "simple"
    assert (
        order.type.value
        == request_type(symbol="X", qty=1, side="buy", time_in_force="day", **prices).type.value
    )
    for name, value in prices.items():
        assert float(getattr(order, name)) == value
    again = trading_client.get_order_by_id(order.id, GetOrderByIdRequest(nested=True))
    assert again.id == order.id and again.status is OrderStatus.NEW
    assert trading_client.get_order_by_client_id(cid).id == order.id


def test_market_order_fills_at_the_next_open_and_money_adds_up(
    emulator: Emulator, trading_client
) -> None:
    order = trading_client.submit_order(
        MarketOrderRequest(symbol="SPX", qty=10, side="buy", time_in_force="day")
    )
    assert emulator.step() == 1  # 2010-01-04: the first bar after the decision
    filled = trading_client.get_order_by_id(order.id)
    assert filled.status is OrderStatus.FILLED
    assert float(filled.filled_avg_price) == SPX_2010_01_04["open"]
    # at the session's open (09:30 New York), after it was sent (Friday's midnight in NY)
    assert filled.filled_at == pd.Timestamp("2010-01-04 09:30", tz="America/New_York")
    assert filled.filled_at > order.created_at
    account = trading_client.get_account()
    cash = 100_000 - 10 * SPX_2010_01_04["open"]
    value = 10 * SPX_2010_01_04["close"]
    assert float(account.cash) == pytest.approx(cash, abs=1e-9)
    assert float(account.long_market_value) == pytest.approx(value, abs=1e-9)
    assert float(account.equity) == pytest.approx(cash + value, abs=1e-9)
    position = trading_client.get_open_position("SPX")
    assert isinstance(position, Position)
    assert (position.qty, position.side.value) == ("10", "long")
    assert float(position.unrealized_pl) == pytest.approx(value - 10 * SPX_2010_01_04["open"])


def test_limit_order_placed_then_canceled(emulator: Emulator, trading_client) -> None:
    order = trading_client.submit_order(
        LimitOrderRequest(symbol="SPX", qty=1, side="buy", time_in_force="gtc", limit_price=900)
    )
    emulator.step(2)
    assert trading_client.get_order_by_id(order.id).status is OrderStatus.NEW
    assert trading_client.cancel_order_by_id(order.id) is None  # 204, empty body
    canceled = trading_client.get_order_by_id(order.id)
    assert canceled.status is OrderStatus.CANCELED and canceled.canceled_at is not None
    with pytest.raises(APIError) as exc:
        trading_client.cancel_order_by_id(order.id)
    assert _status(exc) == (422, 42210000)
    assert 'already in "canceled" state' in exc.value.message


def test_cancel_all_answers_207_with_each_order(trading_client) -> None:
    ids = {
        trading_client.submit_order(
            LimitOrderRequest(symbol="SPX", qty=1, side="buy", time_in_force="gtc", limit_price=p)
        ).id
        for p in (900, 901, 902)
    }
    responses = trading_client.cancel_orders()
    assert {r.id for r in responses} == ids and {r.status for r in responses} == {200}
    assert trading_client.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN)) == []


def test_order_list_filters(emulator: Emulator, trading_client) -> None:
    def limit(price: float, side: str = "buy") -> Order:
        return trading_client.submit_order(
            LimitOrderRequest(
                symbol="SPX", qty=1, side=side, time_in_force="gtc", limit_price=price
            )
        )

    first = limit(900)
    emulator.step()  # the replay clock moves a day: later orders are newer
    second = limit(901)
    trading_client.cancel_order_by_id(first.id)

    def ids(**kw) -> list:
        return [o.id for o in trading_client.get_orders(GetOrdersRequest(**kw))]

    assert ids() == [second.id]  # default: open, newest first
    assert ids(status="closed") == [first.id]
    assert ids(status="all") == [second.id, first.id]
    assert ids(status="all", direction="asc") == [first.id, second.id]
    assert ids(status="all", limit=1) == [second.id]
    assert ids(status="all", after=pd.Timestamp("2010-01-03", tz="UTC")) == [second.id]
    assert ids(status="all", until=pd.Timestamp("2010-01-03", tz="UTC")) == [first.id]
    assert ids(status="all", side="sell") == []
    assert ids(status="all", symbols=["SPX"], nested=True) == [second.id, first.id]


def test_unknown_order_and_client_id_are_404(trading_client) -> None:
    with pytest.raises(APIError) as exc:
        trading_client.get_order_by_id(uuid.uuid4())
    assert _status(exc) == (404, 40410000)
    with pytest.raises(APIError) as exc:
        trading_client.get_order_by_client_id("nope")
    assert _status(exc) == (404, 40410000)


def test_positions_close_one_part_and_all(emulator: Emulator, trading_client) -> None:
    trading_client.submit_order(
        MarketOrderRequest(symbol="SPX", qty=10, side="buy", time_in_force="day")
    )
    emulator.step()
    [position] = trading_client.get_all_positions()
    assert trading_client.get_open_position(position.asset_id).symbol == "SPX"
    part = trading_client.close_position("SPX", ClosePositionRequest(qty="4"))
    assert isinstance(part, Order) and (part.side, part.qty) == (OrderSide.SELL, "4")
    assert trading_client.get_open_position("SPX").qty_available == "6"  # 4 held by the order
    emulator.step()
    assert trading_client.get_open_position("SPX").qty == "6"
    half = trading_client.close_position("SPX", ClosePositionRequest(percentage="50"))
    assert half.qty == "3"
    [result] = trading_client.close_all_positions(cancel_orders=True)
    assert result.symbol == "SPX" and result.status == 200 and result.body.qty == "6"
    assert trading_client.get_order_by_id(half.id).status is OrderStatus.CANCELED
    emulator.step()
    assert trading_client.get_all_positions() == []
    with pytest.raises(APIError) as exc:
        trading_client.get_open_position("SPX")
    assert _status(exc) == (404, 40410000)


def test_replace_order(emulator: Emulator, trading_client) -> None:
    old = trading_client.submit_order(
        LimitOrderRequest(symbol="SPX", qty=2, side="buy", time_in_force="gtc", limit_price=900)
    )
    new = trading_client.replace_order_by_id(old.id, ReplaceOrderRequest(limit_price=1200, qty=3))
    assert (new.replaces, new.limit_price, new.qty) == (old.id, "1200", "3")
    replaced = trading_client.get_order_by_id(old.id)
    assert replaced.status is OrderStatus.REPLACED and replaced.replaced_by == new.id
    emulator.step()  # low 1116.56 <= 1200: fills at the better open
    filled = trading_client.get_order_by_id(new.id)
    assert filled.status is OrderStatus.FILLED
    assert float(filled.filled_avg_price) == SPX_2010_01_04["open"]


def test_partial_fill_then_fill(emulator: Emulator, trading_client) -> None:
    emulator.set_faults(Fault.partial(qty=6))
    order = trading_client.submit_order(
        MarketOrderRequest(symbol="SPX", qty=10, side="buy", time_in_force="gtc")
    )
    emulator.step()
    partial = trading_client.get_order_by_id(order.id)
    assert (partial.status, partial.filled_qty) == (OrderStatus.PARTIALLY_FILLED, "6")
    assert trading_client.get_open_position("SPX").qty == "6"
    emulator.step()
    done = trading_client.get_order_by_id(order.id)
    assert (done.status, done.filled_qty) == (OrderStatus.FILLED, "10")
    expected = (6 * SPX_2010_01_04["open"] + 4 * SPX_2010_01_05_OPEN) / 10
    assert float(done.filled_avg_price) == pytest.approx(expected, rel=1e-12)


def test_duplicate_client_order_id_is_refused(trading_client) -> None:
    req = LimitOrderRequest(
        symbol="SPX", qty=1, side="buy", time_in_force="gtc", limit_price=900, client_order_id="dup"
    )
    trading_client.submit_order(req)
    with pytest.raises(APIError) as exc:
        trading_client.submit_order(req)
    assert _status(exc) == (422, 40010001)
    assert exc.value.message == "client_order_id must be unique"


def test_insufficient_buying_power_and_quantity_are_403(emulator: Emulator, trading_client) -> None:
    with pytest.raises(APIError) as exc:  # 100 x 1115.1 (the last close) > 100000
        trading_client.submit_order(
            MarketOrderRequest(symbol="SPX", qty=100, side="buy", time_in_force="day")
        )
    assert _status(exc) == (403, 40310000) and exc.value.message == "insufficient buying power"
    trading_client.submit_order(
        MarketOrderRequest(symbol="SPX", qty=5, side="buy", time_in_force="day")
    )
    emulator.step()
    with pytest.raises(APIError) as exc:  # Alpaca never flips long to short in one order
        trading_client.submit_order(
            MarketOrderRequest(symbol="SPX", qty=8, side="sell", time_in_force="day")
        )
    assert _status(exc) == (403, 40310000)
    assert exc.value.message == "insufficient qty available for order (requested: 8, available: 5)"


def test_wash_trade_is_refused(trading_client) -> None:
    trading_client.submit_order(
        LimitOrderRequest(symbol="SPX", qty=1, side="buy", time_in_force="gtc", limit_price=900)
    )
    with pytest.raises(APIError) as exc:
        trading_client.submit_order(
            MarketOrderRequest(symbol="SPX", qty=1, side="sell", time_in_force="day")
        )
    assert _status(exc) == (422, 42210000)


def test_day_order_expires_after_its_session(emulator: Emulator, trading_client) -> None:
    order = trading_client.submit_order(
        LimitOrderRequest(symbol="SPX", qty=1, side="buy", time_in_force="day", limit_price=900)
    )
    gtc = trading_client.submit_order(
        LimitOrderRequest(symbol="SPX", qty=1, side="buy", time_in_force="gtc", limit_price=901)
    )
    close = pd.Timestamp("2010-01-04 21:00", tz="UTC")  # 16:00 New York
    assert order.expires_at == close
    emulator.step()  # 2010-01-04: its one session, no fill: over at the session's close
    expired = trading_client.get_order_by_id(order.id)
    assert expired.status is OrderStatus.EXPIRED
    assert expired.expired_at == close
    assert trading_client.get_order_by_id(gtc.id).status is OrderStatus.NEW


BASE_ORDER = {"symbol": "SPX", "side": "buy", "type": "market", "time_in_force": "day", "qty": 1}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"notional": 0.5, "qty": None}, "notional must be >= 1, got 0.5"),
        ({"extended_hours": True}, 'only type="limit" is allowed for extended hours orders'),
        ({"type": "limit"}, "limit_price is required for limit orders"),
        ({"limit_price": 10}, "limit_price must not be given for market orders"),
        ({"type": "stop", "stop_price": -1}, "stop_price must be > 0, got -1"),
        ({"qty": None}, "qty or notional is required"),
        ({"qty": 0}, "qty must be > 0, got 0"),
        ({"symbol": "ZZZ"}, 'asset "ZZZ" not found'),
        ({"time_in_force": "gtd"}, "invalid time_in_force: 'gtd'"),
        (
            {"time_in_force": "opg", "type": "stop", "stop_price": 10},
            "opg orders must be market or limit orders",
        ),
        (
            {"time_in_force": "ioc", "type": "trailing_stop", "trail_percent": 1},
            "trailing_stop orders must be DAY or GTC orders",
        ),
        (
            {"type": "trailing_stop"},
            "trailing_stop orders need exactly one of trail_price or trail_percent",
        ),
        ({"side": "up"}, "invalid side: 'up'"),
        ({"qty": "abc"}, "invalid qty: 'abc'"),
        ({"order_class": "bracket"}, "bracket orders need take_profit and stop_loss"),
        ({"order_class": "mleg"}, "order_class 'mleg' is not supported by the emulator"),
        ({"client_order_id": "x" * 129}, "client_order_id must be no more than 128 characters"),
        ({"position_intent": "open_long"}, "invalid position_intent: 'open_long'"),
    ],
)
def test_raw_order_validation(emulator: Emulator, changes, message) -> None:
    body = {k: v for k, v in {**BASE_ORDER, **changes}.items() if v is not None}
    r = requests.post(
        f"{emulator.base_url}/v2/orders", json=body, headers=emt.headers(emulator), timeout=5
    )
    assert (r.status_code, r.json()) == (422, {"code": 40010001, "message": message})
    assert emulator.state()["orders"] == []


SUB_PENNY = "sub-penny increment does not fulfill minimum pricing criteria"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"type": "limit", "limit_price": 1000.555}, f"invalid limit_price 1000.555. {SUB_PENNY}"),
        ({"type": "stop", "stop_price": 1200.001}, f"invalid stop_price 1200.001. {SUB_PENNY}"),
        ({"type": "limit", "limit_price": 0.60135}, f"invalid limit_price 0.60135. {SUB_PENNY}"),
        (
            {
                "order_class": "bracket",
                "take_profit": {"limit_price": 1200.005},
                "stop_loss": {"stop_price": 1000},
            },
            f"invalid take_profit.limit_price 1200.005. {SUB_PENNY}",
        ),
        (
            {
                "order_class": "bracket",
                "take_profit": {"limit_price": 1200},
                "stop_loss": {"stop_price": 1000, "limit_price": 999.999},
            },
            f"invalid stop_loss.limit_price 999.999. {SUB_PENNY}",
        ),
    ],
)
def test_sub_penny_prices_are_refused(emulator: Emulator, changes, message) -> None:
    """Alpaca takes whole cents from $1.00 up and hundredths of a cent below: 422 42210000
    "invalid limit_price 41.085. sub-penny increment does not fulfill minimum pricing
    criteria" (alpaca-trade-api-go #260); $0.6013 is accepted (alpaca-trade-api-csharp #497)."""
    body = {**BASE_ORDER, **changes}
    r = requests.post(
        f"{emulator.base_url}/v2/orders", json=body, headers=emt.headers(emulator), timeout=5
    )
    assert (r.status_code, r.json()) == (422, {"code": 42210000, "message": message})
    assert emulator.state()["orders"] == []


def test_sub_penny_prices_through_the_sdk(trading_client) -> None:
    with pytest.raises(APIError) as exc:
        trading_client.submit_order(
            LimitOrderRequest(
                symbol="SPX", qty=1, side="buy", time_in_force="gtc", limit_price=900.125
            )
        )
    assert _status(exc) == (422, 42210000)
    assert exc.value.message == f"invalid limit_price 900.125. {SUB_PENNY}"
    cheap = trading_client.submit_order(  # below $1.00: four decimals are fine
        LimitOrderRequest(symbol="SPX", qty=1, side="buy", time_in_force="gtc", limit_price=0.6013)
    )
    assert cheap.limit_price == "0.6013"
    with pytest.raises(APIError) as exc:
        trading_client.replace_order_by_id(cheap.id, ReplaceOrderRequest(limit_price=1.005))
    assert _status(exc) == (422, 42210000)
    assert trading_client.get_order_by_id(cheap.id).status is OrderStatus.NEW


def test_numeric_strings_are_accepted(emulator: Emulator) -> None:
    body = {
        "symbol": "spx",
        "side": "buy",
        "type": "limit",
        "time_in_force": "gtc",
        "qty": "2",
        "limit_price": "950.5",
    }
    r = requests.post(
        f"{emulator.base_url}/v2/orders", json=body, headers=emt.headers(emulator), timeout=5
    )
    assert r.status_code == 200
    assert (r.json()["qty"], r.json()["limit_price"], r.json()["symbol"]) == ("2", "950.5", "SPX")


def test_errors_are_json_and_nothing_redirects(emulator: Emulator) -> None:
    base = emulator.base_url
    auth = emt.headers(emulator)
    cases = [
        ("get", "/v2/account/", auth, 404, 40410000),  # trailing slash: no redirect
        ("get", "/v2/nothing", auth, 404, 40410000),
        ("put", "/v2/account", auth, 405, 40510000),
        ("get", "/v2/account", {**auth, "APCA-API-SECRET-KEY": "wrong"}, 401, 40110000),
        ("get", "/v2/account", {}, 401, 40110000),
        ("post", "/v2/orders", {**auth, "Content-Type": "application/json"}, 400, 40010000),
    ]  # fmt: skip
    for method, path, headers, status, code in cases:
        r = requests.request(
            method, base + path, headers=headers, data="{", timeout=5, allow_redirects=False
        )
        assert (r.status_code, r.json()["code"]) == (status, code), (method, path)
        assert "X-RateLimit-Limit" in r.headers or status == 401


def test_wrong_keys_in_the_sdk_raise_401(emulator: Emulator) -> None:
    from alpaca.trading.client import TradingClient

    client = TradingClient(emulator.key, "not-the-secret", url_override=emulator.base_url)
    with pytest.raises(APIError) as exc:
        client.get_account()
    assert _status(exc) == (401, 40110000)
    assert "not-the-secret" not in str(exc.value)


def test_assets(trading_client) -> None:
    asset = trading_client.get_asset("SPX")
    assert asset.symbol == "SPX" and asset.tradable and asset.fractionable
    assert trading_client.get_asset(asset.id).symbol == "SPX"
    assert [a.symbol for a in trading_client.get_all_assets()] == ["SPX"]


@pytest.mark.parametrize(
    ("filters", "symbols"),
    [
        ({"status": AssetStatus.ACTIVE}, ["SPX"]),
        ({"status": AssetStatus.INACTIVE}, []),
        ({"asset_class": AssetClass.US_EQUITY}, ["SPX"]),
        ({"asset_class": AssetClass.CRYPTO}, []),
        ({"exchange": AssetExchange.NYSE}, ["SPX"]),
        ({"exchange": AssetExchange.NASDAQ}, []),
        ({"attributes": "has_options,ipo"}, []),  # assets with any of them: SPX has none
    ],
)
def test_asset_list_filters(trading_client, filters, symbols) -> None:
    """Alpaca's ``GET /v2/assets`` filters: status (all by default), asset_class
    (us_equity by default), exchange and attributes."""
    listed = trading_client.get_all_assets(GetAssetsRequest(**filters))
    assert [a.symbol for a in listed] == symbols


@pytest.mark.parametrize(
    ("date_type", "dates"),
    [
        (None, ["2024-11-29", "2024-12-02"]),  # TRADING by default: the sessions' dates
        ("TRADING", ["2024-11-29", "2024-12-02"]),
        # the sessions that settle (T+1) from Friday to Monday: Wednesday's settles on
        # Friday over Thanksgiving, Friday's on Monday
        ("SETTLEMENT", ["2024-11-27", "2024-11-29"]),
    ],
)
def test_calendar_date_type(emulator: Emulator, date_type, dates) -> None:
    """Alpaca's ``date_type``: "If SETTLEMENT is specified, returns the calendar whose
    settlement date matches start and end"."""
    query = {"start": "2024-11-29", "end": "2024-12-02"}
    if date_type is not None:
        query["date_type"] = date_type
    answer = requests.get(
        f"{emulator.base_url}/v2/calendar", params=query, headers=emt.headers(emulator), timeout=10
    )
    assert answer.status_code == 200, answer.text
    assert [d["date"] for d in answer.json()] == dates


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/v2/assets", {"status": "delisted"}),
        ("/v2/assets", {"asset_class": "bond"}),
        ("/v2/calendar", {"date_type": "EXPIRY"}),
    ],
)
def test_unknown_values_of_enum_queries_are_422(emulator: Emulator, path, query) -> None:
    answer = requests.get(
        emulator.base_url + path, params=query, headers=emt.headers(emulator), timeout=10
    )
    assert answer.status_code == 422 and answer.json()["code"] == 40010001


@pytest.mark.parametrize(
    "change",
    [
        {"trade_confirm_email": "sometimes"},  # all or none
        {"max_options_trading_level": 7},  # 0 to 3
        {"max_options_trading_level": "lots"},
        {"disable_overnight_trading": "perhaps"},
    ],
)
def test_configurations_outside_alpacas_values_are_422(emulator: Emulator, change) -> None:
    """A value Alpaca does not take is refused, not stored: stored, it made alpaca-py's
    ``get_account_configurations`` fail to read the configuration back."""
    url, headers = f"{emulator.base_url}/v2/account/configurations", emt.headers(emulator)
    answer = requests.patch(url, json=change, headers=headers, timeout=10)
    assert (answer.status_code, answer.json()["code"]) == (422, 40010001)
    config = emt.trading_client(emulator).get_account_configurations()
    assert (config.trade_confirm_email.value, config.max_options_trading_level) == ("all", 0)


def test_overnight_trading_is_a_configuration(emulator: Emulator) -> None:
    """``disable_overnight_trading``, one of Alpaca's account configurations."""
    url, headers = f"{emulator.base_url}/v2/account/configurations", emt.headers(emulator)
    assert (
        requests.get(url, headers=headers, timeout=10).json()["disable_overnight_trading"] is False
    )
    change = {"disable_overnight_trading": True, "max_options_trading_level": "2"}
    answer = requests.patch(url, json=change, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    assert (
        answer.json()["disable_overnight_trading"],
        answer.json()["max_options_trading_level"],
    ) == (True, 2)


def test_a_simple_orders_class_is_empty_as_alpaca_writes_it(emulator: Emulator) -> None:
    """Alpaca answers ``"order_class": ""`` for a simple order (recorded paper-API answers,
    e.g. the liquidating orders of ``DELETE /v2/positions``; the Broker API's sample order);
    a complex order's class is named. alpaca-py reads ``""`` as simple."""
    url, headers = f"{emulator.base_url}/v2/orders", emt.headers(emulator)
    simple = {"symbol": "SPX", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"}
    exits = {"take_profit": {"limit_price": "1200"}, "stop_loss": {"stop_price": "1000"}}
    bracket = {**simple, "type": "limit", "limit_price": "1100", "order_class": "bracket", **exits}
    first = requests.post(url, json=simple, headers=headers, timeout=10).json()
    second = requests.post(url, json=bracket, headers=headers, timeout=10).json()
    assert (first["order_class"], second["order_class"]) == ("", "bracket")
    assert {leg["order_class"] for leg in second["legs"]} == {"bracket"}
    listed = emt.trading_client(emulator).get_order_by_id(first["id"])
    assert listed.order_class.value == "simple"


@pytest.mark.parametrize("percentage", ["0", "150"])
def test_a_percentage_outside_0_to_100_is_refused_in_alpacas_words(
    emulator: Emulator, trading_client, percentage: str
) -> None:
    """Alpaca's paper API: ``{"code":40010001,"message":"percentage must be in between 0
    and 100"}`` (a recorded answer, flolec/alpacabot's fixtures)."""
    trading_client.submit_order(
        MarketOrderRequest(symbol="SPX", qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    emulator.step()
    answer = requests.delete(
        f"{emulator.base_url}/v2/positions/SPX",
        params={"percentage": percentage},
        headers=emt.headers(emulator),
        timeout=10,
    )
    assert answer.status_code == 422
    assert answer.json() == {"code": 40010001, "message": "percentage must be in between 0 and 100"}


def test_fills_are_the_simulated_brokers(spx_bars) -> None:
    """The same orders on the emulator and on a bare SimulatedBroker fill identically."""
    frame = spx_bars["SPX"].loc["2009-12-01":"2010-02-26"]
    script = {  # bar index after which to submit: (side, qty, type, price)
        0: ("buy", 7, "market", None),
        3: ("sell", 2, "limit", 1120.0),
        5: ("buy", 4, "limit", 1090.0),
        16: ("buy", 3, "stop", 1125.0),
        40: ("sell", 12, "market", None),
    }
    costs = {"commission": "0.001", "slippage": "5bps"}
    sim = SimulatedBroker(
        100_000.0, commission=Commission.parse("0.001"), slippage=Slippage.parse("5bps")
    )
    with Emulator({"SPX": frame}, **costs) as emu:
        client = emt.trading_client(emu)
        for i, (time, row) in enumerate(frame.iterrows()):
            assert emu.step() == 1
            sim.process_bar("SPX", time, *row[["open", "high", "low", "close", "volume"]])
            if i not in script:
                continue
            side, qty, kind, price = script[i]
            field = {"limit": "limit_price", "stop": "stop_price"}.get(kind)
            prices = {field: price} if field else {}
            sdk_type = {"market": MarketOrderRequest, "limit": LimitOrderRequest}.get(
                kind, StopOrderRequest
            )
            client.submit_order(
                sdk_type(symbol="SPX", qty=qty, side=side, time_in_force="gtc", **prices)
            )
            sim.submit_order(
                OrderRequest("SPX", Side(side), quantity=qty, type=OrderType(kind), **prices)
            )
        emu_fills = emu.core.venue.broker.fills
        account = client.get_account()

    def rows(fills):
        return [(f.side.value, f.quantity, f.price, f.commission, f.time) for f in fills]

    assert rows(emu_fills) == rows(sim.fills)
    assert [(f.side.value, f.quantity) for f in emu_fills] == [
        ("buy", 7),
        ("buy", 4),
        ("sell", 2),
        ("buy", 3),
        ("sell", 12),
    ]
    assert emu_fills[1].price == 1090.0 and emu_fills[2].price == 1120.0  # limits: no slippage
    assert float(account.cash) == pytest.approx(sim.portfolio.cash, abs=1e-9)
    assert float(account.equity) == pytest.approx(sim.portfolio.equity, abs=1e-9)
