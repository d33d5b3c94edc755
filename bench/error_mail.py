"""Request latency of a failing route with the SMTP server up, down and hung: error mail never waits.

    .venv/bin/python -m bench.error_mail [--requests 400]

Runs the real app (app.create_app) under gunicorn, two workers, with one extra route that always
raises: every request logs an ERROR with its traceback, which the error-mail handler turns into an
alert. Three such servers run side by side, one per SMTP server state (up: a local SMTP server;
down: nothing listening; hung: a socket that accepts and never answers, with the default 10 s SMTP
timeout), and requests go to them in turn, so that the machine's load falls on all three alike.
Done with flood control on (the default) and off (PNR_ALERT_DIGEST_S=0: every error is a mail);
prints each state's median and 90th percentile, and the median's ratio to SMTP up.
"""
from __future__ import annotations

import argparse
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from aiosmtpd.controller import Controller

from tests.support import free_port

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
START_DEADLINE_S = 60.0
WARM_UP_REQUESTS = 20
STATES = ("up", "down", "hung")


class _Accept:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"


@contextmanager
def smtp_server(state: str) -> Iterator[int]:
    """A port where SMTP is up, down or hung."""
    if state == "up":
        controller = Controller(_Accept(), hostname="127.0.0.1", port=free_port())
        controller.start()
        try:
            yield controller.port
        finally:
            controller.stop()
    elif state == "hung":
        with socket.socket() as hung:
            hung.bind(("127.0.0.1", 0))
            hung.listen(1024)
            yield hung.getsockname()[1]
    else:
        yield free_port()


def get(url: str) -> int:
    """One request's status."""
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


@contextmanager
def web(smtp_port: int, digest_s: str, var: Path) -> Iterator[str]:
    """gunicorn serving the tests' stand-in web app (the real app plus /boom); yields its base URL."""
    port = free_port()
    env = {
        **os.environ, "PNR_SMTP_PORT": str(smtp_port), "PNR_ALERT_DIGEST_S": digest_s, "PNR_VAR_DIR": str(var),
        "PNR_SECRET_KEY": secrets.token_urlsafe(24), "PNR_WEB_HOST": "127.0.0.1", "PNR_WEB_PORT": str(port),
        "PNR_WEB_WORKERS": "2",
    }
    env.pop("SUPERVISOR_PROCESS_NAME", None)
    proc = subprocess.Popen(
        [str(BIN / "gunicorn"), "--config", str(REPO / "etc" / "gunicorn.conf.py"), "--no-control-socket",
         "--chdir", str(REPO / "tests"), "standin_web:create()"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + START_DEADLINE_S
        while True:
            try:
                if get(url + "/healthz") == 200:
                    break
            except OSError:
                if time.monotonic() > end:
                    raise SystemExit("gunicorn did not answer") from None
                time.sleep(0.1)
        for _ in range(WARM_UP_REQUESTS):
            get(url + "/boom")
        yield url
    finally:
        proc.terminate()
        proc.wait(60)


def interleaved(urls: dict[str, str], requests: int) -> dict[str, list[float]]:
    """Seconds per failing request, for each server, taking turns in a random order."""
    times: dict[str, list[float]] = {state: [] for state in urls}
    order = list(urls)
    for _ in range(requests):
        random.shuffle(order)  # no state always first after a pause, or always last
        for state in order:
            url = urls[state]
            started = time.perf_counter()
            status = get(url + "/boom")
            times[state].append(time.perf_counter() - started)
            assert status == 500, status
    return times


def main(argv: list[str] | None = None) -> int:
    """Command line: --requests N."""
    parser = argparse.ArgumentParser(prog="bench.error_mail", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    requests = parser.parse_args(argv).requests
    print(f"GET /boom (500, an ERROR with traceback each), {requests} sequential requests, gunicorn 2 workers")
    for label, digest_s in (("flood control on (default)", "300"), ("every error mailed (PNR_ALERT_DIGEST_S=0)", "0")):
        print(label)
        with ExitStack() as stack:
            urls = {}
            for state in STATES:
                var = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-error-mail-")))
                urls[state] = stack.enter_context(web(stack.enter_context(smtp_server(state)), digest_s, var))
            times = interleaved(urls, requests)
        reference = statistics.median(times["up"])
        for state in STATES:
            median, p90 = statistics.median(times[state]), statistics.quantiles(times[state], n=10)[-1]
            print(f"  SMTP {state:<5} median {median * 1000:6.2f} ms   p90 {p90 * 1000:6.2f} ms   median / up {median / reference:5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
