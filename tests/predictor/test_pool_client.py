"""The Lazy Pirate client over a pool of real daemons: failover, deadlines, stale replies, reloads."""
from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zmq
from support import free_port, wait_for

from predictor import protocol
from predictor.client import PredictorClient, PredictorError, PredictorUnavailable
from predictor.model import Model
from predictor.synthetic import random_items, reference_model

TIMEOUT_MS = 300
DEADLINE_MS = 1500
SLACK_S = 0.3
ITEMS = [{"id": "1", "train_number": "12001", "journey_class": "SL", "quota": "GN", "waitlist_type": "GNWL",
          "booking_position": 45, "current_position": 12, "hours_to_chart": 70.5},
         {"id": "2", "train_number": "12001", "journey_class": "SL", "quota": "GN", "waitlist_type": "GNWL",
          "booking_position": 45, "current_position": 13, "hours_to_chart": 70.5}]


@pytest.fixture
def clients() -> Iterator[Callable[..., PredictorClient]]:
    """`clients(endpoints, **options)`; every client made is closed afterwards."""
    made: list[PredictorClient] = []

    def make(endpoints: list[str], **options: int) -> PredictorClient:
        settings = {"request_timeout_ms": TIMEOUT_MS, "deadline_ms": DEADLINE_MS} | options
        client = PredictorClient(endpoints, **settings)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def _timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    return call(), time.monotonic() - started


def test_predict_and_ping_through_the_pool(daemons: Callable[..., Any], clients: Callable[..., PredictorClient],
                                           reference: Model) -> None:
    a, b = daemons(), daemons()
    client = clients([a.endpoint, b.endpoint])
    items = random_items(reference, 50, np.random.default_rng(4))
    assert client.predict(items) == reference.predict(items)
    pids = {client.ping()["pid"] for _ in range(4)}
    assert pids == {a.pid, b.pid}  # the first endpoint tried rotates from call to call
    assert client.ping(b.endpoint)["pid"] == b.pid


def test_a_daemon_killed_mid_request_is_replaced_within_the_deadline(
        daemons: Callable[..., Any], clients: Callable[..., PredictorClient], reference: Model) -> None:
    a, b = daemons(), daemons()
    client = clients([a.endpoint, b.endpoint])
    a.signal(signal.SIGSTOP)  # holds the request that will be sent to it
    outcome: dict[str, Any] = {}

    def call() -> None:
        outcome["results"], outcome["elapsed"] = _timed(lambda: client.predict(ITEMS))

    caller = threading.Thread(target=call)
    caller.start()  # a fresh client tries the first endpoint first
    wait_for(lambda: client._busy[a.endpoint], 5, "the request on its way to the frozen daemon")
    a.signal(signal.SIGKILL)
    caller.join(10)
    assert outcome["results"] == reference.predict(ITEMS)
    assert outcome["elapsed"] < DEADLINE_MS / 1000
    assert a.proc.wait(5) == -signal.SIGKILL
    for _ in range(4):  # and from then on, with the dead endpoint still in the pool
        results, elapsed = _timed(lambda: client.predict(ITEMS))
        assert results == reference.predict(ITEMS) and elapsed < DEADLINE_MS / 1000


def test_a_hung_daemon_is_skipped_within_the_deadline(
        daemons: Callable[..., Any], clients: Callable[..., PredictorClient], reference: Model) -> None:
    a, b = daemons(), daemons()
    client = clients([a.endpoint, b.endpoint])
    a.signal(signal.SIGSTOP)  # thawed by the fixture's teardown
    for _ in range(4):
        results, elapsed = _timed(lambda: client.predict(ITEMS))
        assert results == reference.predict(ITEMS)
        assert elapsed < TIMEOUT_MS / 1000 + 0.5
    assert b.ping() is not None


