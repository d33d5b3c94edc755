"""The visitor's pages against the real simulator, predictor daemons and store."""
from __future__ import annotations

import datetime as dt
import re

from flask import Flask, render_template
from markupsafe import escape
from sitekit import utcnow, waitlisted_pnrs

from app.services.lookup import lookup
from app.services.predictions import band
from app.web.chart import history_svg
from app.web.filters import pct


def test_home_offers_waitlisted_pnrs_and_a_form_that_needs_no_javascript(site: Flask) -> None:
    client = site.test_client()
    html = client.get("/").get_data(as_text=True)
    assert "<script" not in html and 'name="viewport"' in html
    samples = re.findall(r'href="/pnr/([0-9]{10})"', html)
    assert samples
    spaced = f"{samples[0][:4]} {samples[0][4:7]}-{samples[0][7:]}"
    r = client.get("/pnr", query_string={"pnr": spaced})
    assert r.status_code == 302 and r.headers["Location"] == f"/pnr/{samples[0]}"
    r = client.get("/pnr", query_string={"pnr": "12345"})
    assert r.status_code == 400 and "exactly 10 digits" in r.get_data(as_text=True)
    assets = re.findall(r'<link rel="(?:stylesheet|icon)" href="([^"]+)"', html)
    types = set()
    for asset in assets:
        with client.get(asset) as r:
            types.add(r.mimetype)
    assert types == {"text/css", "image/svg+xml"}


def test_the_pnr_page_answers_per_passenger_with_chance_band_and_expected_status(site: Flask) -> None:
    client = site.test_client()
    pnr = waitlisted_pnrs(site)[0]
    r = client.get(f"/pnr/{pnr}")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    status = site.extensions["pnr_source"].get_status(pnr, utcnow())
    for text in (status.train_number, status.train_name, status.journey_class.value, status.quota, "Not prepared",
                 status.journey_date.strftime("%d %b %Y")):
        assert text in html
    api = client.get(f"/api/v1/pnr/{pnr}").get_json()
    for passenger in api["pnr"]["passengers"]:
        section = html.split(f'id="passenger-{passenger["number"]}"')[1].split("</section>")[0]
        assert passenger["booking_status"]["text"] in section and passenger["current_status"]["text"] in section
        prediction = passenger["prediction"]
        if passenger["current_status"]["code"] == "WL":
            assert prediction is not None
            assert f'class="chance {prediction["band"]}"' in section and str(escape(pct(prediction["p_cnf"]))) in section
            assert prediction["band"] == band(prediction["p_cnf"]) and "Expected at chart" in section
            assert ("Chance of RAC" in section) == status.journey_class.has_rac
        else:
            assert prediction is None
    assert "<script" not in html and 'name="csrf_token"' in html and "Track this PNR" in html


def test_p_rac_is_shown_only_where_the_class_has_rac(site: Flask) -> None:
    client = site.test_client()
    source = site.extensions["pnr_source"]
    now = utcnow()
    seen = set()
    for pnr in waitlisted_pnrs(site, 30, now):
        status = source.get_status(pnr, now)
        if status.journey_class.has_rac in seen:
            continue
        seen.add(status.journey_class.has_rac)
        html = client.get(f"/pnr/{pnr}").get_data(as_text=True)
        assert ("Chance of RAC" in html) == status.journey_class.has_rac, status.journey_class
    assert seen == {True, False}


def test_the_first_lookup_seeds_the_history_from_the_source_and_the_chart_draws_it(site: Flask) -> None:
    client = site.test_client()
    pnr = waitlisted_pnrs(site)[0]
    now = utcnow()
    past = site.extensions["pnr_source"].history(pnr, now)
    assert len(past) >= 2, "pick a PNR whose waitlist has moved"
    html = client.get(f"/pnr/{pnr}").get_data(as_text=True)
    api = client.get(f"/api/v1/pnr/{pnr}").get_json()
    assert [h["as_of"] for h in api["history"]][: len(past)] == [p.to_dict()["as_of"] for p in past]
    chart = html.split('<svg class="history"')[1].split("</svg>")[0]
    changes = {str(p.current_status) for snap in past for p in snap.passengers}
    assert all(f": {c}</title>" in chart for c in changes)
    assert "chart due" in chart and "now" in chart
    # A second lookup adds nothing while nothing changed.
    again = client.get(f"/api/v1/pnr/{pnr}").get_json()
    assert len(again["history"]) == len(api["history"])


def test_after_the_chart_the_page_gives_the_final_status_and_offers_no_tracking(site: Flask) -> None:
    source = site.extensions["pnr_source"]
    now = utcnow()
    pnr = waitlisted_pnrs(site, 1, now)[0]
    after_chart = source.get_status(pnr, now).chart_time + dt.timedelta(hours=1)
    with site.test_request_context(f"/pnr/{pnr}"):
        result = lookup(pnr, after_chart)
        html = render_template("pnr.html", r=result, s=result.status, chart=history_svg(result.history, result.status))
    assert result.status.chart_prepared and result.predictions == {}
    assert "Chart prepared" in html and "will not change any more" in html and 'name="email"' not in html
    assert "chart prepared</text>" in html and "Chance unavailable" not in html


def test_not_found_bad_and_unknown_addresses_get_friendly_pages(site: Flask) -> None:
    client = site.test_client()
    for path, status, words in (("/pnr/0123456789", 400, "cannot start with 0"), ("/pnr/12ab567890", 400, "digits only"),
                                ("/no/such/page", 404, "Not found")):
        r = client.get(path)
        assert r.status_code == status and words in r.get_data(as_text=True)
        assert r.mimetype == "text/html"
    r = client.post("/pnr/2412345678")
    assert r.status_code == 405 and "<h1>" in r.get_data(as_text=True)


def test_about_explains_the_bands_and_the_retention(site: Flask) -> None:
    html = site.test_client().get("/about").get_data(as_text=True)
    assert "70% or more" in html and "under 30%" in html and f"{site.config['RETENTION_DAYS']} days" in html
