"""Helpers for the site's tests (tests/app/web/ and tests/test_browser.py): real predictor daemons,
a model fitted on the simulator, the simulator read as the site reads it, a failing status API, and
reading pages and mails."""
from __future__ import annotations

import datetime as dt
import fcntl
import functools
import http.server
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from flask import Flask
from support import REPO, SmtpSink, consecutive_free_ports, send_json, wait_for

SIM_SEED = 2013
# Enough journeys for every class and quota, thinned to keep the fit to seconds: the site's tests
# need a real model, not a good one.
TRAIN_DATES = 30
TRAINING_ROWS = 200
PREDICTOR_START_DEADLINE_S = 30.0
# Generous limits for tests about other things; the rate-limit tests set their own.
UNLIMITED = {"RATE_LIMIT_LOOKUP": "100000/minute", "RATE_LIMIT_TRACK": "100000/minute",
             "RATE_LIMIT_TRACK_PER_ADDRESS": "100000/day"}
# make_site(**settings) -> a Flask app (tests/app/web/conftest.py)
SiteFactory = Callable[..., Flask]
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_LINK = re.compile(r"https?://\S+")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def train_model(path: Path) -> Path:
    """Fit a small model on the simulator's charted journeys and save it at `path`."""
    from predictor.fit import fit
    from railsim.railway import Railway

    rows = list(Railway(seed=SIM_SEED).charted_journeys(TRAIN_DATES, seed=SIM_SEED))
    fit(rows[:: max(1, len(rows) // TRAINING_ROWS)]).save(path)
    return path


def shared_model(basetemp: Path) -> Path:
    """The model of this test run: fitted by the first xdist worker that asks, under a lock, reused by
    the others. PNR_TEST_MODEL names a model file to use instead (fitting takes ~20 s when iterating)."""
    if os.environ.get("PNR_TEST_MODEL"):
        return Path(os.environ["PNR_TEST_MODEL"])
    # Under xdist every worker has its own basetemp inside the run's directory.
    directory = (basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp) / "pnr-web-model"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "model.json"
    with open(directory / "model.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            train_model(directory / "model.tmp.json").rename(path)
    return path


def site_config(var_dir: Path, mongo_uri: str, database: str, endpoints: list[str], smtp_port: int,
                railsim_port: int) -> dict[str, Any]:
    """Settings for create_app() or a gunicorn's environment (as PNR_*), wired to the test's servers:
    statuses from a real pnr-railsim of seed SIM_SEED, over HTTP as in production."""
    return {
        "SECRET_KEY": secrets.token_urlsafe(24), "VAR_DIR": str(var_dir),
        "MONGO_URI": mongo_uri, "MONGO_DB": database, "MONGO_TIMEOUT_MS": 500,
        "SOURCE": "http", "SIM_SEED": SIM_SEED, "SIM_ERA": "2015", "RAILSIM_PORT": railsim_port,
        "PREDICTOR_ENDPOINTS": endpoints, "PREDICTOR_TIMEOUT_MS": 300,
        "PREDICTOR_DEADLINE_MS": 900, "SMTP_PORT": smtp_port, "SMTP_TIMEOUT_S": 3.0,
        "ALERT_MAIL": False, "PUBLIC_URL": "http://pnr.test", **UNLIMITED,
        # Each lookup its own upstream call: these tests count calls and move a fake clock; the
        # sharing of one call by a crowd is tests/app/sources/test_guard.py's and bench/spike's.
        "UPSTREAM_SHARE_S": 0,
    }


class PredictorPool:
    """Real `python -m predictor` daemons on consecutive loopback ports."""

    def __init__(self, model: Path, log_dir: Path, size: int = 2):
        self.model, self.log_dir, self.size = model, log_dir, size
        self.base = consecutive_free_ports(size)
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def endpoints(self) -> list[str]:
        return [f"tcp://127.0.0.1:{self.base + i}" for i in range(self.size)]

    def start(self) -> PredictorPool:
        from predictor.client import PredictorClient

        for i in range(self.size):
            with open(self.log_dir / f"predictor-{self.base}-{i}.log", "ab") as log:
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-m", "predictor", "--host", "127.0.0.1", "--port-base", str(self.base),
                     "--index", str(i), "--model", str(self.model)],
                    cwd=REPO, stdout=subprocess.DEVNULL, stderr=log,
                ))
        with PredictorClient(self.endpoints, request_timeout_ms=200, deadline_ms=500) as client:
            for endpoint in self.endpoints:
                wait_for(lambda e=endpoint: client.ping(e), PREDICTOR_START_DEADLINE_S, f"predictor at {endpoint}")
        return self

    def signal(self, sig: int) -> None:
        """Send `sig` to every daemon (SIGSTOP freezes them, SIGCONT thaws)."""
        for proc in self.procs:
            if proc.poll() is None:
                os.kill(proc.pid, sig)

    def stop(self) -> None:
        self.signal(signal.SIGCONT)
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class RailwayReader:
    """railsim's library read through the site's own parser (app.services.sources.shapes): the statuses and
    histories the site gets from a `pnr-railsim` of the same seed and era, at any moment."""

    def __init__(self, seed: int = SIM_SEED, era: str = "2015") -> None:
        from railsim.railway import Railway

        self.railway = Railway(seed, era)

    def get_status(self, pnr: str, now: dt.datetime) -> Any:
        """The PnrStatus of `pnr` as of `now`."""
        from app.services.sources.shapes import to_status

        return to_status(self.railway.reply(pnr, now), pnr, now)

    def history(self, pnr: str, now: dt.datetime) -> list[Any]:
        """One PnrStatus per change up to `now`."""
        from app.services.sources.shapes import to_status
        from railsim.render import confirmtkt

        return [to_status(confirmtkt(a), pnr, a.as_of) for a in self.railway.history(pnr, now)]

    def sample_pnrs(self, now: dt.datetime, n: int) -> list[str]:
        """PNRs waitlisted at `now`, chart not prepared."""
        return self.railway.sample_pnrs(now, n)


def waitlisted_pnrs(app: Flask, n: int = 1, now: dt.datetime | None = None) -> list[str]:
    """PNRs the simulator has waitlisted, chart not prepared, at `now`: from railsim's library with the
    seed and era of the app's railsim (in this process, so that a long list costs the server nothing)."""
    return _reader(app.config["SIM_SEED"], app.config["SIM_ERA"]).sample_pnrs(now or utcnow(), n)


@functools.cache
def _reader(seed: int, era: str) -> RailwayReader:
    return RailwayReader(seed, era)


def csrf_token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = _CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def links(message: EmailMessage) -> list[str]:
    """Every address in a mail's text."""
    return _LINK.findall(message.get_content())


def mails_to(sink: SmtpSink, address: str) -> list[EmailMessage]:
    """The mails the sink received for one recipient, in order."""
    return [m for m in sink.received() if address.lower() in str(m["To"]).lower()]


class FailingApi:
    """A local PNR-status API (ConfirmTkt's JSON shape): serves `reply` until told to fail with 500s;
    counts the requests it gets."""

    def __init__(self) -> None:
        self.failing = False
        self.requests = 0
        self.reply: dict[str, Any] | None = None
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                api.requests += 1
                status, body = (500, {"error": "internal"}) if api.failing or api.reply is None else (200, api.reply)
                send_json(self, status, body)

            def log_message(self, format: str, *args: Any) -> None:
                """No access log in the test output."""

        return Handler

    def start(self) -> FailingApi:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


def confirmtkt_reply(pnr: str, journey: dt.date, booking: int, current: int) -> dict[str, Any]:
    """A ConfirmTkt-shaped reply: one SL passenger, GNWL `booking` now at `current`."""
    return {
        "Pnr": pnr, "TrainNo": "12951", "TrainName": "MUMBAI RAJDHANI", "Doj": journey.strftime("%d-%m-%Y"),
        "BookingDate": (journey - dt.timedelta(days=30)).strftime("%d-%m-%Y"), "Quota": "GN",
        "From": "BCT", "To": "NDLS", "BoardingPoint": "BCT", "ReservationUpto": "NDLS", "Class": "SL",
        "ChartPrepared": False, "TrainCancelledFlag": False, "PassengerCount": 1,
        "PassengerStatus": [{"Number": 1, "BookingStatus": f"GNWL {booking}", "CurrentStatus": f"GNWL {current}",
                             "Coach": "", "Berth": 0}],
        "DepartureTime": "17:00", "Error": None, "ErrorCode": 0,
    }


def as_environment(settings: dict[str, Any]) -> dict[str, str]:
    """Settings as the PNR_* variables of etc/pnr.env."""
    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return ",".join(value)
        return str(value)

    return {f"PNR_{name}": text(value) for name, value in settings.items()}


class Gunicorn:
    """The web program as supervisord runs it: gunicorn serving app:create_app() on a loopback port."""

    def __init__(self, settings: dict[str, Any], log_path: Path, workers: int = 2):
        from support import BIN, free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {k: v for k, v in os.environ.items() if not k.startswith("PNR_")}
        self.env = {**env, **as_environment({**settings, "PUBLIC_URL": self.url}), "PATH": f"{BIN}:{env['PATH']}"}
        self.command = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers),
                        "--graceful-timeout", "5", "app:create_app()"]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Gunicorn:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.command, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        wait_for(lambda: self.get("/healthz")[0] == 200, 30, f"gunicorn on {self.port} (log: {self.log_path})")
        return self

    def get(self, path: str) -> tuple[int, str]:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(self.url + path, timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
