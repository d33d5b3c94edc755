"""The JSON replies of public PNR-status APIs (DOMAIN.md §2), mapped onto PnrStatus.

Four shapes: A ConfirmTkt / RapidAPI irctc1 (PascalCase), B CRIS/IRCTC native (camelCase),
C railwayapi.com v1/v2 (snake_case with response codes), D indianrailapi.com v2 (with its
misspellings). Each reply either maps completely or raises a domain error: what the API reports
(invalid, flushed, over quota) as InvalidPnr / PnrNotFound / SourceUnavailable, and a reply that
cannot be read (missing fields, unknown shape, unparseable status) as SourceUnavailable.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from ...domain.pnr import (
    QUOTA_BY_WAITLIST_TYPE,
    InvalidPnr,
    Passenger,
    PnrError,
    PnrNotFound,
    PnrStatus,
    SourceUnavailable,
    UnknownStatus,
    _utc,
    parse_journey_class,
    parse_quota,
    parse_status,
)

IST = dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")
# No shape says when the final chart is due; from the departure, by the 2015-2025 rule (DOMAIN §1.4):
# 4 h before a departure from noon on, 20:00 the evening before an earlier one.
CHART_LEAD_H = 4.0
CHART_AFTERNOON = dt.time(12, 0)
CHART_EVENING = dt.time(20, 0)
SHAPES = ("auto", "confirmtkt", "cris", "railwayapi", "indianrailapi")
DATE_FORMATS = ("%d-%m-%Y", "%d/%m/%Y", "%Y-%m-%d", "%b %d, %Y %I:%M:%S %p", "%b %d, %Y", "%d-%b-%Y")
# railwayapi.com response codes other than 200 (v2; v1's 401/403/410 included).
RAILWAYAPI_ERRORS: dict[int, tuple[type[PnrError], str]] = {
    220: (PnrNotFound, "the PNR is flushed or not yet in the reservation system"),
    221: (InvalidPnr, "the status source says this is not a valid PNR"),
    410: (PnrNotFound, "the PNR is flushed or not yet in the reservation system"),
    401: (SourceUnavailable, "the status source rejected the API key"),
    500: (SourceUnavailable, "the status source rejected the API key"),
    501: (SourceUnavailable, "the status source account has expired"),
    403: (SourceUnavailable, "the status source's daily quota is exhausted"),
}


def to_status(payload: Any, pnr: str, now: dt.datetime, shape: str = "auto") -> PnrStatus:
    """Map one decoded reply for `pnr` onto a PnrStatus as of `now`, or raise the error it reports."""
    if shape not in SHAPES:
        raise ValueError(f"unknown reply shape {shape!r}; known: {', '.join(SHAPES)}")
    body = _unwrap(payload)
    shape = detect_shape(body) if shape == "auto" else shape
    try:
        status = _MAPPERS[shape](body, pnr, _utc(now))
    except UnknownStatus as exc:
        raise SourceUnavailable(f"the status source sent a status this site cannot read: {exc}") from None
    except PnrError:
        raise
    except KeyError as exc:
        raise SourceUnavailable(f"{shape} reply lacks the field {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise SourceUnavailable(f"{shape} reply has a bad field: {exc}") from None
    if status.pnr != pnr:
        raise SourceUnavailable(f"the status source answered for another PNR ({status.pnr!r})")
    return status


def detect_shape(body: Mapping[str, Any]) -> str:
    """Which of the known shapes a reply is, by the keys only that shape uses."""
    if {"PassengerStatus", "ErrorCode", "TrainNo"} & body.keys():
        return "confirmtkt"
    if {"passengerList", "pnrNumber", "chartStatus"} & body.keys():
        return "cris"
    if "response_code" in body:
        return "railwayapi"
    if {"ResponseCode", "Passangers", "ChatPrepared"} & body.keys():
        return "indianrailapi"
    raise SourceUnavailable(f"the status source sent a reply of an unknown shape (keys: {sorted(body)[:12]})")


def _unwrap(payload: Any) -> Mapping[str, Any]:
    """The reply itself, out of the `{status|success, message, data}` envelopes of RapidAPI wrappers."""
    if not isinstance(payload, dict):
        raise SourceUnavailable(f"the status source sent JSON that is not an object ({type(payload).__name__})")
    for flag in ("status", "success"):
        if payload.get(flag) is False:
            _raise_reported(payload.get("message") or payload.get("error"))
    if isinstance(payload.get("data"), dict) and not ({"PassengerStatus", "passengerList"} & payload.keys()):
        return payload["data"]
    return payload


def _raise_reported(message: object, code: object = None) -> NoReturn:
    """Raise the domain error an API's own error message describes."""
    text = str(message or "").strip()
    low = text.lower()
    if str(code) == "301" or ("pnr" in low and ("invalid" in low or "not valid" in low)):
        raise InvalidPnr(f"the status source says this is not a valid PNR ({text})")
    if "not found" in low or "flushed" in low:
        raise PnrNotFound(f"the status source does not know this PNR ({text})")
    if "quota" in low or "limit" in low:
        raise SourceUnavailable(f"the status source is over its quota ({text})")
    raise SourceUnavailable(f"the status source reported an error: {text!r} (code {code})")


