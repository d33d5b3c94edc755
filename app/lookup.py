"""A PNR lookup as the page and the API both need it: status, snapshot, history, predictions.

Each dependency fails on its own terms: the predictor down leaves the status with "prediction
unavailable", the store down leaves the status without history or tracking, the source down
falls back to the last stored snapshot. Only a source failure with nothing stored is an error.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from flask import current_app

from . import predictions
from .pnr import PnrStatus, SourceUnavailable, validate_pnr
from .sources import Source
from .store import StoreUnavailable, get_store, utcnow

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Lookup:
    """Everything the PNR page and the API show for one PNR."""

    status: PnrStatus
    predictions: dict[int, dict[str, Any]]
    prediction_error: str | None = None
    history: list[PnrStatus] = dataclasses.field(default_factory=list)
    store_error: str | None = None
    source_error: str | None = None

    @property
    def stale(self) -> bool:
        """True when the status is the last stored snapshot because the source is down."""
        return self.source_error is not None


def get_source() -> Source:
    """The configured status source, built once per process by create_app."""
    return current_app.extensions["pnr_source"]


def lookup(text: str, now: dt.datetime | None = None) -> Lookup:
    """Look a PNR up; raises InvalidPnr, PnrNotFound, or SourceUnavailable with nothing stored."""
    pnr = validate_pnr(text)
    now = now or utcnow()
    store_error = None
    try:
        status = get_source().get_status(pnr, now)
    except SourceUnavailable as exc:
        log.error("status source unavailable for %s: %s", pnr, exc)
        try:
            last = get_store().last_snapshot(pnr)
        except StoreUnavailable as store_exc:
            log.error("store unavailable while the source is down: %s", store_exc)
            last = None
        if last is None:
            raise
        return Lookup(last, {}, "the status source is down", get_store_history(pnr)[0], None, str(exc))
    try:
        get_store().record_snapshot(status)
    except StoreUnavailable as exc:
        log.error("store unavailable, snapshot of %s not recorded: %s", pnr, exc)
        store_error = str(exc)
    history, history_error = get_store_history(pnr) if store_error is None else ([], store_error)
    result = Lookup(status, {}, history=history, store_error=store_error or history_error)
    try:
        result.predictions = predictions.predict(status)
    except predictions.PredictorUnavailable as exc:
        log.error("predictor pool unavailable: %s", exc)
        result.prediction_error = "prediction unavailable, retrying"
    return result


def get_store_history(pnr: str) -> tuple[list[PnrStatus], str | None]:
    """The stored history, or an empty one and the reason when the store is down."""
    try:
        return get_store().history(pnr), None
    except StoreUnavailable as exc:
        log.error("store unavailable, no history for %s: %s", pnr, exc)
        return [], str(exc)
