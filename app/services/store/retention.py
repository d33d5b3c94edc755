"""Retention: what goes once its journey is past (personal data included), and stale sign-ups."""
from __future__ import annotations

import datetime as dt

from .core import StoreCore
from .errors import mapped_errors

# Retention deletes at most this many documents per command: one delete_many over a backlog of tens of
# thousands runs past the client's socket timeout, and the janitor then reports a store that is
# merely busy as unavailable while the server goes on deleting. SecantusDB deletes a few ms per
# document on a loaded 2-core machine (1000 took up to 6.8 s, 100 up to 0.7 s), so batches stay small.
PURGE_BATCH = 100


class Retention(StoreCore):
    """Deletes in small batches, so that no command outlasts the client's socket timeout."""

    def purge_expired(self, now: dt.datetime) -> dict[str, int]:
        """Delete what is past its retention, per collection; TTL indexes do it too, this is explicit.

        Deletes in batches of PURGE_BATCH, each its own short command, so that no single command
        outlasts the socket timeout however large the backlog.
        """
        with mapped_errors(self):
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

    def purge_unconfirmed(self, created_before: dt.datetime) -> int:
        """Delete subscriptions never confirmed (their confirmation link has expired)."""
        with mapped_errors(self):
            return self.db.subscriptions.delete_many({"confirmed": False, "created_at": {"$lt": created_before}}).deleted_count
