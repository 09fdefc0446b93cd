"""The Flask app: pages, a JSON API, the equity plot, the latest reconciliation report.

``create_app(state_path, ...)`` builds it; :func:`serve` runs it (``workbench dashboard``).
Every page is built from :func:`workbench.dashboard.data.snapshot`, refreshes itself,
and is read-only unless the kill switch is enabled (token + CSRF, see
:mod:`workbench.dashboard.security`).
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import (
    Flask,
    Response,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask import render_template_string as _render_string
from flask import send_from_directory as _send
from jinja2 import DictLoader
from markupsafe import Markup

from workbench.dashboard import security
from workbench.dashboard.data import (
    BUNDLE_REPORTS,
    equity_curve,
    log_tail,
    reports_root,
    snapshot,
)
from workbench.dashboard.plots import equity_png
from workbench.dashboard.templates import LOGIN, TEMPLATES, UNAVAILABLE
from workbench.errors import ConfigError, WorkbenchError

log = logging.getLogger(__name__)

REFRESH_S = 5
REPORT_FILES = {".html", ".png", ".csv", ".json"}


def create_app(
    state_path: str | Path,
    *,
    token: str | None = None,
    allow_kill: bool = False,
    reports_dir: str | Path | None = None,
    host: str = "127.0.0.1",
    refresh: int = REFRESH_S,
    behind_proxy: bool = False,
    throttle: security.LoginThrottle | None = None,
) -> Flask:
    """The dashboard for the run whose state is in ``state_path``.

    ``token``: required on every request when given (and mandatory when ``host`` is not
    a loopback address). ``allow_kill``: show the kill switch (needs the token).
    ``reports_dir``: where ``workbench reconcile`` writes (default ``reconcile/`` beside
    the state file). ``behind_proxy``: trust one reverse proxy's ``X-Forwarded-For`` and
    ``X-Forwarded-Proto`` (so the session cookie is Secure when the proxy speaks TLS).
    """
    security.check_config(host, token, allow_kill)
    state_path = Path(state_path)
    snapshot(state_path, reports_dir=reports_dir)  # fail now on a missing or foreign file
    app = Flask(__name__)
    app.secret_key = secrets.token_bytes(32)  # sessions end with the process
    app.session_interface = security.SessionInterface()
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_NAME=security.SESSION_COOKIE,
    )
    if behind_proxy:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    throttle = throttle or security.LoginThrottle()
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.jinja_loader = DictLoader(TEMPLATES)
    _filters(app)
    reports = reports_root(reports_dir, state_path)

    def context(**extra: Any) -> dict[str, Any]:
        snap = extra.pop("snap", None) or snapshot(state_path, reports_dir=reports_dir)
        return {
            "snap": snap,
            "report": snap["report"],
            "generated_at": snap["generated_at"][:19].replace("T", " ") + " UTC",
            "refresh": refresh,
            "allow_kill": allow_kill,
            "signed_in": token is not None and session.get("auth") is True,
            "csrf": security.csrf_token() if allow_kill else "",
            "title": extra.pop("title", "status"),
            **extra,
        }

    def login_page(status: int, message: str = "") -> Response:
        html = _render_string(LOGIN, message=message, action=url_for("login"))
        return Response(html, status, mimetype="text/html")

    @app.before_request
    def loopback_host_only() -> Response | None:
        """Without a token, only a loopback ``Host`` is answered (no DNS rebinding)."""
        if token is not None or security.is_loopback_host(request.host):
            return None
        return Response("this dashboard answers only to localhost\n", 400, mimetype="text/plain")

    @app.before_request
    def require_token() -> Response | None:
        if token is None or request.endpoint == "login":
            return None
        if security.authenticated(request, token):
            return None
        if request.path.startswith("/api/"):
            return Response('{"error": "unauthorized"}', 401, mimetype="application/json")
        return login_page(401)

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        if request.is_secure:
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
            "form-action 'self'; frame-ancestors 'none'"
        )
        return response

    @app.errorhandler(WorkbenchError)
    def state_unavailable(exc: WorkbenchError) -> Response:
        """The state file vanished, is locked or is not SQLite (the store says which): a 503
        that says so, never a 500."""
        message = str(exc)
        if request.endpoint == "kill":
            message = f"the halt was NOT written: {message}"
        log.warning("dashboard: %s", message, extra={"event": "state_unavailable"})
        if request.path.startswith("/api/"):
            return Response(json.dumps({"error": message}), 503, mimetype="application/json")
        at = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        html = _render_string(UNAVAILABLE, message=message, refresh=refresh, at=at)
        return Response(html, 503, mimetype="text/html")

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Response:
        if token is None:
            return redirect(url_for("index"))
        if request.method == "GET":
            if request.args:  # a token in a URL is already in someone's history: never use it
                return login_page(400, "the token is never accepted in a URL: type it here")
            return login_page(200)
        address = request.remote_addr or "unknown"
        if not security.token_ok(token, request.form.get("token")):
            throttle.failed(address)
            return login_page(401, "wrong token")
        throttle.succeeded(address)
        security.log_in()
        log.info("dashboard login from %s", address, extra={"event": "login"})
        return redirect(url_for("index"), 303)

    @app.post("/logout")
    def logout() -> Response:
        session.clear()
        return redirect(url_for("login"), 303)

    @app.get("/")
    def index() -> str:
        return render_template("index.html", **context())

    @app.get("/logs")
    def logs() -> str:
        snap = snapshot(state_path, reports_dir=reports_dir)
        log_file = snap["status"]["log_file"]
        lines = log_tail(log_file)
        return render_template(
            "logs.html", **context(snap=snap, title="logs", log_file=log_file, lines=lines)
        )

    @app.get("/api/status")
    def api_status() -> Response:
        return jsonify(snapshot(state_path, reports_dir=reports_dir))

    @app.get("/api/logs")
    def api_logs() -> Response:
        snap = snapshot(state_path, reports_dir=reports_dir)
        return jsonify(
            {"log_file": snap["status"]["log_file"], "lines": log_tail(snap["status"]["log_file"])}
        )

    @app.get("/equity.png", endpoint="equity_png")
    def equity_png_route() -> Response:
        limit = snapshot(state_path, reports_dir=reports_dir)["account"]["drawdown_limit"]
        png = equity_png(equity_curve(state_path), drawdown_limit=limit)
        return Response(png, mimetype="image/png")

    @app.get("/report/<name>/<path:filename>")
    def report(name: str, filename: str) -> Response:
        if Path(filename).suffix not in REPORT_FILES or "/" in name or name.startswith("."):
            abort(404)
        return _send(reports / name, filename)

    @app.get("/bundle/<filename>")
    def bundle_report(filename: str) -> Response:
        """The bundle's own reports, by their fixed names only (never another file of it)."""
        bundle = snapshot(state_path, reports_dir=reports_dir)["status"]["bundle_path"]
        if not bundle or filename not in BUNDLE_REPORTS:
            abort(404)
        return _send(Path(bundle), filename)

    @app.post("/kill")
    def kill() -> tuple[str, int] | str:
        if not allow_kill:
            abort(404)
        if not security.csrf_ok(request.form.get("csrf_token")):
            log.warning(
                "kill switch refused: CSRF token missing or wrong", extra={"event": "kill_refused"}
            )
            return render_template(
                "message.html",
                **context(
                    title="refused", message="CSRF check failed: reload the page and try again"
                ),
            ), 403
        if request.form.get("confirm") != "yes":
            return render_template(
                "message.html",
                **context(title="not confirmed", message="tick the box to confirm the halt"),
            ), 400
        from workbench.dashboard.control import halt

        trading = halt(state_path, reason="kill switch from the dashboard")
        message = f"runner halted (risk state {trading})"
        return render_template("message.html", **context(title="kill switch", message=message))

    return app


