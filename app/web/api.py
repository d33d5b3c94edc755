"""The JSON API under /api/v1/."""
from __future__ import annotations

from typing import Any

from flask import Blueprint

from ..lookup import Lookup, lookup

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def lookup_json(result: Lookup) -> dict[str, Any]:
    """The API's representation of a lookup: the status plus a prediction per passenger."""
    status = result.status.to_dict()
    for passenger in status["passengers"]:
        passenger["prediction"] = result.predictions.get(passenger["number"])
    return {
        "pnr": status,
        "prediction_available": result.prediction_error is None,
        "prediction_error": result.prediction_error,
        "tracking_available": result.store_error is None,
        "stale": result.stale,
        "history": [h.to_dict() for h in result.history],
    }


@bp.get("/pnr/<pnr>")
def pnr_status(pnr: str) -> tuple[dict[str, Any], int]:
    """Status, predictions and history of one PNR."""
    result = lookup(pnr)
    return lookup_json(result), 503 if result.stale else 200
