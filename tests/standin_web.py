"""The kit's real web app with routes that fail, for error-mail tests under gunicorn: /boom raises,
/sleep/<seconds> holds its worker (past gunicorn's timeout, if asked), /grow/<mb> allocates."""
from __future__ import annotations

import time

from flask import Flask

from app import create_app


def create() -> Flask:
    """create_app() as the web program builds it, plus /boom."""
    app = create_app()

    @app.get("/boom")
    def boom() -> str:
        raise ZeroDivisionError("division by zero in the fare table")

    @app.get("/sleep/<float:seconds>")
    def sleep(seconds: float) -> str:
        time.sleep(seconds)  # a fare table that never answers
        return "slept"

    @app.get("/grow/<int:mb>")
    def grow(mb: int) -> str:
        block = b"x" * (mb * 2**20)  # written, so every page is charged to the worker's memory
        return f"grew {len(block) >> 20} MB"

    return app
