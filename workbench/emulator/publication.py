"""When a bar reaches the clients: a moment after its minute is over, as on Alpaca.

Alpaca publishes a minute's bar (on the stream and over REST) shortly after the minute
ends: at 15:00:00 its clock says the 14:59 minute is over, and the 14:59 bar comes a
moment later. A client that takes "the clock is past the period's end" for "every
minute of the period is published" builds the period's bar without its last minute.

With a publication ``delay`` (seconds of wall time, 0: off) the emulator plays this:
each step moves the replay clock at once (trade updates go out, the clock says the
minute is over) but the step's bars are withheld for ``delay`` seconds, from the
stream and from the REST bars and latest-bar endpoints alike; stepping on publishes
them first (a later minute is never published before an earlier one). With a replay
stepped by hand, only the last step's bars wait.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from workbench.emulator.shapes import ApiError
from workbench.errors import ConfigError, WorkbenchError

Messages = list[dict[str, Any]]


def check_delay(seconds: Any) -> float:
    """A publication delay in seconds: a finite number, 0 or more."""
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ConfigError(
            f"a publication delay is a number of seconds, 0 or more, got {seconds!r}",
            hint="e.g. 1.5 (0 publishes each bar with its step)",
        )
    return value


class Publication:
    """The bar messages of the last step, sent at once or after ``delay`` seconds."""

    def __init__(self, send: Callable[[Messages], Awaitable[None]], delay: float = 0.0) -> None:
        self._send = send
        self.delay = check_delay(delay)
        self._held: tuple[Messages, Any] | None = None  # (messages, the replay withholding)
        self._timer: asyncio.TimerHandle | None = None

    @property
    def withholding(self) -> bool:
        return self._held is not None

    async def publish(
        self, messages: Messages, replay: Any, later: Callable[[], Awaitable[None]]
    ) -> None:
        """The bars of the step ``replay`` just made: sent now, or withheld ``delay``
        seconds (``replay.withheld`` hides them from REST), then ``later()`` sends them."""
        if self.delay <= 0:
            await self._send(messages)
            return
        replay.withheld = 1
        self._held = (messages, replay)
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.delay, lambda: loop.create_task(later()))

    async def release(self) -> None:
        """Publish the withheld bars now (their time has come, or the replay steps on)."""
        held, self._held = self._held, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if held is None:
            return
        messages, replay = held
        replay.withheld = 0
        await self._send(messages)

    def forget(self) -> None:
        """Drop what is withheld (the replay was reset)."""
        if self._timer is not None:
            self._timer.cancel()
        self._held, self._timer = None, None

    def to_dict(self) -> dict[str, Any]:
        return {"delay_s": self.delay, "withholding": self.withholding}


def publication_routes(core: Any) -> list[web.RouteDef]:
    """``POST /_emulator/publication_delay {"seconds": 1.5}`` (the control API: loopback
    only, like the rest of ``/_emulator/``); answers the publication's state."""

    async def publication_delay(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            raise ApiError(400, 40010000, "request body format is invalid") from None
        if not isinstance(body, dict) or set(body) != {"seconds"}:
            raise ApiError(422, 40010001, "give {seconds: how long a step's bars wait}")
        try:
            await core.set_publication_delay(body["seconds"])
        except WorkbenchError as exc:
            raise ApiError(422, 40010001, exc.message) from None
        return web.json_response(core.publication.to_dict())

    return [web.post("/_emulator/publication_delay", publication_delay)]
