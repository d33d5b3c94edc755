"""Work for tests/app/jobs/test_child.py to run in a spawned child (importable by name there)."""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any


def who_and_what(setting: str) -> dict[str, Any]:
    import numpy  # noqa: F401 - the child may carry what its job must not

    from app import services

    return {"pid": os.getpid(), "setting": services.current().config[setting], "numpy": "numpy" in sys.modules}


def fail(message: str) -> None:
    raise ValueError(message)


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def hang(pid_file: str) -> None:
    Path(pid_file).write_text(str(os.getpid()))
    while True:
        time.sleep(1)
