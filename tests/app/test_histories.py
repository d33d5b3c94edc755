"""The per-process cache of parsed histories: reused only at the same version, holding the status, fresh, bounded."""
from __future__ import annotations

import datetime as dt

from app.domain.pnr import JourneyClass, Passenger, PnrStatus, SeatStatus, StatusCode
from app.services.histories import HistoryCache

NOW = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC)


def status(pnr: str, wl: int) -> PnrStatus:
    return PnrStatus(
        pnr=pnr, train_number="12951", train_name="MUMBAI RAJDHANI", journey_date=dt.date(2026, 12, 1),
        from_station="MMCT", to_station="NDLS", journey_class=JourneyClass.THIRD_AC, quota="GN", chart_prepared=False,
        passengers=(Passenger(1, SeatStatus(StatusCode.WL, 40, waitlist_type="GNWL"),
                              SeatStatus(StatusCode.WL, wl, waitlist_type="GNWL")),),
        as_of=NOW,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_history_is_reused_only_at_its_version_and_while_it_holds_the_status() -> None:
    cache = HistoryCache()
    entries = [("d30", status("2412345678", 30)), ("d21", status("2412345678", 21))]
    cache.put("2412345678", "v1", entries)
    assert cache.get("2412345678", "v1", "d21") == [s for _, s in entries]
    assert cache.get("2412345678", "v1", "d30") == [s for _, s in entries]
    assert cache.get("2412345678", "v1", "d12") is None  # a status it does not hold: the store must be asked
    assert cache.get("2412345679", "v1", "d21") is None
    assert cache.get("2412345678", None, "d21") is None
    assert cache.get("2412345678", "v2", "d21") is None  # another version: the entry is dropped
    assert cache.get("2412345678", "v1", "d21") is None and len(cache) == 0


def test_no_version_is_never_kept() -> None:
    cache = HistoryCache()
    cache.put("2412345678", None, [("d30", status("2412345678", 30))])
    assert len(cache) == 0


def test_entries_expire_and_the_least_recently_used_go_first() -> None:
    clock = Clock()
    cache = HistoryCache(max_pnrs=2, max_age_s=60, clock=clock)
    for pnr in ("2400000001", "2400000002"):
        cache.put(pnr, "v", [("d", status(pnr, 5))])
    assert cache.get("2400000001", "v", "d") is not None  # now the most recently used
    cache.put("2400000003", "v", [("d", status("2400000003", 5))])
    assert len(cache) == 2 and cache.get("2400000002", "v", "d") is None
    assert cache.get("2400000001", "v", "d") is not None
    clock.now = 61
    assert cache.get("2400000001", "v", "d") is None and cache.get("2400000003", "v", "d") is None
    assert len(cache) == 0
