"""The contract table: every equity-trading call of alpaca-py against the emulator.

Each row of ``TRADING`` / ``DATA`` is one method of alpaca-py's ``TradingClient`` or
``StockHistoricalDataClient``, called through the real, unmodified SDK (so every answer
parses into its pydantic model) and checked against what it must say. Then
``SCENARIOS`` runs the same orders (every type and class) on the emulator and on the
simulated broker alone, over the hand-made AAA bars, and requires the same fills.
"""

from __future__ import annotations

import pandas as pd
import pytest
from alpaca.common.exceptions import APIError
from alpaca.data.requests import (
    StockBarsRequest,
    StockLatestBarRequest,
    StockLatestQuoteRequest,
    StockLatestTradeRequest,
    StockSnapshotRequest,
)
from alpaca.data.timeframe import TimeFrame
from alpaca.trading import models as m
from alpaca.trading.enums import OrderClass as AOrderClass
from alpaca.trading.enums import OrderStatus as AStatus
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.requests import (
    ClosePositionRequest,
    GetCalendarRequest,
    GetOrderByIdRequest,
    GetOrdersRequest,
    GetPortfolioHistoryRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    StopLimitOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
    TrailingStopOrderRequest,
)

from workbench.emulator import Emulator
from workbench.emulator import testing as emt
from workbench.orders import OrderClass, OrderRequest, OrderType, Side
from workbench.sim.broker import SimulatedBroker

DAY = "gtc"


@pytest.fixture
def emu(bars_emulator: Emulator) -> Emulator:
    bars_emulator.step()  # 2024-01-01 published (close 100); the replay is at its end
    return bars_emulator


