"""The status API down, and back: one mail each, from the breaker every web worker shares.

A failing status API is not a process exit, so supervisord never sees it; and mailing every failed
lookup would be a flood. The web workers' circuit breaker (app/services/sources/guard.py) writes
$PNR_VAR_DIR/upstream/breaker.json; the alert listener calls `check` on every TICK_5 and mails
"down" once when the breaker opens (what failed, how often, the last cause) and "resolved" once
when a probe closes it. What was mailed is kept in var/alerts/upstream.json, so a restarted
listener neither mails the same outage again nor forgets its "resolved".
"""
from __future__ import annotations

import contextlib
import time
from typing import Any

from plumbing import jsonfile

from ..services.sources.guard import read_breaker
from . import flood
from .flood import Alert, utc
from .mail import MailSettings

PROGRAM = "web"


def _ago(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def down_alert(breaker: dict[str, Any], host: str) -> Alert:
    """The breaker opened: the API failed `failures` calls in a row."""
    name = breaker.get("name") or "the status API"
    lines = [
        f"{name} failed {breaker.get('failures')} calls in a row; the web workers on {host} stopped calling it "
        "and probe it now and then. Visitors get the last stored status of their PNR (or a 503 with "
        "Retry-After when none is stored); nothing restarts, and a \"resolved\" mail follows when a probe succeeds.",
        "",
        f"Down since:   {utc(breaker.get('down_since') or time.time())}",
        f"Last cause:   {breaker.get('cause')}",
        "What to run:  ./scripts/ctl status;  curl -sS -o /dev/null -w '%{http_code} %{time_total}s\\n' <the API's URL>",
        "The budget:   PNR_UPSTREAM_* in etc/pnr.env (docs/site.md, \"A slow status API\")",
    ]
    return Alert(fingerprint=f"upstream|{name}", program=PROGRAM, kind="upstream",
                 label=f"{name}: down", subject=f"{name} is down: {breaker.get('cause')}", body="\n".join(lines))


def back_alert(breaker: dict[str, Any], down_since: float, host: str) -> Alert:
    """A probe succeeded: the API answers again."""
    name = breaker.get("name") or "the status API"
    up = float(breaker.get("up_since") or time.time())
    lines = [f"{name} answers the web workers on {host} again; lookups call it as before.", "",
             f"Down since:   {utc(down_since)}", f"Back since:   {utc(up)} (down {_ago(up - down_since)})",
             f"Last cause:   {breaker.get('last_cause')}"]
    return Alert(fingerprint=f"upstream-back|{name}", program=PROGRAM, kind="resolved",
                 label=f"{name}: resolved", subject=f"resolved: {name} answers again after {_ago(up - down_since)}",
                 body="\n".join(lines))


def check(settings: MailSettings, host: str) -> list[str]:
    """Mail a newly open breaker as down and a closed one that was mailed as resolved; what was done."""
    breaker = read_breaker(settings.var_dir)
    path = settings.state_dir / "upstream.json"
    mailed = jsonfile.read_dict(path, "upstream alert state")
    done: list[str] = []
    down_since = breaker.get("down_since")
    if breaker.get("open_until") and down_since and mailed.get("down_since") != down_since:
        alert = down_alert(breaker, host)
        done.append(f"{flood.post(settings, alert, host)}: {alert.subject}")
        mailed = {"down_since": down_since}
    elif not breaker.get("open_until") and mailed.get("down_since"):
        alert = back_alert(breaker, float(mailed["down_since"]), host)
        done.append(f"{flood.post(settings, alert, host)}: {alert.subject}")
        mailed = {}
    else:
        return done
    with contextlib.suppress(OSError):
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        jsonfile.write(path, mailed)
    return done
