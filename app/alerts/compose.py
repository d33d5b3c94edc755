"""The words of a process alert: what died, where, why, what supervisord did, and what to run.

Process events come from the alert listener (exits with an expected code, start-up failures, FATAL)
and from crashmail's mail as piped to `pnr-sendmail` (unexpected exits); memmon's and httpok's mail
arrive the same way. All of them become an `Alert` with the same layout.
"""
from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from ..version import of_checkout
from .flood import Alert, one_line, utc
from .process import Facts, gather

ONCALL_DOC = "docs/oncall.md"

CRASHMAIL = re.compile(
    r"Process (?P<processname>\S+) in group (?P<groupname>\S+) exited unexpectedly \(pid (?P<pid>\d+)\) from state (?P<from_state>\w+)"
)
MEMMON = re.compile(r"^memmon(?: \[.*\])?: (?:process (?P<restarted>\S+) restarted|failed to (?:stop|start) process (?P<failed>\S+),)")
MEMMON_RSS = re.compile(r"\((?P<bytes>\d+) bytes RSS\)")
HTTPOK = re.compile(r"^httpok(?: \[.*\])?: (?P<url>\S+): bad (?:status|body) returned")
HTTPOK_PROGRAM = re.compile(r"^(?P<namespec>\S+) (?:is in RUNNING state, restarting|not in RUNNING state)", re.MULTILINE)

_DOING = {
    "STARTING": "restarted it (now STARTING)",
    "RUNNING": "restarted it (now RUNNING)",
    "BACKOFF": "is restarting it, backing off after failed starts",
    "EXITED": "did not restart it (autorestart is off for this exit)",
    "FATAL": "gave up on it (FATAL)",
    "STOPPED": "left it stopped",
    "STOPPING": "is stopping it",
}


def split_namespec(namespec: str) -> tuple[str, str]:
    """'group:name' or 'name' -> (group, name)."""
    group, _, name = namespec.partition(":")
    return (group, name) if name else (group, group)


def _doing(facts: Facts) -> str:
    info = facts.info
    if not info:
        return "state unknown"
    return _DOING.get(info["statename"], f"has it in state {info['statename']}")


