"""From the event log's numbers to the railway's answer, and that answer as JSON in ConfirmTkt's shape.

railsim speaks one public PNR-API shape (DOMAIN §2, example A: ConfirmTkt / RapidAPI irctc1,
PascalCase), the richest of the four: it alone carries the departure time, the booking date and the
train-cancelled flag next to the stations, class, quota, chart state and every passenger's booking
and current status with coach and berth. Errors are that API's too: `ErrorCode` 301 for a text that
is not a PNR, and "PNR Not found." for a PNR with no booking behind it, both with HTTP 200.

Read back by the site's parser (app.services.sources.shapes) an answer keeps all the site shows: every
booking and current status with its queue number, coach, berth and berth code, the waitlist type
of a WL place and its booked quota, the journey's quota, class, stations, departure, chart state
and cancellation. Two things a status string has no room for stay behind: the booked quota of a RAC
place and the waitlist type of a RAC passenger with a berth; the journey's quota says the first,
and neither is shown. The chart time is no field of the shape: the site infers it from the
departure by the rule of eras 2013 and 2015 (DOMAIN §1.4), which era 2025's charts do not follow.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np

from .booking import QueueLog
from .inventory import CAN, CNF, RAC, WAITLIST_TYPE, WL, Inventory
from .trains import IST, Train

CODES = {CNF: "CNF", RAC: "RAC", WL: "WL", CAN: "CAN"}
INVALID_PNR_CODE = 301
NOT_FOUND_CODE = 302
DATE_FORMAT = "%d-%m-%Y"


@dataclasses.dataclass(frozen=True)
class Seat:
    """One status of one passenger: `position` is a queue number only for WL and RAC."""

    code: str
    position: int | None = None
    coach: str | None = None
    berth: int | None = None
    berth_code: str | None = None
    waitlist_type: str | None = None
    quota: str | None = None


@dataclasses.dataclass(frozen=True)
class Answer:
    """The railway's answer to "status of PNR X at time t"."""

    pnr: str
    train: Train
    journey_date: dt.date
    journey_class: str
    quota: str
    boarding_point: str
    reservation_upto: str
    chart_prepared: bool
    passengers: tuple[tuple[int, Seat, Seat], ...]  # (serial number, booking status, current status)
    as_of: dt.datetime
    departure: dt.datetime
    chart_time: dt.datetime
    booking_date: dt.date
    train_cancelled: bool = False


def seat_status(inv: Inventory, queue: str, code: int, position: int, berth: int, quota: str | None) -> Seat:
    """One passenger's status; coach and berth only where a berth is assigned."""
    status = CODES[int(code)]
    if status == "CAN":
        return Seat(status)
    coach = number = berth_code = None
    if berth >= 0:
        coach, number, berth_code = inv.plan.seat(berth)
    if status == "CNF":
        return Seat(status, coach=coach, berth=number, berth_code=berth_code, quota=quota)
    return Seat(status, position=int(position), coach=coach, berth=number, berth_code=berth_code,
                waitlist_type=WAITLIST_TYPE[queue], quota=quota)


