"""The web app's logging: the one set-up every process shares (plumbing.logs), and request ids.

Every request carries an id (the client's X-Request-ID if it sent a sane one, else a new one),
echoed in the response, so that an error mail and a visitor's report can be matched.
"""
from __future__ import annotations

import re
import secrets

from flask import Flask, g, request
from werkzeug.wrappers import Response

from plumbing import logs

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _bind_request_id() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if REQUEST_ID.fullmatch(incoming) else secrets.token_hex(8)


def _echo_request_id(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
    return response


def init_app(app: Flask) -> None:
    """Request ids for this app; dictConfig once per process (a second app in tests keeps the first)."""
    app.before_request(_bind_request_id)
    app.after_request(_echo_request_id)
    logs.configure("DEBUG" if app.debug else "INFO")
