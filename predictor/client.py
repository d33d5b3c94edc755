"""The web app's client for the predictor pool: Lazy Pirate over every endpoint (ZeroMQ guide, ch. 4).

A call sends the request on a REQ socket and polls for the reply; on silence it closes that socket
with linger 0 (dropping the request), opens one to the next endpoint and sends again, until one total
deadline per call; then it raises PredictorUnavailable. The first endpoint tried rotates from call to
call to spread the load. Requests are idempotent, so a retry served twice does no harm.

An endpoint that stayed silent is tried last for the next SILENT_LAST_S: a frozen or restarting
predictor would otherwise cost every other call a whole request timeout before its retry. It is
still tried (last) when the others fail, and first again once the time is up, so a predictor that
comes back gets its share of calls within SILENT_LAST_S.

One client per process, made after gunicorn forks (ZeroMQ sockets must not cross a fork); a client
used in a child of the process that made it drops the parent's sockets and starts afresh. The
threads of a web worker call it at once: a REQ socket is not thread-safe and carries one request at
a time, so each attempt takes a socket of its own from a pool per endpoint (made when none is idle,
put back after a reply, closed on silence), and the pool grows to the number of calls made at once.
One lock guards the pool, the rotation and the silent endpoints; it is never held across a wait.
"""
from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any, Self

import zmq

from . import protocol

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_MS = 300
DEADLINE_MS = 1500
SILENT_LAST_S = 1.0


class PredictorUnavailable(Exception):
    """No predictor answered within the deadline (or one answered with an error, see PredictorError)."""


