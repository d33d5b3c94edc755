"""The upstream budget (app/services/sources/guard.py): one call per PNR across threads and processes,
a cap on calls in flight, a deadline, and a circuit breaker, against slow and failing sources."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from slowsource import PNR, SlowSource
from support import REPO, wait_for

from app.domain.pnr import PnrNotFound, PnrStatus, SourceUnavailable
from app.services.sources.guard import BudgetFull, CircuitOpen, GuardedSource, read_breaker
from app.services.sources.http import HttpSource


def guarded(source: Any, tmp_path: Path, **overrides: Any) -> GuardedSource:
    settings: dict[str, Any] = {"cap": 8, "deadline_s": 4.0, "share_s": 1.0, "breaker_failures": 3,
                                "breaker_open_s": 30.0, **overrides}
    return GuardedSource(source, tmp_path, name="the status API http://upstream.test", **settings)


def in_threads(n: int, ask: Callable[[int], Any]) -> list[Any]:
    """`ask(i)` in n threads started together; each one's result or exception."""
    out: list[Any] = [None] * n
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        barrier.wait()
        try:
            out[i] = ask(i)
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    return out


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_a_crowd_asking_one_pnr_makes_one_call_and_everyone_gets_its_answer(tmp_path: Path) -> None:
    source = SlowSource(delay_s=0.5)
    guard = guarded(source, tmp_path)
    answers = in_threads(16, lambda i: guard.get_status(PNR, now()))
    assert source.calls == [PNR]
    assert all(isinstance(a, PnrStatus) and a.pnr == PNR for a in answers), answers


def test_an_answer_is_shared_for_share_s_then_asked_again(tmp_path: Path) -> None:
    source = SlowSource()
    guard = guarded(source, tmp_path, share_s=0.3)
    guard.get_status(PNR, now())
    guard.get_status(PNR, now())
    assert source.calls == [PNR]
    time.sleep(0.35)  # the share window itself is what is tested: the next ask must be a call
    guard.get_status(PNR, now())
    assert source.calls == [PNR, PNR]


def test_distinct_pnrs_are_asked_in_parallel(tmp_path: Path) -> None:
    source = SlowSource(delay_s=0.5)
    guard = guarded(source, tmp_path)
    started = time.monotonic()
    answers = in_threads(8, lambda i: guard.get_status(f"41234567{i:02d}", now()))
    assert all(isinstance(a, PnrStatus) for a in answers), answers
    assert sorted(source.calls) == [f"41234567{i:02d}" for i in range(8)]
    assert time.monotonic() - started < 2.0  # not one after another (that would take 4 s)


def test_a_not_found_is_shared_as_not_found(tmp_path: Path) -> None:
    source = SlowSource(delay_s=0.3)
    guard = guarded(source, tmp_path)
    answers = in_threads(4, lambda i: guard.get_status("4123456000", now()))
    assert source.calls == ["4123456000"]
    assert all(isinstance(a, PnrNotFound) for a in answers), answers


def test_past_the_cap_a_lookup_fails_at_once_instead_of_queueing(tmp_path: Path) -> None:
    source = SlowSource()
    source.blocking = True
    guard = guarded(source, tmp_path, cap=2)
    holders = [threading.Thread(target=guard.get_status, args=(f"412345670{i}", now())) for i in range(2)]
    for t in holders:
        t.start()
    wait_for(lambda: len(source.calls) == 2, 5, "two calls in flight")
    started = time.monotonic()
    with pytest.raises(BudgetFull, match="all 2 upstream calls"):
        guard.get_status("4123456799", now())
    assert time.monotonic() - started < 0.5
    source.release.set()
    for t in holders:
        t.join(5)
    assert guard.get_status("4123456799", now()).pnr == "4123456799"


def test_a_hanging_api_costs_a_lookup_its_deadline_not_more(tmp_path: Path, fake_api: Any) -> None:
    fake_api.answer(PNR, fake_api.HANG)
    http = HttpSource(fake_api.url, "k", timeout_s=5.0, retries=2)
    guard = guarded(http, tmp_path, deadline_s=0.8)
    try:
        started = time.monotonic()
        answers = in_threads(3, lambda i: guard.get_status(PNR, now()))
        took = time.monotonic() - started
    finally:
        fake_api.release.set()
        http.close()
    assert all(isinstance(a, SourceUnavailable) for a in answers), answers
    assert took < 0.8 + 0.5, took
    assert fake_api.asked(PNR) == 1  # the waiting ones did not ask too


def test_the_source_is_given_what_is_left_of_the_deadline(tmp_path: Path) -> None:
    source = SlowSource()
    guarded(source, tmp_path, deadline_s=2.5).get_status(PNR, now())
    [given] = source.deadlines
    assert given is not None and 2.0 < given <= 2.5


