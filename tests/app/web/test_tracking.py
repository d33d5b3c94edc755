"""Track this PNR: double opt-in by mail, mail on every change and at the chart, unsubscribe, limits."""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sitekit import SiteFactory, as_environment, csrf_token, links, mails_to, site_config, utcnow, waitlisted_pnrs
from support import BIN, REPO, MongoServer, SmtpSink, wait_for

from app.jobs import tracking
from app.services.mails import CONFIRM_SALT

ADDRESS = "Rahul.Sharma@example.in"
MAIL_DEADLINE_S = 10.0


def ask_to_track(client: FlaskClient, pnr: str, address: str = ADDRESS) -> str:
    """Look the PNR up, send the tracking form; the page that answers."""
    token = csrf_token(client.get(f"/pnr/{pnr}").get_data(as_text=True))
    r = client.post(f"/pnr/{pnr}/track", data={"email": address, "csrf_token": token})
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_data(as_text=True)


def confirm(client: FlaskClient, sink: SmtpSink, address: str = ADDRESS) -> None:
    """Follow the link of the confirmation mail and press its button."""
    mail = wait_for(lambda: mails_to(sink, address), MAIL_DEADLINE_S, "the confirmation mail")[-1]
    link = next(u for u in links(mail) if "/track/confirm/" in u)
    path = link.removeprefix("http://pnr.test")
    page = client.get(path)
    assert page.status_code == 200 and "Yes, track this PNR" in page.get_data(as_text=True)
    r = client.post(path, data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    assert r.status_code == 200 and "Done:" in r.get_data(as_text=True)


def run_tracker(site: Flask, now: dt.datetime) -> dict:  # type: ignore[type-arg]
    with site.app_context():
        return tracking.iteration(now)


def coming_change(site: Flask, now: dt.datetime) -> tuple[str, dt.datetime, dt.datetime]:
    """A waitlisted PNR whose status will change before its chart: the PNR, a moment after that
    change, and a moment after the chart."""
    source = site.extensions["pnr_source"]
    for pnr in waitlisted_pnrs(site, 10, now):
        chart = source.get_status(pnr, now).chart_time
        later = [s.as_of for s in source.history(pnr, chart) if s.as_of > now and not s.chart_prepared]
        if later:
            return pnr, later[0] + dt.timedelta(minutes=1), chart + dt.timedelta(hours=1)
    raise AssertionError("no waitlisted PNR moves before its chart")


def test_double_opt_in_then_a_mail_on_change_and_a_last_one_with_the_final_result(site: Flask, smtp_sink: SmtpSink) -> None:
    client = site.test_client()
    now = utcnow()
    pnr, next_change, after_chart = coming_change(site, now)
    page = ask_to_track(client, pnr)
    assert "r***@example.in" in page and ADDRESS not in page and ADDRESS.lower() not in page
    mail = wait_for(lambda: mails_to(smtp_sink, ADDRESS), MAIL_DEADLINE_S, "the confirmation mail")[0]
    assert mail["Subject"] == f"Confirm tracking of PNR {pnr}"
    assert "/track/unsubscribe/" in mail["List-Unsubscribe"] and any("/track/unsubscribe/" in u for u in links(mail))
    assert run_tracker(site, now)["mailed"] == 0  # nothing before confirmation

    confirm(client, smtp_sink)
    assert run_tracker(site, now)["mailed"] == 0  # the status the subscriber has just seen is not news
    counts = run_tracker(site, next_change)
    assert counts["polled"] == 1 and counts["mailed"] == 1
    change = mails_to(smtp_sink, ADDRESS)[-1]
    body = change.get_content()
    assert change["Subject"].startswith(f"PNR {pnr}: ") and " -> " in body and "Chart not prepared yet" in body
    assert "/track/unsubscribe/" in change["List-Unsubscribe"] and "Stop these mails:" in body
    assert run_tracker(site, next_change)["mailed"] == 0  # told once

    assert run_tracker(site, after_chart)["mailed"] == 1
    final = mails_to(smtp_sink, ADDRESS)[-1]
    assert "chart prepared" in final["Subject"] and "Final result:" in final.get_content()
    assert "This is the last mail" in final.get_content()
    assert run_tracker(site, after_chart + dt.timedelta(days=1))["polled"] == 0
    assert len(mails_to(smtp_sink, ADDRESS)) == 3
    with site.app_context():
        from app.services.store import get_store

        assert get_store().pnrs_to_track() == []


def test_the_form_needs_its_csrf_token_and_a_real_address(site: Flask, smtp_sink: SmtpSink) -> None:
    client = site.test_client()
    pnr = waitlisted_pnrs(site)[0]
    client.get(f"/pnr/{pnr}")
    r = client.post(f"/pnr/{pnr}/track", data={"email": ADDRESS})
    assert r.status_code == 400 and "reload the page" in r.get_data(as_text=True)
    token = csrf_token(client.get(f"/pnr/{pnr}").get_data(as_text=True))
    for bad in ("not-an-address", "a@b", "two@at@example.in", "x" * 250 + "@example.in"):
        r = client.post(f"/pnr/{pnr}/track", data={"email": bad, "csrf_token": token})
        assert r.status_code == 400 and "e-mail address" in r.get_data(as_text=True)
    r = client.post(f"/pnr/{pnr}/track", data={"email": ADDRESS, "csrf_token": "forged"})
    assert r.status_code == 400
    assert smtp_sink.received() == []


def test_forged_damaged_and_expired_links_are_refused(site: Flask, smtp_sink: SmtpSink) -> None:
    client = site.test_client()
    pnr = waitlisted_pnrs(site)[0]
    ask_to_track(client, pnr)
    mail = wait_for(lambda: mails_to(smtp_sink, ADDRESS), MAIL_DEADLINE_S, "the confirmation mail")[0]
    path = next(u for u in links(mail) if "/track/confirm/" in u).removeprefix("http://pnr.test")
    assert client.get(path[:-3]).status_code == 400
    forged = URLSafeTimedSerializer("another key").dumps("a-token", salt=CONFIRM_SALT)
    assert client.get(f"/track/confirm/{forged}").status_code == 400

    class SignedLongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - (site.config["TRACK_CONFIRM_HOURS"] + 1) * 3600

    token = URLSafeTimedSerializer(site.config["SECRET_KEY"]).loads(path.rsplit("/", 1)[1], salt=CONFIRM_SALT)
    expired = URLSafeTimedSerializer(site.config["SECRET_KEY"], signer=SignedLongAgo).dumps(token, salt=CONFIRM_SALT)
    r = client.get(f"/track/confirm/{expired}")
    assert r.status_code == 400 and "expired" in r.get_data(as_text=True)
    # An unsubscribe link is not a confirmation link, even though both are signed with the same key.
    unsubscribe = next(u for u in links(mail) if "/track/unsubscribe/" in u).rsplit("/", 1)[1]
    assert client.get(f"/track/confirm/{unsubscribe}").status_code == 400


def test_unsubscribe_by_the_page_or_in_one_click_and_nothing_more_is_sent(site: Flask, smtp_sink: SmtpSink) -> None:
    client = site.test_client()
    now = utcnow()
    first, second = waitlisted_pnrs(site, 2, now)
    for pnr in (first, second):
        ask_to_track(client, pnr)
        confirm(client, smtp_sink)
    mails = mails_to(smtp_sink, ADDRESS)
    by_page = next(u for u in links(mails[0]) if "/track/unsubscribe/" in u).removeprefix("http://pnr.test")
    page = client.get(by_page)
    assert "Stop the mails" in page.get_data(as_text=True) and "r***@example.in" in page.get_data(as_text=True)
    r = client.post(by_page, data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    assert r.status_code == 200 and "the address is deleted" in r.get_data(as_text=True)
    # RFC 8058: the mail client POSTs List-Unsubscribe=One-Click to the link, with no page and no token.
    one_click = mails[1]["List-Unsubscribe"].strip("<>").removeprefix("http://pnr.test")
    r = site.test_client().post(one_click, data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    assert site.test_client().post(one_click).status_code == 200  # twice is harmless
    sent = len(mails_to(smtp_sink, ADDRESS))
    assert run_tracker(site, now + dt.timedelta(days=1))["polled"] == 0
    assert len(mails_to(smtp_sink, ADDRESS)) == sent


def test_confirmation_mails_are_limited_per_address_and_per_client(make_site: SiteFactory, smtp_sink: SmtpSink) -> None:
    site = make_site(RATE_LIMIT_TRACK_PER_ADDRESS="2/day", RATE_LIMIT_TRACK="4/minute")
    client = site.test_client()
    pnrs = waitlisted_pnrs(site, 3)
    ask_to_track(client, pnrs[0])
    ask_to_track(client, pnrs[1])
    token = csrf_token(client.get(f"/pnr/{pnrs[2]}").get_data(as_text=True))
    r = client.post(f"/pnr/{pnrs[2]}/track", data={"email": ADDRESS.upper(), "csrf_token": token})
    assert r.status_code == 429
    ask_to_track(client, pnrs[2], "someone.else@example.in")
    r = client.post(f"/pnr/{pnrs[2]}/track", data={"email": "third@example.in", "csrf_token": token})
    assert r.status_code == 429  # the client's own budget: 4 a minute
    assert len(wait_for(lambda: len(smtp_sink.received()) == 3 and smtp_sink.received(), MAIL_DEADLINE_S, "3 mails")) == 3


@pytest.mark.parametrize("state", ["sent", "already"])
def test_asking_twice_sends_nothing_new_once_confirmed(site: Flask, smtp_sink: SmtpSink, state: str) -> None:
    client = site.test_client()
    pnr = waitlisted_pnrs(site)[0]
    ask_to_track(client, pnr)
    if state == "already":
        confirm(client, smtp_sink)
    before = len(mails_to(smtp_sink, ADDRESS))
    page = ask_to_track(client, pnr)
    if state == "already":
        assert "already gets the mails" in page and len(mails_to(smtp_sink, ADDRESS)) == before
    else:
        assert "we sent a confirmation link" in page


def test_the_job_refuses_a_time_it_cannot_read(tmp_path: Path, shared_mongo: MongoServer) -> None:
    env = {**os.environ, **as_environment(site_config(tmp_path, shared_mongo.uri, "cli", ["tcp://127.0.0.1:9"], 9, 9))}
    done = subprocess.run([str(BIN / "pnr-job"), "tracker", "--once", "--now", "yesterday"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "expected an ISO time" in done.stderr


def job_environment(site: Flask) -> dict[str, str]:
    """The site's settings as the PNR_* environment supervisord gives a job."""
    names = site_config(Path("var"), "", "", [], 0, 0)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PNR_")}
    return {**env, **as_environment({name: site.config[name] for name in names}), "PATH": f"{BIN}:{env['PATH']}"}


def test_a_tracker_killed_once_the_server_has_the_change_mail_does_not_mail_it_again(site: Flask,
                                                                                     smtp_sink: SmtpSink) -> None:
    client = site.test_client()
    pnr, next_change, _ = coming_change(site, utcnow())
    ask_to_track(client, pnr)
    confirm(client, smtp_sink)
    env = job_environment(site)
    tracker_once = [str(BIN / "pnr-job"), "tracker", "--once", "--now", next_change.isoformat()]

    # The server has the change mail and the tracker waits for the answer to its goodbye: killed there.
    smtp_sink.holding_quit = True
    job = subprocess.Popen(tracker_once, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    try:
        wait_for(lambda: smtp_sink.quits_held, 60, "the tracker saying goodbye after the change mail")
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait()
        smtp_sink.holding_quit = False

    for again in (tracker_once, [str(BIN / "pnr-job"), "outbox", "--once"]):
        done = subprocess.run(again, cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
    changes = [m for m in mails_to(smtp_sink, ADDRESS) if m["Subject"].startswith(f"PNR {pnr}: ")]
    assert len(changes) == 1
