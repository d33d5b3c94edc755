"""`pnr-alertlistener`: the supervisord event listener for the exits crashmail does not mail.

crashmail mails unexpected exits of running programs (PROCESS_STATE_EXITED, expected=0). This
listener covers everything else, so that every exit of every program is reported once:

- PROCESS_STATE_EXITED with expected=1: an exit with a code listed in `exitcodes` (exit 0);
- PROCESS_STATE_BACKOFF: a program that died during start-up (before `startsecs`), which never
  becomes EXITED and is invisible to crashmail;
- PROCESS_STATE_FATAL: supervisord gave up starting it;
- TICK_5: digests whose flood-control window ended are mailed, and jobs whose heartbeat is overdue
  (running, but stuck) are mailed as late, then as back (app/alerts/lateness.py).

It speaks supervisor's protocol on stdout and logs to stderr; its streams are parameters so that
tests can drive it.
"""
from __future__ import annotations

import argparse
import logging
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from supervisor import childutils

from .alerts import flood, lateness
from .alerts.compose import process_alert
from .alerts.mail import MailSettings, alert_settings_from_env, settings_for_command
from .alerts.process import gather, rpc_from_env

log = logging.getLogger(__name__)

PROCESS_EVENTS = ("PROCESS_STATE_EXITED", "PROCESS_STATE_BACKOFF", "PROCESS_STATE_FATAL")


class Listener:
    """Turns supervisord events into alerts; one instance per listener process."""

    def __init__(self, settings: MailSettings, rpc: Any | None, host: str | None = None, restart_late: bool = False):
        self.settings = settings
        self.rpc = rpc
        self.host = host or socket.gethostname()
        self.restart_late = restart_late

    def handle(self, eventname: str, payload: str) -> str:
        """Act on one event; returns what was done, for the log."""
        if eventname.startswith("TICK"):
            flushed = flood.flush(self.settings, host=self.host)
            done = lateness.check(self.settings, self.rpc, self.host, self.restart_late) if self.rpc is not None else []
            return "; ".join(([f"{flushed} digest(s) mailed"] if flushed else []) + done)
        if eventname not in PROCESS_EVENTS:
            return ""
        fields, _ = childutils.eventdata(payload + "\n")
        if eventname == "PROCESS_STATE_EXITED" and fields.get("expected") != "1":
            return ""  # crashmail mails unexpected exits; mailing them here too would double them
        pid = int(fields["pid"]) if fields.get("pid") else None
        facts = gather(
            self.rpc, self.settings.var_dir, fields["groupname"], fields["processname"], pid,
            with_retries=eventname != "PROCESS_STATE_EXITED",
        )
        alert = process_alert(eventname, fields, facts, self.host)
        return f"{flood.post(self.settings, alert, self.host)}: {alert.subject}"


def run(handle: Callable[[str, str], str], stdin: TextIO, stdout: TextIO) -> None:
    """supervisor's listener protocol until stdin closes: READY, one event, RESULT, repeat."""
    while True:
        childutils.listener.ready(stdout)
        line = stdin.readline()
        if not line:
            return  # supervisord is gone
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
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s alertlistener %(levelname)s %(message)s")
    settings = settings_for_command("pnr-alertlistener")
    if settings is None:
        return 2
    rpc = rpc_from_env()
    if rpc is None:
        print("pnr-alertlistener: must run as a supervisord event listener (no SUPERVISOR_SERVER_URL)", file=sys.stderr)
        return 2
    Path(settings.var_dir).mkdir(parents=True, exist_ok=True)
    run(Listener(settings, rpc, restart_late=alert_settings_from_env()["JOB_LATE_RESTART"]).handle, sys.stdin, sys.stdout)
    return 0
