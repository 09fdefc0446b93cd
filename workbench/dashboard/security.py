"""Who may see the dashboard and press its kill switch: the token and the CSRF check.

Rules (checked by tests in a real browser):

- bound to a loopback address the dashboard may run without a token (only this machine
  reaches it); bound to any other address it refuses to start without one;
- with a token, every request must carry it: ``Authorization: Bearer <token>`` (tools) or
  the ``token`` cookie that ``/login?token=...`` sets (browsers; HttpOnly, SameSite=Strict);
- the kill switch needs a token, the ``allow_kill`` opt-in, and a POST whose form field
  ``csrf_token`` matches the one kept in the signed session cookie.

Tokens are compared in constant time and never rendered.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets

from flask import Request, session

from workbench.errors import ConfigError

TOKEN_ENV = "WORKBENCH_DASHBOARD_TOKEN"
TOKEN_COOKIE = "token"
MIN_TOKEN_LENGTH = 16


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; any other name or address is public."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_config(host: str, token: str | None, allow_kill: bool) -> None:
    """Refuse a dashboard that would be reachable from other machines without a token."""
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"the dashboard token is too short ({len(token)} characters)",
            hint=f"use at least {MIN_TOKEN_LENGTH}, e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`",
        )
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"refusing to serve the dashboard on {host} without a token",
            hint=f"set {TOKEN_ENV} (or --token-file), or bind 127.0.0.1",
        )
    if allow_kill and token is None:
        raise ConfigError(
            "the kill switch needs a token",
            hint=f"set {TOKEN_ENV} (or --token-file) to enable --allow-kill",
        )


def presented_token(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(TOKEN_COOKIE)


def token_ok(expected: str | None, given: str | None) -> bool:
    if expected is None:
        return True
    if not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def csrf_token() -> str:
    """The session's CSRF token (created on first use)."""
    value = session.get("csrf")
    if not value:
        value = session["csrf"] = secrets.token_urlsafe(32)
    return value


def csrf_ok(given: str | None) -> bool:
    expected = session.get("csrf")
    return bool(expected and given) and hmac.compare_digest(expected.encode(), given.encode())
