"""The one logging set-up of every process: one stderr handler, which supervisord captures into the
program's log, in one format, so that a line reads the same whichever process wrote it."""
from __future__ import annotations

import logging
import logging.config

FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
# Libraries whose INFO lines are noise in the kit's logs.
QUIET_LOGGERS = ("pymongo", "werkzeug")


def configure(level: int | str = logging.INFO, fmt: str = FORMAT) -> bool:
    """dictConfig once per process; returns False when a previous call already did it (a second app
    in a test process keeps the first set-up)."""
    root = logging.getLogger()
    if getattr(root, "_pnr_configured", False):
        return False
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"plain": {"format": fmt}},
            "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
            "root": {"level": level, "handlers": ["stderr"]},
            "loggers": {name: {"level": "WARNING"} for name in QUIET_LOGGERS},
        }
    )
    root._pnr_configured = True  # type: ignore[attr-defined]
    return True
