"""Each dependency down in turn, for real: the visitor gets the defined answer, never a 500, and it is logged."""
from __future__ import annotations

import datetime as dt
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pymongo
import pytest
from flask import Flask
from sitekit import (
    FailingApi,
    Gunicorn,
    PredictorPool,
    SiteFactory,
    as_environment,
    confirmtkt_reply,
    csrf_token,
    mails_to,
    site_config,
    utcnow,
    waitlisted_pnrs,
)
from support import MongoServer, Railsim, SmtpSink, over_quota, wait_for

from app.domain.pnr import PnrStatus

PNR = "2412345678"
ALERT_TO = "oncall@pnr.test"
# Every lookup here asks its dependencies afresh: one answered again from app.services.recent would not meet
# the fault at all (tests/app/test_recent.py shows that, and that a fault is never kept).
FRESH = {"LOOKUP_CACHE_S": 0}


Logged = Callable[[str], list[str]]


@pytest.mark.parametrize("how", ["killed", "frozen"])
def test_predictor_pool_down_the_status_is_still_shown_without_chances(
    make_site: SiteFactory, predictors: PredictorPool, logged_errors: Logged, how: str
) -> None:
    site = make_site(PREDICTOR_ENDPOINTS=predictors.endpoints, **FRESH)
    client = site.test_client()
    pnr = waitlisted_pnrs(site)[0]
    assert client.get(f"/api/v1/pnr/{pnr}").get_json()["prediction_available"]
    predictors.signal(signal.SIGKILL if how == "killed" else signal.SIGSTOP)

    page = client.get(f"/pnr/{pnr}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-notice="prediction"' in html and "Passenger 1" in html
    assert "Chance unavailable" in html and "Current status" in html
    api = client.get(f"/api/v1/pnr/{pnr}")
    body = api.get_json()
    assert api.status_code == 200 and body["prediction_available"] is False and "unavailable" in body["prediction_error"]
    assert all(p["prediction"] is None for p in body["pnr"]["passengers"]) and body["tracking_available"]
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["checks"]["predictor"].startswith("unavailable")
    assert ready.get_json()["checks"]["store"] == "ok"
    assert logged_errors("predictor pool unavailable")

    if how == "frozen":
        predictors.signal(signal.SIGCONT)
        wait_for(lambda: client.get("/readyz").status_code == 200, 10, "the thawed pool ready")
        assert client.get(f"/api/v1/pnr/{pnr}").get_json()["prediction_available"]


def test_source_failing_with_nothing_stored_is_a_clear_503(
    make_site: SiteFactory, failing_api: FailingApi, logged_errors: Logged
) -> None:
    site = make_site(SOURCE="http", HTTP_BASE_URL=failing_api.url, HTTP_API_KEY="k", HTTP_SHAPE="confirmtkt", HTTP_RETRIES=0,
                     **FRESH)
    client = site.test_client()
    page = client.get(f"/pnr/{PNR}")
    assert page.status_code == 503
    assert "Temporarily unavailable" in page.get_data(as_text=True) and 'data-code="source_unavailable"' in page.get_data(as_text=True)
    api = client.get(f"/api/v1/pnr/{PNR}")
    assert api.status_code == 503 and api.get_json() == {
        "error": {"code": "source_unavailable", "message": api.get_json()["error"]["message"]}}
    # Not mailed per lookup: an outage is one mail, from the breaker (app/alerts/upstream.py).
    assert not logged_errors("status source unavailable")


def test_source_failing_shows_the_last_stored_status_with_503(
    make_site: SiteFactory, failing_api: FailingApi, logged_errors: Logged
) -> None:
    site = make_site(SOURCE="http", HTTP_BASE_URL=failing_api.url, HTTP_API_KEY="k", HTTP_SHAPE="confirmtkt", HTTP_RETRIES=0,
                     **FRESH)
    client = site.test_client()
    failing_api.reply = confirmtkt_reply(PNR, dt.date.today() + dt.timedelta(days=20), 45, 12)
    assert client.get(f"/pnr/{PNR}").status_code == 200
    failing_api.failing = True

    page = client.get(f"/pnr/{PNR}")
    html = page.get_data(as_text=True)
    assert page.status_code == 503 and "last status we stored" in html and "GNWL 12" in html and "GNWL 45" in html
    assert 'name="email"' not in html and 'data-notice="tracking"' in html
    api = client.get(f"/api/v1/pnr/{PNR}")
    body = api.get_json()
    assert api.status_code == 503 and body["error"]["code"] == "source_unavailable"
    last = body["last_known"]
    assert last["stale"] is True and last["tracking_available"] is False
    assert last["pnr"]["passengers"][0]["current_status"]["text"] == "GNWL 12" and len(last["history"]) == 1
    # Not mailed per lookup: an outage is one mail, from the breaker (app/alerts/upstream.py).
    assert not logged_errors("status source unavailable")


def test_store_stopped_lookups_still_work_and_tracking_says_it_is_unavailable(
    make_site: SiteFactory, mongo_server: MongoServer, smtp_sink: SmtpSink, logged_errors: Logged
) -> None:
    site = make_site(MONGO_URI=mongo_server.uri, MONGO_TIMEOUT_MS=300, RATE_LIMIT_LOOKUP="5/minute",
                     RATE_LIMIT_STORAGE="mongo", **FRESH)
    client = site.test_client()
    pnr = waitlisted_pnrs(site)[0]
    token = csrf_token(client.get(f"/pnr/{pnr}").get_data(as_text=True))
    mongo_server.stop()

    page = client.get(f"/pnr/{pnr}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Passenger 1" in html and 'class="chance' in html
    assert 'data-notice="tracking"' in html and 'name="email"' not in html and '<svg class="history"' in html
    body = client.get(f"/api/v1/pnr/{pnr}").get_json()
    assert body["tracking_available"] is False and body["prediction_available"] is True and body["history"] == []
    r = client.post(f"/pnr/{pnr}/track", data={"email": "someone@example.in", "csrf_token": token})
    assert r.status_code == 503 and 'data-code="tracking_unavailable"' in r.get_data(as_text=True)
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["checks"]["store"].startswith("unavailable")
    assert smtp_sink.received() == []
    assert logged_errors("store unavailable")
    # Counts kept in the store still hold, in memory while it is down (2 lookups counted so far).
    codes = [client.get(f"/api/v1/pnr/{pnr}").status_code for _ in range(6)]
    assert codes == [200, 200, 200, 429, 429, 429]


def test_store_stopped_lookups_do_not_each_wait_for_it(make_site: SiteFactory, mongo_server: MongoServer) -> None:
    """The first lookup waits for the store; the next ones neither ask a store known to be down nor let
    the rate limiter wait the store's whole timeout each time it looks for it again (after 1, 2, 4 s)."""
    site = make_site(MONGO_URI=mongo_server.uri, MONGO_TIMEOUT_MS=3000, **FRESH)
    client = site.test_client()
    pnr = waitlisted_pnrs(site)[0]
    assert client.get(f"/api/v1/pnr/{pnr}").status_code == 200
    mongo_server.stop()
    assert client.get(f"/api/v1/pnr/{pnr}").get_json()["tracking_available"] is False
    latencies = []
    end = time.monotonic() + 4.5
    while time.monotonic() < end:
        started = time.monotonic()
        r = client.get(f"/api/v1/pnr/{pnr}")
        latencies.append(time.monotonic() - started)
        assert r.status_code == 200 and r.get_json()["prediction_available"] is True
    assert max(latencies) < 2.0, sorted(latencies)[-5:]  # each look for the store: 0.5 s, or 1 s with the headers


def test_store_over_quota_is_like_a_store_down(
    make_site: SiteFactory, mongo_server: MongoServer, logged_errors: Logged
) -> None:
    site = make_site(MONGO_URI=mongo_server.uri, **FRESH)
    client = site.test_client()
    pnr = waitlisted_pnrs(site)[0]
    with pymongo.MongoClient(mongo_server.uri, serverSelectionTimeoutMS=2000) as admin, over_quota(admin):
        page = client.get(f"/pnr/{pnr}")
        assert page.status_code == 200 and 'data-notice="tracking"' in page.get_data(as_text=True)
        assert client.get(f"/api/v1/pnr/{pnr}").get_json()["tracking_available"] is False
    assert logged_errors("12501")  # the server's quota-exceeded code, in the message that is mailed
    body = client.get(f"/api/v1/pnr/{pnr}").get_json()
    assert body["tracking_available"] is True and body["history"]


def test_under_gunicorn_a_degradation_is_mailed_to_on_call_and_limits_span_the_workers(
    tmp_path: Path, shared_mongo: MongoServer, predictors: PredictorPool, smtp_sink: SmtpSink, railsim: Railsim
) -> None:
    settings = site_config(tmp_path / "var", shared_mongo.uri, f"g{uuid.uuid4().hex[:12]}", predictors.endpoints,
                           smtp_sink.port, railsim.port)
    settings.update(ALERT_MAIL=True, ALERT_TO=ALERT_TO, RATE_LIMIT_LOOKUP="6/minute", **FRESH)
    assert as_environment(settings)["PNR_PREDICTOR_ENDPOINTS"].count("tcp://") == 2
    web = Gunicorn(settings, tmp_path / "gunicorn.log").start()
    try:
        from railsim.railway import Railway

        pnr = Railway(seed=settings["SIM_SEED"]).sample_pnrs(utcnow(), 1)[0]
        assert web.get(f"/pnr/{pnr}")[0] == 200
        predictors.signal(signal.SIGKILL)
        status, html = web.get(f"/pnr/{pnr}")
        assert status == 200 and 'data-notice="prediction"' in html
        alert = wait_for(lambda: mails_to(smtp_sink, ALERT_TO), 20, "the alert mail")[0]
        assert "predictor pool unavailable" in alert.get_content()
        codes = [web.get(f"/api/v1/pnr/{pnr}")[0] for _ in range(6)]
        assert codes == [200, 200, 200, 200, 429, 429]  # 2 page lookups above + 4: one count for both workers
    finally:
        web.stop()


def test_an_unexpected_error_is_a_friendly_500_page_not_a_traceback(site: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """The last resort: whatever breaks, the visitor gets the site's page and no internals."""
    def broken(*_: object) -> PnrStatus:
        raise RuntimeError("internal detail that must not leak")

    monkeypatch.setattr(site.extensions["pnr_source"], "get_status", broken)
    r = site.test_client().get(f"/pnr/{PNR}")
    assert r.status_code == 500 and "internal detail" not in r.get_data(as_text=True)
    assert "on-call engineer has been told" in r.get_data(as_text=True)
    api = site.test_client().get(f"/api/v1/pnr/{PNR}")
    assert api.status_code == 500 and api.get_json()["error"]["code"] == "internal_error"


def test_a_store_refusing_writes_is_an_error_even_when_every_lookup_is_answered_from_memory(
    make_site: SiteFactory, mongo_server: MongoServer, logged_errors: Logged
) -> None:
    """Lookups of known statuses write nothing, and repeats are answered from memory: the quota
    outage would reach nobody until a visitor subscribed. A lookup checks the store's writes every
    WRITE_CHECK_S; the visitor's answer is untouched."""
    from app.services.lookup import WRITE_CHECK_S

    site = make_site(MONGO_URI=mongo_server.uri, LOOKUP_CACHE_S=3600)
    client = site.test_client()
    pnr = waitlisted_pnrs(site)[0]
    first = client.get(f"/api/v1/pnr/{pnr}").get_json()
    assert first["prediction_available"] and first["tracking_available"] and not logged_errors("unavailable")
    with pymongo.MongoClient(mongo_server.uri, serverSelectionTimeoutMS=2000) as admin, over_quota(admin):
        assert client.get(f"/api/v1/pnr/{pnr}").get_json() == first  # inside WRITE_CHECK_S: not checked
        assert not logged_errors("12501")
        site.extensions["pnr_next_write_check"] -= WRITE_CHECK_S  # the check is due
        assert client.get(f"/api/v1/pnr/{pnr}").get_json() == first
    assert logged_errors("store unavailable for writes") and logged_errors("12501")
