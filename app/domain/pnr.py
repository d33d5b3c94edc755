"""PNR numbers, statuses and the domain types shared by the web app, the sources and the jobs."""
from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
from typing import Any, TypeVar

T = TypeVar("T")

PNR_LENGTH = 10
MAX_PASSENGERS = 6
MAX_TATKAL_PASSENGERS = 4

# First digit of a PNR -> the passenger reservation system (PRS) that issued it.
ZONE_BY_FIRST_DIGIT = {
    "1": "SCR (Secunderabad PRS)",
    "2": "NR/NCR/NWR/NER (New Delhi PRS)",
    "3": "NR/NCR/NWR/NER (New Delhi PRS)",
    "4": "SR/SWR/SCR (Chennai PRS)",
    "5": "SR/SWR/SCR (Chennai PRS)",
    "6": "NFR/ECR/ER/ECoR/SER/SECR (Kolkata PRS)",
    "7": "NFR/ECR/ER/ECoR/SER/SECR (Kolkata PRS)",
    "8": "CR/WCR/WR (Mumbai PRS)",
    "9": "CR/WCR/WR (Mumbai PRS)",
}


class PnrError(Exception):
    """Base of the domain errors a visitor can be told about."""


class InvalidPnr(PnrError, ValueError):
    """The text is not a PNR; the message names the rule it breaks."""


class PnrNotFound(PnrError):
    """A well-formed PNR the source does not know (never booked, or flushed after the journey)."""


class SourceUnavailable(PnrError):
    """The status source could not answer (down, timing out, over its quota, malformed reply)."""


class UnknownStatus(PnrError, ValueError):
    """A status string none of the known formats matches; the message names the string."""


class JourneyClass(str, enum.Enum):
    """Travel classes, by the codes printed on tickets."""

    FIRST_AC = "1A"
    SECOND_AC = "2A"
    THIRD_AC = "3A"
    THIRD_AC_ECONOMY = "3E"
    SLEEPER = "SL"
    CHAIR_CAR = "CC"
    EXECUTIVE_CHAIR = "EC"
    SECOND_SITTING = "2S"
    FIRST_CLASS = "FC"

    @property
    def has_rac(self) -> bool:
        """RAC exists only in classes with side-lower berths to share."""
        return self in RAC_CLASSES


RAC_CLASSES = frozenset(
    {JourneyClass.SECOND_AC, JourneyClass.THIRD_AC, JourneyClass.THIRD_AC_ECONOMY, JourneyClass.SLEEPER}
)


class StatusCode(str, enum.Enum):
    """What a passenger's status says, whatever string format it came in."""

    CNF = "CNF"
    RAC = "RAC"
    WL = "WL"
    CAN = "CAN"
    REGRET = "REGRET"
    RELEASED = "RELEASED"
    NOSB = "NOSB"


@dataclasses.dataclass(frozen=True)
class SeatStatus:
    """One status of one passenger: `position` is a queue number only for WL and RAC."""

    code: StatusCode
    position: int | None = None
    coach: str | None = None
    berth: int | None = None
    berth_code: str | None = None
    waitlist_type: str | None = None
    quota: str | None = None

    def __str__(self) -> str:
        if self.code is StatusCode.WL:
            return f"{self.waitlist_type or 'WL'} {self.position}"
        if self.code is StatusCode.RAC:
            seat = f" {self.coach} {self.berth}" if self.coach and self.berth else ""
            return f"RAC {self.position}{seat}" if self.position else f"RAC{seat}"
        if self.code is StatusCode.CNF:
            parts = ["CNF", self.coach, str(self.berth) if self.berth else None, self.berth_code]
            return "/".join(p for p in parts if p)
        return self.code.value

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict; the inverse of `from_dict`."""
        # Field by field rather than dataclasses.asdict, which deep-copies: this runs for every
        # passenger of every snapshot a lookup shows.
        d = {name: getattr(self, name) for name in _SEAT_FIELDS}
        d["code"] = self.code.value
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], shared: Shared | None = None) -> SeatStatus:
        """Rebuild from `to_dict` output (store documents, API payloads); `shared` as for PnrStatus."""
        one = (shared or NOT_SHARED).one
        return one(cls(**{k: one(v) for k, v in d.items() if k != "code"}, code=StatusCode(d["code"])))


@dataclasses.dataclass(frozen=True)
class Passenger:
    """A passenger of a PNR: the status at booking and the status now."""

    number: int
    booking_status: SeatStatus
    current_status: SeatStatus

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict; the inverse of `from_dict`."""
        return {
            "number": self.number,
            "booking_status": self.booking_status.to_dict(),
            "current_status": self.current_status.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], shared: Shared | None = None) -> Passenger:
        """Rebuild from `to_dict` output; `shared` as for PnrStatus."""
        return (shared or NOT_SHARED).one(cls(
            number=d["number"],
            booking_status=SeatStatus.from_dict(d["booking_status"], shared),
            current_status=SeatStatus.from_dict(d["current_status"], shared),
        ))


