"""What every response and form of the site is protected by: CSRF, rate limits, headers, the secret key.

Rate limits count per client address, in the store (MongoDB) so that every gunicorn worker shares
one count; while the store is down each worker counts in memory, so limits still hold, per worker.
"""
from __future__ import annotations

import logging
import re
import sys
from typing import Any

import pymongo
from pymongo.errors import PyMongoError
from flask import Blueprint, Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from limits.storage import MongoDBStorage
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

from ..config import SETTINGS, SettingsError
from ..store import StoreUnavailable, failure_cause

log = logging.getLogger(__name__)

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


class SharedCounts(MongoDBStorage):
    """limits' MongoDB storage, minus a __del__ that connects only to disconnect (even at interpreter exit)."""

    STORAGE_SCHEME = ["pnr+mongodb", "pnr+mongodb+srv"]
    SCHEME_PREFIX = "pnr+"

    def _init_mongo_client(self, uri: str | None, **options: Any) -> pymongo.MongoClient:
        return pymongo.MongoClient((uri or "")[len(self.SCHEME_PREFIX):], **options)

    def close(self) -> None:
        """Close the client if one was made."""
        if self._storage is not None:
            self._storage.close()
            self._storage = None

    def __del__(self) -> None:
        self.close()

    # A store that refuses the counts (over quota, say) while every lookup's own reads still work
    # would otherwise go unnoticed: Flask-Limiter only warns and counts in memory meanwhile. The
    # error names the store's cause, so it is the same alert as the lookups' own store errors.
    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        try:
            return bool(super().acquire_entry(key, limit, expiry, amount))
        except PyMongoError as exc:
            _report(exc)
            raise

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        try:
            return super().get_moving_window(key, limit, expiry)
        except PyMongoError as exc:
            _report(exc)
            raise


def _report(exc: PyMongoError) -> None:
    cause = failure_cause(exc)
    log.error("store unavailable, rate-limit counts kept per worker meanwhile: %s",
              StoreUnavailable(f"{cause}: {type(exc).__name__}: {exc}", cause))


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
    if cfg["RATE_LIMIT_STORAGE"] == "mongo":
        uri = SharedCounts.SCHEME_PREFIX + cfg["MONGO_URI"]
        timeout_ms = cfg["MONGO_TIMEOUT_MS"]
        options: dict[str, Any] = {
            "database_name": cfg["MONGO_DB"],
            **RATE_LIMIT_COLLECTIONS,
            "serverSelectionTimeoutMS": min(timeout_ms, RATE_LIMIT_STORE_WAIT_MS),
            "connectTimeoutMS": timeout_ms,
            "socketTimeoutMS": max(timeout_ms * 4, 5000),
            "appname": "pnr.me-ratelimit",
        }
    elif cfg["RATE_LIMIT_STORAGE"] == "memory":
        uri, options = "memory://", {}
    else:
        raise SettingsError(f"PNR_RATE_LIMIT_STORAGE: expected mongo or memory, got {cfg['RATE_LIMIT_STORAGE']!r}")
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


def limit_lookups(limiter: Limiter, bp: Blueprint) -> None:
    """Every view of `bp` counts against the client's one lookup budget (pages and API together)."""
    limiter.shared_limit(lambda: current_app.config["RATE_LIMIT_LOOKUP"], scope="lookup")(bp)


def limit_tracking(limiter: Limiter, bp: Blueprint) -> None:
    """Tracking views count per client, and confirmation mails per address."""
    limiter.shared_limit(lambda: current_app.config["RATE_LIMIT_TRACK"], scope="track")(bp)
    limiter.shared_limit(
        lambda: current_app.config["RATE_LIMIT_TRACK_PER_ADDRESS"], scope="track-address",
        key_func=submitted_address, methods=["POST"], exempt_when=lambda: not submitted_address(),
    )(bp)


def _headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if current_app.config["PUBLIC_URL"].startswith("https://"):
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    if request.path.startswith(PRIVATE_PREFIXES):
        response.headers["Cache-Control"] = "no-store"
    if response.status_code not in (429, 503):
        response.headers.pop("Retry-After", None)
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
    # A token lives as long as the browser session: a form left open for hours still works.
    app.config["WTF_CSRF_TIME_LIMIT"] = None
    # Before the limiter: after_request functions run last-registered first, and _headers must see
    # the limiter's headers to drop its Retry-After from answers that are not refusals.
    app.after_request(_headers)
    csrf = CSRFProtect(app)
    limiter = _limiter(app)
    app.extensions["pnr_csrf"] = csrf
    app.extensions["pnr_limiter"] = limiter
    return csrf, limiter
