"""The daemon as a process: answers, survives garbage, reloads, stops on SIGTERM, refuses bad settings."""
from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zmq
from support import REPO, free_port, wait_for

from predictor import protocol
from predictor.model import Model
from predictor.synthetic import random_items, reference_model

ITEMS = [{"id": "1", "train_number": "12001", "journey_class": "SL", "quota": "GN", "waitlist_type": "GNWL",
          "booking_position": 45, "current_position": 12, "hours_to_chart": 70.5},
         {"id": "2", "train_number": "12038", "journey_class": "CC", "quota": "GN", "waitlist_type": "GNWL",
          "booking_position": 10, "current_position": 3, "hours_to_chart": 5.0}]


def _predict(send_json: Callable[..., Any], endpoint: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    reply = send_json(endpoint, {"v": 1, "id": "p", "op": "predict", "items": items})
    assert reply is not None and reply["ok"], reply
    return reply


def test_daemon_answers_ping_and_predictions(daemons: Callable[..., Any], send_json: Callable[..., Any],
                                             reference: Model) -> None:
    daemon = daemons()
    ping = daemon.ping()
    assert ping["ok"] and ping["model_version"] == reference.version and ping["pid"] == daemon.pid
    assert ping["uptime_s"] >= 0
    items = random_items(reference, 300, np.random.default_rng(1))
    reply = _predict(send_json, daemon.endpoint, items + [{"id": "bad"}])
    assert reply["results"][:300] == reference.predict(items)
    assert reply["results"][300] == {"id": "bad", "error": "train_number must be a non-empty string"}
    assert reply["model_version"] == reference.version
    assert "listening on " + daemon.endpoint in daemon.log() and reference.version in daemon.log()


def _garbage(rng: random.Random, i: int) -> tuple[bytes | list[bytes], str]:
    """A broken message and the error code it must get."""
    kind = i % 9
    if kind == 0:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300))), ""  # bad_encoding or bad_json
    if kind == 1:
        return b"\xc3\x28" + b"x" * rng.randint(0, 50), protocol.BAD_ENCODING
    if kind == 2:
        return json.dumps([1, "ping", {"v": 1}]).encode(), protocol.BAD_REQUEST
    if kind == 3:
        return json.dumps({"v": 1, "id": f"g{i}", "op": rng.choice(["shutdown", "exec", "", None])}).encode(), \
            protocol.UNKNOWN_OP
    if kind == 4:
        return json.dumps({"id": f"g{i}", "op": "ping"}).encode(), protocol.BAD_REQUEST
    if kind == 5:
        return [b'{"v": 1, "id": "a", "op": "ping"}', b"second frame"], protocol.BAD_FRAME
    if kind == 6:
        return json.dumps({"v": 1, "id": f"g{i}", "op": "predict", "items": "all"}).encode(), protocol.BAD_REQUEST
    if kind == 7:
        return b'{"v": 1, "id": "n", "op": "ping", "x": NaN}', protocol.BAD_JSON
    return json.dumps({"v": 7, "id": f"g{i}", "op": "ping"}).encode(), protocol.UNSUPPORTED_VERSION


def test_garbage_barrage_leaves_the_daemon_serving(daemons: Callable[..., Any], send: Callable[..., Any],
                                                   send_json: Callable[..., Any], reference: Model) -> None:

    daemon = daemons()
    rng = random.Random(2013)
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    sock = context.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(daemon.endpoint)
    try:
        for i in range(2700):
            message, code = _garbage(rng, i)
            sock.send_multipart(message if isinstance(message, list) else [message])
            assert sock.poll(5000, zmq.POLLIN), f"no reply to message {i}"
            reply = json.loads(sock.recv())
            assert reply["ok"] is False and reply["v"] == 1, reply
            if code:
                assert reply["error"]["code"] == code, (i, reply)
            else:
                assert reply["error"]["code"] in (protocol.BAD_ENCODING, protocol.BAD_JSON), reply
            if isinstance(message, bytes) and message.startswith(b'{"v": 1, "id": "g'):
                assert reply["id"] == json.loads(message)["id"]
    finally:
        sock.close(linger=0)
    # Just over the limit: libzmq drops the connection (no reply can be sent); the daemon carries on.
    for size in (protocol.MAX_MESSAGE_BYTES + 1, protocol.MAX_MESSAGE_BYTES + 4096, 4 * protocol.MAX_MESSAGE_BYTES):
        assert send(daemon.endpoint, b"{" + b" " * (size - 1), timeout_ms=300) is None
    # At the limit exactly: read, and answered.
    at_limit = send(daemon.endpoint, b"[" + b" " * (protocol.MAX_MESSAGE_BYTES - 2) + b"]")
    assert at_limit is not None and at_limit["error"]["code"] == protocol.BAD_REQUEST
    # Not even ZeroMQ: raw bytes on the TCP port.
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=2) as raw:
            raw.sendall(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 2000))))
    assert daemon.proc.poll() is None
    assert _predict(send_json, daemon.endpoint, ITEMS)["results"] == reference.predict(ITEMS)


