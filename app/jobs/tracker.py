"""tracker: polls tracked PNRs, stores each new status, and mails confirmed subscribers on change.

What a pass does is app/jobs/tracking.py. Each pass runs in a short-lived child
(loop.run_each_in_child), so that the job, which waits five minutes for every few seconds of work,
carries neither pymongo nor the status source between passes.
"""
from __future__ import annotations

import datetime as dt

import click

from .loop import every_option, run_each_in_child


def _moment(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected an ISO time such as 2026-12-04T18:00:00+00:00, got {value!r}") from None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


@click.command("tracker")
@every_option(300.0)
@click.option("--now", "now", callback=_moment, metavar="ISO-TIME",
              help="Poll the source as of this time instead of the clock (replaying a past or simulated day); UTC if no offset.")
def command(every_s: float, once: bool, now: dt.datetime | None) -> None:
    """Poll every PNR with a confirmed subscription and mail its subscribers on change."""
    run_each_in_child("tracker", every_s, f"{__package__}.tracking:iteration", (now,), once, needs_store=True)
