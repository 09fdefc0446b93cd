"""More open orders than Alpaca lists in one request: the Alpaca broker reads them all.

Against the emulator, which lists at most 500 orders a request, as Alpaca does, and
filters ``after`` on the submission time (exclusive). Its orders carry the replay clock, so
the orders sent between two bars share one time: the page is made small here to page
through a few orders of three bars, ties included.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from workbench.brokers import alpaca_listing
from workbench.brokers.alpaca import AlpacaBroker
from workbench.emulator import Emulator
from workbench.emulator.rest import ORDER_LIST_LIMIT
from workbench.orders import OrderRequest, OrderType, Side, TimeInForce


@pytest.fixture
def broker(bars_emulator: Emulator) -> Iterator[tuple[Emulator, AlpacaBroker, list[Any]]]:
    """The emulator, an Alpaca broker on it, and the requests its order listings made."""
    emu = bars_emulator
    made = AlpacaBroker(emu.key, emu.secret, url=emu.base_url, stream_url=emu.trading_stream_url)
    requests: list[Any] = []
    get_orders = made.client.get_orders

    def counted(req: Any) -> Any:
        requests.append(req)
        return get_orders(req)

    made.client.get_orders = counted
    try:
        yield emu, made, requests
    finally:
        made.close()


def _send(broker: AlpacaBroker, n: int, tag: str) -> list[str]:
    """``n`` buy limits far under the market (they rest, open): their client order ids."""
    ids = []
    for i in range(n):
        cid = f"{tag}-{i}"
        broker.submit_order(
            OrderRequest(
                "AAA",
                Side.BUY,
                quantity=1.0,
                type=OrderType.LIMIT,
                limit_price=1.0,
                tif=TimeInForce.GTC,
                client_order_id=cid,
            )
        )
        ids.append(cid)
    return ids


def test_the_page_is_alpacas_500() -> None:
    assert alpaca_listing.ORDERS_PAGE == ORDER_LIST_LIMIT == 500


def test_open_orders_past_a_full_page_are_all_read_once_oldest_first(
    broker: tuple[Emulator, AlpacaBroker, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    emu, alpaca, requests = broker
    monkeypatch.setattr(alpaca_listing, "ORDERS_PAGE", 5)
    sent = _send(alpaca, 4, "a")
    emu.step()
    sent += _send(alpaca, 4, "b")
    emu.step()
    sent += _send(alpaca, 4, "c")
    requests.clear()
    listed = [o.client_order_id for o in alpaca.get_open_orders()]
    assert listed == sent  # every one, once, in the order sent
    # 5 (a's 4 and b's first), then from b's time: b's 4 and c's first, then c's 4: not full
    assert [r.limit for r in requests] == [5, 5, 5]
    assert requests[0].after is None and requests[1].after < requests[2].after


def test_more_orders_at_one_instant_than_a_page_holds_end_with_a_warning(
    broker: tuple[Emulator, AlpacaBroker, list[Any]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, alpaca, requests = broker
    monkeypatch.setattr(alpaca_listing, "ORDERS_PAGE", 5)
    sent = _send(alpaca, 7, "t")  # one instant (the replay clock): pages cannot split them
    requests.clear()
    with caplog.at_level(logging.WARNING, logger="workbench.brokers.alpaca_listing"):
        listed = [o.client_order_id for o in alpaca.get_open_orders()]
    assert listed == sent[:5]
    assert len(requests) == 2  # the second page brought nothing new: no third
    warned = [r for r in caplog.records if getattr(r, "event", "") == "open_orders_truncated"]
    assert len(warned) == 1 and "listed 5" in warned[0].getMessage()


def test_501_open_orders_are_all_read(
    broker: tuple[Emulator, AlpacaBroker, list[Any]],
) -> None:
    """At Alpaca's own page size: one order more than a page, over two bars."""
    emu, alpaca, requests = broker
    sent = _send(alpaca, 300, "a")
    emu.step()
    sent += _send(alpaca, 201, "b")
    requests.clear()
    listed = [o.client_order_id for o in alpaca.get_open_orders()]
    assert len(listed) == 501 and listed == sent
    assert len(requests) == 2
