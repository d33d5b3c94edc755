"""MongoDB access through pymongo: collections, indexes and the queries the site and jobs need,
split by concern (history, subscriptions, outcomes, retention) into one Store.

Every write is an idempotent upsert keyed by a natural key, so several processes (web workers,
the tracker) can record the same PNR at once without duplicates, and a retried write is harmless.
"""
from __future__ import annotations

import linecache

import pymongo

from plumbing.zones import utcnow

from ... import services
from .errors import SERVER_ERRORS, StoreUnavailable, failure_cause
from .history import History, status_digest
from .outcomes import Outcomes
from .retention import Retention
from .subscriptions import Subscriptions

__all__ = ["SERVER_ERRORS", "Store", "StoreUnavailable", "connect", "failure_cause", "get_store", "status_digest", "utcnow"]

# How often the client's background monitor looks at the server. Once the server could not be
# reached, calls fail at once until the monitor sees it again, instead of each waiting out the
# server-selection timeout: a store that is down must not make every lookup slow.
HEARTBEAT_MS = 1000


class Store(History, Subscriptions, Outcomes, Retention):
    """The store of one process: every concern on one client."""


def connect(uri: str, db_name: str, timeout_ms: int, retention_days: int) -> Store:
    """A Store on a new client; the client connects lazily, on first use.

    Every write asks for a journaled acknowledgement (j: true): a subscription the site confirmed
    must survive the server being killed the moment after, whatever the server's own setting (the
    embedded db syncs every commit; a MongoDB standalone by default acknowledges before its journal
    is on disk, and SecantusDB without --sync-on-commit loses the last writes to a SIGKILL).
    """
    read_before = set(linecache.cache)
    client: pymongo.MongoClient = pymongo.MongoClient(
        uri,
        journal=True,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=max(timeout_ms * 4, 5000),
        heartbeatFrequencyMS=HEARTBEAT_MS,
        tz_aware=True,
        appname="pnr.me",
    )
    # pymongo records the stack the client was made on (to name it in a warning after fork), and
    # formatting it reads every source file of that stack into linecache: 0.7 MiB a web worker kept.
    for name in set(linecache.cache) - read_before:
        linecache.cache.pop(name, None)
    return Store(client, db_name, retention_days)


def get_store() -> Store:
    """The process's Store, made on first use (after gunicorn forks), indexes ensured once.

    Indexes are ensured outside the making lock: while the server is down each attempt waits out the
    selection timeout, and threads queued behind one another would wait it out one after another."""
    current = services.current()
    ext, cfg = current.extensions, current.config
    store = current.shared("pnr_store", lambda: connect(cfg["MONGO_URI"], cfg["MONGO_DB"], cfg["MONGO_TIMEOUT_MS"],
                                                        cfg["RETENTION_DAYS"]))
    if not ext.get("pnr_store_indexed"):
        store.init_indexes()
        ext["pnr_store_indexed"] = True
    return store

