"""A fake status source for the upstream budget's tests (app/services/sources/guard.py): slow,
blocking or failing on demand, counting its calls; in process, so a test sees every call."""
from __future__ import annotations

import datetime as dt
import threading
import time

from app.domain.pnr import JourneyClass, Passenger, PnrNotFound, PnrStatus, SeatStatus, SourceUnavailable, StatusCode

PNR = "4123456789"


def status(pnr: str, now: dt.datetime) -> PnrStatus:
    seat = SeatStatus(StatusCode.WL, 12, waitlist_type="GNWL")
    return PnrStatus(pnr, "12951", "MUMBAI RAJDHANI", dt.date(2026, 12, 20), "MMCT", "NDLS", JourneyClass("3A"),
                     "GN", False, (Passenger(1, seat, seat),), now)


class SlowSource:
    """A source that takes `delay_s` per call (or blocks until `release`), counting calls per PNR."""

    def __init__(self, delay_s: float = 0.0, fail: bool = False) -> None:
        self.delay_s, self.fail = delay_s, fail
        self.calls: list[str] = []
        self.deadlines: list[float | None] = []
        self.release = threading.Event()
        self.blocking = False
        self._lock = threading.Lock()

    def get_status(self, pnr: str, now: dt.datetime, deadline_s: float | None = None) -> PnrStatus:
        with self._lock:
            self.calls.append(pnr)
            self.deadlines.append(deadline_s)
        if self.blocking:
            self.release.wait(10)
        time.sleep(self.delay_s)
        if self.fail:
            raise SourceUnavailable("HTTP 502 Bad Gateway")
        if pnr.endswith("000"):
            raise PnrNotFound(f"PNR {pnr} not found")
        return status(pnr, now)

    def close(self) -> None:
        """Nothing to close."""