@dataclasses.dataclass(frozen=True)
class PnrStatus:
    """The answer to "status of PNR X at time t": journey facts and every passenger."""

    pnr: str
    train_number: str
    train_name: str
    journey_date: dt.date
    from_station: str
    to_station: str
    journey_class: JourneyClass
    quota: str
    chart_prepared: bool
    passengers: tuple[Passenger, ...]
    as_of: dt.datetime
    departure: dt.datetime | None = None
    chart_time: dt.datetime | None = None
    boarding_point: str | None = None
    reservation_upto: str | None = None
    booking_date: dt.date | None = None
    train_cancelled: bool = False

    @property
    def hours_to_chart(self) -> float | None:
        """Hours from `as_of` until the final chart, 0 once it is prepared."""
        if self.chart_prepared:
            return 0.0
        if self.chart_time is None:
            return None
        return max(0.0, (self.chart_time - self.as_of).total_seconds() / 3600.0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (ISO dates, UTC datetimes); the inverse of `from_dict`."""
        d = {name: getattr(self, name) for name in _STATUS_FIELDS}
        d["journey_class"] = self.journey_class.value
        d["passengers"] = [p.to_dict() for p in self.passengers]
        for key in ("journey_date", "booking_date"):
            d[key] = d[key].isoformat() if d[key] else None
        for key in ("as_of", "departure", "chart_time"):
            d[key] = _utc(d[key]).isoformat() if d[key] else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], shared: Shared | None = None) -> PnrStatus:
        """Rebuild from `to_dict` output.

        The statuses of one history repeat the journey's facts and most passengers' statuses: parsed
        with one `shared`, equal values (strings, dates, seat statuses, passengers) are one object, which
        makes a parsed history about a third of the size it would be.
        """
        d = dict(d)
        d["journey_class"] = JourneyClass(d["journey_class"])
        d["passengers"] = tuple(Passenger.from_dict(p, shared) for p in d["passengers"])
        for key in ("journey_date", "booking_date"):
            d[key] = dt.date.fromisoformat(d[key]) if d.get(key) else None
        for key in ("as_of", "departure", "chart_time"):
            value = d.get(key)
            if isinstance(value, str):
                value = dt.datetime.fromisoformat(value)
            d[key] = _utc(value) if value else None
        one = (shared or NOT_SHARED).one
        return cls(**{k: one(v) for k, v in d.items() if k in _STATUS_NAMES})


class Shared:
    """One object for each distinct value met while parsing (PnrStatus.from_dict): frozen values only.

    Values are told apart by type as well, so that True never stands for 1, nor the string "WL" for
    StatusCode.WL, which compare equal.
    """

    def __init__(self) -> None:
        self._values: dict[tuple[type, Any], Any] = {}

    def one(self, value: T) -> T:
        """`value`, or the equal value of the same type met before."""
        if value is None or isinstance(value, (bool, int, float)):
            return value
        try:
            return self._values.setdefault((type(value), value), value)
        except TypeError:  # unhashable: kept as it is
            return value


class _NotShared(Shared):
    """Parsing without sharing: every value is its own."""

    def one(self, value: T) -> T:
        return value


NOT_SHARED = _NotShared()


_SEAT_FIELDS = tuple(f.name for f in dataclasses.fields(SeatStatus))
_STATUS_FIELDS = tuple(f.name for f in dataclasses.fields(PnrStatus))
_STATUS_NAMES = frozenset(_STATUS_FIELDS)


def _utc(value: dt.datetime) -> dt.datetime:
    """Treat naive datetimes (as pymongo returns them) as UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


_DIGITS = re.compile(r"[0-9]+")


def validate_pnr(text: object) -> str:
    """Return the canonical 10-digit PNR, or raise InvalidPnr naming the rule broken."""
    if not isinstance(text, str):
        raise InvalidPnr("a PNR must be text of 10 digits")
    pnr = text.strip().replace(" ", "").replace("-", "")
    if not pnr:
        raise InvalidPnr("a PNR must be 10 digits; nothing was given")
    if not _DIGITS.fullmatch(pnr) or not pnr.isascii():
        raise InvalidPnr("a PNR must contain digits only")
    if len(pnr) != PNR_LENGTH:
        raise InvalidPnr(f"a PNR must be exactly {PNR_LENGTH} digits, not {len(pnr)}")
    if pnr[0] not in ZONE_BY_FIRST_DIGIT:
        raise InvalidPnr("a PNR cannot start with 0: its first digit names the issuing zone (1-9)")
    return pnr


# --- Status strings -------------------------------------------------------------------------------
# One parser for the formats of indianrail.gov.in (2013), CRIS/IRCTC, ConfirmTkt, railwayapi and
# indianrailapi. A number is a queue position only for WL and RAC; next to a coach it is a berth.
# Whatever the grammar below does not cover raises UnknownStatus rather than being guessed.

# RLGN is how an RLWL booking is printed on a ticket; it is normalised to RLWL so that the model and
# the simulator see one name for one queue.
WAITLIST_TYPES = frozenset({"GNWL", "RLWL", "PQWL", "RSWL", "RQWL", "TQWL", "CKWL", "LDWL"})
WAITLIST_TYPE_ALIASES = {"RLGN": "RLWL"}
# The quota a waitlist type draws from, for sources that give no journey-level quota (RQWL has none).
QUOTA_BY_WAITLIST_TYPE = {wl: wl[:2] for wl in WAITLIST_TYPES - {"RQWL"}}
QUOTA_CODES = frozenset({"GN", "TQ", "CK", "PT", "LD", "SS", "LB", "HP", "DF", "FT", "YU", "HO", "PH", "DP",
                         "RE", "PQ", "RL", "RS", "GNRS", "OS", "RC"})
# Berth codes win over quota codes where a token could be either ("LB": lower berth or its quota).
BERTH_CODES = frozenset({"LB", "MB", "UB", "SL", "SM", "SU", "WS", "MS", "AS"})
JOURNEY_CLASS_ALIASES = {"1AC": "1A", "2AC": "2A", "3AC": "3A", "SLEEPER": "SL"}
MAX_QUEUE_NUMBER = 9999

_WORDS = {"CNF": StatusCode.CNF, "CONFIRMED": StatusCode.CNF, "CAN": StatusCode.CAN, "CAN/MOD": StatusCode.CAN,
          "CANCELLED": StatusCode.CAN, "REGRET": StatusCode.REGRET, "REGRET/WL": StatusCode.REGRET,
          "RELEASED": StatusCode.RELEASED, "NOSB": StatusCode.NOSB}
_NUM, _COACH, _TAG = r"[0-9]{1,4}", r"[A-Z]{1,3}[0-9]{0,2}", r"[A-Z]{2,4}"
# "GNWL 72", "GNWL/45", "GNWL/-/16/GN", "W/L 45,GNWL" (read as "WL 45,GNWL"), "RAC 8,RLGN", bare "WL".
_QUEUE = re.compile(rf"(?P<kind>RAC|WL|RLGN|[A-Z]{{2}}WL)(?:/-)?(?:[ /](?P<n>{_NUM}))?(?:[,/](?P<tag>{_TAG}))?")
# "RAC S9 23", "RAC/S9/23", "RAC 8 S9 23"; "CNF S3 40", "CNF/B1/57/LB", "CNF/S6/71/GN".
_SEAT = re.compile(rf"(?P<kind>RAC|CNF)(?: (?P<n>{_NUM}))?[ /](?P<coach>{_COACH})[ /](?P<berth>{_NUM})"
                   rf"(?:/(?P<tag>{_TAG}))?(?:/(?P<tag2>{_TAG}))?")
# 2013: "RS13 23" is RAC in coach S13, berth 23; "S8 , 61,GN" and "B6 , 63" are confirmed berths.
_LEGACY_RAC_SEAT = re.compile(rf"R(?P<coach>[A-Z]{{1,2}}[0-9]{{1,2}}) (?P<berth>{_NUM})")
_LEGACY_CNF_SEAT = re.compile(rf"(?P<coach>{_COACH}),(?P<berth>{_NUM})(?:,(?P<tag>{_TAG}))?")


def parse_status(text: object, *, number: int | str | None = None, coach: str | None = None) -> SeatStatus:
    """Read one booking or current status string, in any known format, into a SeatStatus.

    `number` and `coach` are the parts some APIs give in separate fields (ConfirmTkt's
    CurrentBerthNo/CurrentCoachId, CRIS's currentBerthNo/currentCoachId). They only complete a bare
    code ("WL", "RAC", "CNF"); where the string carries its own numbers, the string wins. A number
    next to a coach is a berth, a number alone is a WL/RAC queue position; 0 and "" mean absent.
    """
    if not isinstance(text, str):
        raise UnknownStatus(f"status must be text, not {type(text).__name__}: {text!r}")
    s = " ".join(text.split())  # also folds the no-break spaces of scraped pages
    if not s.isascii():  # before upper(): "ß".upper() is "SS"
        raise UnknownStatus(f"unknown status format (not ASCII): {text!r}")
    s = re.sub(r" ?([,/]) ?", r"\1", s.upper())
    extra_number, extra_coach = _extra_number(text, number), _extra_coach(text, coach)
    if s in _WORDS:
        if _WORDS[s] is StatusCode.CNF and extra_number and extra_coach:
            return SeatStatus(StatusCode.CNF, coach=extra_coach, berth=extra_number)
        return SeatStatus(_WORDS[s])
    s = s.replace("W/L", "WL")
    if m := _QUEUE.fullmatch(s):
        return _queue_status(text, m, extra_number, extra_coach)
    if m := _SEAT.fullmatch(s):
        code = StatusCode(m["kind"])
        if code is StatusCode.CNF and m["n"]:
            raise UnknownStatus(f"a confirmed status has no queue number: {text!r}")
        position = _number(text, m["n"]) if m["n"] else None
        seat = SeatStatus(code, position, _coach(text, m["coach"]), _number(text, m["berth"]))
        return _tagged(text, _tagged(text, seat, m["tag"]), m["tag2"])
    if m := _LEGACY_RAC_SEAT.fullmatch(s):
        return SeatStatus(StatusCode.RAC, coach=_coach(text, m["coach"]), berth=_number(text, m["berth"]))
    if m := _LEGACY_CNF_SEAT.fullmatch(s):
        seat = SeatStatus(StatusCode.CNF, coach=_coach(text, m["coach"]), berth=_number(text, m["berth"]))
        return _tagged(text, seat, m["tag"])
    raise UnknownStatus(f"unknown status format: {text!r}")


def _extra_number(text: str, number: object) -> int | None:
    """A separately given number (int or digits); 0, "" and None mean absent."""
    if isinstance(number, bool) or not isinstance(number, (int, str, type(None))):
        raise UnknownStatus(f"bad number {number!r} next to status {text!r}")
    if isinstance(number, int) and not 0 <= number <= MAX_QUEUE_NUMBER:  # not repr()'d: it may be huge
        raise UnknownStatus(f"number outside 0-{MAX_QUEUE_NUMBER} next to status {text!r}")
    digits = str(number).strip() if number is not None else ""
    return _number(text, digits) if digits not in ("", "0") else None


def _extra_coach(text: str, coach: object) -> str | None:
    """A separately given coach id; "", "-" and None mean absent."""
    c = coach.strip().upper() if isinstance(coach, str) and coach.isascii() else coach
    if c in (None, "", "-"):
        return None
    if not (isinstance(c, str) and re.fullmatch(_COACH, c)):
        raise UnknownStatus(f"bad coach {coach!r} next to status {text!r}")
    return _coach(text, c)


def _number(text: str, digits: str) -> int:
    """A queue position or berth: 1 to MAX_QUEUE_NUMBER, ASCII digits only."""
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 4) or int(digits) < 1:
        raise UnknownStatus(f"bad number {digits!r} in status {text!r}")
    return int(digits)


