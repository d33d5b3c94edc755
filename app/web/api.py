"""The JSON API under /api/v1/: one PNR's status, chances and history; the OpenAPI document.

Errors are {"error": {"code", "message"}} (app.web.errors). A 503 while the status source is down
carries the last stored status as `last_known` when there is one.
"""
from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, jsonify
from werkzeug.wrappers import Response

from plumbing.kept import Kept

from .. import services
from ..domain.pnr import PnrStatus, SeatStatus
from ..services.lookup import Lookup, lookup
from . import openapi
from .errors import SOURCE_RETRY_AFTER_S

bp = Blueprint("api", __name__, url_prefix="/api/v1")
# The lookups, apart so that the rate limit counts them and not the document.
lookups = Blueprint("lookups", __name__)

PREDICTION_KEYS = ("p_cnf", "p_rac", "p_wl", "band", "expected_final", "expected_position")
# Histories kept as JSON, per PNR and history version (a history of tens of snapshots is most of a
# body, and it changes only when a status is stored): a few KB each.
KEPT_HISTORIES = 256


def seat_json(seat: SeatStatus) -> dict[str, Any]:
    """A seat status with the text a status page would print."""
    return {**seat.to_dict(), "text": str(seat)}


def status_json(status: PnrStatus, predictions: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """A PNR status, each passenger with their prediction (or null)."""
    d = status.to_dict()
    d["passengers"] = [
        {
            "number": p.number,
            "booking_status": seat_json(p.booking_status),
            "current_status": seat_json(p.current_status),
            "prediction": ({k: pr.get(k) for k in PREDICTION_KEYS} if (pr := predictions.get(p.number)) else None),
        }
        for p in status.passengers
    ]
    return d


def lookup_json(result: Lookup) -> dict[str, Any]:
    """The API's representation of a lookup."""
    return {**_head_json(result), "history": history_json(result.history)}


def _head_json(result: Lookup) -> dict[str, Any]:
    return {
        "pnr": status_json(result.status, result.predictions),
        "prediction_available": result.prediction_error is None,
        "prediction_error": result.prediction_error,
        "tracking_available": result.store_error is None and not result.stale,
        "stale": result.stale,
    }


def history_json(history: list[PnrStatus]) -> list[dict[str, Any]]:
    """A history as the API shows it: each snapshot's time, chart flag and current statuses."""
    return [
        {"as_of": h.as_of.astimezone(dt.UTC).isoformat(), "chart_prepared": h.chart_prepared,
         "current_statuses": [seat_json(p.current_status) for p in h.passengers]}
        for h in history
    ]


def _history_encoded(result: Lookup, dumps: Callable[[Any], str]) -> str:
    """The history of `result` as `dumps` writes it, made once per (PNR, history version) in this process."""
    if result.history_version is None:
        return dumps(history_json(result.history))
    kept: Kept[tuple[str, str], str] = services.current().shared("pnr_kept_histories", lambda: Kept(KEPT_HISTORIES))
    key = (result.status.pnr, result.history_version)
    encoded = kept.get(key)
    if encoded is None:
        encoded = dumps(history_json(result.history))
        kept.put(key, encoded)
    return encoded


def _body(result: Lookup) -> bytes:
    """What jsonify(lookup_json(result)) sends, byte for byte, with the history as kept (_history_encoded)."""
    provider = current_app.json
    compact = getattr(provider, "compact", None)
    if compact is False or (compact is None and current_app.debug) or not getattr(provider, "sort_keys", False):
        return jsonify(lookup_json(result)).get_data()  # indented, or keys in another order: made whole
    dumps = functools.partial(provider.dumps, separators=(",", ":"))
    head = dumps(_head_json(result))
    # Keys sorted: "history" comes before every other key of the body.
    return f'{{"history":{_history_encoded(result, dumps)},{head[1:]}\n'.encode()


@lookups.get("/pnr/<pnr>")
def pnr_status(pnr: str) -> tuple[Response, int]:
    """Status, predictions and history of one PNR; 503 with the last stored status while the source is down."""
    result = lookup(pnr)
    if result.stale:
        error = {"code": "source_unavailable",
                 "message": "The PNR status service is not answering right now; last_known is the newest "
                            "status we stored. Please try again in a few minutes."}
        response = jsonify(error=error, last_known=lookup_json(result))
        response.headers["Retry-After"] = str(SOURCE_RETRY_AFTER_S)
        return response, 503
    # A lookup answered again (app.services.recent) is sent as the bytes it was first sent as.
    body = result.rendered.get("api")
    if body is None:
        body = result.rendered["api"] = _body(result)
    return current_app.response_class(body, mimetype="application/json"), 200


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """The OpenAPI 3.1 document of this API."""
    return jsonify(openapi.document())


bp.register_blueprint(lookups)
