"""The batch jobs, as Flask CLI commands that supervisord runs as long-lived loops (`--every`)."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register every job command on the app's CLI."""
    from . import evaluate, import_outcomes, janitor, outbox, seed, tracker, trainer

    for module in (tracker, trainer, janitor, outbox, seed, evaluate, import_outcomes):
        app.cli.add_command(module.command)
