"""The reference for bench.load: Flask's hello world, served by gunicorn with the kit's own settings.

The route takes a path segment so that the load generator sends it the same requests as the PNR
lookups (`/hello/<pnr>`); the answer ignores it.
"""
from __future__ import annotations

from flask import Flask


def create_app() -> Flask:
    """A Flask app with one route answering "Hello, World!"."""
    app = Flask(__name__)

    @app.get("/hello/<name>")
    def hello(name: str) -> str:
        return "Hello, World!"

    return app
