"""The client, database and indexes every part of the store shares."""
from __future__ import annotations

import datetime as dt

import pymongo

from ...domain.pnr import PnrStatus
from .errors import mapped_errors

RETENTION_AFTER_JOURNEY_DAYS = 30


class StoreCore:
    """The collections of DESIGN.md (pnrs, snapshots, subscriptions, outcomes, models), their
    indexes and the retention every document gets; the concerns are in the modules beside this one."""

    def __init__(self, client: pymongo.MongoClient, db_name: str, retention_days: int = RETENTION_AFTER_JOURNEY_DAYS):
        self.client = client
        self.db = client[db_name]
        self.retention = dt.timedelta(days=retention_days)
        self.unreachable_error = ""  # set when the server could not be reached, until it is seen again

    def init_indexes(self) -> None:
        """Create every index idempotently; safe to run from every process at start-up."""
        db = self.db
        with mapped_errors(self):
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
        with mapped_errors(self):
            self.client.admin.command("ping")

    def beat(self, name: str, now: dt.datetime) -> None:
        """Record that `name` (a process) could write at `now`: one small document per name."""
        with mapped_errors(self):
            self.db.heartbeats.update_one({"_id": name}, {"$set": {"at": now}}, upsert=True)

    def _expires_at(self, status: PnrStatus) -> dt.datetime:
        end = dt.datetime.combine(status.journey_date, dt.time(), dt.UTC)
        return end + self.retention