def _confirmtkt(b: Mapping[str, Any], pnr: str, as_of: dt.datetime) -> PnrStatus:
    """Shape A: ConfirmTkt / irctc1, PascalCase; a bare "WL" may carry its number in CurrentBerthNo."""
    if b.get("Error") or b.get("ErrorCode") not in (None, 0, "0"):
        _raise_reported(b.get("Error"), b.get("ErrorCode"))
    passengers = tuple(
        Passenger(
            int(p["Number"]),
            parse_status(p["BookingStatus"], number=p.get("BookingBerthNo"), coach=p.get("BookingCoachId")),
            parse_status(p["CurrentStatus"], number=p.get("CurrentBerthNo"), coach=p.get("CurrentCoachId")),
        )
        for p in b["PassengerStatus"]
    )
    journey_date = _date(b["Doj"])
    return _status(
        b["Pnr"], b["TrainNo"], b.get("TrainName"), journey_date, b["From"], b["To"], b["Class"], b.get("Quota"),
        _flag(b["ChartPrepared"]), passengers, as_of,
        departure=_departure(journey_date, b.get("DepartureTime")),
        boarding_point=b.get("BoardingPoint"), reservation_upto=b.get("ReservationUpto"),
        booking_date=_date(b["BookingDate"]) if b.get("BookingDate") else None,
        train_cancelled=_flag(b.get("TrainCancelledFlag") or False),
    )


def _cris(b: Mapping[str, Any], pnr: str, as_of: dt.datetime) -> PnrStatus:
    """Shape B: CRIS/IRCTC native camelCase; coach and berth also given apart (0 and "" for none)."""
    if b.get("errorMessage"):
        _raise_reported(b["errorMessage"])
    passengers = tuple(
        Passenger(
            int(p["passengerSerialNumber"]),
            parse_status(p.get("bookingStatusDetails") or p["bookingStatus"],
                         number=p.get("bookingBerthNo"), coach=p.get("bookingCoachId")),
            parse_status(p.get("currentStatusDetails") or p["currentStatus"],
                         number=p.get("currentBerthNo"), coach=p.get("currentCoachId")),
        )
        for p in b["passengerList"]
    )
    chart = _flag(b["chartStatus"])
    quota = b.get("quota") or next((p.get("passengerQuota") for p in b["passengerList"] if p.get("passengerQuota")), None)
    return _status(
        b["pnrNumber"], b["trainNumber"], b.get("trainName"), _date(b["dateOfJourney"]), b["sourceStation"],
        b["destinationStation"], b["journeyClass"], quota, chart, passengers, as_of,
        boarding_point=b.get("boardingPoint"), reservation_upto=b.get("reservationUpto"),
        booking_date=_date(b["bookingDate"]) if b.get("bookingDate") else None,
    )


def _railwayapi(b: Mapping[str, Any], pnr: str, as_of: dt.datetime) -> PnrStatus:
    """Shape C: railwayapi.com v1 (train_num, class, "Y"/"N") and v2 (train{}, journey_class{}, bool)."""
    code, error = int(b["response_code"]), b.get("error")
    if error and "quota" in str(error).lower():
        raise SourceUnavailable(f"the status source's daily quota is exhausted ({error})")
    if code != 200:
        kind, message = RAILWAYAPI_ERRORS.get(code, (SourceUnavailable, "the status source reported an error"))
        raise kind(f"{message} (response_code {code}{f': {error}' if error else ''})")
    passengers = tuple(
        Passenger(int(p["no"]), parse_status(p["booking_status"]), parse_status(p["current_status"]))
        for p in b["passengers"]
    )
    train = b.get("train") or {"number": b["train_num"], "name": b.get("train_name")}
    journey_class = b["journey_class"]["code"] if isinstance(b.get("journey_class"), dict) else b["class"]
    return _status(
        b["pnr"], train["number"], train.get("name"), _date(b["doj"]), _station(b["from_station"]),
        _station(b["to_station"]), journey_class, None, _flag(b["chart_prepared"]), passengers, as_of,
        boarding_point=_station(b.get("boarding_point")), reservation_upto=_station(b.get("reservation_upto")),
    )


