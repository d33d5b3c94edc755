"""Fixtures for the predictor tests: a known model, its file, daemons serving it, raw exchanges.

Helpers are handed out as fixtures: under --import-mode=importlib test modules cannot import a
sibling module.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
from support import REPO, free_port, wait_for

from predictor.model import Model
from predictor.synthetic import reference_model

START_DEADLINE_S = 20.0
STOP_DEADLINE_S = 10.0


def exchange(endpoint: str, payload: bytes | list[bytes], timeout_ms: int = 2000) -> dict[str, Any] | None:
    """Send one message on a fresh REQ socket; the decoded reply, or None on silence."""
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    sock = context.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    try:
        if isinstance(payload, list):
            sock.send_multipart(payload)
        else:
            sock.send(payload)
        if not sock.poll(timeout_ms, zmq.POLLIN):
            return None
        return json.loads(sock.recv())
    finally:
        sock.close(linger=0)


def request(endpoint: str, message: dict[str, Any], timeout_ms: int = 2000) -> dict[str, Any] | None:
    """A JSON request and its reply (None on silence)."""
    return exchange(endpoint, json.dumps(message).encode(), timeout_ms)


class Daemon:
    """A `python -m predictor` process on its own loopback port, logging to a file."""

    def __init__(self, model_path: Path, log_path: Path, extra: list[str] | None = None):
        self.port = free_port()
        self.endpoint = f"tcp://127.0.0.1:{self.port}"
        self.log_path = log_path
        args = extra if extra is not None else ["--endpoint", self.endpoint]
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "predictor", "--model", str(model_path), *args],
                                         cwd=REPO, stdout=log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def ping(self, timeout_ms: int = 200) -> dict[str, Any] | None:
        """The daemon's ping reply, or None."""
        return request(self.endpoint, {"v": 1, "id": "ready", "op": "ping"}, timeout_ms)

    def wait_ready(self) -> Daemon:
        """Wait (with a deadline) until the daemon answers a ping."""
        def answered() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}: {self.log()}")
            return self.ping() is not None
        wait_for(answered, START_DEADLINE_S, f"predictor on {self.endpoint}")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self) -> None:
        """Thaw, terminate, and as a last resort kill."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(STOP_DEADLINE_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def _reference_parameters() -> dict[str, Any]:
    return reference_model().to_dict()


@pytest.fixture
def reference(_reference_parameters: dict[str, Any]) -> Model:
    """The model synthetic data is drawn from (fixed parameters, several trains and classes), afresh
    for each test: a model keeps its results per item, and a result computed inside another test's
    batch may differ from this test's in the last bit."""
    return Model.from_dict(_reference_parameters)


@pytest.fixture
def model_file(tmp_path: Path, reference: Model) -> Path:
    """The reference model saved where a daemon can load it."""
    path = tmp_path / "model.json"
    reference.save(path)
    return path


@pytest.fixture
def daemons(tmp_path: Path, model_file: Path) -> Iterator[Callable[..., Daemon]]:
    """`daemons()` starts a ready predictor daemon on a free port; all are stopped afterwards."""
    started: list[Daemon] = []

    def start(model: Path | None = None) -> Daemon:
        daemon = Daemon(model or model_file, tmp_path / f"predictor-{len(started)}.log")
        started.append(daemon)
        return daemon.wait_ready()

    yield start
    for daemon in started:
        daemon.stop()


@pytest.fixture
def send() -> Callable[..., dict[str, Any] | None]:
    """`send(endpoint, payload, timeout_ms)`: one raw message on a fresh REQ socket; reply or None."""
    return exchange


@pytest.fixture
def send_json() -> Callable[..., dict[str, Any] | None]:
    """`send_json(endpoint, message, timeout_ms)`: one JSON request; reply or None."""
    return request