def test_trading_client_contract(emu: Emulator) -> None:
    c = emt.trading_client(emu)
    # account, clock, assets, configurations
    account = c.get_account()
    assert isinstance(account, m.TradeAccount) and account.cash == "100000"
    assert isinstance(c.get_clock(), m.Clock)
    assets = c.get_all_assets()
    assert [a.symbol for a in assets] == ["AAA"] and c.get_asset("AAA").tradable
    config = c.get_account_configurations()
    assert isinstance(config, m.AccountConfiguration) and config.no_shorting is False
    config.no_shorting = True
    assert c.set_account_configurations(config).no_shorting is True
    with pytest.raises(APIError) as exc:  # now long-only
        c.submit_order(MarketOrderRequest(symbol="AAA", qty=1, side="sell", time_in_force=DAY))
    assert exc.value.status_code == 403
    config.no_shorting = False
    c.set_account_configurations(config)

    # orders of every type and class
    simple = {
        "market": MarketOrderRequest(symbol="AAA", qty=4, side="buy", time_in_force=DAY),
        "limit": LimitOrderRequest(
            symbol="AAA", qty=1, side="buy", time_in_force=DAY, limit_price=90
        ),
        "stop": StopOrderRequest(
            symbol="AAA", qty=1, side="buy", time_in_force=DAY, stop_price=120
        ),
        "stop_limit": StopLimitOrderRequest(
            symbol="AAA", qty=1, side="buy", time_in_force=DAY, stop_price=120, limit_price=121
        ),
    }
    placed = {name: c.submit_order(req) for name, req in simple.items()}
    for name, order in placed.items():
        assert isinstance(order, m.Order) and order.type.value == name
        assert order.status is AStatus.ACCEPTED
    bracket = c.submit_order(
        LimitOrderRequest(
            symbol="AAA", qty=2, side="buy", time_in_force=DAY, limit_price=99.5,
            order_class=AOrderClass.BRACKET, take_profit=TakeProfitRequest(limit_price=110),
            stop_loss=StopLossRequest(stop_price=95, limit_price=94.5),
        )
    )  # fmt: skip
    assert bracket.order_class is AOrderClass.BRACKET
    assert [leg.type.value for leg in bracket.legs] == ["limit", "stop_limit"]
    oto = c.submit_order(
        MarketOrderRequest(
            symbol="AAA", qty=1, side="buy", time_in_force=DAY, order_class=AOrderClass.OTO,
            take_profit=TakeProfitRequest(limit_price=115),
        )
    )  # fmt: skip
    assert oto.order_class is AOrderClass.OTO and len(oto.legs) == 1
    emu.step()  # 01-02: the market orders fill at 101; the bracket's limit 99.5 is not reached
    assert c.get_order_by_id(placed["market"].id).status is AStatus.FILLED

    # reads, replace, cancel
    open_orders = c.get_orders()
    assert all(isinstance(o, m.Order) for o in open_orders)
    nested = c.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, nested=True))
    assert all(o.legs for o in nested if o.order_class is not AOrderClass.SIMPLE)
    assert c.get_order_by_client_id(bracket.client_order_id).id == bracket.id
    full = c.get_order_by_id(bracket.id, GetOrderByIdRequest(nested=True))
    assert len(full.legs) == 2
    moved = c.replace_order_by_id(placed["limit"].id, ReplaceOrderRequest(limit_price=91))
    assert float(moved.limit_price) == 91 and moved.replaces == placed["limit"].id
    leg = c.replace_order_by_id(bracket.legs[0].id, ReplaceOrderRequest(limit_price=112))
    assert float(leg.limit_price) == 112
    for order_id in (moved.id, placed["stop"].id, placed["stop_limit"].id, bracket.id):
        assert c.cancel_order_by_id(order_id) is None  # 204
    assert c.get_order_by_id(moved.id).status is AStatus.CANCELED
    assert c.get_order_by_id(leg.id).status is AStatus.CANCELED  # with its entry

    # exits of what is held: an oco pair and a trailing stop
    oco = c.submit_order(
        LimitOrderRequest(
            symbol="AAA", qty=2, side="sell", time_in_force=DAY, order_class=AOrderClass.OCO,
            take_profit=TakeProfitRequest(limit_price=108),
            stop_loss=StopLossRequest(stop_price=80),
        )
    )  # fmt: skip
    assert oco.order_class is AOrderClass.OCO and float(oco.limit_price) == 108
    trailing = c.submit_order(
        TrailingStopOrderRequest(symbol="AAA", qty=1, side="sell", time_in_force=DAY,
                                 trail_percent=20)
    )  # fmt: skip
    assert trailing.type.value == "trailing_stop" and trailing.trail_percent == "20"

    # positions: close by quantity, by percentage, then all
    position = c.get_open_position("AAA")
    assert isinstance(position, m.Position) and position.qty == "5"
    c.cancel_orders()  # exits hold shares: free them first (Alpaca's rule)
    by_qty = c.close_position("AAA", ClosePositionRequest(qty="1"))
    by_pct = c.close_position("AAA", ClosePositionRequest(percentage="50"))
    # 50% of the 5 held: whole shares of a whole position, rounded down (Alpaca's rule)
    assert (float(by_qty.qty), float(by_pct.qty)) == (1.0, 2.0)
    emu.step()  # 01-03: both fill at the open, 102
    assert c.get_open_position("AAA").qty == "2"
    closed = c.close_all_positions(cancel_orders=True)
    assert [r.symbol for r in closed] == ["AAA"] and closed[0].status == 200
    emu.step()
    assert c.get_all_positions() == []

    # history and calendar
    history = c.get_portfolio_history(GetPortfolioHistoryRequest(timeframe="1D"))
    assert isinstance(history, m.PortfolioHistory) and len(history.equity) >= 3
    assert history.equity[-1] == pytest.approx(float(c.get_account().equity))
    assert history.profit_loss[-1] == pytest.approx(history.equity[-1] - history.base_value)
    try:
        calendar = c.get_calendar(GetCalendarRequest(start="2024-01-01", end="2024-01-10"))
    except APIError as exc:  # /v2/calendar is the time work's (issue 12)
        assert exc.status_code == 404
    else:
        assert all(isinstance(day, m.Calendar) for day in calendar)


def test_account_activities_list_every_fill(emu: Emulator) -> None:
    c = emt.trading_client(emu)
    c.submit_order(MarketOrderRequest(symbol="AAA", qty=3, side="buy", time_in_force=DAY))
    emu.step()
    c.close_position("AAA")
    emu.step()
    fills = c.get("/account/activities", {"activity_types": "FILL", "direction": "asc"})
    assert [(a["side"], a["qty"], a["price"]) for a in fills] == [
        ("buy", "3", "101"),
        ("sell", "3", "102"),
    ]
    assert c.get("/account/activities/FILL", {"page_size": 1})[0]["side"] == "sell"
    assert c.get("/account/activities/DIV") == []


