"""`pnr-alertlistener`: the supervisord event listener for the exits crashmail does not mail.

crashmail mails unexpected exits of running programs (PROCESS_STATE_EXITED, expected=0). This
listener covers everything else, so that every exit of every program is reported once:

- PROCESS_STATE_EXITED with expected=1: an exit with a code listed in `exitcodes` (exit 0);
- PROCESS_STATE_BACKOFF: a program that died during start-up (before `startsecs`), which never
  becomes EXITED and is invisible to crashmail;
- PROCESS_STATE_FATAL: supervisord gave up starting it;
- PROCESS_STATE_RUNNING and the ends of processes: recorded in var/run/programs.json, so that when
  supervisord dies without a clean shutdown (this listener reads end-of-file) a last gasp names
  the programs it orphaned, and the next start stops them (app/alerts/orphans.py);
- TICK_5: PNR_HEARTBEAT_URL is pinged when due (app/alerts/outside.py), digests whose
  flood-control window ended (and a quiet window's summary) are mailed, episodes whose program is
  RUNNING and stable again get their "resolved", and jobs whose heartbeat is overdue
  (running, but stuck) are mailed as late, then as back (app/alerts/lateness.py); a status API
  the web workers' breaker gave up on is mailed as down, then as resolved (app/alerts/upstream.py).

It speaks supervisor's protocol on stdout and logs to stderr; its streams are parameters so that
tests can drive it.
"""
from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from supervisor import childutils

from plumbing import logs

from ..alerts import flood, lateness, orphans, outside, upstream
from ..alerts.compose import lastgasp_alert, process_alert
from ..alerts.mail import MailSettings, alert_settings_from_env, settings_for_command
from ..alerts.process import gather, rpc_from_env, running_info

log = logging.getLogger(__name__)

PROCESS_EVENTS = ("PROCESS_STATE_EXITED", "PROCESS_STATE_BACKOFF", "PROCESS_STATE_FATAL")
ENDED = ("PROCESS_STATE_EXITED", "PROCESS_STATE_STOPPED", "PROCESS_STATE_FATAL", "PROCESS_STATE_BACKOFF")
LOG_TAIL_LINES = 12
EXIT_GRACE_S = 1.0


