"""What every response and form of the site is protected by: CSRF, rate limits, headers, the secret key.

Rate limits count per client address, in one count every gunicorn worker shares (app.web.counts:
a file of this host by default, or the store); should that fail, each worker counts in memory, so
limits still hold, per worker.
"""
from __future__ import annotations

import os
import re
import sys
from typing import Any

from flask import Blueprint, Flask, current_app, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask.wrappers import Request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from itsdangerous import URLSafeTimedSerializer
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

from ..config import SETTINGS, SettingsError
from . import budget
from .counts import HOST_FILE, HostCounts, SharedCounts

DEV_SECRET_KEY = SETTINGS["SECRET_KEY"][0]  # the built-in default, for development only
MIN_SECRET_KEY_CHARS = 16
# No script at all: the site works without JavaScript, so none is allowed to run.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # A PNR is in our URLs: never hand it to another site in a Referer.
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000"
# Pages and answers about one PNR carry personal data: no shared cache may keep them.
PRIVATE_PREFIXES = ("/pnr/", "/api/v1/pnr/", "/track/")
# While the store is down the limiter counts in memory and looks for the store again after 1, 2, 4...
# seconds, inside a request: each look waits at most this (pymongo's floor is 500 ms), not the store's
# whole timeout.
RATE_LIMIT_STORE_WAIT_MS = 500
RATE_LIMIT_COLLECTIONS = {"counter_collection_name": "ratelimit_counters", "window_collection_name": "ratelimit_windows"}
EMAIL_LOCAL_SHOWN_CHARS = 1
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MAX_EMAIL_CHARS = 254


class SignedCookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signer made once per key, and no cookie looked for
    by a lookup that sent none. Every request opens the session: Flask made a new signer each time,
    and looking a missing cookie up raises inside werkzeug; together a sixth of what an answer
    from memory cost."""

    def __init__(self) -> None:
        self._made_for: tuple[Any, ...] | None = None
        self._serializer: URLSafeTimedSerializer | None = None

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        key = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        if key != self._made_for:
            self._serializer, self._made_for = super().get_signing_serializer(app), key
        return self._serializer


def check_production(app: Flask) -> None:
    """Refuse to serve visitors with the built-in key (it signs CSRF tokens and tracking links), or in
    debug mode under gunicorn (FLASK_DEBUG left on in the environment)."""
    if app.debug and "gunicorn" in sys.modules:
        raise SettingsError("FLASK_DEBUG: debug mode is for `flask run` on a developer's machine, never under gunicorn")
    if app.debug or app.testing:
        return
    key = app.config.get("SECRET_KEY") or ""
    if key == DEV_SECRET_KEY or len(key) < MIN_SECRET_KEY_CHARS:
        raise SettingsError(
            "PNR_SECRET_KEY: set a random value of at least 16 characters in etc/pnr.env (scripts/setup writes one)"
        )


def client_address() -> str:
    """The client's address, as the trusted proxies (TRUSTED_PROXIES) report it."""
    return get_remote_address() or "unknown"


def submitted_address() -> str:
    """The e-mail address a tracking form names, for the per-address limit."""
    return (request.form.get("email") or "").strip().lower()


def is_email(text: str) -> bool:
    """A plausible single mailbox: one @, a dotted domain, no spaces, within SMTP's length limits."""
    return len(text) <= MAX_EMAIL_CHARS and bool(_EMAIL.match(text))


def mask_email(address: str) -> str:
    """r***@example.com: enough for its owner to recognise it, too little for anyone else to use."""
    local, _, domain = address.rpartition("@")
    if not local:
        return "***"
    return f"{local[:EMAIL_LOCAL_SHOWN_CHARS]}***@{domain}"


