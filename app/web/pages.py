"""Server-rendered pages: the home form and the PNR page."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ..lookup import get_source, lookup
from ..pnr import validate_pnr
from ..store import utcnow

bp = Blueprint("pages", __name__)

SAMPLE_PNRS = 3


@bp.get("/")
def index() -> str:
    """The PNR form, with a few PNRs to try."""
    try:
        samples = get_source().sample_pnrs(utcnow(), SAMPLE_PNRS)
    except (AttributeError, NotImplementedError):
        samples = []
    return render_template("index.html", samples=samples)


@bp.get("/pnr")
def pnr_form() -> Response:
    """The form's GET target: validate, then redirect to the PNR's own address."""
    pnr = validate_pnr(request.args.get("pnr", ""))
    return redirect(url_for("pages.pnr_page", pnr=pnr))


@bp.get("/pnr/<pnr>")
def pnr_page(pnr: str) -> tuple[str, int]:
    """Per-passenger statuses and predictions; 503 when only a stored snapshot could be shown."""
    result = lookup(pnr)
    return render_template("pnr.html", r=result, s=result.status), 503 if result.stale else 200


@bp.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    """Process alive; checks no dependency (supervisord's httpok and load balancers use it)."""
    return {"status": "ok"}, 200
