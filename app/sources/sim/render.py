"""From the event log's numbers to the shared domain types: SeatStatus, Passenger, PnrStatus."""
from __future__ import annotations

import datetime as dt

import numpy as np

from ...pnr import JourneyClass, Passenger, PnrStatus, SeatStatus, StatusCode
from .booking import QueueLog
from .inventory import CAN, CNF, RAC, WAITLIST_TYPE, WL, Inventory
from .trains import IST

CODES = {CNF: StatusCode.CNF, RAC: StatusCode.RAC, WL: StatusCode.WL, CAN: StatusCode.CAN}


def seat_status(inv: Inventory, queue: str, code: int, position: int, berth: int, quota: str | None) -> SeatStatus:
    """One passenger's status; coach and berth only where a berth is assigned."""
    status = CODES[int(code)]
    if status is StatusCode.CAN:
        return SeatStatus(status)
    coach = number = berth_code = None
    if berth >= 0:
        coach, number, berth_code = inv.plan.seat(berth)
    if status is StatusCode.CNF:
        return SeatStatus(status, coach=coach, berth=number, berth_code=berth_code, quota=quota)
    return SeatStatus(status, position=int(position), coach=coach, berth=number, berth_code=berth_code,
                      waitlist_type=WAITLIST_TYPE[queue], quota=quota)


def stations(inv: Inventory, queue: str) -> tuple[str, str]:
    """(boarding point, reservation upto) of a queue: RL boards at an intermediate station, PQ is a short leg."""
    train = inv.train
    if queue == "RL" and train.via:
        return train.via[0], train.destination
    if queue == "PQ" and train.via:
        return train.origin, train.via[len(train.via) // 2]
    return train.origin, train.destination


def pnr_status(inv: Inventory, pnr: str, q: QueueLog, idx: np.ndarray, current: tuple[np.ndarray, ...],
               as_of: dt.datetime, tau_h: float) -> PnrStatus:
    """The PNR status of one booking: `current` holds one row of (code, position, berth) per passenger."""
    booked = inv.booking_states(q, idx)
    passengers = tuple(
        Passenger(
            number=int(q.member[i]),
            booking_status=seat_status(inv, q.name, booked[0][m], booked[1][m], booked[2][m], q.name),
            current_status=seat_status(inv, q.name, current[0][m], current[1][m], current[2][m], None),
        )
        for m, i in enumerate(idx)
    )
    boarding, upto = stations(inv, q.name)
    return PnrStatus(
        pnr=pnr,
        train_number=inv.train.number,
        train_name=inv.train.name,
        journey_date=inv.journey_date,
        from_station=boarding,
        to_station=upto,
        journey_class=JourneyClass(inv.plan.journey_class),
        quota=q.name,
        chart_prepared=tau_h <= inv.chart_h,
        passengers=passengers,
        as_of=as_of,
        departure=inv.departure,
        chart_time=inv.chart_at,
        boarding_point=boarding,
        reservation_upto=upto,
        booking_date=inv.at(float(q.book_h[idx[0]])).astimezone(IST).date(),
    )
