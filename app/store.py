"""MongoDB access through pymongo: collections, indexes and the queries the site and jobs need.

Every write is an idempotent upsert keyed by a natural key, so several processes (web workers,
the tracker) can record the same PNR at once without duplicates, and a retried write is harmless.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import secrets
from collections.abc import Iterable, Iterator
from typing import Any, Literal

import pymongo
from bson import ObjectId
from pymongo.errors import BulkWriteError, ConnectionFailure, DuplicateKeyError, OperationFailure, PyMongoError

from plumbing.zones import utcnow

from . import services
from .pnr import PnrStatus

log = logging.getLogger(__name__)

RETENTION_AFTER_JOURNEY_DAYS = 30
# Server error codes whose name the server may not send: 12501 is MongoDB's "quota exceeded", the
# error of the original outage.
SERVER_ERRORS = {12501: "quota exceeded"}
# How often the client's background monitor looks at the server. Once the server could not be
# reached, calls fail at once until the monitor sees it again, instead of each waiting out the
# server-selection timeout: a store that is down must not make every lookup slow.
HEARTBEAT_MS = 1000
# Retention deletes at most this many documents per command: one delete_many over a backlog of tens of
# thousands runs past the client's socket timeout, and the janitor then reports a store that is
# merely busy as unavailable while the server goes on deleting. SecantusDB deletes a few ms per
# document on a loaded 2-core machine (1000 took up to 6.8 s, 100 up to 0.7 s), so batches stay small.
PURGE_BATCH = 100


class StoreUnavailable(Exception):
    """The database could not serve a request (down, timing out, over quota, refusing writes).

    `alert_cause` says which of these it is ("unreachable", or the server's error code): the error
    mail tells causes apart by it, so that a store over quota is mailed at once even while the
    repeats of "store unreachable" a minute earlier are still being counted for a digest.
    """

    def __init__(self, message: str, alert_cause: str = "unavailable"):
        super().__init__(message)
        self.alert_cause = alert_cause


def status_digest(status: PnrStatus) -> str:
    """A digest of what a visitor sees (everything but `as_of`), so unchanged polls are not stored twice."""
    return _digest(status.to_dict())


def _digest(d: dict[str, Any]) -> str:
    """status_digest of a status already in its to_dict() form."""
    d = {k: v for k, v in d.items() if k != "as_of"}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:32]


class Store:
    """The collections of DESIGN.md: pnrs, snapshots, subscriptions, outcomes, models."""

    def __init__(self, client: pymongo.MongoClient, db_name: str, retention_days: int = RETENTION_AFTER_JOURNEY_DAYS):
        self.client = client
        self.db = client[db_name]
        self.retention = dt.timedelta(days=retention_days)
        self.unreachable_error = ""  # set when the server could not be reached, until it is seen again

    def init_indexes(self) -> None:
        """Create every index idempotently; safe to run from every process at start-up."""
        db = self.db
        with _mapped_errors(self):
            db.pnrs.create_index([("expires_at", 1)], expireAfterSeconds=0)
            db.snapshots.create_index([("pnr", 1), ("digest", 1)], unique=True)
            db.snapshots.create_index([("pnr", 1), ("taken_at", 1)])
            db.snapshots.create_index([("expires_at", 1)], expireAfterSeconds=0)
            db.subscriptions.create_index([("pnr", 1), ("email", 1)], unique=True)
            db.subscriptions.create_index([("token", 1)], unique=True)
            db.subscriptions.create_index([("expires_at", 1)], expireAfterSeconds=0)
            db.outcomes.create_index([("pnr", 1), ("journey_date", 1), ("passenger", 1), ("hours_to_chart", 1)], unique=True)
            db.models.create_index([("version", 1)], unique=True)

    def close(self) -> None:
        """Close the client's connections (tests, and processes that end)."""
        self.client.close()

    def ping(self) -> None:
        """Raise StoreUnavailable unless the server answers."""
        with _mapped_errors(self):
            self.client.admin.command("ping")

    def _expires_at(self, status: PnrStatus) -> dt.datetime:
        end = dt.datetime.combine(status.journey_date, dt.time(), dt.UTC)
        return end + self.retention

    def record_snapshot(self, status: PnrStatus) -> bool:
        """Store the status if it differs from every stored one; True when it was new.

        A status already stored writes nothing: lookups repeat far more often than statuses change,
        and every write costs the store a commit.
        """
        d = status.to_dict()
        expires_at = self._expires_at(status)
        with _mapped_errors(self):
            try:
                result = self.db.snapshots.update_one(
                    {"pnr": status.pnr, "digest": _digest(d)},
                    {"$setOnInsert": {"taken_at": status.as_of, "status": d, "expires_at": expires_at}},
                    upsert=True,
                )
            except DuplicateKeyError:
                # Two writers raced on the same new snapshot: the other one stored it.
                return False
            if result.upserted_id is None:
                return False
            self._history_changed(status, expires_at)
        return True

    def _history_changed(self, status: PnrStatus, expires_at: dt.datetime) -> None:
        """After new snapshots: the PNR's document (retention, journey) and a new history version.

        Written after the snapshots, so that whoever reads a version and then the history never
        holds a history older than the version says (app.histories relies on it).
        """
        now = utcnow()
        self.db.pnrs.update_one(
            {"_id": status.pnr},
            {
                "$set": {
                    "changed_at": now,
                    "history_version": str(ObjectId()),
                    "train_number": status.train_number,
                    "journey_date": status.journey_date.isoformat(),
                    "chart_prepared": status.chart_prepared,
                    "expires_at": expires_at,
                },
                "$setOnInsert": {"first_seen": now},
            },
            upsert=True,
        )

    def mark_history_changed(self, status: PnrStatus) -> str | None:
        """Give the PNR a new history version (one stored before versions existed); returns it."""
        with _mapped_errors(self):
            self._history_changed(status, self._expires_at(status))
        return self.history_version(status.pnr)

    def history_version(self, pnr: str) -> str | None:
        """A token that changes whenever a snapshot of the PNR is stored; None for an unknown PNR."""
        with _mapped_errors(self):
            doc = self.db.pnrs.find_one({"_id": pnr}, {"history_version": 1})
        return str(doc["history_version"]) if doc and doc.get("history_version") else None

    def beat(self, name: str, now: dt.datetime) -> None:
        """Record that `name` (a process) could write at `now`: one small document per name."""
        with _mapped_errors(self):
            self.db.heartbeats.update_one({"_id": name}, {"$set": {"at": now}}, upsert=True)

    def history(self, pnr: str) -> list[PnrStatus]:
        """Every stored status of a PNR, oldest first."""
        return [status for _, status in self.history_entries(pnr)]

    def history_entries(self, pnr: str) -> list[tuple[str, PnrStatus]]:
        """Every stored status of a PNR with its digest (status_digest), oldest first."""
        with _mapped_errors(self):
            docs = list(self.db.snapshots.find({"pnr": pnr}, {"status": 1, "digest": 1}).sort("taken_at", 1))
        return [(doc["digest"], PnrStatus.from_dict(doc["status"])) for doc in docs]

    def last_snapshot(self, pnr: str) -> PnrStatus | None:
        """The newest stored status of a PNR, for answering while the source is down."""
        with _mapped_errors(self):
            doc = self.db.snapshots.find_one({"pnr": pnr}, {"status": 1}, sort=[("taken_at", -1)])
        return PnrStatus.from_dict(doc["status"]) if doc else None

    def subscribe(self, pnr: str, email: str, journey_date: dt.date) -> str:
        """Store a subscription (unconfirmed until its token is confirmed); returns the token."""
        expires_at = dt.datetime.combine(journey_date, dt.time(), dt.UTC) + self.retention
        with _mapped_errors(self):
            doc = self.db.subscriptions.find_one_and_update(
                {"pnr": pnr, "email": email},
                {
                    "$setOnInsert": {"token": secrets.token_urlsafe(24), "confirmed": False, "created_at": utcnow()},
                    "$set": {"expires_at": expires_at},
                },
                upsert=True,
                return_document=pymongo.ReturnDocument.AFTER,
            )
        if doc is None:  # an upsert returning AFTER always has a document; a server that says otherwise is broken
            raise StoreUnavailable("the subscription upsert returned no document")
        return str(doc["token"])

    def confirm_subscription(self, token: str) -> dict[str, Any] | None:
        """Mark a subscription confirmed by its token; None when the token is unknown."""
        with _mapped_errors(self):
            return self.db.subscriptions.find_one_and_update(
                {"token": token},
                {"$set": {"confirmed": True, "confirmed_at": utcnow()}},
                return_document=pymongo.ReturnDocument.AFTER,
            )

    def tracked_pnrs(self) -> list[str]:
        """PNRs with at least one confirmed subscription."""
        with _mapped_errors(self):
            return sorted(self.db.subscriptions.distinct("pnr", {"confirmed": True}))

    def subscribers(self, pnr: str) -> list[dict[str, Any]]:
        """Confirmed subscriptions of a PNR."""
        with _mapped_errors(self):
            return list(self.db.subscriptions.find({"pnr": pnr, "confirmed": True}))

    def record_history(self, statuses: list[PnrStatus]) -> int:
        """Store past statuses of one PNR in one round trip (seeding a first lookup); returns how many were new."""
        if not statuses:
            return 0
        expires_at = self._expires_at(statuses[-1])
        ops = []
        for s in statuses:
            d = s.to_dict()  # once: it is the costly part of a long history
            ops.append(pymongo.UpdateOne(
                {"pnr": s.pnr, "digest": _digest(d)},
                {"$setOnInsert": {"taken_at": s.as_of, "status": d, "expires_at": expires_at}},
                upsert=True,
            ))
        with _mapped_errors(self):
            try:
                stored = self.db.snapshots.bulk_write(ops, ordered=False).upserted_count
            except BulkWriteError as exc:
                # Only duplicate keys (a racing writer stored the same status) are harmless.
                if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                    raise
                stored = int(exc.details.get("nUpserted", 0))
            if stored:
                self._history_changed(statuses[-1], expires_at)
        return stored

    def subscription(self, token: str) -> dict[str, Any] | None:
        """The subscription a (verified) token names, confirmed or not."""
        with _mapped_errors(self):
            return self.db.subscriptions.find_one({"token": token})

    def unsubscribe(self, token: str) -> dict[str, Any] | None:
        """Delete a subscription (its address goes with it); None when there was none."""
        with _mapped_errors(self):
            return self.db.subscriptions.find_one_and_delete({"token": token})

    def pnrs_to_track(self) -> list[str]:
        """PNRs with a confirmed subscription that has not had its final mail yet."""
        with _mapped_errors(self):
            return sorted(self.db.subscriptions.distinct("pnr", {"confirmed": True, "final": {"$ne": True}}))

    def mark_notified(self, token: str, status: PnrStatus, final: bool) -> None:
        """Remember what a subscriber was last told, so the next mail says what changed since."""
        with _mapped_errors(self):
            self.db.subscriptions.update_one(
                {"token": token},
                {"$set": {"notified_digest": status_digest(status), "notified_status": status.to_dict(),
                          "notified_at": utcnow(), "final": final}},
            )

    def purge_unconfirmed(self, created_before: dt.datetime) -> int:
        """Delete subscriptions never confirmed (their confirmation link has expired)."""
        with _mapped_errors(self):
            return self.db.subscriptions.delete_many({"confirmed": False, "created_at": {"$lt": created_before}}).deleted_count

    def record_outcomes(self, rows: Iterable[dict[str, Any]]) -> int:
        """Upsert charted outcome rows (training data); returns how many were new."""
        ops = []
        for row in rows:
            key = {k: row[k] for k in ("pnr", "journey_date", "passenger", "hours_to_chart")}
            ops.append(pymongo.UpdateOne(key, {"$setOnInsert": dict(row)}, upsert=True))
        if not ops:
            return 0
        with _mapped_errors(self):
            result = self.db.outcomes.bulk_write(ops, ordered=False)
        return result.upserted_count

    def count_outcomes(self) -> int:
        """How many outcome rows are stored."""
        with _mapped_errors(self):
            return int(self.db.outcomes.count_documents({}))

    def outcomes(self) -> Iterator[dict[str, Any]]:
        """Every stored outcome row, without Mongo's _id."""
        with _mapped_errors(self):
            yield from self.db.outcomes.find({}, {"_id": 0})

    def record_model(self, version: str, metrics: dict[str, Any], path: str) -> None:
        """Remember a model version the trainer published, with its held-out metrics."""
        with _mapped_errors(self):
            self.db.models.update_one(
                {"version": version},
                {"$setOnInsert": {"metrics": metrics, "path": path, "created_at": utcnow()}},
                upsert=True,
            )


    def purge_expired(self, now: dt.datetime) -> dict[str, int]:
        """Delete what is past its retention, per collection; TTL indexes do it too, this is explicit.

        Deletes in batches of PURGE_BATCH, each its own short command, so that no single command
        outlasts the socket timeout however large the backlog.
        """
        with _mapped_errors(self):
            return {name: self._purge_batched(name, now) for name in ("snapshots", "subscriptions", "pnrs")}

    def _purge_batched(self, name: str, now: dt.datetime) -> int:
        """Delete the expired documents of one collection, PURGE_BATCH at a time; how many were deleted.

        The delete repeats the expiry condition: a document changed since it was found (a new
        snapshot moving a PNR's expiry) is kept.
        """
        collection = self.db[name]
        expired = {"expires_at": {"$lt": now}}
        deleted = 0
        while True:
            ids = [doc["_id"] for doc in collection.find(expired, {"_id": 1}).limit(PURGE_BATCH)]
            if ids:
                deleted += collection.delete_many({"_id": {"$in": ids}, **expired}).deleted_count
            if len(ids) < PURGE_BATCH:
                return deleted


class _mapped_errors:
    """Turn every pymongo error into StoreUnavailable, keeping the server's message; after the server
    could not be reached, fail at once until the client's monitor (HEARTBEAT_MS) sees it again."""

    def __init__(self, store: Store):
        self.store = store

    def __enter__(self) -> None:
        store = self.store
        if store.unreachable_error:
            if not store.client.topology_description.has_writable_server():
                raise StoreUnavailable(f"unreachable: {store.unreachable_error} (not seen since)", "unreachable")
            store.unreachable_error = ""

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> Literal[False]:
        if exc is not None and isinstance(exc, PyMongoError) and not isinstance(exc, DuplicateKeyError):
            cause = failure_cause(exc)
            if cause == "unreachable":
                self.store.unreachable_error = f"{type(exc).__name__}: {exc}"
            raise StoreUnavailable(f"{cause}: {type(exc).__name__}: {exc}", cause) from exc
        return False


def failure_cause(exc: PyMongoError) -> str:
    """A few words for what went wrong: every way of not reaching the server is one cause, and each
    error code the server answers with is a cause of its own, named where the code has a name."""
    if isinstance(exc, ConnectionFailure):
        return "unreachable"
    if isinstance(exc, OperationFailure) and exc.code is not None:
        name = SERVER_ERRORS.get(exc.code) or str((exc.details or {}).get("codeName") or "")
        if not name or name.startswith("Location"):  # "Location12501": a code without a name
            return f"error {exc.code}"
        return f"{name} (error {exc.code})"
    return type(exc).__name__


def connect(uri: str, db_name: str, timeout_ms: int, retention_days: int) -> Store:
    """A Store on a new client; the client connects lazily, on first use.

    Every write asks for a journaled acknowledgement (j: true): a subscription the site confirmed
    must survive the server being killed the moment after, whatever the server's own setting (the
    embedded db syncs every commit; a MongoDB standalone by default acknowledges before its journal
    is on disk, and SecantusDB without --sync-on-commit loses the last writes to a SIGKILL).
    """
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
    return Store(client, db_name, retention_days)


def get_store() -> Store:
    """The process's Store, made on first use (after gunicorn forks), indexes ensured once."""
    ext = services.current().extensions
    store: Store | None = ext.get("pnr_store")
    if store is None:
        cfg = services.current().config
        store = connect(cfg["MONGO_URI"], cfg["MONGO_DB"], cfg["MONGO_TIMEOUT_MS"], cfg["RETENTION_DAYS"])
        ext["pnr_store"] = store
    if not ext.get("pnr_store_indexed"):
        store.init_indexes()
        ext["pnr_store_indexed"] = True
    return store