class Listener:
    """Turns supervisord events into alerts; one instance per listener process."""

    def __init__(self, settings: MailSettings, rpc: Any | None, host: str | None = None, restart_late: bool = False,
                 pinger: outside.Pinger | None = None):
        self.settings = settings
        self.rpc = rpc
        self.host = host or socket.gethostname()
        self.restart_late = restart_late
        self.pinger = pinger or outside.Pinger("", 60.0)
        self.supervisord_pid = os.getppid()
        # The host's OOM-kill count when supervisord was last heard from (every TICK_5): a kill
        # elsewhere on the host earlier in the listener's life is not supervisord's death.
        self.oom_kills_seen = orphans.oom_kills()
        self.records = orphans.load(settings.var_dir)
        for name in [n for n in self.records if n != "supervisord" and n not in orphans.alive(self.records)]:
            del self.records[name]  # an earlier run's, gone
        orphans.record(self.records, "supervisord", self.supervisord_pid)
        orphans.save(settings.var_dir, self.records)

    def handle(self, eventname: str, payload: str) -> str:
        """Act on one event; returns what was done, for the log."""
        if eventname.startswith("TICK"):
            self.oom_kills_seen = orphans.oom_kills()
            self.pinger.tick()
            flushed = flood.flush(self.settings, host=self.host)
            done = lateness.check(self.settings, self.rpc, self.host, self.restart_late) if self.rpc is not None else []
            done += upstream.check(self.settings, self.host)
            if self.rpc is not None:
                done += flood.resolve(self.settings, self._running_since, host=self.host)
            return "; ".join(([f"{flushed} digest(s) mailed"] if flushed else []) + done)
        if not eventname.startswith("PROCESS_STATE_"):
            return ""
        fields, _ = childutils.eventdata(payload + "\n")
        self._note(eventname, fields)
        if eventname not in PROCESS_EVENTS:
            return ""
        if eventname == "PROCESS_STATE_EXITED" and fields.get("expected") != "1":
            return ""  # crashmail mails unexpected exits; mailing them here too would double them
        pid = int(fields["pid"]) if fields.get("pid") else None
        facts = gather(
            self.rpc, self.settings.var_dir, fields["groupname"], fields["processname"], pid,
            with_retries=eventname != "PROCESS_STATE_EXITED",
        )
        alert = process_alert(eventname, fields, facts, self.host)
        return f"{flood.post(self.settings, alert, self.host)}: {alert.subject}"

    def _running_since(self, program: str) -> float | None:
        """When supervisord started the process of `program` it runs now, or None."""
        info = running_info(self.rpc, program) if self.rpc is not None else None
        return float(info["start"]) if info else None

    def _note(self, eventname: str, fields: dict[str, str]) -> None:
        group, name = fields.get("groupname", ""), fields.get("processname", "")
        namespec = name if group == name else f"{group}:{name}"
        if eventname == "PROCESS_STATE_RUNNING" and fields.get("pid"):
            changed = orphans.record(self.records, namespec, int(fields["pid"]))
        elif eventname in ENDED:
            changed = orphans.record(self.records, namespec, None)
        else:
            return
        if changed:
            orphans.save(self.settings.var_dir, self.records)

    def gone(self) -> str:
        """supervisord closed our stdin: a last gasp, naming what it left running."""
        left = orphans.alive(self.records, exclude={os.getpid(), self.supervisord_pid})
        for name in ("supervisord", *orphans.SELF_ENDING):
            left.pop(name, None)
        # The pipe closes while the kernel tears supervisord down: give its exit a moment to finish.
        start = self.records.get("supervisord", {}).get("start")
        deadline = time.monotonic() + EXIT_GRACE_S
        while (still := orphans.start_time(self.supervisord_pid) == start) and time.monotonic() < deadline:
            time.sleep(0.02)
        oom = orphans.oom_kills()
        if still:
            how = "It is still alive, yet closed the pipe: it may be stopping or hung."
        elif oom is not None and self.oom_kills_seen is not None and oom > self.oom_kills_seen:
            how = (f"The kernel's OOM killer has killed {oom - self.oom_kills_seen} process(es) since supervisord was "
                   "last heard from, at most 5 s before (/proc/vmstat oom_kill): most likely supervisord was one.")
        else:
            how = ("It did not stop its programs, so it was killed by a signal (SIGKILL: a clean SIGTERM stops "
                   "everything first) or crashed; the OOM killer's count did not move.")
        alert = lastgasp_alert(self.supervisord_pid, how, left, _tail(self.settings.var_dir / "log" / "supervisord.log"), self.host)
        return f"{flood.post(self.settings, alert, self.host)}: {alert.subject}"


def _tail(path: Path) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:])
    except OSError:
        return ""


def run(handle: Callable[[str, str], str], stdin: TextIO, stdout: TextIO, gone: Callable[[], str] | None = None) -> None:
    """supervisor's listener protocol until stdin closes: READY, one event, RESULT, repeat; then
    `gone`, if given."""
    while True:
        childutils.listener.ready(stdout)
        line = stdin.readline()
        if not line:
            if gone is not None:  # supervisord is gone
                try:
                    log.info("%s", gone())
                except Exception:
                    log.exception("supervisord gone, and the last gasp failed")
            return
        headers = childutils.get_headers(line)
        payload = stdin.read(int(headers["len"]))
        try:
            done = handle(headers["eventname"], payload)
            if done:
                log.info("%s", done)
        except Exception:
            # Acknowledge anyway: a rejected event is resent at once, and would fail the same way.
            log.exception("event %s not handled: %s", headers.get("eventname"), payload)
        childutils.listener.ok(stdout)


def main(argv: list[str] | None = None) -> int:
    """Run as a supervisord [eventlistener]; exit 2 on bad settings."""
    parser = argparse.ArgumentParser(prog="pnr-alertlistener", description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    logs.configure()
    settings = settings_for_command("pnr-alertlistener")
    if settings is None:
        return 2
    rpc = rpc_from_env()
    if rpc is None:
        print("pnr-alertlistener: must run as a supervisord event listener (no SUPERVISOR_SERVER_URL)", file=sys.stderr)
        return 2
    Path(settings.var_dir).mkdir(parents=True, exist_ok=True)
    extra = alert_settings_from_env()
    listener = Listener(settings, rpc, restart_late=extra["JOB_LATE_RESTART"],
                        pinger=outside.Pinger(extra["HEARTBEAT_URL"], extra["HEARTBEAT_EVERY_S"]))
    run(listener.handle, sys.stdin, sys.stdout, listener.gone)
    return 0
