"""Personal data is kept only as long as the settings say: the janitor job against the real store."""
from __future__ import annotations

import datetime as dt

from flask import Flask
from sitekit import csrf_token, links, mails_to, utcnow, waitlisted_pnrs
from support import SmtpSink, wait_for

from app.jobs import janitor
from app.services.store import get_store


def subscribe(site: Flask, sink: SmtpSink, pnr: str, address: str, confirm: bool) -> None:
    client = site.test_client()
    token = csrf_token(client.get(f"/pnr/{pnr}").get_data(as_text=True))
    assert client.post(f"/pnr/{pnr}/track", data={"email": address, "csrf_token": token}).status_code == 200
    if confirm:
        mail = wait_for(lambda: mails_to(sink, address), 10, "the confirmation mail")[0]
        path = next(u for u in links(mail) if "/track/confirm/" in u).removeprefix("http://pnr.test")
        page = client.get(path).get_data(as_text=True)
        assert client.post(path, data={"csrf_token": csrf_token(page)}).status_code == 200


def counts(site: Flask) -> dict[str, int]:
    with site.app_context():
        db = get_store().db
        return {name: db[name].count_documents({}) for name in ("pnrs", "snapshots", "subscriptions")}


def test_unconfirmed_addresses_go_when_their_link_expires_and_everything_after_the_journey(
    site: Flask, smtp_sink: SmtpSink
) -> None:
    now = utcnow()
    pnr = waitlisted_pnrs(site, 1, now)[0]
    subscribe(site, smtp_sink, pnr, "kept@example.in", confirm=True)
    subscribe(site, smtp_sink, pnr, "never.confirmed@example.in", confirm=False)
    before = counts(site)
    assert before["subscriptions"] == 2 and before["snapshots"] > 1 and before["pnrs"] == 1

    with site.app_context():
        assert janitor.iteration(now)["unconfirmed"] == 0
        link_expired = now + dt.timedelta(hours=site.config["TRACK_CONFIRM_HOURS"], minutes=1)
        assert janitor.iteration(link_expired)["unconfirmed"] == 1
        assert [s["email"] for s in get_store().db.subscriptions.find()] == ["kept@example.in"]

        journey = site.extensions["pnr_source"].get_status(pnr, now).journey_date
        last_day = dt.datetime.combine(journey, dt.time(), dt.UTC) + dt.timedelta(days=site.config["RETENTION_DAYS"])
        assert janitor.iteration(last_day - dt.timedelta(minutes=1)) == {"snapshots": 0, "subscriptions": 0, "pnrs": 0, "unconfirmed": 0}
        purged = janitor.iteration(last_day + dt.timedelta(minutes=1))
    assert purged == {"snapshots": before["snapshots"], "subscriptions": 1, "pnrs": 1, "unconfirmed": 0}
    assert counts(site) == {"pnrs": 0, "snapshots": 0, "subscriptions": 0}