def _filters(app: Flask) -> None:
    def finite(x: Any) -> bool:
        return isinstance(x, int | float) and math.isfinite(x)

    app.jinja_env.filters["money"] = lambda x: f"{x:,.2f}" if finite(x) else "—"
    app.jinja_env.filters["num"] = lambda x: f"{x:,.6g}" if finite(x) else "—"
    app.jinja_env.filters["pct"] = lambda x: f"{x * 100:.2f}%" if finite(x) else "—"
    app.jinja_env.filters["sign"] = lambda x: (
        ("pos" if x > 0 else "neg" if x < 0 else "") if finite(x) else ""
    )
    app.jinja_env.filters["duration"] = _duration

    def gauge(value: Any, limit: Any) -> Markup:
        if not (finite(value) and finite(limit) and limit > 0):
            return Markup("")
        share = min(value / limit, 1.0)
        over = "over" if value >= limit else ""
        width = f"{share * 100:.0f}%"
        return Markup(f'<span class="bar"><i class="{over}" style="width:{width}"></i></span>')

    app.jinja_env.globals["gauge"] = gauge


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float) or not math.isfinite(seconds):
        return "—"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def serve(
    state_path: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8050,
    token: str | None = None,
    allow_kill: bool = False,
    reports_dir: str | Path | None = None,
    behind_proxy: bool = False,
) -> None:
    """Build the dashboard for ``state_path`` and serve it until interrupted."""
    app = create_app(
        state_path,
        token=token,
        allow_kill=allow_kill,
        reports_dir=reports_dir,
        host=host,
        behind_proxy=behind_proxy,
    )
    run_server(app, host, port)


def make_server(app: Flask, host: str, port: int, *, threads: int = 4) -> Any:
    """A waitress server bound to ``host:port`` (0: any free port; ``.effective_port`` says
    which). waitress is a production WSGI server that writes no access log, so no request
    line (and nothing in it) ever reaches the journal."""
    from waitress import create_server

    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError(f"port must be 0-65535, got {port}", hint="0 picks a free port")
    try:
        return create_server(
            app,
            host=host,
            port=port,
            threads=threads,
            ident="workbench",
            clear_untrusted_proxy_headers=True,
        )
    except (OSError, ValueError) as exc:  # taken, not this machine's, or not an address
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(
            f"cannot listen on {server_url(host, port)}: {why}",
            hint="choose another --port (0 picks a free one) or stop the other server, or "
            "give --host an address of this machine",
        ) from None


def server_url(host: str, port: int) -> str:
    """``http://host:port/``, an IPv6 address in brackets."""
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


@contextmanager
def serving(app: Flask, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` with waitress in a thread (tests, notebooks); yields the loopback URL."""
    server = make_server(app, host, port)
    thread = threading.Thread(target=_run_quietly, args=(server,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server._stopping = True
        while server._map:  # close the listener, the wake-up pipe and any open connection
            for channel in list(server._map.values()):
                channel.handle_close()
        server.task_dispatcher.shutdown()
        thread.join(10)


def _run_quietly(server: Any) -> None:
    try:
        server.run()
    except (OSError, ValueError):  # the sockets closed under the loop by ``serving``
        if not getattr(server, "_stopping", False):
            raise


def run_server(
    app: Flask, host: str, port: int, *, announce: Callable[[str], None] | None = None
) -> None:
    """Serve ``app`` with waitress until interrupted; once bound, its URL is logged and
    given to ``announce`` (with port 0, the port the system chose)."""
    server = make_server(app, host, port)
    url = server_url(host, server.effective_port)
    log.info("dashboard on %s", url)
    if announce is not None:
        announce(url)
    try:
        server.run()
    finally:
        server.close()
