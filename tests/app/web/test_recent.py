"""A complete lookup answered again for LOOKUP_CACHE_S seconds: no upstream request, no fault seen,
nothing degraded ever kept, and gone when its time is up."""
from __future__ import annotations

import datetime as dt
import signal

from flask import Flask
from sitekit import FailingApi, PredictorPool, RailwayReader, SiteFactory, confirmtkt_reply, utcnow, waitlisted_pnrs

from app.services.lookup import Lookup
from app.services.recent import RecentLookups

PNR = "2412345678"


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def with_clock(site: Flask, seconds: float) -> Clock:
    clock = Clock()
    site.extensions["pnr_recent"] = RecentLookups(seconds, clock=clock)
    return clock


def test_a_refresh_inside_the_window_costs_no_request_to_the_status_api(
    make_site: SiteFactory, failing_api: FailingApi
) -> None:
    site = make_site(SOURCE="http", HTTP_BASE_URL=failing_api.url, HTTP_API_KEY="k", HTTP_SHAPE="confirmtkt",
                     HTTP_RETRIES=0)
    clock = with_clock(site, site.config["LOOKUP_CACHE_S"])
    client = site.test_client()
    journey = dt.date.today() + dt.timedelta(days=20)
    failing_api.reply = confirmtkt_reply(PNR, journey, 45, 12)
    first = client.get(f"/api/v1/pnr/{PNR}")
    assert first.status_code == 200 and failing_api.requests == 1
    failing_api.reply = confirmtkt_reply(PNR, journey, 45, 9)

    clock.now += site.config["LOOKUP_CACHE_S"] - 0.5
    again = client.get(f"/api/v1/pnr/{PNR}")
    page = client.get(f"/pnr/{PNR}")
    assert failing_api.requests == 1
    assert again.get_data() == first.get_data() and "GNWL 12" in page.get_data(as_text=True)
    assert again.headers["Cache-Control"] == "no-store"  # kept by us, never by a shared cache

    clock.now += 0.5
    fresh = client.get(f"/api/v1/pnr/{PNR}").get_json()
    assert failing_api.requests == 2
    assert fresh["pnr"]["passengers"][0]["current_status"]["text"] == "GNWL 9"
    assert [h["current_statuses"][0]["text"] for h in fresh["history"]] == ["GNWL 12", "GNWL 9"]


def test_a_fault_inside_the_window_is_not_seen_and_a_degraded_answer_is_never_kept(
    make_site: SiteFactory, predictors: PredictorPool
) -> None:
    site = make_site(PREDICTOR_ENDPOINTS=predictors.endpoints)
    clock = with_clock(site, 30)
    client = site.test_client()
    pnr = waitlisted_pnrs(site)[0]
    assert client.get(f"/api/v1/pnr/{pnr}").get_json()["prediction_available"] is True
    predictors.signal(signal.SIGSTOP)
    try:
        assert client.get(f"/api/v1/pnr/{pnr}").get_json()["prediction_available"] is True
        clock.now += 30
        degraded = client.get(f"/api/v1/pnr/{pnr}").get_json()
        assert degraded["prediction_available"] is False
    finally:
        predictors.signal(signal.SIGCONT)
    # Same moment, predictors back: the degraded answer was not kept.
    assert client.get(f"/api/v1/pnr/{pnr}").get_json()["prediction_available"] is True


def test_switched_off_every_lookup_asks_the_source(make_site: SiteFactory, failing_api: FailingApi) -> None:
    site = make_site(SOURCE="http", HTTP_BASE_URL=failing_api.url, HTTP_API_KEY="k", HTTP_SHAPE="confirmtkt",
                     HTTP_RETRIES=0, LOOKUP_CACHE_S=0)
    failing_api.reply = confirmtkt_reply(PNR, dt.date.today() + dt.timedelta(days=20), 45, 12)
    client = site.test_client()
    assert [client.get(f"/api/v1/pnr/{PNR}").status_code for _ in range(3)] == [200] * 3
    assert failing_api.requests == 3


def _lookups(n: int) -> list[Lookup]:
    source = RailwayReader(seed=2013)
    now = utcnow()
    return [Lookup(source.get_status(pnr, now), {}) for pnr in source.sample_pnrs(now, n)]


def test_bounded_least_recently_used_first_and_incomplete_lookups_are_not_kept() -> None:
    clock = Clock()
    recent = RecentLookups(30, max_pnrs=2, clock=clock)
    a, b, c = _lookups(3)
    for result in (a, b):
        recent.put(result)
    assert recent.get(a.status.pnr) is a  # a is now the most recently used
    recent.put(c)
    assert recent.get(b.status.pnr) is None and recent.get(a.status.pnr) is a and len(recent) == 2
    clock.now += 30
    assert recent.get(a.status.pnr) is None

    for degraded in (Lookup(a.status, {}, prediction_error="down"), Lookup(a.status, {}, store_error="down"),
                     Lookup(a.status, {}, source_error="down")):
        recent.put(degraded)
        assert recent.get(a.status.pnr) is None
    off = RecentLookups(0, clock=clock)
    off.put(a)
    assert off.get(a.status.pnr) is None
