"""Status strings as real sources print them (DOMAIN §1.3), for HTTP-shaped simulator output.

`legacy` gives the 2013 indianrail.gov.in forms (`W/L  45,GNWL`, `RS13 23`, `S8 , 61,GN`,
`Confirmed`, `Can/Mod`); `modern` the CRIS/IRCTC forms (`GNWL/45`, `RAC/S9/23`, `CNF/B1/57/LB`).
"""
from __future__ import annotations

from ...pnr import SeatStatus, StatusCode


def legacy(seat: SeatStatus, booking: bool = False) -> str:
    """The 2013 string of a booking status (`booking=True`) or a current status."""
    code = seat.code
    if code is StatusCode.WL:
        tail = f",{seat.waitlist_type}" if booking and seat.waitlist_type else ""
        return f"W/L{seat.position:>4}{tail}"
    if code is StatusCode.RAC:
        if seat.coach and seat.berth and not booking:
            return f"R{seat.coach} {seat.berth}"
        tail = f",{seat.waitlist_type}" if booking and seat.waitlist_type else ""
        return f"RAC{seat.position:>4}{tail}"
    if code is StatusCode.CNF:
        if seat.coach and seat.berth:
            tail = f",{seat.quota}" if booking and seat.quota else ""
            return f"{seat.coach} , {seat.berth}{tail}"
        return "CNF" if booking else "Confirmed"
    if code is StatusCode.CAN:
        return "Can/Mod"
    return code.value


def modern(seat: SeatStatus) -> str:
    """The CRIS/IRCTC string of a status."""
    code = seat.code
    if code is StatusCode.WL:
        return f"{seat.waitlist_type or 'WL'}/{seat.position}"
    if code is StatusCode.RAC:
        return f"RAC/{seat.coach}/{seat.berth}" if seat.coach and seat.berth else f"RAC/{seat.position}"
    if code is StatusCode.CNF:
        parts = ["CNF", seat.coach, str(seat.berth) if seat.berth else None, seat.berth_code]
        return "/".join(p for p in parts if p)
    return code.value
