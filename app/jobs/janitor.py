"""janitor: retention. Snapshots, PNRs and subscriptions (personal data) go once past their journey.

Each hourly pass runs in a short-lived child (loop.run_each_in_child): the job waits without pymongo.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import click

from plumbing.zones import utcnow

from .. import services
from .loop import every_option, run_each_in_child

log = logging.getLogger(__name__)


def iteration(now: dt.datetime | None = None) -> dict[str, Any]:
    """Delete what is past retention, and subscriptions whose confirmation link has expired unused."""
    from ..services.store import StoreUnavailable, get_store  # here: the job between passes carries no pymongo

    now = now or utcnow()
    try:
        store = get_store()
        purged: dict[str, Any] = store.purge_expired(now)
        expired_link = dt.timedelta(hours=services.current().config["TRACK_CONFIRM_HOURS"])
        purged["unconfirmed"] = store.purge_unconfirmed(now - expired_link)
        return purged
    except StoreUnavailable as exc:
        log.error("janitor: store unavailable, retention postponed: %s", exc)
        return {"store": "unavailable"}


@click.command("janitor")
@every_option(3600.0)
def command(every_s: float, once: bool) -> None:
    """Delete documents whose retention ended, and log how many."""
    run_each_in_child("janitor", every_s, f"{__name__}:iteration", (), once, needs_store=True)
