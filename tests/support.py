"""Helpers for tests: free loopback ports, waiting with a deadline, a real database and SMTP server."""
from __future__ import annotations

import email
import email.policy
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pymongo
from aiosmtpd.controller import Controller

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
START_DEADLINE_S = 30.0


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


class MongoServer:
    """A SecantusDB server process on its own port and data directory."""

    def __init__(self, data_dir: Path, port: int | None = None):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.data_dir.parent / f"db-{self.port}.log", "ab") as log:
            self.proc = subprocess.Popen(
                [str(BIN / "secantusd-py"), "--host", "127.0.0.1", "--port", str(self.port), "--storage-path",
                 str(self.data_dir), "--sync-on-commit", "--enable-test-commands", "--log-level", "WARNING"],
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

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append(list(envelope.rcpt_tos))
        return "250 OK"

    def start(self) -> SmtpSink:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def received(self) -> list[EmailMessage]:
        with self._lock:
            return list(self.messages)
