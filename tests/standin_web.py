"""The kit's real web app with routes that fail, for error-mail tests under gunicorn: /boom raises,
/sleep/<seconds> holds its worker's thread (past gunicorn's timeout, if asked) and logs that it
sleeps, /grow/<mb> allocates."""
from __future__ import annotations

import logging
import time

from flask import Flask

from app import create_app

log = logging.getLogger(__name__)


def create() -> Flask:
    """create_app() as the web program builds it, plus /boom."""
    app = create_app()

    @app.get("/boom")
    def boom() -> str:
        raise ZeroDivisionError("division by zero in the fare table")

    @app.get("/sleep/<float:seconds>")
    def sleep(seconds: float) -> str:
        log.info("sleeping %.1f s", seconds)
        time.sleep(seconds)  # a fare table that never answers
        return "slept"

    @app.get("/grow/<int:mb>")
    def grow(mb: int) -> str:
        block = b"x" * (mb * 2**20)  # written, so every page is charged to the worker's memory
        return f"grew {len(block) >> 20} MB"

    return app
