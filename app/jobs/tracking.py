"""One pass of the tracker (app/jobs/tracker.py): poll every tracked PNR, store each new status, mail
confirmed subscribers on change.

Each subscription remembers the status it was last mailed, so a subscriber hears of every change
once, whether the tracker or a visitor's lookup saw it first. The mail at the final chart carries
the final result and is the last one; a PNR the source no longer knows ends its subscriptions.

A mail is spooled (on disk, under a Message-ID fixed by subscriber and status) before the
subscription is marked as told, and sent after: a pass killed before the mark spools the same
file again on the next, one killed after it leaves the mail to the outbox. Only a kill between the
SMTP server's acceptance and the spool file's removal sends it twice, as the same message.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from .. import services
from ..alerts import MailSettings, bound
from ..alerts.mail import complete, send_or_keep, spool
from ..domain.pnr import PnrError, PnrNotFound, PnrStatus
from ..services import predictions
from ..services.mails import change_mail, change_message_id
from ..services.sources import get_source
from ..services.store import Store, StoreUnavailable, get_store, status_digest, utcnow

log = logging.getLogger(__name__)


def _predict(status: PnrStatus, counts: dict[str, int]) -> tuple[dict[int, dict[str, Any]], str | None]:
    try:
        return predictions.predict(status), None
    except predictions.PredictorUnavailable as exc:
        if not counts["predictor_down"]:
            log.error("tracker: predictor pool unavailable, mails go without chances: %s", exc)
        counts["predictor_down"] += 1
        return {}, "chance of confirmation unavailable right now"


def poll(store: Store, settings: MailSettings, pnr: str, now: dt.datetime, counts: dict[str, int]) -> None:
    """Poll one PNR and mail each of its subscribers who has not been told this status yet."""
    try:
        status = get_source().get_status(pnr, now)
    except PnrNotFound:
        # Flushed after the journey (or a source's hiccup): nothing to tell; the janitor ends it at retention.
        log.warning("tracker: PNR %s is not known to the source", pnr)
        counts["not_found"] += 1
        return
    counts["polled"] += 1
    if store.record_snapshot(status):
        counts["changed"] += 1
    digest = status_digest(status)
    waiting = [s for s in store.subscribers(pnr) if not s.get("final") and s.get("notified_digest") != digest]
    if not waiting:
        return
    chances, note = _predict(status, counts)
    final = status.chart_prepared or status.train_cancelled
    for sub in waiting:
        previous = PnrStatus.from_dict(sub["notified_status"]) if sub.get("notified_status") else None
        message = change_mail(status, previous, sub["email"], sub["token"], chances, note)
        message["Message-ID"] = change_message_id(sub["token"], digest)
        path = spool(settings, complete(message, settings))
        store.mark_notified(sub["token"], status, final=final)
        send_or_keep(settings, path)
        counts["mailed"] += 1


def iteration(now: dt.datetime | None = None) -> dict[str, Any]:
    """One pass over every tracked PNR; a failing PNR is logged and the others go on."""
    counts = {"polled": 0, "changed": 0, "mailed": 0, "not_found": 0, "failed": 0, "predictor_down": 0}
    settings = MailSettings.from_config(services.current().config)
    try:
        store = get_store()
        pnrs = store.pnrs_to_track()
    except StoreUnavailable as exc:
        log.error("tracker: store unavailable, nothing polled: %s", exc)
        return {"store": "unavailable"}
    for pnr in pnrs:
        try:
            with bound(item=f"PNR {pnr}"):
                poll(store, settings, pnr, now or utcnow(), counts)
        except (PnrError, StoreUnavailable) as exc:
            # One bad PNR must not stop the others.
            log.error("tracker: PNR %s skipped: %s", pnr, exc)
            counts["failed"] += 1
    return counts
