"""Late jobs: a job that stops finishing iterations without exiting is mailed once as "late",
and once as "back" when it finishes one again.

The alert listener calls `check` on every TICK_5, so a late mail goes out at most 5 s after the
heartbeat's due time (app/alerts/heartbeats.py). Only a heartbeat of the process supervisord runs now
counts (same program, same pid, RUNNING): a job that exited or was stopped is another alert's, or
nobody's, business. Which jobs were mailed as late is kept in var/alerts/lateness.json, so a
restarted listener neither mails them again nor forgets their "back".
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from plumbing import jsonfile

from . import flood, heartbeats
from .compose import back_alert, late_alert, split_namespec
from .mail import MailSettings
from .process import gather, running_info

log = logging.getLogger(__name__)


def _state_path(settings: MailSettings) -> Path:
    return settings.state_dir / "lateness.json"




def check(settings: MailSettings, rpc: Any, host: str, restart: bool = False, now: float | None = None) -> list[str]:
    """Mail every job newly late and every late job back; what was done, one line each."""
    now = time.time() if now is None else now
    beats, bad = heartbeats.read_all(settings.var_dir)
    for reason in bad:
        log.warning("lateness: skipped %s", reason)
    path = _state_path(settings)
    state = jsonfile.read_dict(path, "lateness state")
    before = json.dumps(state, sort_keys=True)
    done: list[str] = []
    for beat in beats:
        program = beat["program"]
        late = state.get(program)
        if late is not None:
            if (beat.get("finished_at") or 0) > late["mailed_at"]:
                facts = gather(rpc, settings.var_dir, *split_namespec(program), with_exit=False)
                alert = back_alert(beat, facts, host, late["due_at"])
                done.append(f"{flood.post(settings, alert, host)}: {alert.subject}")
                del state[program]
            continue
        if now <= beat["due_at"] or (running_info(rpc, program) or {}).get("pid") != beat["pid"]:
            continue
        restarted = False
        if restart:
            try:
                rpc.supervisor.signalProcess(program, "KILL")
                restarted = True
            except Exception as exc:  # noqa: BLE001 - mail the lateness anyway, saying it was not restarted
                log.error("lateness: could not kill late %s: %s", program, exc)
        facts = gather(rpc, settings.var_dir, *split_namespec(program), with_exit=False)
        alert = late_alert(beat, facts, host, now, restarted)
        done.append(f"{flood.post(settings, alert, host)}: {alert.subject}")
        state[program] = {"due_at": beat["due_at"], "mailed_at": now, "pid": beat["pid"]}
    if json.dumps(state, sort_keys=True) != before:
        jsonfile.write(path, state)
    return done
