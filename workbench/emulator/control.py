"""The control API: ``/_emulator/...``, the emulator's own routes (not Alpaca's).

It steps the replay, dumps the state, sets and clears faults, starts and ends outages,
corrects a published bar and resets the account; the publication delay has its own
route (:mod:`workbench.emulator.publication`). The request pipeline
(:meth:`~workbench.emulator.app.EmulatorApp.middleware`) answers loopback clients only.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pandas as pd
from aiohttp import web

from workbench.emulator.faults import Fault
from workbench.emulator.outage import Outage
from workbench.emulator.shapes import ApiError
from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.emulator.app import EmulatorApp

__all__ = ["control_routes"]


def control_routes(core: EmulatorApp) -> list[web.RouteDef]:
    async def step(request: web.Request) -> web.Response:
        try:
            n = int(request.query.get("n", "1"))
        except ValueError:
            raise ApiError(422, 40010001, "n must be a whole number") from None
        if n < 1:
            raise ApiError(422, 40010001, "n must be at least 1")
        done = await core.step(n)
        v = core.venue
        return web.json_response(
            {"stepped": done, "cursor": v.cursor, "finished": v.finished, "clock": v.clock_json()}
        )

    async def state(request: web.Request) -> web.Response:
        return web.json_response(core.state())

    async def get_faults(request: web.Request) -> web.Response:
        core.faults.remove_spent()
        return web.json_response(core.faults.describe())

    async def add_faults(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            raise ApiError(400, 40010000, "request body format is invalid") from None
        items = body if isinstance(body, list) else [body]
        for item in items:
            if not isinstance(item, dict):
                raise ApiError(422, 40010001, "a fault is a JSON object or {'spec': '...'}")
            fault = Fault.parse(item["spec"]) if "spec" in item else Fault.from_dict(item)
            await core.add_fault(fault)
        core.faults.remove_spent()
        return web.json_response(core.faults.describe())

    async def clear_faults(request: web.Request) -> web.Response:
        core.faults.clear()
        return web.json_response([])

    async def start_outage(request: web.Request) -> web.Response:
        try:
            body = await request.json() if request.can_read_body else {}
        except json.JSONDecodeError:
            raise ApiError(400, 40010000, "request body format is invalid") from None
        if not isinstance(body, dict) or set(body) - {"at", "duration"}:
            raise ApiError(422, 40010001, "give {at (replay time, optional), duration (e.g. 2min)}")
        try:
            outage = Outage.make(body.get("at"), body.get("duration"))
        except WorkbenchError as exc:
            raise ApiError(422, 40010001, exc.message) from None
        await core.set_outage(outage)
        return web.json_response(core.outage.to_dict() if core.outage else None)

    async def end_outage(request: web.Request) -> web.Response:
        await core.set_outage(None)
        return web.json_response(None)

    async def reset(request: web.Request) -> web.Response:
        await core.reset()
        return web.json_response(core.state())

    async def correct(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            symbol, stamp = str(body.pop("symbol")).upper(), pd.Timestamp(body.pop("time"))
        except (json.JSONDecodeError, KeyError, ValueError, AttributeError):
            raise ApiError(400, 40010000, "give {symbol, time, and fields to correct}") from None
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        await core.correct(symbol, stamp, body)
        return web.json_response({"corrected": symbol, "time": stamp.isoformat()})

    return [
        web.post("/_emulator/step", step),
        web.get("/_emulator/state", state),
        web.get("/_emulator/faults", get_faults),
        web.post("/_emulator/faults", add_faults),
        web.delete("/_emulator/faults", clear_faults),
        web.post("/_emulator/outage", start_outage),
        web.delete("/_emulator/outage", end_outage),
        web.post("/_emulator/reset", reset),
        web.post("/_emulator/correct", correct),
    ]
