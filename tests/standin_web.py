"""The kit's real web app with one more route that always fails, for error-mail tests under gunicorn."""
from __future__ import annotations

from flask import Flask

from app import create_app


def create() -> Flask:
    """create_app() as the web program builds it, plus /boom."""
    app = create_app()

    @app.get("/boom")
    def boom() -> str:
        raise ZeroDivisionError("division by zero in the fare table")

    return app
