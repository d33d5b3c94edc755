"""The host's shared rate-limit counts: one count for every process, a moving window, no lost grants."""
from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pymongo
from support import MongoServer, wait_for

from app.web.counts import HostCounts, SharedCounts


def counts(tmp_path: Path) -> HostCounts:
    return HostCounts(f"pnr+sqlite://{tmp_path / 'run' / 'ratelimit.sqlite3'}")


MINUTE, HOUR = ("pnr/203.0.113.9/lookup/60/1/minute", 60, 60), ("pnr/203.0.113.9/lookup/100/1/hour", 100, 3600)


def _grab(path: str, attempts: int, both: bool, start: multiprocessing.synchronize.Event,  # type: ignore[name-defined]
          granted: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    storage = HostCounts(f"pnr+sqlite://{path}")
    start.wait()
    if both:
        granted.put(sum(storage.acquire_entries([MINUTE, HOUR]) for _ in range(attempts)))
    else:
        granted.put(sum(storage.acquire_entry(*MINUTE) for _ in range(attempts)))


def race(tmp_path: Path, both: bool) -> list[int]:
    """Three processes, 50 attempts each, all at once."""
    path = str(tmp_path / "run" / "ratelimit.sqlite3")
    ctx = multiprocessing.get_context("fork")
    start, granted = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_grab, args=(path, 50, both, start, granted)) for _ in range(3)]
    for p in procs:
        p.start()
    start.set()
    results = [granted.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(30)
    return results


def test_processes_racing_for_one_count_are_granted_exactly_the_limit(tmp_path: Path) -> None:
    results = race(tmp_path, both=False)
    assert sum(results) == 60, results
    assert counts(tmp_path).get_moving_window(*MINUTE)[1] == 60


def test_a_lookup_counted_in_two_windows_at_once_is_all_or_none(tmp_path: Path) -> None:
    results = race(tmp_path, both=True)
    storage = counts(tmp_path)
    # The minute's 60 were granted; the 90 refused spent nothing of the hour either.
    assert sum(results) == 60, results
    assert storage.get_moving_window(*MINUTE)[1] == 60 and storage.get_moving_window(*HOUR)[1] == 60
    assert not storage.acquire_entries([HOUR, MINUTE])
    assert storage.acquire_entries([HOUR]) and storage.get_moving_window(*HOUR)[1] == 61


def test_the_window_moves_and_keys_are_apart(tmp_path: Path) -> None:
    storage = counts(tmp_path)
    before = time.time()
    assert [storage.acquire_entry("a", 2, 1) for _ in range(3)] == [True, True, False]
    assert storage.acquire_entry("b", 2, 1)  # another client has its own count
    oldest, taken = storage.get_moving_window("a", 2, 1)
    assert taken == 2 and before <= oldest <= time.time()
    assert not storage.acquire_entry("a", 5, 1, amount=6)  # more than the limit at once: never
    # One second after the first two, the window has moved past them.
    wait_for(lambda: storage.acquire_entry("a", 2, 1), 5, "the moving window to free an entry")
    assert storage.get_moving_window("a", 2, 1)[1] == 1


def test_a_fresh_process_counts_where_its_parent_left_off(tmp_path: Path) -> None:
    """gunicorn builds the app (and its storage) before it forks: each worker must open its own
    connection to the one file, not share the parent's."""
    storage = counts(tmp_path)
    assert storage.acquire_entry("k", 2, 60)
    ctx = multiprocessing.get_context("fork")
    granted = ctx.Queue()
    child = ctx.Process(target=lambda: granted.put([storage.acquire_entry("k", 2, 60) for _ in range(2)]))
    child.start()
    assert granted.get(timeout=30) == [True, False]
    child.join(30)
    assert not storage.acquire_entry("k", 2, 60)


def test_fixed_window_counters_expire(tmp_path: Path) -> None:
    storage = counts(tmp_path)
    assert [storage.incr("w", 1) for _ in range(3)] == [1, 2, 3]
    assert storage.get("w") == 3 and storage.get_expiry("w") > time.time()
    wait_for(lambda: storage.get("w") == 0, 5, "the counter's window to end")
    assert storage.incr("w", 60) == 1
    storage.clear("w")
    assert storage.get("w") == 0 and storage.check()


def test_the_store_counts_of_sixteen_threads_asking_at_once_share_one_client(shared_mongo: MongoServer) -> None:
    made: list[pymongo.MongoClient] = []

    class Counted(SharedCounts):
        def _init_mongo_client(self, uri: str | None, **options: Any) -> pymongo.MongoClient:
            made.append(client := super()._init_mongo_client(uri, **options))
            return client

    storage = Counted(SharedCounts.SCHEME_PREFIX + shared_mongo.uri, database_name=f"counts_{uuid.uuid4().hex[:8]}")
    asked = threading.Barrier(16)

    def count(_: int) -> bool:
        asked.wait()
        return bool(storage.acquire_entry("pnr/203.0.113.9/lookup/10/1/minute", 10, 60))

    try:
        with ThreadPoolExecutor(16) as pool:
            granted = sum(pool.map(count, range(16)))
        assert len(made) == 1 and granted == 10
    finally:
        storage.close()
