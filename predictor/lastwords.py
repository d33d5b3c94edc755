"""Last words: an uncaught exception's traceback, kept where the exit alert looks for it.

The same file format as the app's (app/lastwords.py), written here because the predictor never
imports app: $PNR_VAR_DIR/lastwords/<SUPERVISOR_PROCESS_NAME>.txt, replaced atomically.
"""
from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import traceback
from pathlib import Path
from types import TracebackType


def install_last_words() -> None:
    """Chain a sys.excepthook that writes the traceback for the alert, when run by supervisord."""
    name = os.environ.get("SUPERVISOR_PROCESS_NAME")
    if not name:
        return
    path = Path(os.environ.get("PNR_VAR_DIR", "var")) / "lastwords" / f"{name}.txt"
    previous = sys.excepthook

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if not issubclass(exc_type, KeyboardInterrupt):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
                with os.fdopen(fd, "w") as f:
                    f.write(f"pid {os.getpid()} at {now}\n" + "".join(traceback.format_exception(exc_type, exc, tb)))
                os.replace(tmp, path)
            except OSError:
                pass  # the log tail still carries the traceback
        previous(exc_type, exc, tb)

    sys.excepthook = hook
