"""Server-rendered pages: the home form, the PNR page, the method page and the health checks.

The site is the `pages` blueprint with its children (the PNR pages, tracking); registering it also
sets up what protects every response (app.web.security), so create_app needs no more than this.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, cast

from flask import Blueprint, Flask, current_app, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from werkzeug.wrappers import Response

from ..domain.pnr import PnrError, validate_pnr
from ..services.lookup import lookup
from ..services.mails import PNR_PATH
from ..services.predictions import (
    LIKELY_MIN_P,
    UNLIKELY_BELOW_P,
    PredictorUnavailable,
    get_predictor,
)
from ..services.sources import get_source
from ..services.store import StoreUnavailable, get_store, utcnow
from . import api, chart, filters, security, tracking
from .errors import SOURCE_RETRY_AFTER_S

log = logging.getLogger(__name__)

bp = Blueprint("pages", __name__, template_folder="templates", static_folder="static", static_url_path="/assets")
pnr_bp = Blueprint("pnr", __name__)
bp.register_blueprint(pnr_bp)
bp.register_blueprint(tracking.bp)

SAMPLE_PNRS = 3
SAMPLES_TTL_S = 600.0


@bp.record_once
def _protect(state: BlueprintSetupState) -> None:
    app = cast(Flask, state.app)
    csrf, limiter = security.init_app(app)
    csrf.exempt(f"{tracking.unsubscribe.__module__}.{tracking.unsubscribe.__name__}")
    security.limit_lookups(app, limiter, [f"{bp.name}.{pnr_bp.name}", f"{api.bp.name}.{api.lookups.name}"])
    security.limit_tracking(app, limiter, tracking.bp, f"{bp.name}.{tracking.bp.name}")
    filters.init_app(app)


def sample_pnrs() -> list[str]:
    """A few PNRs that are waitlisted now (railsim only: a real status API knows none), found once per SAMPLES_TTL_S per process:
    finding them takes a fraction of a second, too much for every view of the home page."""
    sample = getattr(get_source(), "sample_pnrs", None)
    if sample is None:
        return []
    cached = current_app.extensions.get("pnr_samples")
    if cached is not None and cached[0] > time.monotonic():
        return list(cached[1])
    try:
        samples = list(sample(utcnow(), SAMPLE_PNRS))
    except PnrError as exc:
        log.warning("no sample PNRs for the home page: %s", exc)
        samples = []
    current_app.extensions["pnr_samples"] = (time.monotonic() + SAMPLES_TTL_S, samples)
    return samples


@bp.get("/")
def index() -> str:
    """The PNR form, with a few PNRs that are waitlisted right now (railsim only)."""
    return render_template("index.html", samples=sample_pnrs())


@bp.get("/about")
def about() -> str:
    """How the chances are estimated, what the bands mean, and what is kept for how long."""
    return render_template("about.html", likely=round(LIKELY_MIN_P * 100), unlikely=round(UNLIKELY_BELOW_P * 100))


@pnr_bp.get("/pnr")
def form() -> Response:
    """The form's GET target: validate, then redirect to the PNR's own address."""
    pnr = validate_pnr(request.args.get("pnr", ""))
    return redirect(url_for("pages.pnr.page", pnr=pnr))


@pnr_bp.get(PNR_PATH + "<pnr>")
def page(pnr: str) -> tuple[str, int] | tuple[str, int, dict[str, str]]:
    """Per-passenger statuses and chances; 503 when only a stored snapshot could be shown."""
    result = lookup(pnr)
    svg = chart.history_svg(result.history or [result.status], result.status)
    if result.stale:
        return render_template("pnr.html", r=result, s=result.status, chart=svg), 503, {"Retry-After": str(SOURCE_RETRY_AFTER_S)}
    return render_template("pnr.html", r=result, s=result.status, chart=svg), 200


@bp.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    """Process alive; checks no dependency (supervisord's httpok and load balancers use it)."""
    return {"status": "ok"}, 200


def _check(name: str, probe: Callable[[], object], down: type[Exception]) -> str:
    """"ok", or "unavailable: why" (logged as an error: readiness failing is worth a mail)."""
    try:
        probe()
        return "ok"
    except down as exc:
        log.error("readyz: %s unavailable: %s", name, exc)
        return f"unavailable: {exc}"


@bp.get("/readyz")
def readyz() -> tuple[dict[str, Any], int]:
    """Ready to serve: the store answers a ping and at least one predictor of the pool does."""
    checks = {
        "store": _check("store", lambda: get_store().ping(), StoreUnavailable),
        "predictor": _check("predictor pool", lambda: get_predictor().ping(), PredictorUnavailable),
    }
    ready = all(v == "ok" for v in checks.values())
    # The code this worker runs: ./scripts/deploy waits until every answer names the new commit.
    return ({"status": "ready" if ready else "not ready", "checks": checks,
             "version": current_app.extensions["pnr_version"]}, 200 if ready else 503)
