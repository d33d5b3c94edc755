"""Headers on every response, the secret key and debug mode refused where they would be dangerous."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from flask import Flask
from sitekit import Gunicorn, SiteFactory, site_config, waitlisted_pnrs
from support import MongoServer

from app.config import SettingsError
from app.web.security import DEV_SECRET_KEY, is_email, mask_email


def test_every_answer_carries_the_security_headers(site: Flask) -> None:
    client = site.test_client()
    pnr = waitlisted_pnrs(site)[0]
    for path in ("/", f"/pnr/{pnr}", f"/api/v1/pnr/{pnr}", "/pnr/123", "/api/v1/openapi.json", "/healthz", "/nowhere"):
        r = client.get(path)
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'none'" in csp, path
        assert r.headers["X-Frame-Options"] == "DENY" and r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer" and "Strict-Transport-Security" not in r.headers
        assert "Retry-After" not in r.headers  # only on refusals
    assert client.get(f"/pnr/{pnr}").headers["Cache-Control"] == "no-store"
    cookie = site.test_client().get(f"/pnr/{pnr}").headers["Set-Cookie"]  # the session that holds the CSRF token
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_https_sites_get_hsts_and_secure_cookies(make_site: SiteFactory) -> None:
    site = make_site(PUBLIC_URL="https://pnr.example")
    r = site.test_client().get(f"/pnr/{waitlisted_pnrs(site)[0]}")
    assert r.headers["Strict-Transport-Security"].startswith("max-age=") and "Secure" in r.headers["Set-Cookie"]


@pytest.mark.parametrize("key", [DEV_SECRET_KEY, "short"])
def test_the_built_in_or_a_short_secret_key_is_refused(make_site: SiteFactory, key: str) -> None:
    with pytest.raises(SettingsError, match="PNR_SECRET_KEY"):
        make_site(SECRET_KEY=key)


def test_debug_mode_is_refused_under_gunicorn(tmp_path: Path, shared_mongo: MongoServer) -> None:
    web = Gunicorn(site_config(tmp_path / "var", shared_mongo.uri, "debug_test", ["tcp://127.0.0.1:9"], 9, 9),
                   tmp_path / "gunicorn.log", workers=1)
    web.env["FLASK_DEBUG"] = "1"
    done = subprocess.run(web.command, cwd=tmp_path, env=web.env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode != 0 and "debug mode is for `flask run`" in done.stdout + done.stderr


@pytest.mark.parametrize(("address", "masked"), [
    ("rahul.sharma@example.in", "r***@example.in"), ("a@b.co", "a***@b.co"), ("nobody", "***"),
])
def test_addresses_are_masked(address: str, masked: str) -> None:
    assert mask_email(address) == masked


def test_what_counts_as_an_address() -> None:
    assert is_email("x@example.in") and is_email("first.last+pnr@mail.example.co.in")
    for bad in ("", "x", "x@", "@example.in", "x@example", "a b@example.in", "x@@example.in", "x" * 300 + "@e.in"):
        assert not is_email(bad), bad