def _coach(text: str, coach: str) -> str:
    """A coach id, refusing status words that the coach pattern would also match."""
    if coach in _WORDS or coach in ("RAC", "WL") or _waitlist_type(coach):
        raise UnknownStatus(f"bad coach {coach!r} in status {text!r}")
    return coach


def _waitlist_type(token: str) -> str | None:
    """The canonical waitlist type a token names, or None."""
    token = WAITLIST_TYPE_ALIASES.get(token, token)
    return token if token in WAITLIST_TYPES else None


def _queue_status(text: str, m: re.Match[str], number: int | None, coach: str | None) -> SeatStatus:
    """WL or RAC with a queue position (or, for a bare RAC, a seat given separately)."""
    code = StatusCode.RAC if m["kind"] == "RAC" else StatusCode.WL
    wl_type = _waitlist_type(m["kind"])
    if code is StatusCode.WL and m["kind"] != "WL" and wl_type is None:
        raise UnknownStatus(f"unknown waitlist type {m['kind']!r} in status {text!r}")
    position = _number(text, m["n"]) if m["n"] else number
    if m["n"] is None and code is StatusCode.RAC and number and coach:
        return _tagged(text, SeatStatus(code, coach=coach, berth=number), m["tag"])
    if position is None:
        raise UnknownStatus(f"{code.value} status without a position: {text!r}")
    return _tagged(text, SeatStatus(code, position=position, waitlist_type=wl_type), m["tag"])