def test_the_breaker_opens_after_failures_in_a_row_and_a_probe_closes_it(tmp_path: Path) -> None:
    source = SlowSource(fail=True)
    guard = guarded(source, tmp_path, breaker_failures=3, breaker_open_s=0.5, share_s=0.0)
    for i in range(3):
        with pytest.raises(SourceUnavailable, match="502"):
            guard.get_status(f"412345678{i}", now())
    state = read_breaker(tmp_path)
    assert state["failures"] == 3 and state["open_until"] > time.time() and "502" in state["cause"]
    with pytest.raises(CircuitOpen, match="failed 3 times in a row"):
        guard.get_status("4123456785", now())
    assert len(source.calls) == 3  # not called while open
    source.fail = False
    wait_for(lambda: time.time() >= read_breaker(tmp_path)["open_until"], 5, "the breaker's open time to pass")
    assert guard.get_status("4123456786", now()).pnr == "4123456786"  # the probe
    state = read_breaker(tmp_path)
    assert state["failures"] == 0 and not state["open_until"] and "502" in state["last_cause"]


def test_a_lookup_of_another_time_is_its_own(tmp_path: Path) -> None:
    source = SlowSource()
    guard = guarded(source, tmp_path)
    guard.get_status(PNR, now())
    guard.get_status(PNR, now() + dt.timedelta(hours=3))
    assert source.calls == [PNR, PNR]


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cap"):
        guarded(SlowSource(), tmp_path, cap=0)


def test_processes_of_one_host_share_one_call(tmp_path: Path) -> None:
    """Three interpreters (as three gunicorn workers) ask one PNR together: one upstream call."""
    calls, go = tmp_path / "calls", tmp_path / "go"
    script = f"""
import datetime as dt, os, sys, time
from pathlib import Path
from app.domain.pnr import JourneyClass, Passenger, PnrStatus, SeatStatus, StatusCode
from app.services.sources.guard import GuardedSource

class Slow:
    def get_status(self, pnr, now, deadline_s=None):
        with open({str(calls)!r}, "a") as f:
            f.write(f"{{os.getpid()}}\\n")
        time.sleep(1.0)
        seat = SeatStatus(StatusCode.WL, 3, waitlist_type="GNWL")
        return PnrStatus(pnr, "12951", "X", dt.date(2026, 12, 20), "MMCT", "NDLS", JourneyClass("3A"), "GN",
                         False, (Passenger(1, seat, seat),), now)

guard = GuardedSource(Slow(), {str(tmp_path)!r}, name="t", cap=4, deadline_s=5, share_s=1, breaker_failures=3,
                      breaker_open_s=10)
Path({str(tmp_path)!r}, f"ready-{{os.getpid()}}").touch()
end = time.monotonic() + 30
while not os.path.exists({str(go)!r}) and time.monotonic() < end:
    time.sleep(0.01)
print(guard.get_status({PNR!r}, dt.datetime.now(dt.UTC)).pnr)
"""
    procs = [subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    try:
        wait_for(lambda: len(list(tmp_path.glob("ready-*"))) == 3, 60, "the three children ready")
        go.write_text("")  # now they ask together
        outs = [p.communicate(timeout=30)[0].strip() for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert outs == [PNR] * 3
    assert len(calls.read_text().splitlines()) == 1, calls.read_text()
    [shared] = [json.loads(p.read_text()) for p in (tmp_path / "upstream" / "flight").glob("*.lock") if p.stat().st_size]
    assert shared["pnr"] == PNR and shared["status"]["pnr"] == PNR
    assert os.listdir(tmp_path / "upstream" / "slot")


def test_the_flight_files_stay_bounded_and_pnrs_of_one_bucket_keep_their_own_answers(tmp_path: Path) -> None:
    source = SlowSource()
    guard = guarded(source, tmp_path)
    pnrs = [f"4{n:08d}1" for n in range(6000)]
    for pnr in pnrs:
        assert guard.get_status(pnr, now()).pnr == pnr
    files = list((tmp_path / "upstream" / "flight").iterdir())
    assert len(files) <= 4096  # a lock, holding its last answer, per bucket, not per PNR
    assert len(source.calls) == 6000  # a bucket's answer about another PNR is never taken for this one


def test_an_answer_left_half_written_is_not_taken_and_a_longer_one_is_replaced_whole(tmp_path: Path) -> None:
    """The answer lives in the flight lock, written in place: a holder killed mid-write leaves half of
    it, and a short answer written over a long one must not keep the long one's tail."""
    source = SlowSource()
    guard = guarded(source, tmp_path)
    guard.get_status(PNR, now())
    [lock] = [p for p in (tmp_path / "upstream" / "flight").iterdir() if p.stat().st_size]
    whole = lock.read_bytes()
    lock.write_bytes(whole[: len(whole) // 2])
    assert guard.get_status(PNR, now()).pnr == PNR
    assert source.calls == [PNR, PNR]  # asked again, not read from half an answer
    assert json.loads(lock.read_bytes())["pnr"] == PNR

    lock.write_bytes(whole + b" " * 4096 + b"tail")
    os.utime(lock, (0, 0))  # older than the share window: asked again, and the answer written over it
    guard.get_status(PNR, now())
    assert json.loads(lock.read_bytes())["status"]["pnr"] == PNR
    assert source.calls == [PNR] * 3