def test_data_client_contract(emu: Emulator) -> None:
    d = emt.data_client(emu)
    emu.step(2)  # 01-01 .. 01-03 published
    bars = d.get_stock_bars(
        StockBarsRequest(symbol_or_symbols="AAA", timeframe=TimeFrame.Day,
                         start=pd.Timestamp("2024-01-01", tz="UTC"))
    )  # fmt: skip
    assert [b.close for b in bars["AAA"]] == [100.0, 102.0, 99.0]
    assert d.get_stock_latest_bar(StockLatestBarRequest(symbol_or_symbols="AAA"))["AAA"].close == 99
    trade = d.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="AAA"))["AAA"]
    assert (trade.price, trade.size) == (99.0, 100)
    quote = d.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols="AAA"))["AAA"]
    assert quote.bid_price < 99.0 < quote.ask_price  # 2 bps around the last close
    assert quote.ask_price - quote.bid_price == pytest.approx(0.02)
    snap = d.get_stock_snapshot(StockSnapshotRequest(symbol_or_symbols="AAA"))["AAA"]
    assert snap.latest_trade.price == 99.0 and snap.minute_bar.close == 99.0
    assert (snap.daily_bar.close, snap.previous_daily_bar.close) == (99.0, 102.0)
    one = d.get("/stocks/AAA/snapshot")
    assert one["symbol"] == "AAA" and one["latestQuote"]["bp"] == quote.bid_price
    assert d.get("/stocks/AAA/quotes/latest")["quote"]["ap"] == quote.ask_price
    assert d.get("/stocks/AAA/trades/latest")["trade"]["p"] == 99.0


# -- the same order scenarios on the emulator and on the simulated broker -------------------
def _req(side, qty=2, kind="market", klass="simple", **kw) -> OrderRequest:
    return OrderRequest("AAA", Side(side), quantity=qty, type=OrderType(kind),
                        order_class=OrderClass(klass), **kw)  # fmt: skip


SCENARIOS = [
    # name, domain request (sent as it is to the simulated broker, as JSON to the emulator),
    # the number of fills over the AAA bars (a held position's buy included)
    ("market", _req("buy"), 1),
    ("limit", _req("buy", kind="limit", limit_price=98.5), 1),
    ("stop", _req("buy", kind="stop", stop_price=103.5), 1),
    ("stop_limit", _req("buy", kind="stop_limit", stop_price=103.5, limit_price=104), 1),
    ("trailing_stop", _req("sell", kind="trailing_stop", trail_price=3), 2),
    ("bracket", _req("buy", klass="bracket", take_profit=105, stop_loss=97), 2),
    ("bracket_limit", _req("buy", kind="limit", limit_price=99, klass="bracket",
                           take_profit=104.5, stop_loss=94.5, stop_loss_limit=94), 2),
    ("oto", _req("buy", klass="oto", stop_loss=95.5), 2),
    ("short_bracket", _req("sell", klass="bracket", take_profit=95, stop_loss=104.5), 2),
]  # fmt: skip


def _json_body(r: OrderRequest) -> dict:
    body = {"symbol": r.symbol, "qty": r.quantity, "side": r.side.value, "type": r.type.value,
            "time_in_force": r.tif.value, "order_class": r.order_class.value,
            "limit_price": r.limit_price, "stop_price": r.stop_price,
            "trail_price": r.trail_price, "trail_percent": r.trail_percent}  # fmt: skip
    if r.take_profit is not None:
        body["take_profit"] = {"limit_price": r.take_profit}
    if r.stop_loss is not None:
        body["stop_loss"] = {"stop_price": r.stop_loss, "limit_price": r.stop_loss_limit}
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize(("name", "request_", "n_fills"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_the_same_orders_fill_alike_on_the_emulator_and_the_simulated_broker(
    hand_frames, name, request_, n_fills
) -> None:
    held = 2 if request_.side is Side.SELL and request_.order_class is OrderClass.SIMPLE else 0
    with Emulator(hand_frames, key="k", secret="s", allow_short=True) as emu:
        client = emt.trading_client(emu)
        emu.step()
        if held:  # a sell that exits: hold the shares first, on both venues
            client.submit_order(MarketOrderRequest(symbol="AAA", qty=held, side="buy",
                                                   time_in_force=DAY))  # fmt: skip
            emu.step()
        client.post("/orders", _json_body(request_))
        emu.step(len(hand_frames["AAA"]) - 1 - (1 if held else 0))
        wire = [(a["side"], float(a["qty"]), float(a["price"]), a["transaction_time"][:10])
                for a in client.get("/account/activities", {"direction": "asc"})]  # fmt: skip

    sim = SimulatedBroker(100_000.0)
    times = hand_frames["AAA"].index
    rows = list(hand_frames["AAA"].itertuples(index=False))
    sim.process_bar("AAA", times[0], *rows[0])
    sim.set_time(times[0])
    first = 1
    if held:
        sim.submit_order(_req("buy", qty=held))
        sim.process_bar("AAA", times[1], *rows[1])
        sim.set_time(times[1])
        first = 2
    sim.submit_order(request_)
    for t, row in zip(times[first:], rows[first:], strict=True):
        sim.process_bar("AAA", t, *row)
    local = [(f.side.value, f.quantity, f.price, f.time.strftime("%Y-%m-%d")) for f in sim.fills]
    assert wire == local
    assert len(local) == n_fills, name