class PredictorError(PredictorUnavailable):
    """A predictor answered with an error reply; `code` is the protocol's error code."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


class PredictorClient:
    """Lazy Pirate client over a pool of predictor endpoints."""

    def __init__(self, endpoints: Sequence[str], *, request_timeout_ms: int = REQUEST_TIMEOUT_MS,
                 deadline_ms: int = DEADLINE_MS):
        if isinstance(endpoints, str) or not endpoints or not all(isinstance(e, str) and e for e in endpoints):
            raise ValueError("endpoints must be a non-empty list of ZeroMQ endpoints")
        if request_timeout_ms <= 0 or deadline_ms <= 0:
            raise ValueError("request_timeout_ms and deadline_ms must be positive")
        self.endpoints = list(endpoints)
        self.request_timeout_ms = request_timeout_ms
        self.deadline_ms = deadline_ms
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._context: zmq.Context | None = None
        self._idle: dict[str, list[zmq.Socket]] = {}  # endpoint -> sockets with no request on them
        self._busy: collections.Counter[str] = collections.Counter()  # endpoint -> sockets out on a call
        self._next = 0
        self._silent_until: dict[str, float] = {}  # endpoint -> monotonic time until which it is tried last

    def predict(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Predictions for a batch of items, in order (an invalid item gets {"id", "error"})."""
        if len(items) > protocol.MAX_BATCH_ITEMS:
            raise ValueError(f"at most {protocol.MAX_BATCH_ITEMS} items per call")
        reply = self._call("predict", items, self.endpoints)
        results = reply.get("results")
        if not isinstance(results, list) or len(results) != len(items):
            raise PredictorError(protocol.BAD_REQUEST, "reply has no result per item")
        return results

    def ping(self, endpoint: str | None = None) -> dict[str, Any]:
        """Health of one endpoint (retried there until the deadline), or of whichever answers first."""
        return self._call("ping", None, [endpoint] if endpoint else self.endpoints)

    def reload_all(self) -> dict[str, dict[str, Any]]:
        """Ask every endpoint to reload its model file: endpoint -> its reply, or an error reply."""
        out: dict[str, dict[str, Any]] = {}
        for endpoint in self.endpoints:
            try:
                out[endpoint] = self._call("reload", None, [endpoint])
            except PredictorError as exc:
                out[endpoint] = protocol.error_reply(None, exc.code, str(exc))
            except PredictorUnavailable as exc:
                out[endpoint] = protocol.error_reply(None, "unavailable", str(exc))
        return out

    def close(self) -> None:
        """Close every idle socket at once (linger 0), and the context unless a call still has a
        socket out (that call closes its own: terminating the context now would wait for it)."""
        with self._lock:
            self._after_fork()
            for socks in self._idle.values():
                for sock in socks:
                    sock.close(linger=0)
            self._idle.clear()
            if self._context is not None and not +self._busy:
                self._context.term()
                self._context = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, op: str, items: list[Any] | None, endpoints: list[str]) -> dict[str, Any]:
        request_id, payload = protocol.encode_request(op, items)
        if len(payload) > protocol.MAX_MESSAGE_BYTES:
            raise ValueError(f"request is larger than {protocol.MAX_MESSAGE_BYTES} bytes")
        deadline = time.monotonic() + self.deadline_ms / 1000
        with self._lock:
            self._after_fork()
            order = self._order(endpoints)
        attempt, tried = 0, []
        while (remaining := deadline - time.monotonic()) > 0:
            endpoint = order[attempt % len(order)]
            attempt += 1
            tried.append(endpoint)
            reply = self._try(endpoint, payload, request_id, min(self.request_timeout_ms / 1000, remaining))
            with self._lock:
                if reply is None:
                    self._silent_until[endpoint] = time.monotonic() + SILENT_LAST_S
                else:
                    self._silent_until.pop(endpoint, None)
            if reply is not None:
                if not reply["ok"]:
                    error = reply["error"]
                    raise PredictorError(error["code"], str(error.get("message", "")))
                return reply
        raise PredictorUnavailable(f"no predictor answered {op} within {self.deadline_ms} ms "
                                   f"({attempt} attempts over {', '.join(sorted(set(tried)))})")

    def _order(self, endpoints: list[str]) -> list[str]:
        """This call's endpoints: rotated by one from the last call's, the recently silent ones last."""
        start = self._next % len(endpoints)
        self._next += 1
        rotated = endpoints[start:] + endpoints[:start]
        now = time.monotonic()
        return sorted(rotated, key=lambda e: self._silent_until.get(e, 0.0) > now)

    def _try(self, endpoint: str, payload: bytes, request_id: str, timeout_s: float) -> dict[str, Any] | None:
        """One attempt on one endpoint: the reply, or None after closing the socket on silence."""
        sock = self._take(endpoint)
        try:
            sock.send(payload, zmq.NOBLOCK)
            end = time.monotonic() + timeout_s
            while (left := end - time.monotonic()) > 0:
                if not sock.poll(max(1, int(left * 1000)), zmq.POLLIN):
                    continue
                frames = sock.recv_multipart()
                try:
                    reply = protocol.decode_reply(frames)
                except protocol.ProtocolError as exc:
                    log.warning("predictor %s sent a bad reply: %s", endpoint, exc)
                    break
                if reply.get("id") not in (request_id, None):
                    log.warning("predictor %s answered another request (%s); dropping it", endpoint, reply.get("id"))
                    break
                if reply.get("id") is None and reply["ok"]:
                    break
                self._give_back(endpoint, sock)
                return reply
        except zmq.ZMQError as exc:
            log.warning("predictor %s: %s", endpoint, exc)
        # Lazy Pirate: a REQ socket that got no reply cannot send again; throw it away, request and all.
        self._give_back(endpoint, sock, discard=True)
        log.info("predictor %s did not answer within %.0f ms", endpoint, timeout_s * 1000)
        return None

    def _take(self, endpoint: str) -> zmq.Socket:
        """An idle socket to `endpoint`, or a new one; this call's alone until given back."""
        with self._lock:
            self._after_fork()
            self._busy[endpoint] += 1
            idle = self._idle.get(endpoint)
            if idle:
                return idle.pop()
            if self._context is None:
                self._context = zmq.Context()
            context = self._context
        try:
            sock = context.socket(zmq.REQ)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.MAXMSGSIZE, 4 * protocol.MAX_MESSAGE_BYTES)
            sock.connect(endpoint)
        except zmq.ZMQError:
            with self._lock:
                self._busy[endpoint] -= 1
            raise
        return sock

    def _give_back(self, endpoint: str, sock: zmq.Socket, discard: bool = False) -> None:
        """Back to the idle pool after a reply; closed after silence, or when the client was closed
        or forked meanwhile."""
        with self._lock:
            if os.getpid() != self._pid:
                return
            self._busy[endpoint] -= 1
            if not discard and self._context is not None:
                self._idle.setdefault(endpoint, []).append(sock)
                return
        sock.close(linger=0)

    def _after_fork(self) -> None:
        """In a forked child, forget (never close) the parent's sockets and context."""
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._idle = {}
            self._busy = collections.Counter()
            self._context = None
