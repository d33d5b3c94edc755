"""Status strings as other real sources print them (DOMAIN §1.3): the 2013 and the CRIS forms.

`legacy` gives the 2013 indianrail.gov.in forms (`W/L  45,GNWL`, `RS13 23`, `S8 , 61,GN`,
`Confirmed`, `Can/Mod`); `modern` the CRIS/IRCTC forms (`GNWL/45`, `RAC/S9/23`, `CNF/B1/57/LB`).
"""
from __future__ import annotations

from .render import Seat


def legacy(seat: Seat, booking: bool = False) -> str:
    """The 2013 string of a booking status (`booking=True`) or a current status."""
    code = seat.code
    if code == "WL":
        tail = f",{seat.waitlist_type}" if booking and seat.waitlist_type else ""
        return f"W/L{seat.position:>4}{tail}"
    if code == "RAC":
        if seat.coach and seat.berth and not booking:
            return f"R{seat.coach} {seat.berth}"
        tail = f",{seat.waitlist_type}" if booking and seat.waitlist_type else ""
        return f"RAC{seat.position:>4}{tail}"
    if code == "CNF":
        if seat.coach and seat.berth:
            tail = f",{seat.quota}" if booking and seat.quota else ""
            return f"{seat.coach} , {seat.berth}{tail}"
        return "CNF" if booking else "Confirmed"
    if code == "CAN":
        return "Can/Mod"
    return code


def modern(seat: Seat) -> str:
    """The CRIS/IRCTC string of a status."""
    code = seat.code
    if code == "WL":
        return f"{seat.waitlist_type or 'WL'}/{seat.position}"
    if code == "RAC":
        return f"RAC/{seat.coach}/{seat.berth}" if seat.coach and seat.berth else f"RAC/{seat.position}"
    if code == "CNF":
        parts = ["CNF", seat.coach, str(seat.berth) if seat.berth else None, seat.berth_code]
        return "/".join(p for p in parts if p)
    return code