def _tagged(text: str, status: SeatStatus, tag: str | None) -> SeatStatus:
    """Apply a trailing token: a waitlist type (queues), a berth code (seats) or a quota."""
    if tag is None:
        return status
    wl_type = _waitlist_type(tag)
    if wl_type and status.position is not None and status.coach is None:
        if status.waitlist_type not in (None, wl_type):
            raise UnknownStatus(f"two waitlist types in status {text!r}")
        return dataclasses.replace(status, waitlist_type=wl_type)
    if tag in BERTH_CODES and status.berth is not None and status.berth_code is None and status.quota is None:
        return dataclasses.replace(status, berth_code=tag)
    if tag in QUOTA_CODES and status.quota is None:
        return dataclasses.replace(status, quota=tag)
    raise UnknownStatus(f"unknown code {tag!r} in status {text!r}")


def _ascii_code(text: object) -> str:
    """Upper-cased, stripped ASCII text; "" for anything else."""
    return text.strip().upper() if isinstance(text, str) and text.isascii() else ""


def parse_quota(text: object) -> str:
    """Canonical quota code ("GN", "TQ", ...) or ValueError naming the text."""
    if (code := _ascii_code(text)) not in QUOTA_CODES:
        raise ValueError(f"unknown quota {text!r}")
    return code


def parse_journey_class(text: object) -> JourneyClass:
    """The JourneyClass a ticket code ("SL", "3A", "3AC", ...) names, or ValueError naming the text."""
    code = _ascii_code(text)
    try:
        return JourneyClass(JOURNEY_CLASS_ALIASES.get(code, code))
    except ValueError:
        raise ValueError(f"unknown journey class {text!r}") from None
