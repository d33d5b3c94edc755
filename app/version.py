"""Which code runs: the checkout's commit, for alerts and for `./scripts/deploy` to tell an old web
worker from a new one.

Read when asked, never at import: a long-running listener reports the commit deployed now, a web
worker the commit it started from.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
UNKNOWN = "unknown (not a git checkout)"


def of_checkout(root: Path = REPO) -> str:
    """The checkout's commit as `git describe --always --dirty` gives it (a tag, or 12 hex digits,
    "-dirty" when the work tree differs from it)."""
    try:
        out = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=12"],
                             capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return UNKNOWN
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else UNKNOWN
