"""Track this PNR: subscribe with an address, confirm by mail (double opt-in), unsubscribe.

Links from mail only show a page with a button (GET changes nothing): mail scanners that open every
link must not confirm a subscription nobody wanted. One-click unsubscribe (RFC 8058) POSTs straight
to the link, so that POST needs no CSRF token: the signed link itself is the proof.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, render_template, request
from werkzeug.exceptions import BadRequest

from ..alerts import MailSettings, deliver
from ..domain.pnr import PnrStatus, validate_pnr
from ..services.mails import (
    CONFIRM_PATH,
    CONFIRM_SALT,
    UNSUBSCRIBE_PATH,
    UNSUBSCRIBE_SALT,
    BadLink,
    confirmation_mail,
    read_link,
)
from ..services.sources import get_source
from ..services.store import Store, StoreUnavailable, get_store, utcnow
from .security import is_email, mask_email

log = logging.getLogger(__name__)

bp = Blueprint("tracking", __name__)


class TrackingUnavailable(Exception):
    """The store cannot keep subscriptions right now; lookups still work."""


def _store() -> Store:
    try:
        store = get_store()
        store.ping()
    except StoreUnavailable as exc:
        log.error("tracking unavailable, store down: %s", exc)
        raise TrackingUnavailable(str(exc)) from exc
    return store


def _current_status(store: Store, pnr: str) -> PnrStatus:
    """The status the visitor just saw (stored by their lookup), else the source's."""
    try:
        status = store.last_snapshot(pnr)
    except StoreUnavailable as exc:
        raise TrackingUnavailable(str(exc)) from exc
    return status if status is not None else get_source().get_status(pnr, utcnow())


@bp.post("/pnr/<pnr>/track")
def track(pnr: str) -> str:
    """Store an unconfirmed subscription and mail the confirmation link."""
    pnr = validate_pnr(pnr)
    address = (request.form.get("email") or "").strip().lower()
    if not is_email(address):
        raise BadRequest("That does not look like an e-mail address; please check it and try again.")
    store = _store()
    status = _current_status(store, pnr)
    try:
        token = store.subscribe(pnr, address, status.journey_date)
        existing = store.subscription(token)
    except StoreUnavailable as exc:
        log.error("tracking unavailable, subscription of %s not stored: %s", pnr, exc)
        raise TrackingUnavailable(str(exc)) from exc
    masked = mask_email(address)
    if existing and existing.get("confirmed"):
        return render_template("track.html", state="already", pnr=pnr, masked=masked)
    settings = MailSettings.from_config(current_app.config)
    if not deliver(settings, confirmation_mail(status, address, token)):
        log.warning("confirmation mail for PNR %s spooled: SMTP is failing", pnr)
    return render_template("track.html", state="sent", pnr=pnr, masked=masked,
                           hours=current_app.config["TRACK_CONFIRM_HOURS"])


def _subscription(signed: str, salt: str) -> tuple[Store, str, dict[str, Any] | None]:
    try:
        token = read_link(signed, salt)
    except BadLink as exc:
        raise BadRequest(str(exc)) from None
    store = _store()
    try:
        return store, token, store.subscription(token)
    except StoreUnavailable as exc:
        raise TrackingUnavailable(str(exc)) from exc


@bp.get(CONFIRM_PATH + "<signed>")
def confirm_form(signed: str) -> str:
    """The page a confirmation link opens: one button, so that link scanners confirm nothing."""
    _, _, sub = _subscription(signed, CONFIRM_SALT)
    if sub is None:
        return render_template("track.html", state="gone"), 404  # type: ignore[return-value]
    return render_template("track.html", state="confirm", pnr=sub["pnr"], masked=mask_email(sub["email"]),
                           confirmed=sub.get("confirmed", False), signed=signed)


@bp.post(CONFIRM_PATH + "<signed>")
def confirm(signed: str) -> str:
    """Confirm the subscription; from now on the tracker mails every change."""
    store, token, sub = _subscription(signed, CONFIRM_SALT)
    if sub is None:
        return render_template("track.html", state="gone"), 404  # type: ignore[return-value]
    try:
        store.confirm_subscription(token)
        last = store.last_snapshot(sub["pnr"])
        if last is not None and not sub.get("notified_digest"):
            # The subscriber has just seen this status; the first mail is the next change.
            store.mark_notified(token, last, final=False)
    except StoreUnavailable as exc:
        raise TrackingUnavailable(str(exc)) from exc
    return render_template("track.html", state="confirmed", pnr=sub["pnr"], masked=mask_email(sub["email"]))


@bp.get(UNSUBSCRIBE_PATH + "<signed>")
def unsubscribe_form(signed: str) -> str:
    """The page an unsubscribe link opens: one button."""
    _, _, sub = _subscription(signed, UNSUBSCRIBE_SALT)
    if sub is None:
        return render_template("track.html", state="unsubscribed")
    return render_template("track.html", state="unsubscribe", pnr=sub["pnr"], masked=mask_email(sub["email"]),
                           signed=signed)


@bp.post(UNSUBSCRIBE_PATH + "<signed>")
def unsubscribe(signed: str) -> str:
    """Delete the subscription and its address (also RFC 8058 one-click, without a CSRF token)."""
    store, token, _ = _subscription(signed, UNSUBSCRIBE_SALT)
    try:
        sub = store.unsubscribe(token)
    except StoreUnavailable as exc:
        raise TrackingUnavailable(str(exc)) from exc
    return render_template("track.html", state="unsubscribed", pnr=sub["pnr"] if sub else None)
