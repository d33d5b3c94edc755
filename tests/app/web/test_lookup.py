"""Lookups and the store: a repeated lookup writes nothing, a new status is recorded once and every worker shows it."""
from __future__ import annotations

import datetime as dt

import pymongo
from flask import Flask
from pymongo import monitoring
from sitekit import SiteFactory, utcnow, waitlisted_pnrs

from app.services.lookup import Lookup, lookup
from app.services.store import Store, status_digest

WRITE_COMMANDS = {"insert", "update", "delete", "findAndModify"}


class Commands(monitoring.CommandListener):
    """Every command one client sends: (name, collection)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, object]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent.append((event.command_name, event.command.get(event.command_name)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def writes(self) -> list[tuple[str, object]]:
        return [c for c in self.sent if c[0] in WRITE_COMMANDS]

    def on(self, collection: str) -> list[tuple[str, object]]:
        return [c for c in self.sent if c[1] == collection]


def watched_store(site: Flask) -> Commands:
    """Give a site (before its first lookup) a store whose client reports every command it sends."""
    cfg = site.config
    commands = Commands()
    client: pymongo.MongoClient = pymongo.MongoClient(cfg["MONGO_URI"], event_listeners=[commands], tz_aware=True,
                                                      serverSelectionTimeoutMS=cfg["MONGO_TIMEOUT_MS"])
    site.extensions["pnr_store"] = Store(client, cfg["MONGO_DB"], cfg["RETENTION_DAYS"])
    return commands


def lookup_at(site: Flask, pnr: str, now: dt.datetime) -> Lookup:
    """One lookup by `site` as of `now`, as a request would make it."""
    with site.test_request_context():
        return lookup(pnr, now)


def dumped(result: Lookup) -> list[dict]:  # type: ignore[type-arg]
    return [h.to_dict() for h in result.history]


def coming_change(site: Flask, now: dt.datetime) -> tuple[str, dt.datetime]:
    """A waitlisted PNR and a moment after `now` when its status is one it never had before."""
    source = site.extensions["pnr_source"]
    for pnr in waitlisted_pnrs(site, 10, now):
        before = {status_digest(s) for s in source.history(pnr, now)} | {status_digest(source.get_status(pnr, now))}
        chart = source.get_status(pnr, now).chart_time
        for change in source.history(pnr, chart):
            later = change.as_of + dt.timedelta(minutes=1)
            if change.as_of > now and not change.chart_prepared and status_digest(source.get_status(pnr, later)) not in before:
                return pnr, later
    raise AssertionError("no waitlisted PNR moves before its chart")


def test_looking_up_an_unchanged_status_again_writes_nothing_and_reads_no_history(site: Flask) -> None:
    commands = watched_store(site)
    pnr, now = waitlisted_pnrs(site)[0], utcnow()
    first = lookup_at(site, pnr, now)
    assert first.history and first.store_error is None
    assert commands.on("snapshots") and commands.writes()  # the first lookup seeds the history

    commands.sent.clear()
    again = [lookup_at(site, pnr, now) for _ in range(3)]
    assert commands.writes() == []
    assert commands.on("snapshots") == []  # the history parsed before is still the stored one
    assert len(commands.on("pnrs")) == 3  # ...which one small read per lookup confirms
    assert all(dumped(r) == dumped(first) and r.store_error is None for r in again)


def test_a_new_status_is_stored_once_and_every_worker_shows_it(make_site: SiteFactory) -> None:
    worker_a, worker_b = make_site(), make_site()
    now = utcnow()
    pnr, later = coming_change(worker_a, now)
    before = lookup_at(worker_a, pnr, now)
    assert dumped(lookup_at(worker_b, pnr, now)) == dumped(before)

    after = lookup_at(worker_a, pnr, later)
    assert len(after.history) == len(before.history) + 1
    assert status_digest(after.history[-1]) == status_digest(after.status)
    assert dumped(lookup_at(worker_a, pnr, later)) == dumped(after)
    # Worker B has the older history parsed, and the source still gives it a status that is in it:
    # the history version the store keeps tells it that the history has grown.
    assert dumped(lookup_at(worker_b, pnr, now)) == dumped(after)
    assert dumped(lookup_at(worker_b, pnr, later)) == dumped(after)
    store = worker_a.extensions["pnr_store"]
    assert store.db.snapshots.count_documents({"pnr": pnr}) == len(after.history)


def test_a_pnr_stored_without_a_history_version_gets_one_then_costs_no_writes(site: Flask) -> None:
    commands = watched_store(site)
    pnr, now = waitlisted_pnrs(site)[0], utcnow()
    first = lookup_at(site, pnr, now)
    store = site.extensions["pnr_store"]
    store.db.pnrs.update_one({"_id": pnr}, {"$unset": {"history_version": ""}})
    site.extensions["pnr_histories"] = None  # a new process

    assert dumped(lookup_at(site, pnr, now)) == dumped(first)
    assert store.history_version(pnr) is not None
    commands.sent.clear()
    assert dumped(lookup_at(site, pnr, now)) == dumped(first)
    assert commands.writes() == []
