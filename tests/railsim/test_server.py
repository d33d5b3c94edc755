"""`pnr-railsim` as supervisord runs it: a real process on a free loopback port."""
from __future__ import annotations

import datetime as dt
import http.client
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import BIN, Railsim, free_port

from app.domain.pnr import InvalidPnr, PnrNotFound
from app.services.sources.shapes import to_status
from railsim.railway import Railway

SEED = 2013


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Railsim]:
    """A railsim of this module's own, which its tests may stop."""
    proc = Railsim(tmp_path_factory.mktemp("railsim") / "railsim.log", SEED).start()
    yield proc
    proc.stop()


def _raw(port: int, request: bytes) -> bytes:
    """What the server answers to bytes that may not be HTTP at all."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_a_sampled_pnr_is_answered_in_the_confirmtkt_shape_as_of_now(server: Railsim) -> None:
    now = dt.datetime.now(dt.UTC)
    pnr = Railway(SEED).sample_pnrs(now, 1)[0]  # the library with the server's seed knows its PNRs
    code, reply = server.get(f"/pnr-status/pnr/{pnr}/apikey/any-key-at-all/")
    assert code == 200 and reply["Pnr"] == pnr and reply["ErrorCode"] == 0
    status = to_status(reply, pnr, now)
    assert status.pnr == pnr and status.passengers and not status.chart_prepared
    code, sample = server.get("/sample?n=3")
    assert code == 200 and len(sample["pnrs"]) == 3
    code, history = server.get(f"/history/{pnr}")
    assert code == 200 and history["history"] and history["history"][0]["reply"]["Pnr"] == pnr


def test_the_moment_asked_for_is_answered(server: Railsim) -> None:
    now = dt.datetime.now(dt.UTC)
    railway = Railway(SEED)
    pnr = railway.sample_pnrs(now, 1)[0]
    after_chart = railway.status(pnr, now).chart_time + dt.timedelta(hours=1)
    code, reply = server.get(f"/pnr-status/pnr/{pnr}/apikey/k/?at={after_chart.isoformat().replace('+', '%2B')}")
    assert code == 200 and reply["ChartPrepared"] is True and reply == railway.reply(pnr, after_chart)


def test_bad_and_unknown_pnrs_get_the_shapes_error_answers(server: Railsim) -> None:
    code, invalid = server.get("/pnr-status/pnr/0123456789/apikey/k/")
    assert code == 200 and invalid["ErrorCode"] == 301
    with pytest.raises(InvalidPnr):
        to_status(invalid, "0123456789", dt.datetime.now(dt.UTC))
    at = dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.UTC)
    railway = Railway(SEED)
    unknown = next(p for p in (str(2400000000 + i * 7919) for i in range(2000)) if railway.reply(p, at)["ErrorCode"])
    code, missing = server.get(f"/pnr-status/pnr/{unknown}/apikey/k/?at={at.isoformat().replace('+', '%2B')}")
    assert code == 200 and missing == railway.reply(unknown, at)
    with pytest.raises(PnrNotFound):
        to_status(missing, unknown, at)
    assert server.get(f"/history/{unknown}?at={at.isoformat().replace('+', '%2B')}")[0] == 404


def test_garbage_gets_a_4xx_json_error_and_the_server_keeps_serving(server: Railsim) -> None:
    for path, status in (("/nowhere", 404), ("/sample?n=0", 400), ("/sample?n=x", 400),
                         ("/pnr-status/pnr/2412345678/apikey/k/?at=yesterday", 400), ("/history/12", 400)):
        code, body = server.get(path)
        assert code == status and "error" in body, path
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("POST", "/healthz", body=b"{}")
    response = conn.getresponse()
    assert response.status == 405 and b"error" in response.read()
    conn.close()
    for junk in (b"GARBAGE\r\n\r\n", b"\x00\xff\x10 nonsense", b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n"):
        answer = _raw(server.port, junk)
        assert answer == b"" or answer.split(b" ", 2)[1].startswith(b"4"), answer[:80]
    assert server.get("/healthz") == (200, {"status": "ok", "seed": SEED, "era": "2015"})


def test_sigterm_stops_it_cleanly_with_one_line_each_for_start_and_stop(tmp_path: Path) -> None:
    proc = Railsim(tmp_path / "railsim.log", SEED).start()
    assert proc.get("/healthz")[0] == 200
    assert proc.proc is not None
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.proc.wait(10) == 0
    lines = (tmp_path / "railsim.log").read_text().splitlines()
    assert len(lines) == 2 and "serving seed 2013, era 2015 on http://127.0.0.1:" in lines[0] and "stopped (SIGTERM)" in lines[1]


def test_bad_settings_and_a_taken_port_exit_2_with_a_message(tmp_path: Path) -> None:
    for args in (["--era", "1999"], ["--port", "70000"], ["--path-template", "/no/pnr/here"]):
        done = subprocess.run([str(BIN / "pnr-railsim"), *args], capture_output=True, text=True, timeout=30)
        assert done.returncode == 2 and "pnr-railsim" in done.stderr, args
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        done = subprocess.run([str(BIN / "pnr-railsim"), "--port", str(port)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in done.stderr
