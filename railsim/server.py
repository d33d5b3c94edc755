"""The railway over HTTP: a PNR-status API in ConfirmTkt's JSON shape (see `render`), on 127.0.0.1.

    GET <path template>          e.g. /pnr-status/pnr/2412345678/apikey/anything/: the status now
    GET /history/<pnr>           every status the PNR has had so far, oldest first
    GET /sample?n=5              a few PNRs waitlisted now, chart not prepared (a dev and test tool)
    GET /healthz                 200 while serving

Statuses are as of the wall clock. `?at=<ISO 8601 time>` asks for another moment instead: the
tests' and demos' way to look past the next change or the chart; a real status API has no such
thing, and the site sends it only to railsim. Any API key is accepted: there is nothing to meter.
A request railsim cannot read gets a 4xx JSON error and the server goes on serving.

`--latency-ms` and `--hang-share` (PNR_SIM_LATENCY_MS, PNR_SIM_HANG_SHARE) make the status route
behave like a real API: every answer waits that long, and that share of them hangs for HANG_S, so
anyone can watch the site under a slow upstream on one machine.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import http.server
import json
import logging
import random
import re
import threading
import time
import urllib.parse
from typing import Any

from .pnrs import InvalidPnr, PnrNotFound
from .railway import Railway
from .render import confirmtkt

log = logging.getLogger(__name__)

DEFAULT_PATH_TEMPLATE = "/pnr-status/pnr/{pnr}/apikey/{key}/"
HISTORY_PREFIX = "/history/"
MAX_SAMPLE_PNRS = 50
SHUTDOWN_POLL_S = 0.1
JSON_TYPE = "application/json"
HANG_S = 60.0


class BadRequest(ValueError):
    """A request railsim cannot read; the message says what is wrong with it."""


def path_pattern(template: str) -> re.Pattern[str]:
    """The regular expression of a path template with `{pnr}` and optionally `{key}` (trailing "/" optional)."""
    if "{pnr}" not in template or not template.startswith("/"):
        raise ValueError(f"the path template must start with / and contain {{pnr}}: {template!r}")
    parts = re.split(r"(\{pnr\}|\{key\})", template.rstrip("/"))
    body = "".join(f"(?P<{p[1:-1]}>[^/]*)" if p in ("{pnr}", "{key}") else re.escape(p) for p in parts)
    return re.compile(body + "/?")


def parse_time(query: dict[str, list[str]]) -> dt.datetime:
    """The moment a request asks about: `at` (ISO 8601; naive is UTC), else the wall clock."""
    values = query.get("at")
    if not values:
        return dt.datetime.now(dt.UTC)
    try:
        when = dt.datetime.fromisoformat(values[-1])
    except ValueError:
        raise BadRequest(f"at must be an ISO 8601 time, not {values[-1]!r}") from None
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


@dataclasses.dataclass
class Api:
    """What each route answers: (HTTP status, JSON body)."""

    railway: Railway
    pattern: re.Pattern[str]
    latency_s: float = 0.0
    hang_share: float = 0.0

    def _delay(self) -> None:
        """A real API's wait: latency_s, or HANG_S for hang_share of the answers."""
        if self.hang_share and random.random() < self.hang_share:  # noqa: S311 - a demo's dice
            time.sleep(HANG_S)
        elif self.latency_s:
            time.sleep(self.latency_s)

    def answer(self, target: str) -> tuple[int, Any]:
        """The reply to a GET of `target` (path and query)."""
        url = urllib.parse.urlsplit(target)
        path = urllib.parse.unquote(url.path)
        try:
            query = urllib.parse.parse_qs(url.query, strict_parsing=bool(url.query))
        except ValueError:
            raise BadRequest(f"unreadable query string {url.query!r}") from None
        if path == "/healthz":
            return 200, {"status": "ok", "seed": self.railway.config.seed, "era": self.railway.config.era}
        if path == "/sample":
            return 200, {"pnrs": self.railway.sample_pnrs(parse_time(query), _count(query))}
        if path.startswith(HISTORY_PREFIX):
            return self._history(path[len(HISTORY_PREFIX):], parse_time(query))
        found = self.pattern.fullmatch(path)
        if found is None:
            return 404, {"error": f"no such resource: {path}"}
        self._delay()
        return 200, self.railway.reply(found["pnr"], parse_time(query))

    def _history(self, pnr: str, now: dt.datetime) -> tuple[int, Any]:
        try:
            history = self.railway.history(pnr, now)
        except InvalidPnr as exc:
            return 400, {"error": str(exc)}
        except PnrNotFound as exc:
            return 404, {"error": str(exc)}
        return 200, {"pnr": pnr, "history": [{"as_of": a.as_of.isoformat(), "reply": confirmtkt(a)} for a in history]}


def _count(query: dict[str, list[str]]) -> int:
    text = (query.get("n") or ["5"])[-1]
    if not text.isdigit() or not 1 <= int(text) <= MAX_SAMPLE_PNRS:
        raise BadRequest(f"n must be a whole number from 1 to {MAX_SAMPLE_PNRS}, not {text!r}")
    return int(text)


class Handler(http.server.BaseHTTPRequestHandler):
    """One request; errors of every kind, the server's own included, are JSON."""

    protocol_version = "HTTP/1.1"
    server_version = "railsim"
    # Not HTTP/0.9's bare body: a request line too garbled to name a version still gets a status line.
    default_request_version = "HTTP/1.0"
    # send_error's body: its message is HTML-escaped, which leaves valid JSON.
    error_content_type = JSON_TYPE
    error_message_format = '{"error": "%(message)s", "code": %(code)d}'
    # Headers and body go out as two writes: with Nagle's algorithm the body waited for the client's
    # delayed ACK of the headers, 40 ms on every answer of a kept-alive connection.
    disable_nagle_algorithm = True
    api: Api
    access_log = False

    def do_GET(self) -> None:
        """Answer from the Api; a BadRequest is a 400, anything unexpected a 500 (and logged)."""
        try:
            status, body = self.api.answer(self.path)
        except BadRequest as exc:
            status, body = 400, {"error": str(exc)}
        except Exception:
            log.exception("failed to answer %s", self.path)
            status, body = 500, {"error": "railsim failed to answer; see its log"}
        self._send(status, body)

    def _refuse(self) -> None:
        self._send(405, {"error": f"{self.command} is not served; railsim answers GET only"}, {"Allow": "GET"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", JSON_TYPE)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """The access log, off unless asked for (--access-log)."""
        if self.access_log:
            log.info("%s %s", self.address_string(), format % args)


class RailsimServer:
    """A threading HTTP server around one Railway; `serve` blocks until `stop`."""

    def __init__(self, railway: Railway, host: str, port: int, path_template: str = DEFAULT_PATH_TEMPLATE,
                 access_log: bool = False, latency_s: float = 0.0, hang_share: float = 0.0) -> None:
        api = Api(railway, path_pattern(path_template), latency_s, hang_share)
        handler = type("RailsimHandler", (Handler,), {"api": api, "access_log": access_log})
        self.httpd = http.server.ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._stopped = threading.Event()

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) as bound: port 0 becomes the one the system chose."""
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    def serve(self) -> None:
        """Serve in a thread until `stop` is called (from a signal handler too), then close."""
        thread = threading.Thread(target=self.httpd.serve_forever, args=(SHUTDOWN_POLL_S,), name="railsim-http")
        thread.start()
        self._stopped.wait()
        self.httpd.shutdown()
        thread.join()
        self.httpd.server_close()

    def stop(self) -> None:
        """Ask `serve` to return; safe in a signal handler (it only sets an event)."""
        self._stopped.set()
