"""Helpers for tests: free loopback ports, waiting with a deadline, a real database and SMTP server."""
from __future__ import annotations

import asyncio
import email
import email.policy
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pymongo
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
START_DEADLINE_S = 30.0


# Ports are handed out below the kernel's ephemeral range (32768-60999 here), so no outgoing
# connection (a load generator's thousands) can hold one; each process takes its own block, from a
# random place in it, and never hands a port out twice.
PORT_RANGE = (20000, 32000)
PORT_BLOCK = 1000
_ports: Iterator[int] | None = None
_ports_lock = threading.Lock()


def _port_sequence() -> Iterator[int]:
    """This process's ports: its block (by xdist worker, else by pid), from a random offset, round."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    blocks = (PORT_RANGE[1] - PORT_RANGE[0]) // PORT_BLOCK
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else os.getpid()
    start = PORT_RANGE[0] + (index % blocks) * PORT_BLOCK
    offset = secrets.randbelow(PORT_BLOCK)
    for i in range(PORT_BLOCK):
        yield start + (offset + i) % PORT_BLOCK


def _is_free(port: int) -> bool:
    """Whether a server could bind the port now: no listener, and no connection of it lingering in
    TIME_WAIT (bound without SO_REUSEADDR, as the strictest server would)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(n: int = 1) -> int:
    """The first of n consecutive ports on 127.0.0.1 that nothing holds and that this process has
    not handed out before; RuntimeError when its block is spent."""
    global _ports
    with _ports_lock:
        if _ports is None:
            _ports = _port_sequence()
        run: list[int] = []
        for port in _ports:
            run = [*run, port] if run and port == run[-1] + 1 else [port]
            if not _is_free(port):
                run = []
            elif len(run) == n:
                return run[0]
    raise RuntimeError(f"no run of {n} free ports left in this process's block of {PORT_RANGE}")


def free_port() -> int:
    """A port on 127.0.0.1 that nothing holds now and that no other test of this run is given."""
    return free_ports(1)


def wait_for(condition: Callable[[], Any], deadline_s: float, what: str, interval_s: float = 0.05) -> Any:
    """Poll `condition` until it returns something truthy; fail naming `what` after the deadline."""
    end = time.monotonic() + deadline_s
    last_error: BaseException | None = None
    while time.monotonic() < end:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # the condition may fail until the thing is up
            last_error = exc
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {deadline_s}s waiting for {what} (last error: {last_error!r})")



QUOTA_EXCEEDED = {"failCommands": ["insert", "update", "delete", "findAndModify"], "errorCode": 12501,
                  "errmsg": "quota exceeded"}


@contextmanager
def over_quota(client: pymongo.MongoClient) -> Iterator[None]:
    """While the block runs, every write fails as the original outage did: OperationFailure 12501
    "quota exceeded" (MongoDB's failCommand fail point; the server runs with test commands)."""
    client.admin.command("configureFailPoint", "failCommand", mode="alwaysOn", data=QUOTA_EXCEEDED)
    try:
        yield
    finally:
        client.admin.command("configureFailPoint", "failCommand", mode="off")


def send_json(handler: http.server.BaseHTTPRequestHandler, status: int, body: Any) -> None:
    """Answer a stand-in API's request with JSON (bytes are sent as they are, for broken bodies)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class Railsim:
    """A real `pnr-railsim` process (the simulator's program) on a free loopback port."""

    def __init__(self, log_path: Path, seed: int = 2013, era: str = "2015", *extra: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.command = [str(BIN / "pnr-railsim"), "--host", "127.0.0.1", "--port", str(self.port), "--seed", str(seed),
                        "--era", era, *extra]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Railsim:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=log,
                                         start_new_session=True)
        wait_for(lambda: self.get("/healthz")[0] == 200, START_DEADLINE_S, f"pnr-railsim on {self.port}")
        return self

    def get(self, path: str, timeout_s: float = 30.0) -> tuple[int, Any]:
        """(HTTP status, decoded JSON body) of a GET."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout_s) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def stop(self) -> int | None:
        """SIGTERM, then its exit status (SIGKILL after 10 s, and None)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode


class MongoServer:
    """A SecantusDB server process on its own port and data directory."""

    def __init__(self, data_dir: Path, port: int | None = None, sync_on_commit: bool = True):
        self.data_dir = data_dir
        self.port = port or free_port()
        # The kit's db runs with --sync-on-commit; without it, durability is up to each write's concern.
        self.sync_on_commit = sync_on_commit
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.data_dir.parent / f"db-{self.port}.log", "ab") as log:
            self.proc = subprocess.Popen(
                [str(BIN / "secantusd-py"), "--host", "127.0.0.1", "--port", str(self.port), "--storage-path",
                 str(self.data_dir), *(["--sync-on-commit"] if self.sync_on_commit else []),
                 "--enable-test-commands", "--log-level", "WARNING"],
                stdout=subprocess.DEVNULL, stderr=log,
            )
        client: pymongo.MongoClient = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=500)
        try:
            wait_for(lambda: client.admin.command("ping"), START_DEADLINE_S, f"SecantusDB on port {self.port}")
        finally:
            client.close()

    def stop(self, sig: int | None = None) -> None:
        if self.proc and self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class SmtpSink:
    """A real SMTP server (aiosmtpd) keeping every message it receives, in order."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[list[str]] = []
        self._lock = threading.Lock()
        self.controller: Controller | None = None
        self.holding_quit = False
        self.quits_held = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append(list(envelope.rcpt_tos))
        return "250 OK"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> Any:
        """While `holding_quit`, a client saying goodbye after its mail is accepted waits for the answer."""
        if self.holding_quit:
            with self._lock:
                self.quits_held += 1
            while self.holding_quit:
                await asyncio.sleep(0.01)
        return MISSING

    def start(self) -> SmtpSink:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        self.holding_quit = False
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def received(self) -> list[EmailMessage]:
        with self._lock:
            return list(self.messages)


ENV_LINE = re.compile(r"^([A-Z_][A-Z0-9_]*)=(.*)$")


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as a shell would export them (surrounding quotes removed)."""
    env = {}
    for line in path.read_text().splitlines():
        m = ENV_LINE.match(line.strip())
        if m:
            env[m.group(1)] = m.group(2).strip().strip('"')
    return env