def _ran(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f", ran {_ago(seconds)}"


def _details(facts: Facts, host: str, lines: list[str], action: str) -> str:
    info = facts.info or {}
    # The checkout's commit now, which is what the program ran unless a deploy is under way.
    out = [*lines, f"Host:         {host}", f"Program:      {facts.namespec}", f"Version:      {of_checkout()}"]
    if info:
        description = info.get("description") or (f"pid {info['pid']}" if info.get("pid") else "")
        out.append(f"Now:          {info['statename']}" + (f" ({description})" if description else ""))
        if info.get("spawnerr"):
            out.append(f"supervisord:  {info['spawnerr']}")
    if facts.lastwords:
        out += ["", f"Last words (uncaught exception, var/lastwords/{split_namespec(facts.namespec)[1]}.txt):", facts.lastwords.rstrip()]
    if facts.log_tail:
        log_file = os.path.normpath(facts.log_file) if facts.log_file else "its log"
        out += ["", f"Last lines of {log_file} (a restarted process may have added some):", facts.log_tail.rstrip()]
    out += [
        "",
        f"What to run ({ONCALL_DOC}):",
        f"  ./scripts/ctl status {facts.namespec}",
        f"  ./scripts/ctl tail -8000 {facts.namespec}",
        f"  ./scripts/ctl {action} {facts.namespec}",
    ]
    if facts.missing:
        out += ["", "Could not find out: " + "; ".join(facts.missing)]
    return "\n".join(out) + "\n"


def process_alert(eventname: str, payload: Mapping[str, str], facts: Facts, host: str) -> Alert:
    """An alert for a PROCESS_STATE_EXITED, _BACKOFF or _FATAL event (payload as supervisord sends it)."""
    group, name = payload["groupname"], payload["processname"]
    namespec = facts.namespec
    pid = int(payload["pid"]) if payload.get("pid") else (facts.exit.pid if facts.exit else None)
    reason = facts.exit.reason if facts.exit else "reason unknown (see var/log/supervisord.log)"
    when = f"{facts.exit.ended:%Y-%m-%d %H:%M:%S} (supervisord's clock)" if facts.exit else "unknown"
    pid_line = f"Pid:          {pid if pid is not None else 'unknown'}{_ran(facts.exit.ran_s if facts.exit else None)}"
    retries = facts.startretries
    absorbs: tuple[str, ...] = ()
    if eventname == "PROCESS_STATE_EXITED":
        expected = payload.get("expected") == "1"
        what = reason + (" (an expected exit code)" if expected else "")
        doing = _doing(facts)
        subject = f"{namespec}: {what}; supervisord {doing.split(' (')[0]}"
        headline = f"{namespec} exited {'with an expected code' if expected else 'unexpectedly'}: {reason}. supervisord {doing}."
        kind, action = "exit", "restart"
    elif eventname == "PROCESS_STATE_BACKOFF":
        tries = int(payload.get("tries", "0"))
        attempts = f"attempt {tries}" + (f" of {retries + 1}" if retries is not None else "")
        if retries is not None and tries > retries:
            next_step = "no retries left: it goes FATAL"
        else:
            next_step = f"supervisord retries in {tries} s"
        what = f"failed during start-up ({reason}), {attempts}"
        subject = f"{namespec}: {what}; {next_step}"
        headline = f"{namespec} died before it was up (startsecs): {reason}. {attempts.capitalize()}; {next_step}."
        kind, action = "startup", "start"
    else:
        attempts = f" after {retries + 1} start attempts" if retries is not None else ""
        what = f"FATAL, supervisord gave up{attempts}"
        subject = f"{namespec}: {what} (last: {reason})"
        headline = f"{namespec} is down for good: supervisord gave up{attempts} and will not start it again until someone does."
        kind, action, absorbs = "fatal", "start", (f"startup|{group}",)
    lines = [headline, "", f"Happened:     {reason} at {when}", pid_line]
    return Alert(
        fingerprint=f"{kind}|{group}",
        program=namespec,
        kind=kind,
        label=f"{name}: {one_line(what, 120)}",
        subject=subject,
        body=_details(facts, host, lines, action),
        absorbs=absorbs,
    )


def piped_alert(message: EmailMessage, rpc: Any | None, var_dir: Path, host: str, environ: Mapping[str, str] | None = None) -> Alert:
    """An alert from mail piped to `pnr-sendmail` by crashmail, memmon, httpok, or anything else."""
    environ = os.environ if environ is None else environ
    subject = str(message.get("Subject", "")).strip()
    body = message.get_content() if not message.is_multipart() else str(message)
    crash = CRASHMAIL.search(body)
    if crash:
        payload = {**crash.groupdict(), "expected": "0"}
        facts = gather(rpc, var_dir, payload["groupname"], payload["processname"], int(payload["pid"]))
        return process_alert("PROCESS_STATE_EXITED", payload, facts, host)
    memmon, httpok = MEMMON.search(subject), HTTPOK.search(subject)
    if memmon:
        namespec = memmon["restarted"] or memmon["failed"]
        rss = MEMMON_RSS.search(body)
        size = f" ({int(rss['bytes']) / 2**20:.0f} MB RSS)" if rss else ""
        limit = environ.get("PNR_PREDICTOR_MAX_RSS", "")
        what = f"restarted by memmon: memory over the limit{' of ' + limit if limit else ''}{size}"
        if memmon["failed"]:
            what = "memmon could not restart it after it outgrew its memory limit"
        return _watchdog_alert("memory", namespec, what, body, rpc, var_dir, host)
    if httpok:
        found = HTTPOK_PROGRAM.search(body)
        namespec = found["namespec"] if found else "web"
        what = f"not answering {httpok['url']}; restarted by httpok"
        return _watchdog_alert("health", namespec, what, body, rpc, var_dir, host)
    program = environ.get("SUPERVISOR_PROCESS_NAME", "unknown")
    return Alert(
        fingerprint=f"mail|{program}|{subject}",
        program=program,
        kind="mail",
        label=one_line(subject or "(no subject)", 120),
        subject=subject or f"{program}: mail without a subject",
        body=body,
    )


def _watchdog_alert(kind: str, namespec: str, what: str, report: str, rpc: Any | None, var_dir: Path, host: str) -> Alert:
    group, name = split_namespec(namespec)
    facts = gather(rpc, var_dir, group, name, with_exit=False)
    lines = [f"{namespec} {what}.", "", "The watchdog's report:", report.rstrip(), ""]
    return Alert(
        fingerprint=f"{kind}|{group}",
        program=facts.namespec,
        kind=kind,
        label=f"{name}: {one_line(what, 120)}",
        subject=f"{facts.namespec}: {what}",
        body=_details(facts, host, lines, "restart"),
    )



def _ago(seconds: float) -> str:
    minutes, s = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {s:02d}s" if hours else f"{minutes}m {s:02d}s" if minutes else f"{s}s"


def _last_iteration(beat: Mapping[str, Any]) -> str:
    if not beat.get("finished_at"):
        return "Last finished: none since this process started"
    items = " ".join(f"{k}={v}" for k, v in (beat.get("items") or {}).items())
    return f"Last finished: {utc(beat['finished_at'])}, in {beat.get('seconds')} s" + (f": {items}" if items else "")


def late_alert(beat: Mapping[str, Any], facts: Facts, host: str, now: float, restarted: bool) -> Alert:
    """A job whose iteration is overdue: running, but stuck (deadlocked, SIGSTOPped, a fit that hangs)."""
    program = facts.namespec
    overdue = _ago(now - beat["due_at"])
    doing = ("killed (SIGKILL) so that supervisord restarts it (PNR_JOB_LATE_RESTART=true)" if restarted else
             "left running: not restarted (PNR_JOB_LATE_RESTART=false)")
    what = f"late: an iteration overdue by {overdue}"
    stuck_in = (f"in an iteration since {utc(beat['started_at'])}" if beat.get("started_at") else
                f"waiting for its next iteration since {utc(beat['finished_at'])}" if beat.get("finished_at") else "")
    lines = [
        f"{program} is RUNNING but has not finished an iteration when it should have: it runs every "
        f"{beat['every_s']:g} s with a grace of {beat['grace_s']:g} s, and was due by {utc(beat['due_at'])}. "
        f"It is {doing}.",
        "",
        f"Pid:          {beat['pid']}" + (f", {stuck_in}" if stuck_in else ""),
        _last_iteration(beat),
        "Its state:    grep State /proc/{pid}/status (T: stopped by a signal; D: waiting on I/O)".format(pid=beat["pid"]),
        "A stack:      py-spy dump --pid {pid}, if installed".format(pid=beat["pid"]),
    ]
    return Alert(
        fingerprint=f"late|{program}", program=program, kind="late", label=f"{program}: {what}",
        subject=f"{program}: {what}; {'killed for supervisord to restart' if restarted else 'not restarted'}",
        body=_details(facts, host, lines, "restart"),
    )


def back_alert(beat: Mapping[str, Any], facts: Facts, host: str, late_since: float) -> Alert:
    """The job that was mailed as late finished an iteration again."""
    program = facts.namespec
    what = f"back: finished an iteration, {_ago(beat['finished_at'] - late_since)} after it was due"
    lines = [f"{program} was mailed as late; it has finished an iteration again.", "",
             f"Was due by:   {utc(late_since)}", f"Pid:          {beat['pid']}", _last_iteration(beat)]
    return Alert(
        fingerprint=f"back|{program}", program=program, kind="back", label=f"{program}: back",
        subject=f"{program}: {what}", body=_details(facts, host, lines, "restart"),
    )


def upstream_down_alert(breaker: dict[str, Any], host: str) -> Alert:
    """The web workers' breaker opened (app/alerts/upstream.py): the status API failed `failures` calls in a row."""
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
    return Alert(fingerprint=f"upstream|{name}", program="web", kind="upstream",
                 label=f"{name}: down", subject=f"{name} is down: {breaker.get('cause')}", body="\n".join(lines))


def upstream_back_alert(breaker: dict[str, Any], down_since: float, host: str) -> Alert:
    """A probe succeeded: the API answers again."""
    name = breaker.get("name") or "the status API"
    up = float(breaker.get("up_since") or time.time())
    lines = [f"{name} answers the web workers on {host} again; lookups call it as before.", "",
             f"Down since:   {utc(down_since)}", f"Back since:   {utc(up)} (down {_ago(up - down_since)})",
             f"Last cause:   {breaker.get('last_cause')}"]
    return Alert(fingerprint=f"upstream-back|{name}", program="web", kind="resolved",
                 label=f"{name}: resolved", subject=f"resolved: {name} answers again after {_ago(up - down_since)}",
                 body="\n".join(lines))


def lastgasp_alert(supervisord_pid: int, how: str, orphans: Mapping[str, int], log_tail: str, host: str) -> Alert:
    """supervisord is gone without a clean shutdown; what it left running."""
    left = ", ".join(f"{name} (pid {pid})" for name, pid in sorted(orphans.items())) or "none"
    lines = [
        f"supervisord (pid {supervisord_pid}) on {host} ended without a clean shutdown: its alert listener "
        f"read end-of-file on its stdin. {how}",
        "",
        "Nothing restarts or watches the kit's programs now: no exit, crash or hang is mailed until it is back.",
        "",
        f"Host:         {host}",
        f"Version:      {of_checkout()}",
        f"Orphaned:     {len(orphans)} programs still running, holding their ports: {left}",
        "",
        "What to run:",
        "  ./scripts/run              (stops these orphans first, then starts supervisord; one mail says so)",
        "  systemctl status pnr.service, if the kit runs under systemd (it restarts supervisord itself)",
        "  dmesg | grep -i -E 'oom|killed process'",
    ]
    if log_tail:
        lines += ["", "Last lines of var/log/supervisord.log:", log_tail.rstrip()]
    return Alert(
        fingerprint="supervisord|gone", program="supervisord", kind="supervisord",
        label=f"supervisord gone, {len(orphans)} orphans",
        subject=f"supervisord (pid {supervisord_pid}) is gone without a clean shutdown; {len(orphans)} programs orphaned: {left}",
        body="\n".join(lines) + "\n",
    )


def orphans_alert(ended: Mapping[str, str], var_dir: Path, host: str) -> Alert:
    """The next start found what the earlier supervisord left running, and stopped it."""
    lines = [f"./scripts/run on {host} found {len(ended)} programs left running by a supervisord that ended "
             "without a clean shutdown, stopped them (their process groups), and is starting supervisord.", "",
             f"Host:         {host}", f"Version:      {of_checkout()}", "",
             *(f"  {name}: {how}" for name, how in sorted(ended.items())), "",
             f"Records: {var_dir}/run/programs.json (written by the alert listener).",
             "What to run: ./scripts/ctl status (every program should be RUNNING within a minute)"]
    return Alert(
        fingerprint="supervisord|orphans", program="supervisord", kind="supervisord",
        label=f"{len(ended)} orphans stopped",
        subject=f"supervisord started again; {len(ended)} orphans of the earlier run stopped first",
        body="\n".join(lines) + "\n",
    )