def _limiter(app: Flask) -> Limiter:
    cfg = app.config
    options: dict[str, Any] = {}
    if cfg["RATE_LIMIT_STORAGE"] == "host":
        uri = f"{HostCounts.STORAGE_SCHEME[0]}://{os.path.abspath(os.path.join(cfg['VAR_DIR'], 'run', HOST_FILE))}"
    elif cfg["RATE_LIMIT_STORAGE"] == "mongo":
        uri = SharedCounts.SCHEME_PREFIX + cfg["MONGO_URI"]
        timeout_ms = cfg["MONGO_TIMEOUT_MS"]
        options = {
            "database_name": cfg["MONGO_DB"],
            **RATE_LIMIT_COLLECTIONS,
            "serverSelectionTimeoutMS": min(timeout_ms, RATE_LIMIT_STORE_WAIT_MS),
            "connectTimeoutMS": timeout_ms,
            "socketTimeoutMS": max(timeout_ms * 4, 5000),
            "appname": "pnr.me-ratelimit",
        }
    elif cfg["RATE_LIMIT_STORAGE"] == "memory":
        uri = "memory://"
    else:
        raise SettingsError(f"PNR_RATE_LIMIT_STORAGE: expected host, mongo or memory, got {cfg['RATE_LIMIT_STORAGE']!r}")
    return Limiter(
        key_func=client_address,
        app=app,
        storage_uri=uri,
        storage_options=options,
        strategy="moving-window",
        in_memory_fallback_enabled=True,
        # A failing limiter must never turn a lookup into a 500.
        swallow_errors=True,
        headers_enabled=True,
        key_prefix="pnr",
    )


def limit_lookups(app: Flask, limiter: Limiter, blueprints: list[str]) -> None:
    """Every view of the named blueprints counts against the client's one lookup budget (pages and
    API together), in the limiter's storage (app.web.budget); unless limits are switched off
    (Flask-Limiter's RATELIMIT_ENABLED)."""
    if limiter.enabled:
        budget.init_app(app, limiter.storage, client_address, blueprints)


def limit_tracking(app: Flask, limiter: Limiter, bp: Blueprint, name: str) -> None:
    """Tracking views (blueprint `bp`, full dotted `name`) count per client, and confirmation mails
    per address (Flask-Limiter; the limits are the app's settings as text: parsed at start, a wrong
    one stops the app there)."""
    app.before_request_funcs.setdefault(name, []).extend(app.extensions["pnr_limiter_checks"])
    limiter.shared_limit(app.config["RATE_LIMIT_TRACK"], scope="track")(bp)
    limiter.shared_limit(
        app.config["RATE_LIMIT_TRACK_PER_ADDRESS"], scope="track-address",
        key_func=submitted_address, methods=["POST"], exempt_when=lambda: not submitted_address(),
    )(bp)


def _headers(response: Response) -> Response:
    # One pass over the response's headers: werkzeug's setdefault and pop scan them (and raise
    # inside) for every name, which is most of what an answer served from memory costs here.
    present = {name.lower() for name, _ in response.headers.items()}
    missing = [(name, value) for name, value in SECURITY_HEADERS.items() if name.lower() not in present]
    if current_app.config["PUBLIC_URL"].startswith("https://") and "strict-transport-security" not in present:
        missing.append(("Strict-Transport-Security", HSTS))
    response.headers.extend(missing)
    if request.path.startswith(PRIVATE_PREFIXES):
        response.headers["Cache-Control"] = "no-store"
    if "retry-after" in present and response.status_code not in (429, 503):
        del response.headers["Retry-After"]
    return response


def init_app(app: Flask) -> tuple[CSRFProtect, Limiter]:
    """CSRF on every form, the per-app limiter, the headers; behind proxies, their client address."""
    check_production(app)
    if app.config["TRUSTED_PROXIES"] > 0:
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    # The CSRF token is tied to the session cookie: keep that cookie to this site and to HTTPS when served so.
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SECURE"] = app.config["PUBLIC_URL"].startswith("https://")
    app.session_interface = SignedCookieSessions()
    # A token lives as long as the browser session: a form left open for hours still works.
    app.config["WTF_CSRF_TIME_LIMIT"] = None
    # Before the limiter: after_request functions run last-registered first, and _headers must see
    # the limiter's headers to drop its Retry-After from answers that are not refusals.
    app.after_request(_headers)
    csrf = CSRFProtect(app)
    checks = list(app.before_request_funcs.get(None, []))
    limiter = _limiter(app)
    # Flask-Limiter checks every request of the app, resolving every limit it knows each time, yet
    # only the tracking views have limits there (lookups count in app.web.budget): its check is
    # moved to that blueprint (limit_tracking), so a lookup does not pay for it.
    app.extensions["pnr_limiter_checks"] = [f for f in app.before_request_funcs.get(None, []) if f not in checks]
    for check in app.extensions["pnr_limiter_checks"]:
        app.before_request_funcs[None].remove(check)
    app.extensions["pnr_csrf"] = csrf
    app.extensions["pnr_limiter"] = limiter
    return csrf, limiter
