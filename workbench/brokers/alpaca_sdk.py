"""The alpaca-py internals this project depends on, checked once per client.

alpaca-py gives no public way to set a request timeout or to turn its own retries off
(retries are our execution engine's job: it looks an order up by its client order id
before resending). So every REST client gets its private ``_session`` replaced by one
whose requests time out, and ``_retry`` / ``_retry_codes`` cleared. Should a release
rename them, the assignments would silently do nothing and requests would lose their
timeouts; :func:`tune_client` checks they are there, with the types it expects, and
stops with an error naming the installed version otherwise. The dependency is bounded
to the minor versions the tests run (``pyproject.toml``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

from workbench.errors import ConfigError

#: The minor versions the tests run against (keep in step with pyproject.toml's bound).
TESTED = ">=0.44,<0.45"
#: Private attribute -> the type alpaca-py gives it.
PRIVATE: dict[str, type | tuple[type, ...]] = {
    "_session": requests.Session,
    "_retry": int,
    "_retry_codes": (list, tuple),
}


class TimeoutSession(requests.Session):
    """A requests session whose calls time out (alpaca-py sets none)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, **kwargs)


def installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("alpaca-py")
    except PackageNotFoundError:  # pragma: no cover - imported but not installed
        return "unknown"


def check_client(client: Any) -> None:
    """Raise :class:`ConfigError` unless ``client`` has the private attributes we set."""
    wrong = [
        name for name, kind in PRIVATE.items() if not isinstance(getattr(client, name, None), kind)
    ]
    if wrong:
        raise _untested(client, wrong, " (or changed its type): without it requests would "
                        "have no timeout and retry on their own")  # fmt: skip


def _untested(obj: Any, names: list[str], consequence: str) -> ConfigError:
    """The error for an alpaca-py without the private ``names`` of ``obj`` we rely on."""
    what = ", ".join(f"{type(obj).__name__}.{name}" for name in names)
    return ConfigError(
        f"alpaca-py {installed_version()} has no {what}{consequence}",
        hint=f"install a tested version: pip install 'alpaca-py{TESTED}'",
    )


def tune_client(client: Any, timeout: float) -> Any:
    """Every request of ``client`` times out after ``timeout`` s; no retries of its own."""
    check_client(client)
    client._session = TimeoutSession(timeout)
    client._retry = 0
    client._retry_codes = []
    return client


#: The private coroutine methods of alpaca-py's streams that :func:`watch_connections`
#: wraps: called after each (re)connection has authenticated, and when one is closed.
STREAM_HOOKS = ("_send_subscribe_msg", "close")


def watch_connections(
    stream: Any, on_subscribed: Callable[[], None], on_closed: Callable[[], None]
) -> Any:
    """Call ``on_subscribed()`` each time ``stream`` (re)subscribes and ``on_closed()``
    each time its connection is closed, on the stream's own event loop, in order with
    the messages it hands to the handlers.

    alpaca-py reconnects a dropped stream by itself and says nothing; a feed that must
    know which minutes it may have missed needs to see those moments.
    """
    missing = [name for name in STREAM_HOOKS if not callable(getattr(stream, name, None))]
    if missing:
        raise _untested(stream, missing, ": the live feed could not tell which minutes a "
                        "reconnected stream missed")  # fmt: skip
    subscribe, close = stream._send_subscribe_msg, stream.close

    async def subscribed(*args: Any, **kwargs: Any) -> Any:
        on_subscribed()  # before the subscription is sent: before any of its bars
        return await subscribe(*args, **kwargs)

    async def closed(*args: Any, **kwargs: Any) -> Any:
        on_closed()
        return await close(*args, **kwargs)

    stream._send_subscribe_msg, stream.close = subscribed, closed
    return stream


#: The private coroutine of alpaca-py's trading stream that :func:`watch_listening` wraps:
#: it sends ``listen`` after each (re)connection has authenticated.
TRADE_STREAM_HOOK = "_subscribe_trade_updates"


def watch_listening(
    stream: Any, on_listening: Callable[[], None], on_closed: Callable[[], None] | None = None
) -> Any:
    """Call ``on_listening()`` each time the trading ``stream`` (re)connects, on its own
    event loop, before it listens: before any update of that connection is handed on;
    and ``on_closed()`` each time its connection is closed (a drop: alpaca-py closes
    before it reconnects), after the last update of that connection.

    alpaca-py's ``TradingStream`` reconnects a dropped connection by itself and says
    nothing; Alpaca does not replay the trade updates sent meanwhile.
    """
    hooks = [TRADE_STREAM_HOOK] + (["close"] if on_closed is not None else [])
    missing = [name for name in hooks if not callable(getattr(stream, name, None))]
    if missing:
        raise _untested(stream, missing, ": the broker could not tell when a "
                        "reconnected trade stream missed order updates")  # fmt: skip
    listen = stream._subscribe_trade_updates

    async def listening(*args: Any, **kwargs: Any) -> Any:
        on_listening()
        return await listen(*args, **kwargs)

    stream._subscribe_trade_updates = listening
    if on_closed is not None:
        close = stream.close

        async def closed(*args: Any, **kwargs: Any) -> Any:
            on_closed()
            return await close(*args, **kwargs)

        stream.close = closed
    return stream
