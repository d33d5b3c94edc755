"""Flood control: an alert that repeats becomes one mail now and digests later, with nothing dropped.

The first alert with a given fingerprint is mailed at once and opens a window; repeats inside the
window are held and counted; when the window ends, one digest reports how many, when (first and
last), what happened (a tally) and the most recent one in full, and the next window is twice as long
(up to a cap). A window that ends with nothing held closes the episode. So that the count of a storm
that has stopped does not wait for the end of a long window, the held repeats also go out once per
window as soon as the alert has been quiet for a while.

Two more records share the state. An episode (`@episodes`) is opened per program by the first
alert mailed about it (an exit, a start-up failure, FATAL, memory, health, a worker's death) and
counts every alert about it after; once the program has been RUNNING for PNR_ALERT_RESOLVED_S with
no alert and no digest pending, the alert listener mails one "resolved" with the count and the
duration (`resolve`). A quiet window (`@quiet`, `./scripts/ctl quiet 30m "deploying"`) holds every
alert while planned work goes on and counts it; when it ends, one summary says what was held.

The senders are many processes (a `pnr-sendmail` per crashmail mail, the alert listener, every
gunicorn worker), so the state lives in var/alerts/flood.json and is only touched under an exclusive
lock. A mail decided under the lock is also spooled under the lock, so a crash right after the
decision delays it (the outbox delivers it) but never loses it.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import socket
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from plumbing import jsonfile

from .mail import MailSettings, complete, send_or_keep, spool

log = logging.getLogger(__name__)

STATE_FILE = "flood.json"
LOCK_FILE = "flood.lock"
SUBJECT_MAX_CHARS = 200
# Distinct "what happened" lines kept per digest; further ones are summed into one line.
TALLY_MAX = 40
TALLY_OTHER = "(other)"
EPISODES, QUIET = "@episodes", "@quiet"
# What a program does wrong, and can stop doing: its episode ends with a "resolved" mail.
EPISODE_KINDS = frozenset({"exit", "startup", "fatal", "memory", "health", "worker"})


@dataclasses.dataclass(frozen=True)
class Alert:
    """One thing the on-call engineer should hear about."""

    fingerprint: str  # what makes two alerts "the same", e.g. "exit|crashloop"
    program: str  # the supervisor namespec it is about, e.g. "predictor:predictor-0"
    kind: str  # exit, startup, fatal, memory, health, worker, late, back, resolved, quiet, supervisord, error, mail
    label: str  # one line for a digest's tally, e.g. "predictor-0: terminated by SIGKILL"
    subject: str  # without the "[pnr.me host]" prefix
    body: str
    at: float = dataclasses.field(default_factory=time.time)
    # Fingerprints whose held repeats this alert reports and clears (a FATAL reports the start-up
    # failures that led to it, instead of a separate digest after it).
    absorbs: tuple[str, ...] = ()


def utc(t: float) -> str:
    """A time as the alerts print it."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def one_line(text: str, limit: int = SUBJECT_MAX_CHARS) -> str:
    """Header-safe: no line breaks, bounded length."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def build_message(settings: MailSettings, host: str, alert: Alert, subject: str, body: str, count: int,
                  suffix: str = "") -> EmailMessage:
    """The mail for an alert or a digest, with headers a mail filter can sort on.

    A long subject is shortened before `suffix`, so that a digest's "[N more ..., digest]" always
    shows: an inbox must tell a count of repeats from a new alert at a glance.
    """
    message = EmailMessage()
    message["Subject"] = one_line(f"[pnr.me {host}] {subject}", SUBJECT_MAX_CHARS - len(suffix)) + suffix
    message["X-PNR-Host"] = host
    message["X-PNR-Program"] = alert.program
    message["X-PNR-Kind"] = alert.kind
    message["X-PNR-Fingerprint"] = one_line(alert.fingerprint)
    message["X-PNR-Count"] = str(count)
    message.set_content(body if body.endswith("\n") else body + "\n")
    return complete(message, settings)


@contextlib.contextmanager
def locked_state(settings: MailSettings) -> Iterator[dict[str, Any]]:
    """The flood state, exclusively, for one read-modify-write; saved only if the block succeeds."""
    directory = settings.state_dir
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = _load(directory / STATE_FILE)
        yield state
        _save(directory / STATE_FILE, state)


def _load(path: Path) -> dict[str, Any]:
    # A damaged state file must not stop alerts; the worst case is an early repeat mail.
    return jsonfile.read_dict(path, "flood state")


def _save(path: Path, state: dict[str, Any]) -> None:
    jsonfile.write(path, state)


def post(settings: MailSettings, alert: Alert, host: str | None = None, send: bool = True) -> str:
    """Mail the alert now or hold it for a digest: returns 'sent', 'spooled' or 'held'.

    With send=False a mail due now is only spooled, for the outbox (a process on its way out).
    """
    host = host or socket.gethostname()
    with locked_state(settings) as state:
        message = _admit(state, alert, settings, host)
        path = spool(settings, message) if message is not None else None
    if path is None:
        return "held"
    return "sent" if send and send_or_keep(settings, path) else "spooled"


def flush(settings: MailSettings, now: float | None = None, host: str | None = None) -> int:
    """Mail the digests whose window has ended; returns how many were mailed or spooled."""
    now = time.time() if now is None else now
    host = host or socket.gethostname()
    with locked_state(settings) as state:
        paths = [spool(settings, m) for m in _due(state, now, settings, host)]
    for path in paths:
        send_or_keep(settings, path)
    return len(paths)


def resolve(settings: MailSettings, running_since: Callable[[str], float | None], now: float | None = None,
            host: str | None = None) -> list[str]:
    """Mail "resolved" for every episode whose program is RUNNING, stable for settings.resolved_s
    (since its start and its last alert), with no digest of it pending; the subjects mailed.

    `running_since(program)` is when supervisord started the process it runs now, or None."""
    now = time.time() if now is None else now
    host = host or socket.gethostname()
    with locked_state(settings) as state:
        episodes = state.get(EPISODES, {})
        if not episodes or QUIET in state:
            return []
        pending = {e.get("program") for k, e in state.items() if not k.startswith("@") and e["held"]}
        done = []
        for program, episode in list(episodes.items()):
            started = running_since(program) if program not in pending else None
            if started is None or now - max(started, episode["last"]) < settings.resolved_s:
                continue
            alert = _resolved_alert(program, episode, now, started)
            done.append((spool(settings, build_message(settings, host, alert, alert.subject, alert.body, 1)), alert.subject))
            del episodes[program]
    for path, _subject in done:
        send_or_keep(settings, path)
    return [subject for _path, subject in done]


def _resolved_alert(program: str, episode: dict[str, Any], now: float, started: float) -> Alert:
    minutes = max(1, round((episode["last"] - episode["since"]) / 60))
    lasted = "under a minute" if episode["last"] - episode["since"] < 60 else f"{minutes} min"
    what = f"resolved: RUNNING again since {utc(started)}, after {episode['alerts']} alert(s) over {lasted}"
    body = (f"{program} has been RUNNING for {now - started:.0f} s with no alert: the episode is over.\n\n"
            f"Alerts in it: {episode['alerts']} (the mails and the digests counted them), "
            f"first {utc(episode['since'])}, last {utc(episode['last'])}.\n")
    return Alert(fingerprint=f"resolved|{program}", program=program, kind="resolved", label=f"{program}: resolved",
                 subject=f"{program}: {what}", body=body, at=now)


def set_quiet(settings: MailSettings, seconds: float, reason: str, now: float | None = None) -> float:
    """Hold every alert for `seconds` (0: end the window now; its summary goes at the next flush);
    returns the window's end."""
    now = time.time() if now is None else now
    with locked_state(settings) as state:
        quiet = state.setdefault(QUIET, {"started": now, "reason": reason, "count": 0, "tally": {}})
        quiet["until"] = now + seconds
        if reason:
            quiet["reason"] = reason
        return float(quiet["until"])


