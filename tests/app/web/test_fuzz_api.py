"""Schemathesis against the served OpenAPI document: thousands of generated requests, valid and not,
against the real simulator, predictors and store; no 5xx, and every answer matches the document."""
from __future__ import annotations

import collections

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.modes import GenerationMode
from sitekit import SiteFactory

# A valid PNR costs a real first lookup (simulator, seeding the store, predictor); an invalid one is cheap.
CASES = {GenerationMode.POSITIVE: 200, GenerationMode.NEGATIVE: 1800}


@pytest.mark.parametrize("mode", list(CASES), ids=lambda m: m.value)
def test_generated_requests_get_documented_answers_and_never_a_server_error(
    make_site: SiteFactory, mode: GenerationMode
) -> None:
    # The limiter in memory: it is tested elsewhere, and here it would only add a store write per case.
    site = make_site(RATE_LIMIT_STORAGE="memory")
    operation = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", site)["/api/v1/pnr/{pnr}"]["GET"]
    statuses: collections.Counter[int] = collections.Counter()

    @settings(max_examples=CASES[mode], deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: schemathesis.Case) -> None:
        # Every built-in check: no server error, documented status, content type, headers and schema.
        response = case.call_and_validate()
        statuses[response.status_code] += 1

    call()
    print(f"schemathesis {mode.value}: {sum(statuses.values())} requests, by status: {dict(sorted(statuses.items()))}")
    assert sum(statuses.values()) >= 0.9 * CASES[mode] and not [s for s in statuses if s >= 500]
    if mode is GenerationMode.POSITIVE:
        assert statuses[200] > 0.8 * CASES[mode]  # real lookups, with chances and history
    else:
        assert statuses[400] > 0.8 * CASES[mode]  # refusals, as error objects
