"""janitor: retention. Snapshots, PNRs and subscriptions (personal data) go once past their journey."""
from __future__ import annotations

import logging
from typing import Any

import click

from ..store import StoreUnavailable, get_store, utcnow
from .loop import every_option, run_every

log = logging.getLogger(__name__)


@click.command("janitor")
@every_option(3600.0)
def command(every_s: float, once: bool) -> None:
    """Delete documents whose retention ended, and log how many."""

    def iteration() -> dict[str, Any]:
        try:
            return get_store().purge_expired(utcnow())
        except StoreUnavailable as exc:
            log.error("janitor: store unavailable, retention postponed: %s", exc)
            return {"store": "unavailable"}

    run_every("janitor", every_s, iteration, once)
