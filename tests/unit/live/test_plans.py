"""A plan's steps survive the state file: JSON out, the same requests back."""

from __future__ import annotations

import json

from workbench.execution.engine import Cancel, Submit
from workbench.live.plans import step_json, steps_from_json
from workbench.orders import OrderClass, OrderRequest, Side, TimeInForce


def test_steps_round_trip_with_every_kind_of_exit() -> None:
    steps = [
        Submit(
            OrderRequest(
                "X",
                Side.BUY,
                notional=1_000.0,
                tif=TimeInForce.DAY,
                client_order_id="c-1",
                order_class=OrderClass.BRACKET,
                take_profit_percent=6.0,
                stop_loss_percent=2.0,
                exit_tif=TimeInForce.GTC,
            ),
            from_target=True,
        ),
        Submit(
            OrderRequest(
                "X",
                Side.SELL,
                quantity=3.0,
                client_order_id="c-2",
                order_class=OrderClass.BRACKET,
                take_profit=90.0,
                trail_percent=1.5,
            ),
            from_target=False,
        ),
        Cancel("o-1", "replaced"),
    ]
    text = json.dumps([step_json(s) for s in steps])
    assert steps_from_json(json.loads(text)) == steps