def _quiet_summary(quiet: dict[str, Any], now: float, settings: MailSettings, host: str) -> EmailMessage:
    lines = [f"The quiet window ({quiet['reason']}) from {utc(quiet['started'])} to {utc(now)} is over; alerts go "
             f"out again. During it {quiet['count']} alert(s) were held, not mailed, and are counted here:", "",
             *(f"  {n:>6}  {label}" for label, n in sorted(quiet["tally"].items(), key=lambda kv: -kv[1])), "",
             "What to run: ./scripts/ctl status (is everything RUNNING now?)"]
    alert = Alert(fingerprint="quiet", program="kit", kind="quiet", label="quiet window",
                  subject=f"quiet window over ({quiet['reason']}): {quiet['count']} alert(s) held", body="\n".join(lines) + "\n", at=now)
    message = build_message(settings, host, alert, alert.subject, alert.body, max(1, quiet["count"]))
    return message


def _admit(state: dict[str, Any], alert: Alert, settings: MailSettings, host: str) -> EmailMessage | None:
    quiet = state.get(QUIET)
    if quiet is not None and alert.at < quiet["until"]:
        quiet["count"] += 1
        quiet["tally"][alert.label] = quiet["tally"].get(alert.label, 0) + 1
        return None
    episode = state.get(EPISODES, {}).get(alert.program)
    if episode is not None:
        episode.update(alerts=episode["alerts"] + 1, last=alert.at)
    elif alert.kind in EPISODE_KINDS:
        state.setdefault(EPISODES, {})[alert.program] = {"since": alert.at, "last": alert.at, "alerts": 1}
    entry = state.get(alert.fingerprint)
    if entry is not None and alert.at < entry["window_end"]:
        _hold(entry, alert)
        return None
    if entry is not None and entry["held"]:
        # The window ended but no flusher ran yet: this repeat goes out with the digest.
        _hold(entry, alert)
        return _digest(state, alert.fingerprint, entry, alert.at, settings, host)
    state[alert.fingerprint] = {
        "mailed_at": alert.at,
        "window_end": alert.at + settings.digest_s,
        "window_s": settings.digest_s,
        "held": 0,
        "first": None,
        "last": None,
        "tally": {},
        "sample": None,
        "since": alert.at,
        "total": 1,
        "quiet_mailed": False,
        "program": alert.program,
    }
    absorbed, note = _absorb(state, alert.absorbs)
    message = build_message(settings, host, alert, alert.subject, alert.body + note, 1)
    if absorbed:
        message["X-PNR-Absorbed"] = str(absorbed)
    return message


