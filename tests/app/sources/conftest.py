"""A fake PNR-status API on a loopback port, serving canned replies per PNR and recording requests."""
from __future__ import annotations

import http.server
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from support import send_json

SHUTDOWN_POLL_S = 0.02  # how often serve_forever looks for shutdown(); its default 0.5 s slows every test

class FakeApi:
    """What the fake API answers for each PNR, in order (the last reply repeats), and what it was asked."""

    HANG = "hang"  # a reply that never comes: the handler waits until the test ends

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.replies: dict[str, list[Any]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.release = threading.Event()
        self._lock = threading.Lock()

    def answer(self, pnr: str, *replies: Any) -> None:
        """Queue replies for `pnr`: a JSON-able value (HTTP 200), (status, value or bytes), or HANG."""
        self.replies[pnr] = list(replies)

    def asked(self, pnr: str) -> int:
        """How many requests named `pnr`."""
        return sum(1 for path, _ in self.requests if pnr in path)

    def next_reply(self, path: str, headers: dict[str, str]) -> Any:
        """The reply to one request, recording it."""
        with self._lock:
            self.requests.append((path, headers))
            found = re.search(r"[0-9]{10}", path)
            queue = self.replies.get(found.group(0) if found else "", [(404, {"error": "no such route"})])
            return queue.pop(0) if len(queue) > 1 else queue[0]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        api: FakeApi = self.server.api  # type: ignore[attr-defined]
        reply = api.next_reply(self.path, dict(self.headers))
        if reply == FakeApi.HANG:
            api.release.wait()
            self.close_connection = True
            return
        status, body = reply if isinstance(reply, tuple) else (200, reply)
        send_json(self, status, body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output is not the place for access logs."""


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    """A running fake API on 127.0.0.1 for one test; hanging handlers are released at teardown."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    api = FakeApi(server.server_address[1])
    server.api = api  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(SHUTDOWN_POLL_S,), name="fake-pnr-api", daemon=True)
    thread.start()
    yield api
    api.release.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound, never listening, held for the whole test."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