def _indianrailapi(b: Mapping[str, Any], pnr: str, as_of: dt.datetime) -> PnrStatus:
    """Shape D: indianrailapi.com v2, with its own spellings `Passangers` and `ChatPrepared`."""
    if str(b.get("ResponseCode", "200")) != "200" or str(b.get("Status", "SUCCESS")).upper() != "SUCCESS":
        _raise_reported(b.get("Message") or b.get("Status"), b.get("ResponseCode"))
    passengers = tuple(
        Passenger(_serial(p.get("Passenger"), i), parse_status(p["BookingStatus"]), parse_status(p["CurrentStatus"]))
        for i, p in enumerate(b["Passangers"], start=1)
    )
    chart = b["ChatPrepared"] if "ChatPrepared" in b else b["ChartPrepared"]
    return _status(
        b["PnrNumber"], b["TrainNumber"], b.get("TrainName"), _date(b["JourneyDate"]), b["From"], b["To"],
        b["JourneyClass"], b.get("Quota"), _flag(chart), passengers, as_of,
        boarding_point=b.get("BoardingPoint"), reservation_upto=b.get("ReservationUpto"),
    )


_MAPPERS: dict[str, Callable[[Mapping[str, Any], str, dt.datetime], PnrStatus]] = {
    "confirmtkt": _confirmtkt, "cris": _cris, "railwayapi": _railwayapi, "indianrailapi": _indianrailapi,
}


def _status(pnr: object, train_number: object, train_name: object, journey_date: dt.date, from_station: object,
            to_station: object, journey_class: object, quota: object, chart_prepared: bool,
            passengers: tuple[Passenger, ...], as_of: dt.datetime, **optional: Any) -> PnrStatus:
    """The PnrStatus common to every shape, with codes cleaned and the quota filled in where implied."""
    if not passengers:
        raise SourceUnavailable("the status source listed no passengers")
    for key in ("boarding_point", "reservation_upto"):
        optional[key] = _code(optional[key]) if optional.get(key) else None
    if optional.get("departure") and not optional.get("chart_time"):
        optional["chart_time"] = expected_chart_time(optional["departure"])
    return PnrStatus(
        pnr=str(pnr).strip(), train_number=str(train_number).strip(), train_name=str(train_name or "").strip(),
        journey_date=journey_date, from_station=_code(from_station), to_station=_code(to_station),
        journey_class=parse_journey_class(journey_class), quota=_quota(quota, passengers),
        chart_prepared=chart_prepared, passengers=passengers, as_of=as_of, **optional,
    )


def _quota(quota: object, passengers: tuple[Passenger, ...]) -> str:
    """The journey's quota: as given, else as the status strings imply, else "" (the source does not say)."""
    if quota:
        return parse_quota(quota)
    for p in passengers:
        for seat in (p.booking_status, p.current_status):
            if seat.quota or seat.waitlist_type in QUOTA_BY_WAITLIST_TYPE:
                return seat.quota or QUOTA_BY_WAITLIST_TYPE[seat.waitlist_type or ""]
    return ""


def _code(value: object) -> str:
    """A station code, upper-cased; ValueError when empty."""
    code = str(value or "").strip().upper()
    if not code:
        raise ValueError("empty station code")
    return code


def _station(value: object) -> str | None:
    """railwayapi gives stations as {"code", "name"} (v1 sometimes as plain codes)."""
    if isinstance(value, dict):
        value = value.get("code")
    return str(value) if value else None


def _date(value: object) -> dt.date:
    """A date in any of the formats the shapes use ("13-02-2024", "Jul 22, 2018 12:00:00 AM", ...)."""
    text = " ".join(str(value).split())
    for fmt in DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"unknown date format {value!r}")


def expected_chart_time(departure: dt.datetime) -> dt.datetime:
    """When the final chart of a train departing at `departure` is due (UTC), as no reply says."""
    local = departure.astimezone(IST)
    if local.time() >= CHART_AFTERNOON:
        return departure - dt.timedelta(hours=CHART_LEAD_H)
    return dt.datetime.combine(local.date() - dt.timedelta(days=1), CHART_EVENING, IST).astimezone(dt.UTC)


def _departure(journey_date: dt.date, hhmm: object) -> dt.datetime | None:
    """Departure as an aware UTC datetime from the journey date and an IST "HH:MM", when given."""
    if not hhmm:
        return None
    clock = dt.datetime.strptime(str(hhmm).strip(), "%H:%M").time()
    return dt.datetime.combine(journey_date, clock, IST).astimezone(dt.UTC)


def _flag(value: object) -> bool:
    """A yes/no field: JSON bool, "Y"/"N", "YES"/"NO", "true"/"false", "Chart (Not) Prepared"."""
    if isinstance(value, bool):
        return value
    flag = _FLAGS.get(" ".join(str(value).split()).upper())
    if flag is None:
        raise ValueError(f"not a yes/no value: {value!r}")
    return flag


_FLAGS = {"Y": True, "YES": True, "TRUE": True, "CHART PREPARED": True,
          "N": False, "NO": False, "FALSE": False, "CHART NOT PREPARED": False}


def _serial(value: object, default: int) -> int:
    """A passenger's serial from "1" or "Passenger 1"; the list position when there is none."""
    digits = re.findall(r"[0-9]+", str(value or ""))
    return int(digits[-1]) if digits else default
