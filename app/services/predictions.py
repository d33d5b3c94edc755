"""The web app's side of the predictor pool: one client per process, and passengers -> items."""
from __future__ import annotations

import logging
from typing import Any

from predictor.client import PredictorClient, PredictorUnavailable

from .. import services
from ..domain.pnr import PnrStatus, StatusCode

log = logging.getLogger(__name__)

__all__ = ["PredictorUnavailable", "band", "get_predictor", "items_for", "predict"]

# Bands of P(CNF), as ConfirmTkt draws them ("Confirm" > 70 %, "Probable" 30-70 %, "No chance" < 30 %):
# the bands visitors already know, and wide enough that a calibrated model rarely flips a band over
# one waitlist place. The page always shows the percentage too; the band is the one-word answer.
LIKELY_MIN_P = 0.70
UNLIKELY_BELOW_P = 0.30


def get_predictor() -> PredictorClient:
    """The process's client, made on first use (after gunicorn forks; one used across a fork drops the
    parent's sockets itself), shared by the worker's threads."""
    current = services.current()
    cfg = current.config
    return current.shared("pnr_predictor", lambda: PredictorClient(
        cfg["PREDICTOR_ENDPOINTS"],
        request_timeout_ms=cfg["PREDICTOR_TIMEOUT_MS"],
        deadline_ms=cfg["PREDICTOR_DEADLINE_MS"],
    ))


def items_for(status: PnrStatus) -> list[dict[str, Any]]:
    """One prediction item per passenger still waitlisted before the chart."""
    if status.chart_prepared:
        return []
    hours = status.hours_to_chart
    items = []
    for p in status.passengers:
        current, booking = p.current_status, p.booking_status
        if current.code is not StatusCode.WL or current.position is None:
            continue
        items.append(
            {
                "id": str(p.number),
                "train_number": status.train_number,
                "journey_class": status.journey_class.value,
                "quota": current.quota or booking.quota or status.quota,
                "waitlist_type": current.waitlist_type or booking.waitlist_type or "GNWL",
                "booking_position": booking.position if booking.position is not None else current.position,
                "current_position": current.position,
                "hours_to_chart": 0.0 if hours is None else round(hours, 2),
            }
        )
    return items


def band(p_cnf: float) -> str:
    """likely / uncertain / unlikely: the one-word answer to "will it be confirmed?"."""
    if p_cnf >= LIKELY_MIN_P:
        return "likely"
    if p_cnf < UNLIKELY_BELOW_P:
        return "unlikely"
    return "uncertain"


def predict(status: PnrStatus) -> dict[int, dict[str, Any]]:
    """Predictions by passenger number; raises PredictorUnavailable when the whole pool is silent."""
    items = items_for(status)
    if not items:
        return {}
    results = get_predictor().predict(items)
    found = {}
    for r in results:
        if "error" in r:
            log.error("predictor refused item %s of PNR %s: %s", r.get("id"), status.pnr, r["error"])
            continue
        found[int(r["id"])] = {**r, "band": band(float(r["p_cnf"]))}
    return found
