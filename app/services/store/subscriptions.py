"""Subscriptions: who asked to be mailed about which PNR, and what they were last told."""
from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import pymongo

from plumbing.zones import utcnow

from ...domain.pnr import PnrStatus
from .core import StoreCore
from .errors import StoreUnavailable, mapped_errors
from .history import status_digest


class Subscriptions(StoreCore):
    """A subscription is keyed by PNR and address, confirmed by its random token."""

    def subscribe(self, pnr: str, email: str, journey_date: dt.date) -> str:
        """Store a subscription (unconfirmed until its token is confirmed); returns the token."""
        expires_at = dt.datetime.combine(journey_date, dt.time(), dt.UTC) + self.retention
        with mapped_errors(self):
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
        with mapped_errors(self):
            return self.db.subscriptions.find_one_and_update(
                {"token": token},
                {"$set": {"confirmed": True, "confirmed_at": utcnow()}},
                return_document=pymongo.ReturnDocument.AFTER,
            )

    def tracked_pnrs(self) -> list[str]:
        """PNRs with at least one confirmed subscription."""
        with mapped_errors(self):
            return sorted(self.db.subscriptions.distinct("pnr", {"confirmed": True}))

    def subscribers(self, pnr: str) -> list[dict[str, Any]]:
        """Confirmed subscriptions of a PNR."""
        with mapped_errors(self):
            return list(self.db.subscriptions.find({"pnr": pnr, "confirmed": True}))

    def subscription(self, token: str) -> dict[str, Any] | None:
        """The subscription a (verified) token names, confirmed or not."""
        with mapped_errors(self):
            return self.db.subscriptions.find_one({"token": token})

    def unsubscribe(self, token: str) -> dict[str, Any] | None:
        """Delete a subscription (its address goes with it); None when there was none."""
        with mapped_errors(self):
            return self.db.subscriptions.find_one_and_delete({"token": token})

    def pnrs_to_track(self) -> list[str]:
        """PNRs with a confirmed subscription that has not had its final mail yet."""
        with mapped_errors(self):
            return sorted(self.db.subscriptions.distinct("pnr", {"confirmed": True, "final": {"$ne": True}}))

    def mark_notified(self, token: str, status: PnrStatus, final: bool) -> None:
        """Remember what a subscriber was last told, so the next mail says what changed since."""
        with mapped_errors(self):
            self.db.subscriptions.update_one(
                {"token": token},
                {"$set": {"notified_digest": status_digest(status), "notified_status": status.to_dict(),
                          "notified_at": utcnow(), "final": final}},
            )
