"""The Alpaca broker's ``replace_order`` against the emulator: Alpaca's PATCH takes whole
shares only ("only patch full shares", Replace Order by ID; alpaca-py's
``ReplaceOrderRequest.qty`` is an int), so a fractional quantity is refused before
anything is sent rather than cut to the whole shares below it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from workbench.brokers.alpaca import AlpacaBroker
from workbench.emulator import Emulator
from workbench.errors import OrderRejected
from workbench.orders import OrderRequest, OrderStatus, OrderType, Side, TimeInForce

KEY, SECRET = "replace-key", "replace-secret"


@pytest.fixture
def broker(hand_frames) -> Iterator[tuple[Emulator, AlpacaBroker]]:
    with Emulator(hand_frames, key=KEY, secret=SECRET) as emu:
        emu.step()  # 2024-01-01 published (close 100)
        alpaca = AlpacaBroker(KEY, SECRET, url=emu.base_url)
        try:
            yield emu, alpaca
        finally:
            alpaca.close()


def limit_buy(qty: float, price: float) -> OrderRequest:
    return OrderRequest(
        "AAA", Side.BUY, quantity=qty, type=OrderType.LIMIT, limit_price=price, tif=TimeInForce.GTC
    )


def test_replace_a_quantity_and_a_price(broker) -> None:
    _, alpaca = broker
    old = alpaca.submit_order(limit_buy(3, 90.0))
    new = alpaca.replace_order(old.id, limit_buy(5, 91.0))
    assert (new.quantity, new.request.limit_price, new.status) == (5, 91.0, OrderStatus.ACCEPTED)
    assert alpaca.get_order(old.id).status is OrderStatus.REPLACED


def test_a_fractional_quantity_is_refused_not_cut(broker) -> None:
    emu, alpaca = broker
    old = alpaca.submit_order(limit_buy(3, 90.0))
    with pytest.raises(OrderRejected, match=r"whole shares only, not a qty of 2\.5"):
        alpaca.replace_order(old.id, limit_buy(2.5, 90.0))
    [order] = emu.state()["orders"]  # nothing was sent: the order is as it was
    assert (order["id"], order["qty"], order["replaced_by"]) == (old.id, "3", None)
