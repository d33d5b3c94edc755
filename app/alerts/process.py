"""What supervisord knows about a process that just died, gathered for the alert mail.

Sources, each optional (an alert goes out with whatever could be found):
- supervisord's XML-RPC over its socket: the process's state now, its config (startretries), the
  tail of its log, and supervisord's own log, where the exit reason ("exit status 1", "terminated
  by SIGKILL") is written: the event payload lacks it, and by the time the listener runs a restarted
  process has already reset getProcessInfo's exitstatus;
- the last words our processes write on an uncaught exception ($PNR_VAR_DIR/lastwords/<name>.txt).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import http.client
import logging
import os
import re
import socket
import urllib.parse
import xmlrpc.client
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

RPC_TIMEOUT_S = 5.0
MAIN_LOG_TAIL_BYTES = 64 * 1024
PROCESS_LOG_TAIL_BYTES = 4096
PROCESS_LOG_TAIL_LINES = 25
LASTWORDS_MAX_BYTES = 16 * 1024
LASTWORDS_DIR = "lastwords"

_STAMP = r"(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ \w+"
SPAWNED = re.compile(_STAMP + r" spawned: '(?P<name>.+)' with pid (?P<pid>\d+)$")
EXITED = re.compile(_STAMP + r" exited: (?P<name>.+) \((?P<reason>.+); (?P<expected>expected|not expected)\)$")
LASTWORDS_HEADER = re.compile(r"^pid (?P<pid>\d+) at ")


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


class _Transport(xmlrpc.client.Transport):
    """HTTP or a unix socket, with a timeout (supervisor's own transport costs 0.1 s to import)."""

    def __init__(self, server_url: str, timeout: float):
        super().__init__()
        self.server_url = server_url
        self.timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        _, self._extra_headers, _ = self.get_host_info(host)  # the Authorization header
        if self.server_url.startswith("unix://"):
            return _UnixConnection(self.server_url[len("unix://") :], self.timeout)
        return http.client.HTTPConnection(urllib.parse.urlsplit(self.server_url).netloc, timeout=self.timeout)


def rpc_at(server_url: str, timeout_s: float = RPC_TIMEOUT_S) -> Any:
    """supervisord's XML-RPC interface at a unix:// or http:// URL, without credentials."""
    return xmlrpc.client.ServerProxy("http://localhost/RPC2", transport=_Transport(server_url, timeout_s))


def running_info(rpc: Any, namespec: str) -> dict[str, Any] | None:
    """supervisord's info on `namespec` if it is RUNNING; None if not, if supervisord does not know
    it (a name such as "kit"), or if it does not answer now (asked again on the next tick)."""
    try:
        info = rpc.supervisor.getProcessInfo(namespec)
    except Exception:  # noqa: BLE001 - xmlrpc Fault, a socket error, a busy supervisord
        return None
    return info if info.get("statename") == "RUNNING" else None


def rpc_from_env(environ: Mapping[str, str] | None = None) -> Any | None:
    """supervisord's XML-RPC interface as a listener (or its children) sees it, or None outside supervisord."""
    environ = os.environ if environ is None else environ
    url = environ.get("SUPERVISOR_SERVER_URL")
    if not url:
        return None
    user = environ.get("SUPERVISOR_USERNAME") or environ.get("PNR_SUPERVISOR_USER", "")
    password = environ.get("SUPERVISOR_PASSWORD") or environ.get("PNR_SUPERVISOR_PASSWORD", "")
    auth = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}@" if user else ""
    return xmlrpc.client.ServerProxy(f"http://{auth}localhost/RPC2", transport=_Transport(url, RPC_TIMEOUT_S))


@dataclasses.dataclass(frozen=True)
class Exit:
    """One exit as supervisord logged it."""

    reason: str  # "exit status 1", "terminated by SIGKILL"
    expected: bool
    pid: int | None
    started: dt.datetime | None  # supervisord's local time, as in its log
    ended: dt.datetime

    @property
    def ran_s(self) -> float | None:
        """Seconds the process lived, when its start is in the log."""
        return (self.ended - self.started).total_seconds() if self.started else None


