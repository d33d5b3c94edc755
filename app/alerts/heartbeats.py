"""Job heartbeats: a job that hangs (deadlocked, SIGSTOPped, stuck in a fit) never exits, so
supervisord sees nothing; its heartbeat stops instead.

Each job's loop (app/jobs/loop.py) writes var/run/heartbeats/<program>.json when an iteration starts
and when it ends: its pid, its interval and grace, when the iteration running now must have
finished by (`due_at`), and the last finished iteration (time, seconds, items). The alert listener
reads them every TICK_5 (app/alerts/lateness.py). Written whole (plumbing/jsonfile.py). Standard library
only: the listener imports it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from plumbing import jsonfile


def folder(var_dir: Path | str) -> Path:
    return Path(var_dir) / "run" / "heartbeats"


def write(var_dir: Path | str, program: str, beat: dict[str, Any]) -> None:
    """Replace the program's heartbeat with `beat` (JSON-serialisable)."""
    jsonfile.write(folder(var_dir) / f"{program.replace(':', '_')}.json", {"program": program, **beat})


def read_all(var_dir: Path | str) -> tuple[list[dict[str, Any]], list[str]]:
    """(every readable heartbeat, a reason for each file that is not one)."""
    beats, bad = [], []
    for path in sorted(folder(var_dir).glob("*.json")):
        try:
            beat = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(beat, dict) or not {"program", "pid", "due_at"} <= beat.keys():
                raise ValueError("not a heartbeat (program, pid and due_at expected)")
            beats.append(beat)
        except (OSError, ValueError) as exc:
            bad.append(f"{path}: {exc}")
    return beats, bad
