"""The lookup budget: its headers, its refusals, and its counts when the file that holds them fails."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sitekit import SiteFactory, waitlisted_pnrs


def test_every_counted_lookup_says_what_is_left_of_the_minute(make_site: SiteFactory) -> None:
    site = make_site(RATE_LIMIT_LOOKUP="3/minute;10/hour", LOOKUP_CACHE_S=30)
    client = site.test_client()
    pnr = waitlisted_pnrs(site)[0]
    answers = [client.get(path) for path in (f"/api/v1/pnr/{pnr}", f"/pnr/{pnr}", f"/api/v1/pnr/{pnr}")]
    assert [r.status_code for r in answers] == [200, 200, 200]  # the third answered from memory, yet counted
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["2", "1", "0"]
    assert all(r.headers["X-RateLimit-Limit"] == "3" for r in answers)
    refused = client.get(f"/api/v1/pnr/{pnr}")
    assert refused.status_code == 429 and "3 per 1 minute" in refused.get_json()["error"]["message"]
    assert 0 < int(refused.headers["Retry-After"]) <= 60 and "X-RateLimit-Remaining" not in refused.headers
    # The document and the health checks are not lookups: never counted, never refused.
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert "X-RateLimit-Limit" not in client.get("/healthz").headers


def test_counts_file_unusable_lookups_go_on_counted_in_memory_and_it_is_an_error(
    make_site: SiteFactory, tmp_path: Path, logged_errors: Callable[[str], list[str]]
) -> None:
    var = tmp_path / "broken-var"
    (var / "run" / "ratelimit.sqlite3").mkdir(parents=True)  # a directory where the file should be
    site = make_site(VAR_DIR=str(var), RATE_LIMIT_LOOKUP="4/minute")
    client = site.test_client()
    pnr = waitlisted_pnrs(site)[0]
    codes = [client.get(f"/api/v1/pnr/{pnr}").status_code for _ in range(6)]
    assert codes == [200, 200, 200, 200, 429, 429]
    assert logged_errors("rate-limit counts file unavailable")
