"""A decision's plan as the state file keeps it: the steps, as JSON, and back.

The runner writes the plan before it sends anything; after a crash it reads the plan
back and resends what the broker does not have (the client order ids are in it).
"""

from __future__ import annotations

from typing import Any

from workbench.execution.engine import Cancel, Step, Submit
from workbench.orders import OrderClass, OrderRequest, OrderType, Side, TimeInForce

#: Request fields of trailing stops and attached exits (None when unused).
EXIT_FIELDS = (
    "trail_price", "trail_percent", "take_profit", "stop_loss", "stop_loss_limit",
    "take_profit_percent", "stop_loss_percent", "exit_tif",
)  # fmt: skip


def step_json(step: Step) -> dict[str, Any]:
    if isinstance(step, Cancel):
        return {"kind": "cancel", "order_id": step.order_id, "reason": step.reason}
    r = step.request
    return {
        "kind": "submit", "from_target": step.from_target, "symbol": r.symbol, "side": str(r.side),
        "quantity": r.quantity, "notional": r.notional, "type": str(r.type),
        "limit_price": r.limit_price, "stop_price": r.stop_price, "tif": str(r.tif),
        "reason": r.reason, "client_order_id": r.client_order_id, "oco_group": r.oco_group,
        **{name: getattr(r, name) for name in EXIT_FIELDS}, "order_class": str(r.order_class),
    }  # fmt: skip


def steps_from_json(items: list[dict[str, Any]]) -> list[Step]:
    steps: list[Step] = []
    for item in items:
        if item["kind"] == "cancel":
            steps.append(Cancel(item["order_id"], item.get("reason", "")))
            continue
        request = OrderRequest(
            symbol=item["symbol"], side=Side(item["side"]), quantity=item["quantity"],
            notional=item["notional"], type=OrderType(item["type"]),
            limit_price=item["limit_price"], stop_price=item["stop_price"],
            tif=TimeInForce(item["tif"]), reason=item["reason"],
            client_order_id=item["client_order_id"], oco_group=item.get("oco_group"),
            order_class=OrderClass(item.get("order_class", "simple")),
            **{name: item.get(name) for name in EXIT_FIELDS},
        )  # fmt: skip
        steps.append(Submit(request, from_target=item["from_target"]))
    return steps
