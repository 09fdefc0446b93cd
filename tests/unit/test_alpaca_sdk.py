"""alpaca-py's private attributes are checked before they are set (a rename must not pass)."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

import pytest

from workbench.brokers.alpaca import AlpacaBroker
from workbench.brokers.alpaca_sdk import (
    TESTED,
    TimeoutSession,
    installed_version,
    tune_client,
    watch_connections,
    watch_listening,
)
from workbench.errors import ConfigError


def test_the_installed_sdk_has_what_we_set_and_the_broker_uses_it() -> None:
    broker = AlpacaBroker("key-id-123", "secret-456", url="http://127.0.0.1:9")
    assert isinstance(broker.client._session, TimeoutSession)
    assert broker.client._session.timeout > 0
    assert broker.client._retry == 0 and broker.client._retry_codes == []


def test_a_renamed_attribute_stops_with_the_installed_version_named() -> None:
    from alpaca.trading.client import TradingClient

    client = TradingClient("key-id-123", "secret-456", paper=True)
    del client._retry_codes  # as if a release renamed it
    with pytest.raises(ConfigError) as error:
        tune_client(client, 5.0)
    text = str(error.value)
    assert f"alpaca-py {installed_version()}" in text and "TradingClient._retry_codes" in text
    assert TESTED in text
    client._retry_codes = []
    client._session = object()  # the right name, the wrong thing
    with pytest.raises(ConfigError, match=r"TradingClient\._session"):
        tune_client(client, 5.0)


def test_the_dependency_is_bounded_to_the_tested_minor_version() -> None:
    root = Path(__file__).resolve().parents[2]
    deps = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"alpaca-py{TESTED}" in deps
    low, high = (part.lstrip("<>=") for part in TESTED.split(","))
    major_minor = tuple(int(x) for x in installed_version().split(".")[:2])
    assert tuple(int(x) for x in low.split(".")[:2]) <= major_minor
    assert major_minor < tuple(int(x) for x in high.split(".")[:2])


@pytest.mark.parametrize(
    ("exits", "fragment"),
    [
        ({"stop_loss_percent": 5}, "absolute exit prices"),
        ({"stop_loss": 90, "exit_tif": "gtc"}, "own time in force"),
    ],
)
def test_what_an_alpaca_bracket_cannot_carry_is_refused_before_sending(
    exits: dict, fragment: str
) -> None:
    """Exits priced from the fill, or legs with their own time in force: the sim's only."""
    from workbench.brokers.alpaca import _order_request
    from workbench.errors import OrderRejected
    from workbench.orders import OrderRequest, Side, TimeInForce

    request = OrderRequest(
        "X", Side.BUY, quantity=1, tif=TimeInForce.DAY, order_class="oto", **exits
    )
    with pytest.raises(OrderRejected, match=fragment):
        _order_request(request)


def test_a_stream_without_the_connection_hooks_stops_with_the_version_named() -> None:
    class OldStream:  # as if a release renamed _send_subscribe_msg
        async def close(self) -> None: ...

    with pytest.raises(ConfigError, match=r"OldStream\._send_subscribe_msg") as error:
        watch_connections(OldStream(), lambda: None, lambda: None)
    assert TESTED in str(error.value)


def test_the_data_stream_reports_each_subscription_and_close_before_doing_it() -> None:
    from alpaca.data.live import StockDataStream

    stream = StockDataStream("key-id-123", "secret-456")
    seen: list[str] = []

    async def sent() -> None:
        seen.append("subscribe sent")

    stream._send_subscribe_msg = sent
    watch_connections(stream, lambda: seen.append("subscribed"), lambda: seen.append("closed"))

    async def reconnect() -> None:
        await stream._send_subscribe_msg()
        await stream.close()
        await stream._send_subscribe_msg()

    asyncio.run(reconnect())
    assert seen == ["subscribed", "subscribe sent", "closed", "subscribed", "subscribe sent"]


def test_the_trading_stream_reports_each_connection_before_it_listens() -> None:
    from alpaca.trading.stream import TradingStream

    stream = TradingStream("key-id-123", "secret-456")
    seen: list[str] = []

    async def sent() -> None:
        seen.append("listen sent")

    stream._subscribe_trade_updates = sent
    watch_listening(stream, lambda: seen.append("connected"))

    async def reconnect() -> None:
        await stream._subscribe_trade_updates()
        await stream._subscribe_trade_updates()

    asyncio.run(reconnect())
    assert seen == ["connected", "listen sent", "connected", "listen sent"]


def test_the_trading_stream_reports_each_connection_closed() -> None:
    """A drop: alpaca-py closes the connection, then connects and listens again."""
    from alpaca.trading.stream import TradingStream

    stream = TradingStream("key-id-123", "secret-456")
    seen: list[str] = []

    async def sent() -> None:
        seen.append("listen sent")

    async def close() -> None:
        seen.append("close")

    stream._subscribe_trade_updates, stream.close = sent, close
    watch_listening(stream, lambda: seen.append("connected"), lambda: seen.append("closed"))

    async def reconnect() -> None:
        await stream._subscribe_trade_updates()
        await stream.close()
        await stream._subscribe_trade_updates()

    asyncio.run(reconnect())
    assert seen == ["connected", "listen sent", "closed", "close", "connected", "listen sent"]


def test_a_trading_stream_without_the_listen_hook_stops_with_the_version_named() -> None:
    class OldStream:  # as if a release renamed _subscribe_trade_updates
        pass

    with pytest.raises(ConfigError, match=r"OldStream\._subscribe_trade_updates") as error:
        watch_listening(OldStream(), lambda: None)
    assert TESTED in str(error.value)
