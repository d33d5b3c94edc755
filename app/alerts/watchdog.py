"""The worker timeout of a threaded gunicorn worker: a request running past PNR_WEB_TIMEOUT_S retires
its worker, as gunicorn's own timeout kills a sync worker, and is mailed the same way.

Under gthread the worker's main loop keeps telling the master it is alive while one of its threads
is stuck, so gunicorn's timeout never fires for a request. Instead, every request a worker serves
is noted when it starts: its thread, its monotonic start and, once the app has bound them, its
method and path, client and request id (`handler.request_context()`, noted by the app's first
hooks, since the watchdog's thread has no request context of its own). A daemon thread looks at
them every CHECK_EVERY_S. When one has run past the timeout, the watchdog

1. writes the record `worker_abort` writes for a sync worker (app/alerts/workers.py), with reason
   "timeout" and the stuck thread's stack first, for the master's `child_exit` to mail;
2. cuts the stuck visitor's connection, who gets no answer, as from a killed sync worker;
3. retires the worker gracefully: SIGTERM to itself, which is gunicorn's own graceful stop (no new
   connections; kept-alive ones are closed within seconds), waits until the worker's other
   requests and connections are done, at most graceful_timeout, and then ends the process with
   os._exit. The master starts another worker once this one is gone.

Graceful, because a threaded worker serves up to `threads` visitors at once, and ending it at once
would reset every one of them for the sake of the one that is stuck. os._exit at the end, because
nothing can stop the stuck thread (Python cannot interrupt a thread), and a normal exit would wait
for it forever: the interpreter joins its thread pool's threads before it exits.

A sync worker keeps gunicorn's own timeout and `worker_abort`; the watchdog runs in threaded
workers only. A streamed body is produced after the app returns and is not watched (the site
streams none).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)

CHECK_EVERY_S = 0.5
RETIRE_POLL_S = 0.1
ENVIRON_KEY = "pnr.in_flight"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# Writes the worker's record: reason, the request, the stuck threads (stacks first), other stuck requests.
RecordWriter = Callable[[str, dict[str, str], list[int], list[dict[str, str]]], None]


@dataclasses.dataclass
class InFlight:
    """A request being served: its thread, its start (monotonic), what it is and its connection."""

    thread: int
    started: float
    request: dict[str, str]
    connection: socket.socket | None = None


_lock = threading.Lock()
_in_flight: dict[int, InFlight] = {}  # thread ident -> the request it serves


def in_flight() -> list[InFlight]:
    """The requests being served now, oldest first."""
    with _lock:
        return sorted(_in_flight.values(), key=lambda e: e.started)


def wrap(wsgi: WsgiApp) -> WsgiApp:
    """`wsgi`, noting each request in flight for the watchdog."""
    def watched(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") + (f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else "")
        entry = InFlight(threading.get_ident(), time.monotonic(), {"request": f"{environ.get('REQUEST_METHOD')} {path}"},
                         environ.get("gunicorn.socket"))
        environ[ENVIRON_KEY] = entry
        with _lock:
            _in_flight[entry.thread] = entry
        try:
            return wsgi(environ, start_response)
        finally:
            with _lock:
                _in_flight.pop(entry.thread, None)
    return watched


def init_app(app: Any) -> None:
    """Note each request's method, path, client and request id for the watchdog; registered after
    the request id is bound (app/web/logs.py) and before any check that could hold a request."""
    app.before_request(_note_request)


def _note_request() -> None:
    from flask import request

    from .handler import request_context

    entry = request.environ.get(ENVIRON_KEY)
    if isinstance(entry, InFlight):
        entry.request = request_context()


def start(worker: Any, write_record: RecordWriter) -> None:
    """In a threaded gunicorn worker that has loaded the app (post_worker_init): watch its requests."""
    from gunicorn.workers.gthread import ThreadWorker

    timeout_s, graceful_s = float(worker.cfg.timeout), float(worker.cfg.graceful_timeout)
    if not isinstance(worker, ThreadWorker) or timeout_s <= 0:
        return  # a sync worker: gunicorn's own timeout and worker_abort
    worker.wsgi = wrap(worker.wsgi)
    threading.Thread(target=_watch, args=(worker, timeout_s, graceful_s, write_record), name="pnr-watchdog",
                     daemon=True).start()


def _watch(worker: Any, timeout_s: float, graceful_s: float, write_record: RecordWriter) -> None:
    while True:
        time.sleep(CHECK_EVERY_S)
        now = time.monotonic()
        stuck = [e for e in in_flight() if now - e.started > timeout_s]
        if stuck:
            _retire(worker, stuck, timeout_s, graceful_s, write_record)
            return


def _retire(worker: Any, stuck: list[InFlight], timeout_s: float, graceful_s: float,
            write_record: RecordWriter) -> None:
    """Record the stuck requests, cut their visitors off, let the others finish, then end the process."""
    write_record("timeout", stuck[0].request, [e.thread for e in stuck], [e.request for e in stuck[1:]])
    # A warning, not an error: the master mails the timeout (child_exit); an error here would mail it twice.
    log.warning("%s ran past the %g s timeout: worker %d stops taking requests and exits once its others are done",
                stuck[0].request.get("request", "a request"), timeout_s, os.getpid())
    for entry in stuck:
        if entry.connection is not None:
            _cut(entry.connection)
    os.kill(os.getpid(), signal.SIGTERM)  # gunicorn's graceful stop: the listeners are closed to this worker
    stuck_threads = {e.thread for e in stuck}
    until = time.monotonic() + graceful_s
    while time.monotonic() < until:
        current = in_flight()
        others = [e for e in current if e.thread not in stuck_threads]
        still_stuck = len(current) - len(others)
        # gthread counts every open connection, kept-alive ones included: wait for those too, so that
        # a request a client is sending on one meanwhile is answered, not reset.
        connections = getattr(worker, "nr_conns", len(current))
        if not others and connections <= still_stuck:
            break
        time.sleep(RETIRE_POLL_S)
    logging.shutdown()  # the error-mail handler spools what it has not sent
    os._exit(1)


def _cut(connection: socket.socket) -> None:
    """End a visitor's connection now (the stuck thread still holds the socket, so it is not closed);
    with linger 0 the process's exit resets it if the visitor has not gone."""
    try:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.shutdown(socket.SHUT_RDWR)
    except OSError as exc:
        log.info("could not cut the stuck request's connection: %s", exc)
