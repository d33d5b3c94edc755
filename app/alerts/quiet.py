"""`./scripts/ctl quiet 30m "deploying"`: hold every alert during planned work, counted, and mail
one summary when the window ends (flood.py's `@quiet`); `./scripts/ctl quiet off` ends it now.

    python -m app.alerts.quiet ROOT DURATION [REASON] | ROOT off
"""
from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

from . import flood
from .mail import MailSettings

DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smh]?)$")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}
MAX_S = 24 * 3600.0  # a window forgotten open must not silence the kit for good


def seconds(text: str) -> float:
    """'90s', '30m', '2h' or '45' (seconds) in seconds; ValueError naming the rule."""
    match = DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration: a number with s, m or h (30m)")
    value = float(match[1]) * UNITS[match[2]]
    if not 0 < value <= MAX_S:
        raise ValueError(f"{text!r}: a quiet window lasts more than 0 s and at most 24 h")
    return value


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    root, what, reason = Path(args[0]), args[1], " ".join(args[2:]) or "planned work"
    settings = MailSettings.from_env({**os.environ, "PNR_VAR_DIR": str(root / "var")})
    if what == "off":
        flood.set_quiet(settings, 0, "")
        print("quiet: ended; the summary goes out within 5 s (the alert listener's next tick)")
        return 0
    try:
        length = seconds(what)
    except ValueError as exc:
        print(f"quiet: {exc}", file=sys.stderr)
        return 2
    until = flood.set_quiet(settings, length, reason)
    print(f"quiet: alerts held until {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(until))} UTC ({reason}); "
          "one summary then. ./scripts/ctl quiet off ends it early.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
