"""tracker: polls tracked PNRs, stores each new status, and mails confirmed subscribers on change."""
from __future__ import annotations

import logging
from email.message import EmailMessage
from typing import Any

import click
from flask import current_app

from ..alerts import MailSettings, deliver
from ..lookup import get_source
from ..pnr import PnrError, PnrStatus
from ..store import StoreUnavailable, get_store, utcnow
from .loop import every_option, run_every

log = logging.getLogger(__name__)


def change_mail(status: PnrStatus, to: str) -> EmailMessage:
    """The mail a subscriber gets when the status of their PNR changes."""
    message = EmailMessage()
    message["To"] = to
    message["Subject"] = f"PNR {status.pnr}: " + ", ".join(str(p.current_status) for p in status.passengers)
    lines = [f"Train {status.train_number} {status.train_name}, {status.journey_date:%d %b %Y}, {status.journey_class.value}"]
    lines += [f"Passenger {p.number}: {p.current_status} (booked {p.booking_status})" for p in status.passengers]
    lines += ["", "Chart prepared." if status.chart_prepared else "Chart not prepared yet."]
    lines += ["", f"{current_app.config['PUBLIC_URL']}/pnr/{status.pnr}"]
    message.set_content("\n".join(lines) + "\n")
    return message


@click.command("tracker")
@every_option(300.0)
def command(every_s: float, once: bool) -> None:
    """Poll every PNR with a confirmed subscription."""
    settings = MailSettings.from_config(current_app.config)

    def iteration() -> dict[str, Any]:
        counts = {"polled": 0, "changed": 0, "mailed": 0, "failed": 0}
        try:
            store = get_store()
            pnrs = store.tracked_pnrs()
        except StoreUnavailable as exc:
            log.error("tracker: store unavailable, nothing polled: %s", exc)
            return {"store": "unavailable"}
        for pnr in pnrs:
            try:
                status = get_source().get_status(pnr, utcnow())
                counts["polled"] += 1
                if store.record_snapshot(status):
                    counts["changed"] += 1
                    for sub in store.subscribers(pnr):
                        deliver(settings, change_mail(status, sub["email"]))
                        counts["mailed"] += 1
            except (PnrError, StoreUnavailable) as exc:
                # One bad PNR must not stop the others.
                log.error("tracker: PNR %s skipped: %s", pnr, exc)
                counts["failed"] += 1
        return counts

    run_every("tracker", every_s, iteration, once)
