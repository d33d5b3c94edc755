"""Where the rate limiter keeps its counts: in a file every worker of this host shares, or in the store.

`host` (the default) is a SQLite file under var/: every gunicorn worker on the machine counts in
it, a count costs tens of microseconds and no network, and a store outage does not touch it. The
kit runs on one host under supervisord, so that is one count per client for the whole site.
`mongo` keeps the counts in the store instead, for several web hosts behind one proxy; each count
is then a round trip (or two) to the store on every lookup.

Both keep limits' moving window: a client's N requests in any window of the limit's length, not
N per calendar minute (a fixed window lets 2N through across a boundary).
"""
from __future__ import annotations

import fcntl
import functools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pymongo
from limits.storage import MongoDBStorage, MovingWindowSupport, Storage
from pymongo.errors import PyMongoError

from ..services.store import StoreUnavailable, failure_cause

log = logging.getLogger(__name__)

HOST_FILE = "ratelimit.sqlite3"
# A writer waits this long for another worker's transaction (each holds the lock for microseconds).
BUSY_TIMEOUT_MS = 2000
# Entries past their window are deleted every this many seconds, by whichever worker notices first.
PURGE_EVERY_S = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (key TEXT NOT NULL, at REAL NOT NULL, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS entries_key_at ON entries (key, at);
CREATE INDEX IF NOT EXISTS entries_expires ON entries (expires);
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, n INTEGER NOT NULL, expires REAL NOT NULL);
"""


def _reported(method: Callable[..., Any]) -> Callable[..., Any]:
    """Log a failure of the counts file as an error (mailed to on-call) before it propagates: the
    limiter counts in memory meanwhile and would otherwise only warn."""
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except sqlite3.Error as exc:
            log.error("rate-limit counts file unavailable, counts kept per worker meanwhile: %s: %s",
                      type(exc).__name__, exc)
            raise
    return wrapper


class HostCounts(Storage, MovingWindowSupport):
    """limits storage in a SQLite file shared by the processes of one host (`pnr+sqlite:///path`).

    WAL journal and no fsync: a count lost in a power cut only lets a client start its window
    afresh. The connection is made on first use in each process (gunicorn forks after create_app),
    and one lock serialises the threads of a process on it.
    """

    STORAGE_SCHEME = ["pnr+sqlite"]

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: Any) -> None:
        self.path = uri.split("://", 1)[1]
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._next_purge = 0.0
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def _db(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            # Switching a new file to WAL fails at once, busy timeout or not, while another process
            # holds it: workers starting together take turns at making the file.
            with open(self.path + ".lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                       check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=OFF")
                # The file is small and in the OS's page cache: SQLite's own cache of it (2 MiB by
                # default, per worker, filled by a crowd's thousands of clients) buys little.
                conn.execute("PRAGMA cache_size=-256")
                conn.executescript(_SCHEMA)
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    # The moving window: one row per request still inside some window. A writing statement takes
    # the file's write lock before it reads, so the count and the insert are one atomic step.
    @_reported
    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        with self._lock:
            db = self._db()
            now = time.time()
            granted = db.execute(
                "INSERT INTO entries SELECT ?, ?, ? "
                "FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) SELECT i FROM n) "
                "WHERE (SELECT count(*) FROM entries WHERE key = ? AND at > ?) + ? <= ?",
                (key, now, now + expiry, amount, key, now - expiry, amount, limit)).rowcount == amount
            self._purge(db, now)
            return granted

    def _purge(self, db: sqlite3.Connection, now: float) -> None:
        if now >= self._next_purge:
            self._next_purge = now + PURGE_EVERY_S
            db.execute("DELETE FROM entries WHERE expires < ?", (now,))
            db.execute("DELETE FROM counters WHERE expires < ?", (now,))

    @_reported
    def acquire_entries(self, windows: Sequence[tuple[str, int, int]]) -> bool:
        """One entry in each of several windows (key, limit, expiry), all or none, in one statement:
        a request counted against a minute and an hour limit costs one write, and a refused one
        spends neither."""
        with self._lock:
            db = self._db()
            now = time.time()
            rows = ", ".join("(?, ?, ?)" for _ in windows)
            args = [x for key, limit, expiry in windows for x in (key, limit, expiry)]
            before = db.total_changes  # rowcount says nothing of a statement that starts with WITH
            db.execute(
                f"WITH w(key, lim, expiry) AS (VALUES {rows}) "
                "INSERT INTO entries SELECT key, ?, ? + expiry FROM w WHERE NOT EXISTS "
                "(SELECT 1 FROM w AS v WHERE (SELECT count(*) FROM entries AS e WHERE e.key = v.key AND e.at > ? - v.expiry) >= v.lim)",
                [*args, now, now, now])
            granted = db.total_changes - before == len(windows)
            self._purge(db, now)
            return granted

    @_reported
    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        with self._lock:
            now = time.time()
            oldest, taken = self._db().execute("SELECT min(at), count(*) FROM entries WHERE key = ? AND at > ?",
                                               (key, now - expiry)).fetchone()
            return (oldest, taken) if taken else (now, 0)

    # Plain counters, for limits' fixed window (not the strategy the site uses, but part of the contract).
    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        with self._lock:
            now = time.time()
            (n,) = self._db().execute(
                "INSERT INTO counters VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                "n = CASE WHEN expires <= ? THEN excluded.n ELSE n + excluded.n END, "
                "expires = CASE WHEN expires <= ? THEN excluded.expires ELSE expires END RETURNING n",
                (key, amount, now + expiry, now, now)).fetchone()
            return int(n)

    def get(self, key: str) -> int:
        with self._lock:
            row = self._db().execute("SELECT n FROM counters WHERE key = ? AND expires > ?", (key, time.time())).fetchone()
            return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        with self._lock:
            now = time.time()
            row = self._db().execute("SELECT expires FROM counters WHERE key = ? AND expires > ?", (key, now)).fetchone()
            return float(row[0]) if row else now

    def check(self) -> bool:
        with self._lock:
            return self._db().execute("SELECT 1").fetchone() == (1,)

    def reset(self) -> int | None:
        with self._lock:
            db = self._db()
            n = db.execute("DELETE FROM entries").rowcount + db.execute("DELETE FROM counters").rowcount
            return n

    def clear(self, key: str) -> None:
        with self._lock:
            db = self._db()
            db.execute("DELETE FROM entries WHERE key = ?", (key,))
            db.execute("DELETE FROM counters WHERE key = ?", (key,))

    def close(self) -> None:
        """Close this process's connection, if it made one."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None


