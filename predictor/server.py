"""The predictor daemon: the model behind one ZeroMQ socket, answering REQ clients one at a time.

Whatever a REQ peer sends (garbage, wrong JSON, unknown ops, invalid items) gets an error reply, and
nothing a peer sends can raise out of the loop. SIGTERM/SIGINT stop it after the request in hand;
SIGHUP or a `reload` request loads the model file again between requests (the new model is loaded in
full before the reference is swapped; a bad file leaves the old model serving).

The socket is a ROUTER doing REP's job by hand (keep the envelope up to the empty delimiter frame,
reply to it), not a REP: a REP socket that is sent non-ZeroMQ bytes (a port scanner, a stray HTTP
client) can be left holding a half-read envelope and then sends the *next* client's reply to the
dead connection. A ROUTER shows the malformed message to the loop, which drops it, and nothing is
misrouted. Clients keep using REQ sockets; the wire protocol is the same.
"""
from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import zmq

from plumbing import logs

from . import protocol

if TYPE_CHECKING:
    from .model import Model

# The model (numpy, scipy) is imported when first needed, so that a bad command line is answered at once.

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
POLL_INTERVAL_MS = 1000  # signals wake the loop at once through a wakeup fd; this is only a backstop
LINGER_MS = 500  # time to flush the last reply when stopping
BAD_MESSAGE_REPORT_S = 60.0  # bad messages are summarised in the log at most this often
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
ENDPOINT_RE = re.compile(r"^(tcp://(\*|\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})|ipc://\S+)$")


@dataclass(frozen=True)
class Settings:
    """The daemon's settings, parsed once from the command line."""

    model_path: Path
    endpoint: str
    log_level: str = "INFO"


def _host(value: str) -> str:
    if value == "*" or re.fullmatch(r"[A-Za-z0-9_.-]+", value):
        return value
    try:
        return f"[{ipaddress.IPv6Address(value)}]"
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a host name or address: {value!r}") from None


def parse_settings(argv: Sequence[str] | None) -> Settings:
    """Settings from arguments; a bad value exits 2 with a message naming it (argparse's way)."""
    parser = argparse.ArgumentParser(prog="pnr-predictor", description="PNR waitlist predictor daemon (ZeroMQ REP).")
    parser.add_argument("--model", type=Path, required=True, help="model file (JSON) to serve")
    parser.add_argument("--endpoint", help="ZeroMQ endpoint to bind, e.g. tcp://127.0.0.1:5600")
    parser.add_argument("--host", type=_host, default=DEFAULT_HOST, help="with --port-base: address to bind")
    parser.add_argument("--port-base", type=int, help="first port of the pool; this daemon binds base + index")
    parser.add_argument("--index", type=int, default=0, help="this daemon's place in the pool (default 0)")
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS)
    args = parser.parse_args(argv)
    if (args.endpoint is None) == (args.port_base is None):
        parser.error("give either --endpoint or --port-base (with --host and --index)")
    if args.endpoint is not None:
        match = ENDPOINT_RE.match(args.endpoint)
        if not match or (match.group(3) and not 1 <= int(match.group(3)) <= 65535):
            parser.error(f"--endpoint {args.endpoint!r} is not tcp://HOST:PORT (port 1-65535) or ipc://PATH")
        endpoint = args.endpoint
    else:
        if args.index < 0:
            parser.error(f"--index must be 0 or more, not {args.index}")
        port = args.port_base + args.index
        if not 1 <= args.port_base <= port <= 65535:
            parser.error(f"--port-base + --index = {port} is not a port (1-65535)")
        endpoint = f"tcp://{args.host}:{port}"
    return Settings(model_path=args.model, endpoint=endpoint, log_level=args.log_level)