def _hold(entry: dict[str, Any], alert: Alert) -> None:
    entry["held"] += 1
    entry["total"] += 1
    entry["first"] = entry["first"] or alert.at
    entry["last"] = alert.at
    tally = entry["tally"]
    label = alert.label if alert.label in tally or len(tally) < TALLY_MAX else TALLY_OTHER
    tally[label] = tally.get(label, 0) + 1
    entry["sample"] = dataclasses.asdict(alert)


def _due(state: dict[str, Any], now: float, settings: MailSettings, host: str) -> list[EmailMessage]:
    messages = []
    quiet = state.get(QUIET)
    if quiet is not None and now >= quiet["until"]:
        messages.append(_quiet_summary(state.pop(QUIET), now, settings, host))
    for fingerprint, entry in list(state.items()):
        if fingerprint.startswith("@"):
            continue
        if now >= entry["window_end"]:
            if entry["held"]:
                messages.append(_digest(state, fingerprint, entry, now, settings, host))
            else:
                del state[fingerprint]  # quiet for a whole window: the episode is over
        elif entry["held"] and not entry.get("quiet_mailed") and now - entry["last"] >= settings.quiet_s:
            # It stopped: report the count now; later repeats in this window wait for its end.
            messages.append(_digest(state, fingerprint, entry, now, settings, host, next_window=False))
            entry["quiet_mailed"] = True
    return messages


def _digest(
    state: dict[str, Any], fingerprint: str, entry: dict[str, Any], now: float, settings: MailSettings, host: str,
    next_window: bool = True,
) -> EmailMessage:
    sample = Alert(**{**entry["sample"], "absorbs": tuple(entry["sample"]["absorbs"])})
    held, first, last = entry["held"], entry["first"], entry["last"]
    lines = [
        f"{held} more of this alert since the mail at {utc(entry['mailed_at'])}:",
        f"  first {utc(first)}, last {utc(last)}; {entry['total']} in all since {utc(entry['since'])}.",
        "",
        "What happened, counted:",
        *(f"  {n:>6}  {label}" for label, n in sorted(entry["tally"].items(), key=lambda kv: -kv[1])),
        "",
        "The most recent one:",
        "-" * 60,
        sample.body,
    ]
    absorbed, note = _absorb(state, sample.absorbs)
    suffix = f" [{held} more since {time.strftime('%H:%M:%S', time.gmtime(first))} UTC, digest]"
    message = build_message(settings, host, sample, sample.subject, "\n".join(lines) + note, held, suffix)
    message["X-PNR-Digest"] = f"{utc(first)} .. {utc(last)}"
    if absorbed:
        message["X-PNR-Absorbed"] = str(absorbed)
    entry.update(mailed_at=now, held=0, first=None, last=None, tally={}, sample=None)
    if next_window:
        window_s = min(entry["window_s"] * 2, max(settings.digest_max_s, settings.digest_s))
        entry.update(window_end=now + window_s, window_s=window_s, quiet_mailed=False)
    return message


def _absorb(state: dict[str, Any], fingerprints: tuple[str, ...]) -> tuple[int, str]:
    """Report and clear the held repeats of related alerts; returns (count, text to append)."""
    count, lines = 0, []
    for fingerprint in fingerprints:
        entry = state.get(fingerprint)
        if not entry or not entry["held"]:
            continue
        count += entry["held"]
        lines.append(f"  {entry['held']} between {utc(entry['first'])} and {utc(entry['last'])}:")
        lines += [f"  {n:>6}  {label}" for label, n in sorted(entry["tally"].items(), key=lambda kv: -kv[1])]
        entry.update(held=0, first=None, last=None, tally={}, sample=None)
    if not count:
        return 0, ""
    return count, "\n\nAlso counted here (held repeats of the alerts that led to this one, not mailed separately):\n" + "\n".join(lines) + "\n"
