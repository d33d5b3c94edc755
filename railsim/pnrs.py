"""PNR numbers as the railway issues them (DOMAIN §1.1), and the two ways a lookup fails.

The railway's own rules, not the site's: the site cleans up what visitors type before it asks;
the railway only answers for ten digits that do not start with 0.
"""
from __future__ import annotations

import re

PNR_LENGTH = 10
_PNR = re.compile(r"[1-9][0-9]{9}")


class InvalidPnr(ValueError):
    """The text is not a PNR; the message names the rule it breaks."""


class PnrNotFound(LookupError):
    """A well-formed PNR with no booking behind it (never issued, or flushed after the journey)."""


def validate_pnr(text: object) -> str:
    """The PNR itself, or InvalidPnr naming the rule broken."""
    if not isinstance(text, str) or not text.isascii() or not text.isdigit():
        raise InvalidPnr("a PNR is 10 digits")
    if len(text) != PNR_LENGTH:
        raise InvalidPnr(f"a PNR is exactly {PNR_LENGTH} digits, not {len(text)}")
    if not _PNR.fullmatch(text):
        raise InvalidPnr("a PNR cannot start with 0: its first digit names the issuing zone (1-9)")
    return text
