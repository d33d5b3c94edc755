"""Subscriber mail: the signed links, the confirmation mail and the status mails the tracker sends.

A link carries the subscription's random token signed with SECRET_KEY (itsdangerous), so a forged or
mistyped link is refused before the store is asked, and a confirmation link expires.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from plumbing.zones import IST

from .. import services
from ..domain.pnr import PnrStatus, StatusCode

# The site's addresses the mails link to (app/web routes them, with the PNR or <signed> after).
PNR_PATH = "/pnr/"
CONFIRM_PATH = "/track/confirm/"
UNSUBSCRIBE_PATH = "/track/unsubscribe/"
CONFIRM_SALT = "pnr.me track confirm"
UNSUBSCRIBE_SALT = "pnr.me track unsubscribe"

__all__ = ["BadLink", "change_mail", "change_message_id", "confirmation_mail", "public_url", "read_link", "sign"]


class BadLink(ValueError):
    """A tracking link that is forged, damaged or (for confirmation) expired; the message says which."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(services.current().config["SECRET_KEY"])


def sign(token: str, salt: str) -> str:
    """The URL-safe signed form of a subscription token, for one purpose (salt)."""
    return _serializer().dumps(token, salt=salt)


def read_link(signed: str, salt: str) -> str:
    """The token inside a signed link; raises BadLink. Only confirmation links expire."""
    max_age = services.current().config["TRACK_CONFIRM_HOURS"] * 3600 if salt == CONFIRM_SALT else None
    try:
        return str(_serializer().loads(signed, salt=salt, max_age=max_age))
    except SignatureExpired:
        raise BadLink("this confirmation link has expired; ask for tracking again on the PNR page") from None
    except BadSignature:
        raise BadLink("this link is not valid (it may have been cut short by your mail program)") from None


def public_url(path: str) -> str:
    """An absolute address on the public site, built without a request (the tracker has none)."""
    return services.current().config["PUBLIC_URL"].rstrip("/") + path


def change_message_id(token: str, status_digest: str) -> str:
    """The one Message-ID of the mail telling one subscriber one status: a copy sent again after a
    crash is the same message to the reader's mail program, and spooling it again replaces it."""
    key = hashlib.sha256(f"{token}|{status_digest}".encode()).hexdigest()[:32]  # the token is a secret
    host = urlsplit(services.current().config["PUBLIC_URL"]).hostname or "localhost"
    return f"<change-{key}@{host}>"


def _ist(moment: dt.datetime) -> str:
    return moment.astimezone(IST).strftime("%a %d %b %H:%M IST")


def _unsubscribe(message: EmailMessage, token: str) -> str:
    """Add RFC 2369/8058 one-click unsubscribe headers; returns the link for the body."""
    link = public_url(UNSUBSCRIBE_PATH + sign(token, UNSUBSCRIBE_SALT))
    message["List-Unsubscribe"] = f"<{link}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return link


def _journey(status: PnrStatus) -> str:
    return (f"Train {status.train_number} {status.train_name}, {status.journey_date:%a %d %b %Y}, "
            f"{status.from_station} to {status.to_station}, class {status.journey_class.value}, quota {status.quota}")


def confirmation_mail(status: PnrStatus, to: str, token: str) -> EmailMessage:
    """The double opt-in mail: nothing more is sent unless its link is followed."""
    message = EmailMessage()
    message["To"] = to
    message["Subject"] = f"Confirm tracking of PNR {status.pnr}"
    confirm = public_url(CONFIRM_PATH + sign(token, CONFIRM_SALT))
    unsubscribe = _unsubscribe(message, token)
    hours = services.current().config["TRACK_CONFIRM_HOURS"]
    message.set_content(
        f"Someone (we hope you) asked pnr.me to mail this address when PNR {status.pnr} changes.\n"
        f"{_journey(status)}\n\n"
        f"To start, open this link within {hours} hours and press the button:\n{confirm}\n\n"
        "If you did not ask for this, ignore this mail: without confirmation we send nothing more,\n"
        f"and forget the address after {hours} hours. Or remove it now: {unsubscribe}\n"
    )
    return message


def _passenger_lines(status: PnrStatus, previous: PnrStatus | None, predictions: dict[int, dict[str, Any]]) -> list[str]:
    before = {p.number: p.current_status for p in previous.passengers} if previous else {}
    lines = []
    for p in status.passengers:
        now = str(p.current_status)
        was = str(before[p.number]) if p.number in before else None
        change = f"{was} -> {now}" if was and was != now else now
        line = f"Passenger {p.number}: {change} (booked {p.booking_status})"
        if (pr := predictions.get(p.number)) is not None:
            line += f"; chance of confirmation {round(pr['p_cnf'] * 100)}% ({pr['band']})"
        lines.append(line)
    return lines


def final_words(status: PnrStatus) -> str:
    """What the final chart means for the passengers, in one sentence."""
    codes = {p.current_status.code for p in status.passengers if p.current_status.code is not StatusCode.CAN}
    if status.train_cancelled:
        return "The train is cancelled."
    if codes <= {StatusCode.CNF}:
        return "Final result: confirmed. Have a good journey."
    if codes <= {StatusCode.CNF, StatusCode.RAC}:
        return "Final result: you can travel (RAC passengers share a berth)."
    if StatusCode.WL in codes and codes & {StatusCode.CNF, StatusCode.RAC}:
        return ("Final result: partly confirmed. Passengers still waitlisted cannot board; an e-ticket's "
                "waitlisted passengers are cancelled and refunded automatically.")
    return ("Final result: not confirmed. A waitlisted e-ticket is cancelled and refunded automatically; "
            "a counter ticket must be cancelled at a counter.")


def change_mail(status: PnrStatus, previous: PnrStatus | None, to: str, token: str,
                predictions: dict[int, dict[str, Any]], prediction_note: str | None) -> EmailMessage:
    """A status mail: every change, and the last one at the final chart with the final result."""
    message = EmailMessage()
    message["To"] = to
    statuses = ", ".join(str(p.current_status) for p in status.passengers)
    final = status.chart_prepared or status.train_cancelled
    message["Subject"] = (f"PNR {status.pnr}: chart prepared, {statuses}" if status.chart_prepared
                          else f"PNR {status.pnr}: {statuses}")
    unsubscribe = _unsubscribe(message, token)
    lines = [_journey(status), f"Status as of {_ist(status.as_of)}:", ""]
    lines += _passenger_lines(status, previous, predictions)
    if prediction_note and not final:
        lines.append(f"({prediction_note})")
    lines.append("")
    if final:
        if status.chart_prepared:
            lines.append("The final chart is prepared.")
        lines += [final_words(status), "This is the last mail about this PNR."]
    elif status.chart_time:
        lines.append(f"Chart not prepared yet; expected around {_ist(status.chart_time)}.")
    lines += ["", f"Details and history: {public_url(PNR_PATH + status.pnr)}",
              f"Stop these mails: {unsubscribe}"]
    message.set_content("\n".join(lines) + "\n")
    return message
