"""Domain exceptions mapped to pages and JSON errors, in one place."""
from __future__ import annotations

import logging

from flask import Flask, g, jsonify, render_template, request
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ..domain.pnr import InvalidPnr, PnrNotFound, SourceUnavailable
from ..services.store import StoreUnavailable
from .budget import TooManyLookups
from .tracking import TrackingUnavailable

log = logging.getLogger(__name__)


def wants_json() -> bool:
    """API paths always answer JSON; pages answer HTML."""
    return request.path.startswith("/api/")


def error_response(status: int, code: str, message: str):  # type: ignore[no-untyped-def]
    """A JSON error object {error: {code, message}} or the error page."""
    if wants_json():
        return jsonify(error={"code": code, "message": message}), status
    return render_template("error.html", status=status, code=code, message=message), status


# What a 503 for a status API that is down or busy asks a client to wait, in seconds.
SOURCE_RETRY_AFTER_S = 10


def init_app(app: Flask) -> None:
    """Register one handler per domain exception, plus a last resort for HTTP and internal errors."""
    app.register_error_handler(InvalidPnr, lambda e: error_response(400, "invalid_pnr", str(e)))
    app.register_error_handler(
        PnrNotFound, lambda e: error_response(404, "pnr_not_found", f"{e} (never booked, or flushed after the journey)")
    )
    @app.errorhandler(SourceUnavailable)
    def source_unavailable(e: SourceUnavailable):  # type: ignore[no-untyped-def]
        response = app.make_response(error_response(
            503, "source_unavailable", "The PNR status service is not answering right now; please try again in a few minutes."))
        response.headers["Retry-After"] = str(SOURCE_RETRY_AFTER_S)
        return response

    app.register_error_handler(
        RateLimitExceeded,
        lambda e: error_response(429, "too_many_requests", f"Too many requests from your address (at most {e.description}); please wait a little and try again."),
    )

    @app.errorhandler(TooManyLookups)
    def too_many_lookups(e: TooManyLookups):  # type: ignore[no-untyped-def]
        response = app.make_response(error_response(
            429, "too_many_requests", f"Too many lookups from your address (at most {e.description}); please wait a little and try again."))
        response.headers["Retry-After"] = str(e.retry_after)
        return response
    app.register_error_handler(
        CSRFError,
        lambda e: error_response(400, "form_expired", "This form has expired or came from another page; please reload the page and send it again."),
    )
    app.register_error_handler(
        TrackingUnavailable,
        lambda e: error_response(503, "tracking_unavailable", "Tracking is unavailable right now (looking up PNRs still works); please try again later."),
    )

    @app.errorhandler(StoreUnavailable)
    def store_error(e: StoreUnavailable):  # type: ignore[no-untyped-def]
        log.error("store unavailable on %s %s: %s", request.method, request.path, e)
        return error_response(503, "store_unavailable", "Part of the site is unavailable right now; please try again in a few minutes.")

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):  # type: ignore[no-untyped-def]
        return error_response(e.code or 500, (e.name or "error").lower().replace(" ", "_"), e.description or "")

    @app.errorhandler(Exception)
    def internal_error(e: Exception):  # type: ignore[no-untyped-def]
        # ERROR with the traceback: the error-mail handler adds method, path, client and request id.
        log.exception("unhandled error on %s %s", request.method, request.path)
        reference = g.get("request_id")
        return error_response(
            500, "internal_error",
            "Something broke on our side; the on-call engineer has been told"
            + (f" (reference {reference})." if reference else "."),
        )
