"""A PNR lookup as the page and the API both need it: status, snapshot, history, predictions.

Each dependency fails on its own terms: the predictor down leaves the status with "prediction
unavailable", the store down leaves the status without history or tracking, the source down
falls back to the last stored snapshot. Only a source failure with nothing stored is an error.

The first lookup of a PNR seeds its history from the source when the source keeps one (the
simulator does; a real status API does not), so the chart shows how the waitlist moved before
anyone asked. From then on the history is what the site and the tracker observed.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import socket
import time
from typing import Any

from .. import services
from ..domain.pnr import PnrError, PnrStatus, SourceUnavailable, validate_pnr
from . import predictions
from .histories import HistoryCache
from .recent import RecentLookups
from .sources import get_source
from .store import StoreUnavailable, get_store, utcnow

log = logging.getLogger(__name__)

PREDICTION_UNAVAILABLE = "prediction unavailable right now, retrying"
# A lookup of a status already stored writes nothing, and one answered from memory (app.services.recent) does
# not touch the store at all: a store that refuses writes (over quota, the original outage) would go
# unnoticed until a visitor subscribes. So every WRITE_CHECK_S a worker's next lookup also writes its
# heartbeat (Store.beat), and a refusal is an error mailed to on-call, naming the cause.
WRITE_CHECK_S = 10.0
SOURCE_DOWN_NOTE = "no prediction while the status service is down"


@dataclasses.dataclass
class Lookup:
    """Everything the PNR page and the API show for one PNR."""

    status: PnrStatus
    predictions: dict[int, dict[str, Any]]
    prediction_error: str | None = None
    history: list[PnrStatus] = dataclasses.field(default_factory=list)
    store_error: str | None = None
    source_error: str | None = None
    # The store's version of `history` (app.services.store.history): the same PNR and version is the
    # same history, so a view may keep what it made of it. None when the store did not say.
    history_version: str | None = None
    # Representations a view made of this lookup (the API's JSON body), kept with it by app.services.recent.
    rendered: dict[str, bytes] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @property
    def stale(self) -> bool:
        """True when the status is the last stored snapshot because the source is down."""
        return self.source_error is not None

    @property
    def complete(self) -> bool:
        """True when every dependency answered: live status, history, predictions."""
        return self.source_error is None and self.store_error is None and self.prediction_error is None


def lookup(text: str, now: dt.datetime | None = None) -> Lookup:
    """Look a PNR up; raises InvalidPnr, PnrNotFound, or SourceUnavailable with nothing stored.

    A lookup of now (no `now` given) may be a complete one made in the last LOOKUP_CACHE_S
    seconds (app.services.recent); a lookup of a given time is always made afresh.
    """
    pnr = validate_pnr(text)
    _check_writes()
    recent = get_recent() if now is None else None
    if recent is not None and (kept := recent.get(pnr)) is not None:
        return kept
    now = now or utcnow()
    try:
        status = get_source().get_status(pnr, now)
    except SourceUnavailable as exc:
        # A warning, not a mail: an outage is mailed once, by the alert listener from the breaker.
        log.warning("status source unavailable for %s: %s", pnr, exc)
        return _last_known(pnr, exc)
    history, version, store_error = _record(status, now)
    result = Lookup(status, {}, history=history, store_error=store_error, history_version=version)
    try:
        result.predictions = predictions.predict(status)
    except predictions.PredictorUnavailable as exc:
        log.error("predictor pool unavailable, PNR %s shown without prediction: %s", pnr, exc)
        result.prediction_error = PREDICTION_UNAVAILABLE
    if recent is not None:
        recent.put(result)
    return result


def _last_known(pnr: str, source_exc: SourceUnavailable) -> Lookup:
    """The newest stored snapshot while the source is down; re-raises when there is none."""
    try:
        store = get_store()
        last = store.last_snapshot(pnr)
        history = store.history(pnr) if last is not None else []
    except StoreUnavailable as exc:
        log.error("store unavailable while the source is down, no snapshot for %s: %s", pnr, exc)
        raise source_exc from None
    if last is None:
        raise source_exc
    return Lookup(last, {}, SOURCE_DOWN_NOTE, history, None, str(source_exc))


def _record(status: PnrStatus, now: dt.datetime) -> tuple[list[PnrStatus], str | None, str | None]:
    """Store the status if it is new (seeding the history on a first lookup); the history and its
    version, or the store's error.

    A status the store already holds costs one small read (the history's version) and no write;
    the history parsed at that version is reused (app.services.histories).
    """
    try:
        histories = get_histories()
        recorded = get_store().record_status(
            status, lambda version, digest: histories.get(status.pnr, version, digest),
            lambda: _source_history(status.pnr, now))
        if recorded.entries is not None:
            histories.put(status.pnr, recorded.version, recorded.entries)
        return recorded.history, recorded.version, None
    except StoreUnavailable as exc:
        log.error("store unavailable, PNR %s shown without history or tracking: %s", status.pnr, exc)
        return [], None, str(exc)


def get_histories() -> HistoryCache:
    """The process's cache of parsed histories, made on first use."""
    return services.current().shared("pnr_histories", HistoryCache)


def _check_writes() -> None:
    ext = services.current().extensions
    if time.monotonic() < ext.get("pnr_next_write_check", 0.0):
        return
    ext["pnr_next_write_check"] = time.monotonic() + WRITE_CHECK_S
    try:
        get_store().beat(f"web@{socket.gethostname()}", utcnow())
    except StoreUnavailable as exc:
        log.error("store unavailable for writes (checked every %.0f s), tracking and new snapshots fail: %s",
                  WRITE_CHECK_S, exc)


def get_recent() -> RecentLookups:
    """The process's recent complete lookups, made on first use."""
    current = services.current()
    return current.shared("pnr_recent", lambda: RecentLookups(current.config["LOOKUP_CACHE_S"]))


def _source_history(pnr: str, now: dt.datetime) -> list[PnrStatus]:
    """The source's own record of the PNR's past statuses, when it keeps one."""
    history = getattr(get_source(), "history", None)
    if history is None:
        return []
    try:
        return list(history(pnr, now))
    except PnrError as exc:
        log.warning("no source history for %s: %s", pnr, exc)
        return []

