"""The JSON API: its answers, its error objects, its rate limit shared by every worker."""
from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json

import pytest
from flask import Flask
from sitekit import SiteFactory, utcnow, waitlisted_pnrs

from app.domain.pnr import PnrNotFound


def unknown_pnr(site: Flask) -> str:
    """A well-formed PNR the simulator answers "not found" for."""
    source = site.extensions["pnr_source"]
    for n in itertools.count(2400000001):
        try:
            source.get_status(str(n), utcnow())
        except PnrNotFound:
            return str(n)
        assert n < 2400002000, "the simulator flushes some PNRs"
    raise AssertionError


def test_a_lookup_answers_status_chances_and_history(site: Flask) -> None:
    pnr = waitlisted_pnrs(site)[0]
    r = site.test_client().get(f"/api/v1/pnr/{pnr}")
    assert r.status_code == 200 and r.mimetype == "application/json"
    body = r.get_json()
    assert body["pnr"]["pnr"] == pnr and body["prediction_available"] and body["tracking_available"]
    assert not body["stale"] and body["prediction_error"] is None and body["history"]
    waitlisted = [p for p in body["pnr"]["passengers"] if p["current_status"]["code"] == "WL"]
    assert waitlisted
    for p in waitlisted:
        pr = p["prediction"]
        assert abs(pr["p_cnf"] + pr["p_rac"] + pr["p_wl"] - 1) < 1e-6 and pr["expected_final"] in {"CNF", "RAC", "WL"}
    assert r.headers["Cache-Control"] == "no-store"


def test_a_history_sent_again_is_the_same_json_and_a_stored_status_shows_in_the_next(make_site: SiteFactory) -> None:
    """The history's JSON is kept per history version: asked afresh again, a body is still what
    jsonify writes (compact, keys sorted) with the same history; a status stored meanwhile (by
    the tracker, another worker) is in the very next answer."""
    site = make_site(LOOKUP_CACHE_S=0)
    pnr, client = waitlisted_pnrs(site)[0], site.test_client()
    first, again = client.get(f"/api/v1/pnr/{pnr}"), client.get(f"/api/v1/pnr/{pnr}")
    assert first.status_code == again.status_code == 200
    for r in (first, again):
        assert r.data == (json.dumps(r.get_json(), sort_keys=True, separators=(",", ":")) + "\n").encode()
    assert again.get_json()["history"] == first.get_json()["history"]

    store = site.extensions["pnr_store"]
    [latest] = store.history(pnr)[-1:]
    moved = dataclasses.replace(latest, as_of=latest.as_of + dt.timedelta(seconds=1), chart_prepared=True)
    assert store.record_snapshot(moved)
    history = client.get(f"/api/v1/pnr/{pnr}").get_json()["history"]
    assert len(history) == len(first.get_json()["history"]) + 1
    assert moved.as_of.astimezone(dt.UTC).isoformat() in [h["as_of"] for h in history]


def test_errors_are_objects_with_code_and_message(site: Flask) -> None:
    client = site.test_client()
    for path, status, code in (("/api/v1/pnr/123", 400, "invalid_pnr"), ("/api/v1/pnr/0123456789", 400, "invalid_pnr"),
                               (f"/api/v1/pnr/{unknown_pnr(site)}", 404, "pnr_not_found"),
                               ("/api/v1/nothing-here", 404, "not_found")):
        r = client.get(path)
        assert r.status_code == status and r.mimetype == "application/json", path
        body = r.get_json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"} and body["error"]["code"] == code
    r = client.post("/api/v1/pnr/2412345678")
    assert r.status_code == 405 and r.get_json()["error"]["code"] == "method_not_allowed"


def test_lookups_are_limited_per_client_across_pages_and_api_with_a_429_object(make_site: SiteFactory) -> None:
    site = make_site(RATE_LIMIT_LOOKUP="3/minute")
    client = site.test_client()
    pnr = waitlisted_pnrs(site)[0]
    assert client.get(f"/api/v1/pnr/{pnr}").status_code == 200
    assert client.get(f"/pnr/{pnr}").status_code == 200
    assert client.get(f"/api/v1/pnr/{pnr}").status_code == 200
    r = client.get(f"/api/v1/pnr/{pnr}")
    assert r.status_code == 429 and r.get_json()["error"]["code"] == "too_many_requests"
    assert int(r.headers["Retry-After"]) > 0
    page = client.get(f"/pnr/{pnr}")
    assert page.status_code == 429 and "Slow down" in page.get_data(as_text=True)
    # Another client address has its own budget; the document and the health checks are never limited.
    other = client.get(f"/api/v1/pnr/{pnr}", environ_base={"REMOTE_ADDR": "127.0.0.9"})
    assert other.status_code == 200
    assert all(client.get(p).status_code == 200 for p in ("/api/v1/openapi.json", "/healthz", "/"))


@pytest.mark.parametrize("storage", ["host", "mongo"])
def test_two_workers_share_one_count(make_site: SiteFactory, storage: str) -> None:
    worker_a, worker_b = (make_site(RATE_LIMIT_LOOKUP="4/minute", RATE_LIMIT_STORAGE=storage) for _ in range(2))
    pnr = waitlisted_pnrs(worker_a)[0]
    codes = [w.test_client().get(f"/api/v1/pnr/{pnr}").status_code for w in (worker_a, worker_b) * 3]
    assert codes == [200, 200, 200, 200, 429, 429]


def test_behind_a_trusted_proxy_the_forwarded_client_is_limited(make_site: SiteFactory) -> None:
    site = make_site(RATE_LIMIT_LOOKUP="1/minute", TRUSTED_PROXIES=1)
    client = site.test_client()
    pnr = waitlisted_pnrs(site)[0]

    def get(client_ip: str) -> int:
        return client.get(f"/api/v1/pnr/{pnr}", headers={"X-Forwarded-For": client_ip}).status_code

    assert [get("203.0.113.1"), get("203.0.113.1"), get("203.0.113.2")] == [200, 429, 200]


def test_the_openapi_document_is_served(site: Flask) -> None:
    doc = site.test_client().get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1") and "/api/v1/pnr/{pnr}" in doc["paths"]
    responses = doc["paths"]["/api/v1/pnr/{pnr}"]["get"]["responses"]
    assert {"200", "400", "404", "429", "503"} <= set(responses)
