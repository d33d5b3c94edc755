"""The dead man's switch outside the host: the listener's TICKs GET PNR_HEARTBEAT_URL once per
interval, from a thread; a URL that does not answer is logged, never raised, and holds no event."""
from __future__ import annotations

import http.server
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alertkit import mail_settings
from support import free_port

from app.alerts.outside import Pinger
from app.ops.listener import Listener


@pytest.fixture
def ping_server() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/ping/0f3c", hits
    server.shutdown()
    server.server_close()


def test_the_url_is_got_once_per_interval(ping_server: tuple[str, list[str]]) -> None:
    url, hits = ping_server
    pinger = Pinger(url, every_s=60)
    first = pinger.tick(now=1000.0)
    assert first is not None
    first.join(10)
    assert pinger.tick(now=1005.0) is None and pinger.tick(now=1059.9) is None
    second = pinger.tick(now=1060.0)
    assert second is not None
    second.join(10)
    assert hits == ["/ping/0f3c", "/ping/0f3c"]


def test_the_listeners_tick_pings_and_an_unset_url_pings_nothing(ping_server: tuple[str, list[str]], tmp_path: Path) -> None:
    url, hits = ping_server
    listener = Listener(mail_settings(free_port(), tmp_path), rpc=None, host="web1", pinger=Pinger(url, 60))
    listener.handle("TICK_5", "when:1764800000")
    listener.handle("TICK_5", "when:1764800005")  # within the interval: no second ping
    for thread in threading.enumerate():
        if thread.name == "pnr-heartbeat-url":
            thread.join(10)
    assert hits == ["/ping/0f3c"] and listener.pinger.sent == 1
    assert Pinger("", 60).tick() is None


def test_a_dead_url_is_logged_and_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    dead = Pinger(f"http://127.0.0.1:{free_port()}/ping", every_s=60)
    with caplog.at_level(logging.WARNING, logger="app.alerts.outside"):
        thread = dead.tick()
        assert thread is not None
        thread.join(15)
    assert any("heartbeat URL http://127.0.0.1:" in r.getMessage() and "not reached" in r.getMessage() for r in caplog.records)