def consecutive_free_ports(n: int) -> int:
    """A base port with n free ports from it."""
    return free_ports(n)


class Kit:
    """A copy of the repo's etc/ with its own ports and var/, and the real supervisord running it."""

    def __init__(self, root: Path, smtp_port: int, **overrides: str):
        self.root = root
        self.etc = root / "etc"
        self.var = root / "var"
        self.etc.mkdir()
        for name in ("supervisord.conf", "crashmail.conf", "gunicorn.conf.py"):
            shutil.copy(REPO / "etc" / name, self.etc / name)
        for d in ("run", "log", "db", "mail", "spool"):
            (self.var / d).mkdir(parents=True)
        (self.var / "run").chmod(0o700)
        self.web_port, db_port, self.railsim_port = free_port(), free_port(), free_port()
        predictor_base = consecutive_free_ports(2)
        self.env = {
            **os.environ,
            **read_env_file(REPO / "etc" / "pnr.env.example"),
            "PNR_SECRET_KEY": secrets.token_urlsafe(16),
            "PNR_WEB_PORT": str(self.web_port),
            "PNR_PUBLIC_URL": f"http://127.0.0.1:{self.web_port}",
            "PNR_DB_PORT": str(db_port),
            "PNR_MONGO_URI": f"mongodb://127.0.0.1:{db_port}/?directConnection=true",
            "PNR_PREDICTOR_PORT_BASE": str(predictor_base),
            "PNR_RAILSIM_PORT": str(self.railsim_port),
            "PNR_SMTP_PORT": str(smtp_port),
            "PNR_MAILSINK_AUTOSTART": "false",
            "PNR_ALERT_TO": "oncall@pnr.test",
            "PNR_VAR_DIR": str(self.var),
            "PATH": f"{BIN}:{os.environ['PATH']}",
            **overrides,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), env=self.env, cwd=self.root, capture_output=True, text=True, timeout=timeout)

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The sysadmin's command: supervisorctl -c etc/supervisord.conf ..."""
        return self.run(str(BIN / "supervisorctl"), "-c", str(self.etc / "supervisord.conf"), *args, timeout=30)

    def states(self) -> dict[str, tuple[str, str]]:
        out = self.ctl("status").stdout
        states = {}
        for line in out.splitlines():
            parts = line.split(None, 2)
            if len(parts) >= 2:
                states[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else "")
        return states

    def start(self) -> None:
        with open(self.var / "log" / "supervisord.stdout", "ab") as out:
            self.proc = subprocess.Popen(
                [str(BIN / "supervisord"), "--nodaemon", "-c", str(self.etc / "supervisord.conf")],
                env=self.env, cwd=self.root, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}{path}", timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()


class JobRunner:
    """`pnr-job` commands run in this process with click's test runner, on given services (a test's
    app's or its own), as app.jobs.main binds them in a job's process."""

    def __init__(self, bound_services: Any):
        self.services = bound_services

    def invoke(self, args: list[str]) -> Any:
        from click.testing import CliRunner

        from app import services
        from app.jobs.main import cli

        with services.bound(self.services):
            return CliRunner().invoke(cli, args)
