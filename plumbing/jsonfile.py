"""State kept in small JSON files that other processes read: written whole to a temporary file
beside the target and renamed into place, so a reader sees the old file or the new one, never
half of one. Standard library only: the listeners, gunicorn's hooks and the jobs all use it."""
from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def write(path: Path, data: Any) -> None:
    """Replace `path` with `data` as JSON (values JSON cannot hold are written as their str())."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, default=str)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_dict(path: Path, what: str) -> dict[str, Any]:
    """The JSON object in `path`; {} when it is missing, and {} with a warning naming `what` when it
    is damaged (state that cannot be read must not stop the process that keeps it)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("%s %s unreadable; starting afresh: %s", what, path, exc)
        return {}
    return data if isinstance(data, dict) else {}