class SharedCounts(MongoDBStorage):
    """limits' MongoDB storage, minus a __del__ that connects only to disconnect (even at interpreter exit)."""

    STORAGE_SCHEME = ["pnr+mongodb", "pnr+mongodb+srv"]
    SCHEME_PREFIX = "pnr+"
    _making = threading.Lock()

    @property
    def storage(self) -> pymongo.MongoClient:
        """The client, made on first use once however many of a worker's threads ask at once (limits
        makes it unguarded, and a second client would live on with its monitor threads)."""
        if self._storage is None:
            with self._making:
                return super().storage
        return self._storage

    def _init_mongo_client(self, uri: str | None, **options: Any) -> pymongo.MongoClient:
        return pymongo.MongoClient((uri or "")[len(self.SCHEME_PREFIX):], **options)

    def close(self) -> None:
        """Close the client if one was made."""
        if self._storage is not None:
            self._storage.close()
            self._storage = None

    def __del__(self) -> None:
        self.close()

    # A store that refuses the counts (over quota, say) while every lookup's own reads still work
    # would otherwise go unnoticed: the limiters only warn and count in memory meanwhile. The
    # error names the store's cause, so it is the same alert as the lookups' own store errors.
    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        try:
            return bool(super().acquire_entry(key, limit, expiry, amount))
        except PyMongoError as exc:
            _report(exc)
            raise

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        try:
            return super().get_moving_window(key, limit, expiry)
        except PyMongoError as exc:
            _report(exc)
            raise


def _report(exc: PyMongoError) -> None:
    cause = failure_cause(exc)
    log.error("store unavailable, rate-limit counts kept per worker meanwhile: %s",
              StoreUnavailable(f"{cause}: {type(exc).__name__}: {exc}", cause))
