"""The clients of one process (app.services): made once however many threads ask at once."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from app import services


def test_a_client_asked_for_by_sixteen_threads_at_once_is_made_once() -> None:
    current = services.Services({})
    made: list[object] = []
    asked = threading.Barrier(16)

    def make() -> object:
        time.sleep(0.05)  # making a client takes a while (a MongoClient starts its monitor): others ask meanwhile
        made.append(client := object())
        return client

    def ask(_: int) -> object:
        asked.wait()
        return current.shared("pnr_thing", make)

    with ThreadPoolExecutor(16) as pool:
        got = set(map(id, pool.map(ask, range(16))))
    assert len(made) == 1 and got == {id(made[0])} and current.extensions["pnr_thing"] is made[0]
