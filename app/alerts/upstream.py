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

from plumbing import jsonfile

from ..services.sources.guard import read_breaker
from . import flood
from .compose import upstream_back_alert, upstream_down_alert
from .mail import MailSettings


def check(settings: MailSettings, host: str) -> list[str]:
    """Mail a newly open breaker as down and a closed one that was mailed as resolved; what was done."""
    breaker = read_breaker(settings.var_dir)
    path = settings.state_dir / "upstream.json"
    mailed = jsonfile.read_dict(path, "upstream alert state")
    done: list[str] = []
    down_since = breaker.get("down_since")
    if breaker.get("open_until") and down_since and mailed.get("down_since") != down_since:
        alert = upstream_down_alert(breaker, host)
        done.append(f"{flood.post(settings, alert, host)}: {alert.subject}")
        mailed = {"down_since": down_since}
    elif not breaker.get("open_until") and mailed.get("down_since"):
        alert = upstream_back_alert(breaker, float(mailed["down_since"]), host)
        done.append(f"{flood.post(settings, alert, host)}: {alert.subject}")
        mailed = {}
    else:
        return done
    with contextlib.suppress(OSError):
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        jsonfile.write(path, mailed)
    return done