def stations(inv: Inventory, queue: str) -> tuple[str, str]:
    """(boarding point, reservation upto) of a queue: RL boards at an intermediate station, PQ is a short leg."""
    train = inv.train
    if queue == "RL" and train.via:
        return train.via[0], train.destination
    if queue == "PQ" and train.via:
        return train.origin, train.via[len(train.via) // 2]
    return train.origin, train.destination


def answer(inv: Inventory, pnr: str, q: QueueLog, idx: np.ndarray, current: tuple[np.ndarray, ...],
           as_of: dt.datetime, tau_h: float) -> Answer:
    """The answer for one booking: `current` holds one row of (code, position, berth) per passenger."""
    booked = inv.booking_states(q, idx)
    passengers = tuple(
        (int(q.member[i]),
         seat_status(inv, q.name, booked[0][m], booked[1][m], booked[2][m], q.name),
         seat_status(inv, q.name, current[0][m], current[1][m], current[2][m], None))
        for m, i in enumerate(idx)
    )
    boarding, upto = stations(inv, q.name)
    return Answer(
        pnr=pnr, train=inv.train, journey_date=inv.journey_date, journey_class=inv.plan.journey_class,
        quota=q.name, boarding_point=boarding, reservation_upto=upto, chart_prepared=tau_h <= inv.chart_h,
        passengers=passengers, as_of=as_of, departure=inv.departure, chart_time=inv.chart_at,
        booking_date=inv.at(float(q.book_h[idx[0]])).astimezone(IST).date(),
    )


def status_text(seat: Seat, booking: bool) -> str:
    """A status as ConfirmTkt prints it ("GNWL 72", "RAC 8 S9 23", "CNF B1 57"), with the tags that
    keep it whole: the waitlist type of a RAC queue place, the berth code, and the booked quota."""
    quota = f"/{seat.quota}" if booking and seat.quota else ""
    if seat.code == "WL":
        return f"{seat.waitlist_type or 'WL'} {seat.position}{quota}"
    if seat.code in ("RAC", "CNF") and seat.coach and seat.berth:
        number = f" {seat.position}" if seat.position else ""
        code = f"/{seat.berth_code}" if seat.berth_code else ""
        return f"{seat.code}{number} {seat.coach} {seat.berth}{code}{quota}"
    if seat.code == "RAC":
        return f"RAC {seat.position}" + (f",{seat.waitlist_type}" if seat.waitlist_type else "")
    return seat.code


def _passenger(number: int, booking: Seat, current: Seat) -> dict[str, Any]:
    fields: dict[str, Any] = {"Number": number}
    for prefix, seat in (("Booking", booking), ("Current", current)):
        fields[f"{prefix}Status"] = status_text(seat, prefix == "Booking")
        fields[f"{prefix}StatusNew"] = seat.waitlist_type if seat.code == "WL" else seat.code
        fields[f"{prefix}CoachId"] = seat.coach or ""
        fields[f"{prefix}BerthNo"] = str(seat.berth or seat.position or "")
        fields[f"{prefix}BerthCode"] = seat.berth_code
    fields["Coach"], fields["Berth"] = current.coach or "", current.berth or 0
    return fields


def confirmtkt(a: Answer) -> dict[str, Any]:
    """The answer as a ConfirmTkt reply (times in IST, dates dd-mm-yyyy)."""
    train = a.train
    return {
        "Pnr": a.pnr, "TrainNo": train.number, "TrainName": train.name,
        "Doj": a.journey_date.strftime(DATE_FORMAT), "BookingDate": a.booking_date.strftime(DATE_FORMAT),
        "Quota": a.quota, "From": a.boarding_point, "To": a.reservation_upto,
        "BoardingPoint": a.boarding_point, "ReservationUpto": a.reservation_upto, "Class": a.journey_class,
        "ChartPrepared": a.chart_prepared, "TrainCancelledFlag": a.train_cancelled,
        "PassengerCount": len(a.passengers),
        "PassengerStatus": [_passenger(*p) for p in a.passengers],
        "DepartureTime": a.departure.astimezone(IST).strftime("%H:%M"),
        "Error": None, "ErrorCode": 0,
    }


def invalid(pnr: str, reason: str) -> dict[str, Any]:
    """ConfirmTkt's answer to a text that is not a PNR."""
    return {"Pnr": pnr, "Error": f"Invalid PNR number: {reason}", "ErrorCode": INVALID_PNR_CODE}


def not_found(pnr: str) -> dict[str, Any]:
    """The answer to a PNR with no booking behind it (irctc1's wording)."""
    return {"Pnr": pnr, "Error": "PNR Not found. It is flushed after its journey, or was never issued.",
            "ErrorCode": NOT_FOUND_CODE}
