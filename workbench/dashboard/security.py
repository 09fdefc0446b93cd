"""Who may see the dashboard and press its kill switch: the token, the session, the CSRF check.

Rules (checked by tests in a real browser):

- bound to a loopback address the dashboard may run without a token (only this machine
  reaches it), and then answers only requests whose ``Host`` is a loopback name or address
  (a web page cannot read it through DNS rebinding); bound to any other address it refuses
  to start without one;
- with a token, every request must be authenticated: ``Authorization: Bearer <token>``
  (tools), or the signed session cookie that a POST of the login form sets (browsers;
  HttpOnly, SameSite=Strict, Secure when the request came over TLS). The token never
  travels in a URL, so it never reaches browser history, proxy logs or the journal;
- a failed login is answered slowly (doubling per failure from one address, capped) and
  logged with the client's address, never with what was typed;
- the kill switch needs a token, the ``allow_kill`` opt-in, and a POST whose form field
  ``csrf_token`` matches the one kept in the signed session cookie.

Tokens are compared in constant time and never rendered.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Request, session
from flask.sessions import SecureCookieSessionInterface

from workbench.errors import ConfigError

log = logging.getLogger(__name__)

TOKEN_ENV = "WORKBENCH_DASHBOARD_TOKEN"
MIN_TOKEN_LENGTH = 16
SESSION_COOKIE = "wb_session"
#: First failed login from an address waits this long; each further one doubles it, up to the cap.
LOGIN_DELAY_S = 0.25
LOGIN_DELAY_CAP_S = 8.0


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; any other name or address is public."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_loopback_host(header: str) -> bool:
    """True when a request's ``Host`` header (``name[:port]``) names a loopback address.

    A dashboard without a token answers only such requests: otherwise any web page could
    point a name of its own at 127.0.0.1 (DNS rebinding) and read it from the browser."""
    try:
        name = urlsplit(f"//{header}").hostname
    except ValueError:
        return False
    return bool(name) and is_loopback(name)


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


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


def token_ok(expected: str | None, given: str | None) -> bool:
    if expected is None:
        return True
    if not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def authenticated(request: Request, expected: str | None) -> bool:
    """A valid bearer header, or a session that logged in through the form."""
    if expected is None:
        return True
    return token_ok(expected, bearer_token(request)) or session.get("auth") is True


def log_in() -> None:
    """Mark the (signed, server-keyed) session as authenticated; a fresh CSRF token with it."""
    session.clear()
    session["auth"] = True
    session["csrf"] = secrets.token_urlsafe(32)


def csrf_token() -> str:
    """The session's CSRF token (created on first use)."""
    value = session.get("csrf")
    if not value:
        value = session["csrf"] = secrets.token_urlsafe(32)
    return value


def csrf_ok(given: str | None) -> bool:
    expected = session.get("csrf")
    return bool(expected and given) and hmac.compare_digest(expected.encode(), given.encode())


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure whenever the request itself came over TLS
    (directly, or through a reverse proxy trusted with ``X-Forwarded-Proto``)."""

    def get_cookie_secure(self, app) -> bool:  # type: ignore[no-untyped-def]
        from flask import request

        return bool(request) and request.is_secure


class LoginThrottle:
    """Slows down guessing: each failure from one address doubles that address's wait."""

    def __init__(
        self,
        base_s: float = LOGIN_DELAY_S,
        cap_s: float = LOGIN_DELAY_CAP_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._base, self._cap, self._sleep = base_s, cap_s, sleep
        self._failures: dict[str, int] = {}
        self._lock = threading.Lock()

    def failed(self, address: str) -> float:
        """Record a failure, log it (address and count, never the attempt), wait; the wait."""
        with self._lock:
            count = self._failures[address] = self._failures.get(address, 0) + 1
            if len(self._failures) > 10_000:  # bounded memory under a scan
                self._failures = {address: count}
        delay = min(self._base * 2 ** (count - 1), self._cap)
        log.warning(
            "dashboard login failed from %s (%d in a row); answering in %.2f s",
            address,
            count,
            delay,
            extra={"event": "login_failed", "reason": "wrong token"},
        )
        self._sleep(delay)
        return delay

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)
