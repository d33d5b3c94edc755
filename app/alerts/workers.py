"""gunicorn's worker deaths as alerts: the master lives on, so supervisord sees nothing, while the
visitor of that worker got a reset or a 502.

etc/gunicorn.conf.py installs these hooks from here (`on_starting` notes the OOM count):

- `worker_abort` runs inside a worker that overran the timeout (gunicorn sends it SIGABRT): it
  writes the request it was serving and every thread's stack to var/run/worker-deaths/<pid>.json.
  It sends nothing: the worker is about to die, and a mail could hold it past the SIGKILL;
- `post_worker_init` starts the watchdog of a threaded worker (app/alerts/watchdog.py), whose main
  loop tells the master it is alive however long a request thread is stuck: a request past the
  timeout makes it write the same record, with reason "timeout", and retire its worker;
- `Logger.error`/`warning` in the master notes "Worker (pid:N) was sent SIGKILL!" as gunicorn logs
  it, the only place the master gives the signal that ended a worker;
- `child_exit` runs in the master after each worker is reaped: a timeout (the worker's `aborted`,
  or a record with reason "timeout" from the watchdog) or a worker killed by a signal other than SIGTERM (with "by the kernel's OOM killer" when
  /proc/vmstat's oom_kill moved since the master looked last) becomes an alert, posted through
  the kit's flood control by a child process, so the master's loop never waits on SMTP. A worker that
  ended because the master asked (HUP, shutdown, max_requests) is no alert, nor is one that exited
  with a non-zero code (gunicorn logs it; a worker that cannot boot stops the master, which
  supervisord sees).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

from plumbing import jsonfile

from ..version import of_checkout
from . import flood, watchdog
from .flood import Alert, utc
from .mail import MailSettings
from .orphans import oom_kills

log = logging.getLogger(__name__)

SIGNALLED = "Worker (pid:%s) was sent %s!"
_deaths: dict[int, str] = {}  # pid -> signal name, from the master's log, until child_exit reads it
_oom_seen: list[int | None] = [None]  # the kernel's OOM kill count when the master last looked


def _folder() -> Path:
    return Path(os.environ.get("PNR_VAR_DIR", "var")) / "run" / "worker-deaths"


def _program() -> str:
    return os.environ.get("SUPERVISOR_PROCESS_NAME", "web")


def on_starting(server: Any) -> None:
    """In the master, once: where the OOM kill count stands, to tell an OOM kill from a kill -9."""
    _oom_seen[0] = oom_kills()


def post_worker_init(worker: Any) -> None:
    """In each worker, once it has loaded the app: the watchdog, if the worker is threaded."""
    watchdog.start(worker, write_record)


def worker_abort(worker: Any) -> None:
    """In the stuck worker: its request and stacks, to a file the master reads.

    A sync worker is aborted in the thread that serves the request; a threaded one only when its
    main loop is stuck, and then the oldest request in flight is the one named."""
    from .handler import request_context

    oldest = watchdog.in_flight()[:1]
    write_record("abort", request_context() or (oldest[0].request if oldest else {}), [], [])


def write_record(reason: str, request: dict[str, str], stuck: list[int], also: list[dict[str, str]]) -> None:
    """This worker's request and every thread's stack (the `stuck` threads first), for the master."""
    frames = sys._current_frames()  # noqa: SLF001 - the documented way to every thread's stack
    order = {ident: i for i, ident in enumerate(stuck)}
    stacks = []
    for thread in sorted(threading.enumerate(), key=lambda t: order.get(t.ident or -1, len(order))):
        if stuck and thread is threading.current_thread():
            continue  # the watchdog's own
        frame = frames.get(thread.ident or -1)
        if frame is not None:
            mark = " (the stuck request)" if thread.ident in order else ""
            stacks.append(f"Thread {thread.name}{mark}:\n" + "".join(traceback.format_stack(frame)))
    record = {"pid": os.getpid(), "at": time.time(), "reason": reason, "request": request, "also": also,
              "stacks": stacks}
    jsonfile.write(_folder() / f"{os.getpid()}.json", record)


class Logger(GunicornLogger):
    """gunicorn's logger, noting which signal ended which worker for `child_exit`."""

    def error(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._note(msg, args)
        super().error(msg, *args, **kwargs)

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._note(msg, args)
        super().warning(msg, *args, **kwargs)

    @staticmethod
    def _note(msg: str, args: tuple[Any, ...]) -> None:
        if isinstance(msg, str) and msg.startswith(SIGNALLED) and len(args) >= 2:
            _deaths[int(args[0])] = str(args[1])


def child_exit(server: Any, worker: Any) -> None:
    """In the master, after a worker was reaped: an alert if it did not end because it was asked to.

    Posted by a child process (`python -m app.alerts.workers`), not by the master: flood control
    takes a flock on var/alerts/flood.lock, and a worker forked while the master held it would
    inherit the lock and keep it for its whole life, holding every alert of the host."""
    alert = _alert_for(worker.pid, bool(getattr(worker, "aborted", False)), server.timeout)
    if alert is None:
        return
    try:
        poster = subprocess.Popen([sys.executable, "-m", "app.alerts.workers"], stdin=subprocess.PIPE, close_fds=True)
        assert poster.stdin is not None
        poster.stdin.write(json.dumps(dataclasses.asdict(alert)).encode())
        poster.stdin.close()  # gunicorn's master reaps it with its workers ("unknown child")
    except OSError:
        log.exception("could not hand the alert %r to a poster", alert.subject)


def main() -> int:
    """The poster: one alert as JSON on stdin, through flood control (mailed now or held)."""
    alert = Alert(**{**json.load(sys.stdin), "absorbs": ()})
    print(f"worker alert {flood.post(MailSettings.from_env(), alert, socket.gethostname())}: {alert.subject}", file=sys.stderr)
    return 0


def _alert_for(pid: int, aborted: bool, timeout_s: float) -> Alert | None:
    program = _program()
    signal_name = _deaths.pop(pid, None)
    record_path = _folder() / f"{pid}.json"
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        record_path.unlink()
    except (OSError, ValueError):
        record = None
    oom_now = oom_kills()
    oom_moved = oom_now is not None and _oom_seen[0] is not None and oom_now > _oom_seen[0]
    _oom_seen[0] = oom_now
    host = socket.gethostname()
    head = [f"Host:         {host}", f"Program:      {program}", f"Version:      {of_checkout()}",
            f"Worker pid:   {pid}", f"Time:         {utc(time.time())}"]
    todo = ["", "What to run (docs/oncall.md):", f"  ./scripts/ctl tail -8000 {program}", f"  ./scripts/ctl status {program}"]
    retired = (record or {}).get("reason") == "timeout"
    if aborted or retired:
        request = (record or {}).get("request") or {}
        what = f"worker timeout: {request.get('request', 'a request')} held a worker past {timeout_s:g} s"
        if retired:
            opening = (f"Worker {pid} of {program} retired itself: one of its requests ran for more than the timeout "
                       f"({timeout_s:g} s). That visitor got no answer (a reset, or a 502 from a proxy); the worker "
                       "took no new requests, let its others finish, then exited, and gunicorn started another.")
        else:
            opening = (f"gunicorn killed worker {pid} of {program}: it served one request for more than its timeout "
                       f"({timeout_s:g} s). The visitor got no answer (a reset, or a 502 from a proxy).")
        lines = [opening, "", *head, *(f"{k.capitalize() + ':':<13} {v}" for k, v in request.items())]
        lines += [f"Also stuck:   {other.get('request', '?')} (request id {other.get('request id', '-')})"
                  for other in (record or {}).get("also", [])]
        if record:
            when = "its watchdog found the request stuck" if retired else "gunicorn aborted it (worker_abort)"
            lines += ["", f"The worker's stacks when {when}:", *record["stacks"]]
        else:
            lines += ["", "No stack: the worker did not write one before it died (killed while stuck in C code?)."]
        return Alert(fingerprint=f"worker-timeout|{program}", program=program, kind="worker",
                     label=f"{program}: {what}", subject=f"{program}: {what}", body="\n".join(lines + todo) + "\n")
    if signal_name and signal_name != "SIGTERM":
        by = "by the kernel's OOM killer" if signal_name == "SIGKILL" and oom_moved else f"by {signal_name}"
        what = f"worker {pid} killed {by}"
        lines = [f"A worker of {program} was killed {by}, while the master lives on, so supervisord saw nothing. "
                 "Any visitor it was serving got a reset; gunicorn started another worker.", "", *head]
        if oom_moved:
            lines += ["", f"The kernel's oom_kill count moved to {oom_now} (/proc/vmstat): dmesg | grep -i oom"]
        return Alert(fingerprint=f"worker-killed|{program}|{'oom' if oom_moved else signal_name}", program=program,
                     kind="worker", label=f"{program}: worker killed {by}", subject=f"{program}: {what}",
                     body="\n".join(lines + todo) + "\n")
    return None


if __name__ == "__main__":
    sys.exit(main())