class PredictorServer:
    """Serves one model on one REP socket until stopped."""

    def __init__(self, settings: Settings, model: Model):
        self.settings = settings
        self.model = model
        self.started = time.monotonic()
        self._stopping = False
        self._stop_reason = ""
        self._reload_wanted = False
        self._wake_r, self._wake_w = socket.socketpair()
        for s in (self._wake_r, self._wake_w):
            s.setblocking(False)
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.ROUTER)
        self._socket.setsockopt(zmq.MAXMSGSIZE, protocol.MAX_MESSAGE_BYTES)
        self._socket.setsockopt(zmq.LINGER, LINGER_MS)
        self._bad_messages = 0
        self._bad_reported = time.monotonic()

    def bind(self) -> None:
        """Bind the socket; raises zmq.ZMQError (address in use, no such interface ...)."""
        self._socket.bind(self.settings.endpoint)

    @property
    def wakeup_fd(self) -> int:
        """The fd to hand to signal.set_wakeup_fd so signals interrupt the poll at once."""
        return self._wake_w.fileno()

    def stop(self, reason: str = "asked to") -> None:
        """Ask the loop to end after the request in hand (safe from a signal handler)."""
        self._stop_reason = reason
        self._stopping = True
        self._wake()

    def request_reload(self) -> None:
        """Ask the loop to reload the model file between requests (safe from a signal handler)."""
        self._reload_wanted = True
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:  # the pipe is full: the loop is waking up anyway
            pass

    def reload(self) -> tuple[Model | None, str]:
        """Load the model file again and swap it in; (new model or None, message) for the log/reply."""
        from .model import Model, ModelFileError

        previous = self.model.version
        try:
            model = Model.load(self.settings.model_path)
        except ModelFileError as exc:
            log.error("reload failed, still serving model %s: %s", previous, exc)
            return None, str(exc)
        self.model = model  # one reference swap: a request sees the old model or the new, never a mix
        log.info("reloaded model %s (was %s)", model.version, previous)
        return model, previous

    def handle(self, frames: list[bytes]) -> bytes:
        """The reply to one received message; never raises."""
        try:
            request = protocol.decode_request(frames)
        except protocol.ProtocolError as exc:
            self._note_bad(exc)
            return protocol.encode(protocol.error_reply(exc.request_id, exc.code, exc.message))
        try:
            return protocol.encode(self._answer(request))
        except Exception:
            log.exception("internal error answering %s request %s", request.op, request.id)
            return protocol.encode(protocol.error_reply(request.id, protocol.INTERNAL, "internal error"))

    def _answer(self, request: protocol.Request) -> dict[str, object]:
        model = self.model
        if request.op == "predict":
            assert request.items is not None
            return protocol.ok_reply(request.id, results=model.predict(request.items), model_version=model.version)
        if request.op == "ping":
            return protocol.ok_reply(request.id, model_version=model.version, pid=os.getpid(),
                                     uptime_s=round(time.monotonic() - self.started, 3))
        loaded, detail = self.reload()
        if loaded is None:
            return protocol.error_reply(request.id, protocol.RELOAD_FAILED,
                                        f"{detail}; still serving model {model.version}")
        return protocol.ok_reply(request.id, model_version=loaded.version, previous_version=detail)

    def _note_bad(self, exc: protocol.ProtocolError) -> None:
        self._bad_messages += 1
        log.debug("bad message: %s", exc)
        now = time.monotonic()
        if now - self._bad_reported >= BAD_MESSAGE_REPORT_S:
            log.warning("answered %d bad messages with errors in %.0f s (last: %s)", self._bad_messages,
                        now - self._bad_reported, exc)
            self._bad_messages, self._bad_reported = 0, now

    def serve(self) -> None:
        """Answer requests until stop(); then close the socket (letting the last reply go)."""
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        poller.register(self._wake_r.fileno(), zmq.POLLIN)
        try:
            while not self._stopping:
                events = dict(poller.poll(POLL_INTERVAL_MS))
                if self._wake_r.fileno() in events:
                    self._drain_wakeups()
                if self._socket in events and not self._stopping:
                    try:
                        frames = self._socket.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        continue
                    self._answer_peer(frames)
                if self._reload_wanted and not self._stopping:
                    self._reload_wanted = False
                    self.reload()
        finally:
            self._socket.close()
            self._context.term()
            self._wake_r.close()
            self._wake_w.close()
        log.info("stopped (%s)", self._stop_reason)

    def _answer_peer(self, frames: list[bytes]) -> None:
        """Split a REQ peer's envelope (routing frames up to the empty delimiter) from its request and
        reply on the same envelope; a message without one comes from no REQ socket and is dropped."""
        try:
            bottom = frames.index(b"", 1)
        except ValueError:
            self._note_bad(protocol.ProtocolError(protocol.BAD_FRAME, "message without a REQ envelope; dropped"))
            return
        self._socket.send_multipart([*frames[: bottom + 1], self.handle(frames[bottom + 1:])])

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass


def main(argv: Sequence[str] | None = None) -> int:
    """`pnr-predictor`: serve a model file on one endpoint; exit 2 on bad settings or model file."""
    try:
        settings = parse_settings(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else 2
    logs.configure(settings.log_level)
    from .model import Model, ModelFileError

    try:
        model = Model.load(settings.model_path)
    except ModelFileError as exc:
        print(f"pnr-predictor: cannot load the model: {exc}", file=sys.stderr)
        return 2
    server = PredictorServer(settings, model)
    try:
        server.bind()
    except zmq.ZMQError as exc:
        print(f"pnr-predictor: cannot bind {settings.endpoint}: {exc}", file=sys.stderr)
        return 2

    def on_stop(signum: int, _frame: FrameType | None) -> None:
        server.stop(signal.Signals(signum).name)  # logged by the loop, not here: no I/O in a handler

    def on_reload(_signum: int, _frame: FrameType | None) -> None:
        server.request_reload()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_reload)
    signal.set_wakeup_fd(server.wakeup_fd, warn_on_full_buffer=False)
    log.info("listening on %s, model %s (%s)", settings.endpoint, model.version, settings.model_path)
    server.serve()
    return 0