def test_a_silent_daemon_is_tried_last_for_a_while_and_again_after_it(
        daemons: Callable[..., Any], clients: Callable[..., PredictorClient], reference: Model,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A frozen predictor costs one call a timeout, not every other call for as long as it is frozen."""
    monkeypatch.setattr("predictor.client.SILENT_LAST_S", 5.0, raising=False)
    a, b = daemons(), daemons()
    client = clients([a.endpoint, b.endpoint], request_timeout_ms=1000, deadline_ms=5000)
    a.signal(signal.SIGSTOP)  # thawed by the fixture's teardown
    _, first = _timed(lambda: client.predict(ITEMS))  # a fresh client tries the first endpoint first
    assert first >= 1.0
    elapsed = [_timed(lambda: client.predict(ITEMS))[1] for _ in range(6)]
    assert max(elapsed) < 0.5, elapsed  # without the memory, every other call waited 1 s for the frozen one
    a.signal(signal.SIGCONT)
    wait_for(lambda: client.ping()["pid"] == a.pid, 15, "the thawed daemon back in the rotation")


@pytest.mark.parametrize("how", ["nothing listens", "all frozen"])
def test_unavailable_when_all_are_down_within_the_deadline(daemons: Callable[..., Any],
                                                           clients: Callable[..., PredictorClient], how: str) -> None:
    if how == "nothing listens":
        endpoints = [f"tcp://127.0.0.1:{free_port()}" for _ in range(3)]
    else:
        pool = [daemons(), daemons()]
        for daemon in pool:
            daemon.signal(signal.SIGSTOP)
        endpoints = [d.endpoint for d in pool]
    client = clients(endpoints)
    for call in (lambda: client.predict(ITEMS), client.ping):
        started = time.monotonic()
        with pytest.raises(PredictorUnavailable, match="within 1500 ms"):
            call()
        elapsed = time.monotonic() - started
        assert DEADLINE_MS / 1000 - 0.05 <= elapsed <= DEADLINE_MS / 1000 + SLACK_S


def _impostor(endpoint: str, stop: threading.Event, reply_id: str | None, body: bytes | None = None) -> None:
    """A REP peer that answers every request with the wrong id (or a given body)."""
    sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.REP)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(endpoint)
    try:
        while not stop.is_set():
            if sock.poll(50, zmq.POLLIN):
                sock.recv()
                sock.send(body or json.dumps({"v": 1, "id": reply_id, "ok": True, "results": []}).encode())
    finally:
        sock.close(linger=0)


@pytest.mark.parametrize("reply_id,body", [("someone-else", None), (None, None), (None, b"\xff not json")])
def test_a_reply_to_another_request_is_dropped(daemons: Callable[..., Any], clients: Callable[..., PredictorClient],
                                               reference: Model, reply_id: str | None, body: bytes | None) -> None:
    impostor = f"tcp://127.0.0.1:{free_port()}"
    stop = threading.Event()
    thread = threading.Thread(target=_impostor, args=(impostor, stop, reply_id, body))
    thread.start()
    try:
        client = clients([impostor, daemons().endpoint])
        assert client.predict(ITEMS) == reference.predict(ITEMS)  # first try: the impostor; then the daemon
    finally:
        stop.set()
        thread.join()


def test_an_error_reply_is_raised_not_retried(daemons: Callable[..., Any], clients: Callable[..., PredictorClient],
                                              model_file: Path) -> None:
    daemon = daemons()
    model_file.write_text("broken")
    client = clients([daemon.endpoint])
    replies = client.reload_all()
    assert replies[daemon.endpoint]["ok"] is False
    assert replies[daemon.endpoint]["error"]["code"] == protocol.RELOAD_FAILED
    with pytest.raises(ValueError):
        client.predict([{}] * (protocol.MAX_BATCH_ITEMS + 1))
    with pytest.raises(PredictorError) as caught:
        client._call("reload", None, [daemon.endpoint])
    assert caught.value.code == protocol.RELOAD_FAILED and isinstance(caught.value, PredictorUnavailable)


def test_reload_all_names_each_endpoint(daemons: Callable[..., Any], clients: Callable[..., PredictorClient],
                                        model_file: Path, reference: Model) -> None:
    a, b = daemons(), daemons()
    dead = f"tcp://127.0.0.1:{free_port()}"
    other = reference_model(trains=4, seed=5)
    other.save(model_file)
    replies = clients([a.endpoint, dead, b.endpoint], deadline_ms=400).reload_all()
    assert list(replies) == [a.endpoint, dead, b.endpoint]
    for endpoint in (a.endpoint, b.endpoint):
        assert replies[endpoint]["ok"] and replies[endpoint]["model_version"] == other.version
        assert replies[endpoint]["previous_version"] == reference.version
    assert replies[dead]["ok"] is False and replies[dead]["error"]["code"] == "unavailable"


def test_reload_under_load_drops_nothing(daemons: Callable[..., Any], clients: Callable[..., PredictorClient],
                                        model_file: Path, reference: Model) -> None:
    a, b = daemons(), daemons()
    other = reference_model(trains=4, seed=5)
    expected = {m.version: m.predict(ITEMS) for m in (reference, other)}
    hammer = clients([a.endpoint, b.endpoint], deadline_ms=5000)
    stop = threading.Event()
    answers: list[list[dict[str, Any]]] = []
    failures: list[BaseException] = []

    def hammering() -> None:
        while not stop.is_set():
            try:
                answers.append(hammer.predict(ITEMS))
            except BaseException as exc:  # noqa: BLE001 - any failure at all is what this test looks for
                failures.append(exc)

    thread = threading.Thread(target=hammering)
    thread.start()
    reloader = clients([a.endpoint, b.endpoint], deadline_ms=5000)
    try:
        for i in range(24):
            model = other if i % 2 == 0 else reference
            if i % 6 == 5:
                model_file.write_text("{truncated")  # a bad file: reload fails, the old model serves on
            else:
                model.save(model_file)
            if i % 3 == 0:
                a.signal(signal.SIGHUP)
                b.signal(signal.SIGHUP)
            else:
                for reply in reloader.reload_all().values():
                    assert reply["ok"] or reply["error"]["code"] == protocol.RELOAD_FAILED, reply
            count = len(answers)
            wait_for(lambda count=count: len(answers) > count + 2 or failures, 10, "predictions between reloads")
    finally:
        stop.set()
        thread.join(10)
    assert failures == []
    assert len(answers) > 50
    seen = {json.dumps(results, sort_keys=True) for results in answers}
    assert seen == {json.dumps(r, sort_keys=True) for r in expected.values()}  # each answer one model's, both seen
    assert a.proc.poll() is None and b.proc.poll() is None


def test_sixteen_threads_share_a_client_each_getting_its_own_answers(
        daemons: Callable[..., Any], clients: Callable[..., PredictorClient], reference: Model) -> None:
    """A web worker's threads call one client at once: no socket is shared, no answer crosses to
    another call, and a daemon frozen halfway costs nobody an answer."""
    a, b = daemons(), daemons()
    client = clients([a.endpoint, b.endpoint], deadline_ms=5000)
    batches = [random_items(reference, 1 + i % 5, np.random.default_rng(i)) for i in range(16)]
    expected = [reference.predict(items) for items in batches]
    start, halfway = threading.Barrier(16), threading.Barrier(17)
    wrong: list[tuple[int, Any]] = []

    def hammer(i: int) -> int:
        start.wait()
        for call in range(60):
            if call == 30:
                halfway.wait()
            results = client.predict(batches[i])
            if results != expected[i]:
                wrong.append((i, results))
        return call + 1

    with ThreadPoolExecutor(16) as pool:
        done = [pool.submit(hammer, i) for i in range(16)]
        halfway.wait(30)
        a.signal(signal.SIGSTOP)  # thawed by the fixture's teardown
        assert [f.result(60) for f in done] == [60] * 16
    assert wrong == []
    # Calls ran at once, each on a socket of its own: never more sockets to an endpoint than threads.
    assert sum(len(idle) for idle in client._idle.values()) > 1
    assert all(len(idle) <= 16 for idle in client._idle.values()) and not +client._busy


def test_bad_arguments() -> None:
    for endpoints in ([], "tcp://127.0.0.1:1", [""]):
        with pytest.raises(ValueError):
            PredictorClient(endpoints)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        PredictorClient(["tcp://127.0.0.1:1"], request_timeout_ms=0)