def test_reload_swaps_the_model_and_a_bad_file_keeps_the_old(daemons: Callable[..., Any], model_file: Path,
                                                             send_json: Callable[..., Any], reference: Model) -> None:
    daemon = daemons()
    other = reference_model(trains=4, seed=99)
    other.save(model_file)
    reply = send_json(daemon.endpoint, {"v": 1, "id": "r1", "op": "reload"})
    assert reply == {"v": 1, "id": "r1", "ok": True, "model_version": other.version,
                     "previous_version": reference.version}
    assert _predict(send_json, daemon.endpoint, ITEMS)["results"] == other.predict(ITEMS)

    model_file.write_text('{"format": "pnr-predictor-model", "schema": 1')
    reply = send_json(daemon.endpoint, {"v": 1, "id": "r2", "op": "reload"})
    assert reply["ok"] is False and reply["id"] == "r2" and reply["error"]["code"] == protocol.RELOAD_FAILED
    assert other.version in reply["error"]["message"]
    assert _predict(send_json, daemon.endpoint, ITEMS)["model_version"] == other.version

    reference.save(model_file)
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: daemon.ping()["model_version"] == reference.version, 10, "reload on SIGHUP")
    assert daemon.proc.poll() is None


def test_sigterm_stops_promptly_with_status_0(daemons: Callable[..., Any]) -> None:
    daemon = daemons()
    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.proc.wait(10) == 0
    assert time.monotonic() - started < 2.0
    assert "stopped (SIGTERM)" in daemon.log()


def test_port_base_and_index_choose_the_port(tmp_path: Path, model_file: Path, send_json: Callable[..., Any]) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "predictor", "--model", str(model_file), "--host", "127.0.0.1",
                             "--port-base", str(port - 3), "--index", "3"], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: send_json(f"tcp://127.0.0.1:{port}", {"v": 1, "id": "x", "op": "ping"}, 200), 20,
                 "predictor on base + index")
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def _run(args: list[str], timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "predictor", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.mark.parametrize("args,says", [
    ([], "--model"),
    (["--model", "{model}"], "--endpoint or --port-base"),
    (["--model", "{model}", "--endpoint", "tcp://127.0.0.1:1", "--port-base", "5600"], "--endpoint or --port-base"),
    (["--model", "{model}", "--endpoint", "http://127.0.0.1:5600"], "--endpoint"),
    (["--model", "{model}", "--endpoint", "tcp://127.0.0.1:70000"], "--endpoint"),
    (["--model", "{model}", "--port-base", "65535", "--index", "1"], "is not a port"),
    (["--model", "{model}", "--port-base", "5600", "--index", "-1"], "--index"),
    (["--model", "{model}", "--port-base", "five"], "--port-base"),
    (["--model", "{model}", "--port-base", "5600", "--host", "bad host!"], "--host"),
    (["--model", "{model}", "--port-base", "5600", "--log-level", "LOUD"], "--log-level"),
    (["--model", "{missing}", "--port-base", "5600"], "cannot load the model"),
    (["--model", "{garbage}", "--port-base", "5600"], "not valid JSON"),
    (["--model", "{model}", "--endpoint", "tcp://192.0.2.1:5600"], "cannot bind"),
])
def test_bad_settings_exit_2_with_a_message(tmp_path: Path, model_file: Path, args: list[str], says: str) -> None:
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not json")
    paths = {"model": model_file, "missing": tmp_path / "nope.json", "garbage": garbage}
    result = _run([a.format(**paths) for a in args])
    assert result.returncode == 2, result
    assert says in result.stderr and "Traceback" not in result.stderr


def test_a_taken_port_is_exit_2(daemons: Callable[..., Any], model_file: Path) -> None:
    daemon = daemons()
    result = _run(["--model", str(model_file), "--endpoint", daemon.endpoint])
    assert result.returncode == 2 and "cannot bind" in result.stderr and "Traceback" not in result.stderr
