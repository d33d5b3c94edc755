"""Logging set up once per process: one stderr handler that supervisord captures."""
from __future__ import annotations

import logging
import logging.config

from flask import Flask

FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"


def init_app(app: Flask) -> None:
    """dictConfig once; a second app in the same process (tests) keeps the first configuration."""
    root = logging.getLogger()
    if getattr(root, "_pnr_configured", False):
        return
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"plain": {"format": FORMAT}},
            "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
            "root": {"level": "DEBUG" if app.debug else "INFO", "handlers": ["stderr"]},
            "loggers": {"pymongo": {"level": "WARNING"}, "werkzeug": {"level": "WARNING"}},
        }
    )
    root._pnr_configured = True  # type: ignore[attr-defined]
