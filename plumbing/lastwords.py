"""Last words: a process that dies of an uncaught exception leaves its traceback where alerts find it.

supervisord only sees an exit status; the traceback goes to the program's log, among everything
else. `install()` adds a sys.excepthook that also writes it to
$PNR_VAR_DIR/lastwords/<SUPERVISOR_PROCESS_NAME>.txt, headed with the pid, so the exit alert can
quote the traceback of exactly the process that died.
"""
from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import traceback
from pathlib import Path
from types import TracebackType

LASTWORDS_DIR = "lastwords"


def write(path: Path, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """Write the traceback atomically, headed 'pid N at TIME'."""
    path.parent.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    text = f"pid {os.getpid()} at {now}\n" + "".join(traceback.format_exception(exc_type, exc, tb))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def install(var_dir: str | None = None, program: str | None = None) -> Path | None:
    """Keep the traceback of an uncaught exception for the exit alert; a no-op outside supervisord."""
    program = program or os.environ.get("SUPERVISOR_PROCESS_NAME")
    if not program:
        return None
    path = Path(var_dir or os.environ.get("PNR_VAR_DIR", "var")) / LASTWORDS_DIR / f"{program}.txt"
    previous = sys.excepthook
    if getattr(previous, "lastwords_path", None) == path:
        return path

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if not issubclass(exc_type, KeyboardInterrupt):
            try:
                write(path, exc_type, exc, tb)
            except OSError as err:
                print(f"lastwords: cannot write {path}: {err}", file=sys.stderr)
        previous(exc_type, exc, tb)

    hook.lastwords_path = path  # type: ignore[attr-defined]
    sys.excepthook = hook
    return path
