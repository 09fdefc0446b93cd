"""Alpaca's HTTP errors mapped by what the caller must do (:mod:`workbench.errors`).

429, 5xx, timeouts: retry (5xx flagged ambiguous: the order may have gone out); 400, 403,
422: the order was refused; 401: the keys. Shared by the trading adapter and the
historical bars client, so both say the same thing for the same answer.
"""

from __future__ import annotations

import time
from typing import Any

from workbench.errors import BrokerError, OrderRejected, TransientBrokerError


def _map_api_error(what: str, exc: Any) -> BrokerError:
    status = getattr(exc, "status_code", None) or 0
    try:
        code, message = exc.code, exc.message
    except (ValueError, KeyError, TypeError):
        code, message = None, (str(exc)[:200] or f"HTTP {status}")
    text = f"{what}: Alpaca said {status} {message}" + (f" (code {code})" if code else "")
    if status == 429:
        return TransientBrokerError(text, code=code, retry_after=_retry_after(exc))
    if status >= 500:
        return TransientBrokerError(text, code=code, ambiguous=True)
    if status in (400, 403, 422):
        return OrderRejected(text, code=code)
    if status == 401:
        return BrokerError(
            f"{what}: Alpaca refused the keys (401)",
            hint="check APCA_API_KEY_ID / APCA_API_SECRET_KEY and paper vs live",
            code=code,
        )
    return BrokerError(text, code=code or (40410000 if status == 404 else None))


def _retry_after(exc: Any) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    if headers.get("Retry-After"):
        try:
            return float(headers["Retry-After"])
        except ValueError:
            return None
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        try:
            return max(float(reset) - time.time(), 0.0)
        except ValueError:
            return None
    return None