def _stamp(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")


def find_exit(main_log: str, name: str, pid: int | None = None) -> Exit | None:
    """The exit of process `name` in supervisord's log: the one of `pid` when given, else the latest."""
    exits: list[Exit] = []
    spawned_pid: int | None = None
    spawned_at: dt.datetime | None = None
    for line in main_log.splitlines():
        m = SPAWNED.match(line)
        if m and m["name"] == name:
            spawned_pid, spawned_at = int(m["pid"]), _stamp(m["time"])
            continue
        m = EXITED.match(line)
        if m and m["name"] == name:
            exits.append(Exit(m["reason"], m["expected"] == "expected", spawned_pid, spawned_at, _stamp(m["time"])))
            spawned_pid = spawned_at = None
    if pid is None:
        return exits[-1] if exits else None
    for e in reversed(exits):
        if e.pid == pid:
            return e
    # Its spawn line may be older than the part of the log we read.
    unknown = [e for e in exits if e.pid is None]
    return dataclasses.replace(unknown[-1], pid=pid) if unknown else None


def read_lastwords(var_dir: Path, name: str, pid: int | None, since: float | None) -> str:
    """The traceback process `name` left, if it is from the process that died (same pid, or written after it started)."""
    path = var_dir / LASTWORDS_DIR / f"{name}.txt"
    try:
        with open(path, errors="replace") as f:
            text = f.read(LASTWORDS_MAX_BYTES)
        mtime = path.stat().st_mtime
    except OSError:
        return ""
    m = LASTWORDS_HEADER.match(text)
    written_by = int(m["pid"]) if m else None
    if pid is not None and written_by == pid:
        return text
    if since is not None and mtime >= since:
        return text  # e.g. a gunicorn worker of the master that died
    return ""


@dataclasses.dataclass
class Facts:
    """Everything found out about one process, plus what could not be."""

    namespec: str
    info: dict[str, Any] | None = None
    startretries: int | None = None
    exit: Exit | None = None
    log_tail: str = ""
    log_file: str = ""
    lastwords: str = ""
    missing: list[str] = dataclasses.field(default_factory=list)


def gather(
    rpc: Any | None, var_dir: Path, group: str, name: str, pid: int | None = None,
    with_exit: bool = True, with_retries: bool = False,
) -> Facts:
    """Ask supervisord and the disk about `group:name`; never raises.

    with_retries asks for its startretries too (every program's config: only for start-up alerts).
    """
    namespec = name if group == name else f"{group}:{name}"
    facts = Facts(namespec)
    if rpc is None:
        facts.missing.append("supervisord (no SUPERVISOR_SERVER_URL: not run by supervisord)")
    else:
        _ask(facts, "process info", lambda: setattr(facts, "info", rpc.supervisor.getProcessInfo(namespec)))
        if with_exit:
            _ask(facts, "exit reason", lambda: setattr(facts, "exit", find_exit(rpc.supervisor.readLog(-MAIN_LOG_TAIL_BYTES, 0), name, pid)))
        if with_retries:
            _ask(facts, "config", lambda: _config(facts, rpc, group, name))
        _ask(facts, "log tail", lambda: _tail(facts, rpc))
    if with_exit:
        pid = pid if pid is not None else (facts.exit.pid if facts.exit else None)
        since = facts.exit.started.timestamp() if facts.exit and facts.exit.started else None
        facts.lastwords = read_lastwords(var_dir, name, pid, since)
    return facts


def _ask(facts: Facts, what: str, call: Any) -> None:
    try:
        call()
    except (OSError, xmlrpc.client.Error, http.client.HTTPException, ValueError) as exc:
        log.warning("%s of %s unavailable: %s", what, facts.namespec, exc)
        facts.missing.append(f"{what} ({exc})")


def _config(facts: Facts, rpc: Any, group: str, name: str) -> None:
    for c in rpc.supervisor.getAllConfigInfo():
        if c["group"] == group and c["name"] == name:
            facts.startretries = int(c["startretries"])


def _tail(facts: Facts, rpc: Any) -> None:
    info = facts.info or {}
    # Our programs redirect stderr into the stdout log; a program with its own stderr log shows that.
    if info.get("stderr_logfile"):
        text, _, _ = rpc.supervisor.tailProcessStderrLog(facts.namespec, 0, PROCESS_LOG_TAIL_BYTES)
        facts.log_file = info["stderr_logfile"]
    else:
        text, _, _ = rpc.supervisor.tailProcessStdoutLog(facts.namespec, 0, PROCESS_LOG_TAIL_BYTES)
        facts.log_file = info.get("stdout_logfile", "")
    lines = text.splitlines()
    if len(text) >= PROCESS_LOG_TAIL_BYTES and lines:
        lines = lines[1:]  # the first line is probably cut
    facts.log_tail = "\n".join(lines[-PROCESS_LOG_TAIL_LINES:])
