"""A PNR's history: its snapshots (each status once) and the version that changes with them."""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pymongo
from bson import ObjectId
from pymongo.errors import BulkWriteError, DuplicateKeyError

from plumbing.zones import utcnow

from ...domain.pnr import PnrStatus, Shared
from .core import StoreCore
from .errors import mapped_errors


def status_digest(status: PnrStatus) -> str:
    """A digest of what a visitor sees (everything but `as_of`), so unchanged polls are not stored twice."""
    return _digest(status.to_dict())


def _digest(d: dict[str, Any]) -> str:
    """status_digest of a status already in its to_dict() form."""
    d = {k: v for k, v in d.items() if k != "as_of"}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:32]


@dataclasses.dataclass(frozen=True)
class Recorded:
    """What record_status found: the history's version, the history, and the entries (digest,
    status) it read from the store, or None when the caller's cached copy was current."""

    version: str | None
    history: list[PnrStatus]
    entries: list[tuple[str, PnrStatus]] | None


class History(StoreCore):
    """Snapshots and the pnrs documents, written so that several writers never duplicate one."""

    def record_snapshot(self, status: PnrStatus) -> bool:
        """Store the status if it differs from every stored one; True when it was new.

        A status already stored writes nothing: lookups repeat far more often than statuses change,
        and every write costs the store a commit.
        """
        d = status.to_dict()
        with mapped_errors(self):
            return self._add_snapshot(status, d, _digest(d)) is not None

    def record_status(self, status: PnrStatus, cached: Callable[[str, str], list[PnrStatus] | None],
                      seed: Callable[[], list[PnrStatus]]) -> Recorded:
        """A looked-up status stored if it is new, and the PNR's history, in one call.

        `cached(version, digest)` is the caller's copy of the history at that version holding that
        status, if it has one: then nothing more is read. `seed()` gives the PNR's past statuses,
        stored (in one round trip) the first time the PNR is seen. The status is hashed once. A
        status the store holds costs one small read (its history's version) when the caller's copy
        is current, two when not; a new status costs four (version, history, snapshot, pnrs) plus
        the history read again, and so does a PNR seen for the first time, with its past.
        """
        d = status.to_dict()
        digest = _digest(d)
        with mapped_errors(self):
            version = self.history_version(status.pnr)
            held = cached(version, digest) if version is not None else None
            if held is not None:
                return Recorded(version, held, None)
            entries = self.history_entries(status.pnr)
            written = None
            if not entries:  # first seen: its past and this status in one write
                written = self._add_history([*seed(), status])[1]
            elif digest not in {known for known, _ in entries}:
                written = self._add_snapshot(status, d, digest)
            elif version is None:  # stored before histories had versions
                written = self._history_changed(status, self._expires_at(status))
            if written is not None:
                # Read after the version was written: never older than the version says.
                version, entries = written, self.history_entries(status.pnr)
        return Recorded(version, [s for _, s in entries], entries)

    def _add_snapshot(self, status: PnrStatus, d: dict[str, Any], digest: str) -> str | None:
        """Insert one snapshot unless stored; the history version it wrote, or None."""
        expires_at = self._expires_at(status)
        try:
            result = self.db.snapshots.update_one(
                {"pnr": status.pnr, "digest": digest},
                {"$setOnInsert": {"taken_at": status.as_of, "status": d, "expires_at": expires_at}},
                upsert=True,
            )
        except DuplicateKeyError:
            # Two writers raced on the same new snapshot: the other one stored it.
            return None
        if result.upserted_id is None:
            return None
        return self._history_changed(status, expires_at)

    def _history_changed(self, status: PnrStatus, expires_at: dt.datetime) -> str:
        """After new snapshots: the PNR's document (retention, journey) and a new history version.

        Written after the snapshots, so that whoever reads a version and then the history never
        holds a history older than the version says (app.services.histories relies on it).
        """
        now, version = utcnow(), str(ObjectId())
        self.db.pnrs.update_one(
            {"_id": status.pnr},
            {
                "$set": {
                    "changed_at": now,
                    "history_version": version,
                    "train_number": status.train_number,
                    "journey_date": status.journey_date.isoformat(),
                    "chart_prepared": status.chart_prepared,
                    "expires_at": expires_at,
                },
                "$setOnInsert": {"first_seen": now},
            },
            upsert=True,
        )
        return version

    def history_version(self, pnr: str) -> str | None:
        """A token that changes whenever a snapshot of the PNR is stored; None for an unknown PNR."""
        with mapped_errors(self):
            doc = self.db.pnrs.find_one({"_id": pnr}, {"history_version": 1})
        return str(doc["history_version"]) if doc and doc.get("history_version") else None

    def history(self, pnr: str) -> list[PnrStatus]:
        """Every stored status of a PNR, oldest first."""
        return [status for _, status in self.history_entries(pnr)]

    def history_entries(self, pnr: str) -> list[tuple[str, PnrStatus]]:
        """Every stored status of a PNR with its digest (status_digest), oldest first."""
        with mapped_errors(self):
            docs = list(self.db.snapshots.find({"pnr": pnr}, {"status": 1, "digest": 1}).sort("taken_at", 1))
        shared = Shared()
        return [(doc["digest"], PnrStatus.from_dict(doc["status"], shared)) for doc in docs]

    def last_snapshot(self, pnr: str) -> PnrStatus | None:
        """The newest stored status of a PNR, for answering while the source is down."""
        with mapped_errors(self):
            doc = self.db.snapshots.find_one({"pnr": pnr}, {"status": 1}, sort=[("taken_at", -1)])
        return PnrStatus.from_dict(doc["status"]) if doc else None

    def record_history(self, statuses: list[PnrStatus]) -> int:
        """Store past statuses of one PNR in one round trip (seeding a first lookup); returns how many were new."""
        with mapped_errors(self):
            return self._add_history(statuses)[0]

    def _add_history(self, statuses: list[PnrStatus]) -> tuple[int, str | None]:
        """(how many were new, the history version written or None)."""
        if not statuses:
            return 0, None
        expires_at = self._expires_at(statuses[-1])
        ops = []
        for s in statuses:
            d = s.to_dict()  # once: it is the costly part of a long history
            ops.append(pymongo.UpdateOne(
                {"pnr": s.pnr, "digest": _digest(d)},
                {"$setOnInsert": {"taken_at": s.as_of, "status": d, "expires_at": expires_at}},
                upsert=True,
            ))
        try:
            stored = self.db.snapshots.bulk_write(ops, ordered=False).upserted_count
        except BulkWriteError as exc:
            # Only duplicate keys (a racing writer stored the same status) are harmless.
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise
            stored = int(exc.details.get("nUpserted", 0))
        return stored, (self._history_changed(statuses[-1], expires_at) if stored else None)
