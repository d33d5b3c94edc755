"""SimulatorSource as the site, the tracker and the trainer use it: lookups, histories, samples, outcome rows."""
import datetime as dt
import itertools
import json
import random

import numpy as np
import pytest

from app.pnr import InvalidPnr, PnrNotFound, StatusCode, parse_status, validate_pnr
from app.sources.sim.demand import train_date_load
from app.sources.sim.strings import legacy, modern
from app.sources.simulator import SimulatorSource

NOW = dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.UTC)  # 7 days into a 30-day lookup window
LATER = NOW + dt.timedelta(days=9)  # same window
ROW_KEYS = {"train_number", "journey_class", "quota", "waitlist_type", "booking_position", "current_position",
            "hours_to_chart", "journey_date", "pnr", "passenger", "final_code", "final_position"}


@pytest.fixture(scope="module")
def source() -> SimulatorSource:
    return SimulatorSource()


@pytest.fixture(scope="module")
def random_pnrs() -> list[str]:
    rnd = random.Random(7)
    return [str(rnd.randint(10**9, 10**10 - 1)) for _ in range(300)]


def _seat(s):
    return s.code, s.position, s.coach, s.berth


def _dump(statuses) -> str:
    return json.dumps([s.to_dict() for s in statuses], sort_keys=True)


def test_any_valid_pnr_gets_a_booked_answer_or_not_found_and_lookups_lean_to_waitlists(source, random_pnrs):
    missing = waitlisted = 0
    for pnr in random_pnrs:
        try:
            status = source.get_status(pnr, NOW)
        except PnrNotFound:
            missing += 1
            continue
        assert status.pnr == pnr and status.as_of == NOW and status.passengers
        assert status.booking_date <= NOW.date() and status.journey_date >= NOW.date() - dt.timedelta(days=31)
        assert int(status.train_number) and status.journey_class.value
        waitlisted += any(p.booking_status.code is StatusCode.WL for p in status.passengers)
    share = waitlisted / (len(random_pnrs) - missing)
    assert 0 < missing / len(random_pnrs) <= 0.045  # default 2 % flushed
    assert 0.58 <= share <= 0.76, share  # about 60-70 % of looked-up PNRs are waitlisted


def test_same_seed_gives_byte_identical_answers_and_another_seed_other_ones(random_pnrs):
    a, b, other = SimulatorSource(), SimulatorSource(), SimulatorSource(seed=99)
    pnrs = random_pnrs[:40]
    for pnr in pnrs:
        try:
            history = a.history(pnr, LATER)
        except PnrNotFound:
            with pytest.raises(PnrNotFound):
                b.history(pnr, LATER)
            continue
        assert _dump(history) == _dump(b.history(pnr, LATER))
    differ = 0
    for pnr in pnrs:
        try:
            differ += _dump(a.history(pnr, LATER)) != _dump(other.history(pnr, LATER))
        except PnrNotFound:
            differ += 1
    assert differ >= len(pnrs) - 2


def test_different_seeds_draw_independent_demand():
    a, b = SimulatorSource(seed=1), SimulatorSource(seed=2)
    days = [dt.date(2016, 1, 4) + dt.timedelta(days=7 * i + k) for i in range(7) for k in range(3)]  # Mon-Wed, no festival
    loads = np.log([[[train_date_load(src.config, t, d) for d in days] for t in a.trains] for src in (a, b)])
    x, y = (loads - loads.mean(axis=2, keepdims=True)).reshape(2, -1)  # less each train's own level
    assert abs(np.corrcoef(x, y)[0, 1]) < 0.15
    train = a.trains[0]
    first = [[float(inv.booking_h[0]) for inv in (src.inventory(train, c, days[0]) for c in src.plans(train))] for src in (a, b)]
    assert first[0] != first[1]


def test_a_history_is_the_same_booking_whenever_it_is_asked_for(source, random_pnrs):
    compared = 0
    for pnr in random_pnrs[:60]:
        try:
            early, late = source.history(pnr, NOW), source.history(pnr, LATER)
        except PnrNotFound:
            continue
        assert _dump(late[: len(early)]) == _dump(early)
        assert [p.current_status for p in late[-1].passengers] == [p.current_status for p in source.get_status(pnr, LATER).passengers]
        first = early[0]  # the booking itself
        assert [_seat(p.current_status) for p in first.passengers] == [_seat(p.booking_status) for p in first.passengers] or any(
            p.current_status.code is StatusCode.CAN for p in first.passengers)
        assert all(h1.as_of < h2.as_of for h1, h2 in itertools.pairwise(late))
        if late[-1].chart_prepared:
            assert sum(h.chart_prepared for h in late) == 1  # the chart is one event, then nothing changes
        compared += 1
    assert compared > 40


def test_sample_pnrs_are_waitlisted_now_with_no_chart_and_stable(source):
    pnrs = source.sample_pnrs(NOW, 5)
    assert len(pnrs) == 5 == len(set(pnrs)) and pnrs == SimulatorSource().sample_pnrs(NOW, 5)
    for pnr in pnrs:
        assert validate_pnr(pnr) == pnr
        status = source.get_status(pnr, NOW)
        assert not status.chart_prepared
        assert any(p.current_status.code is StatusCode.WL for p in status.passengers)


def test_outcome_rows_follow_the_contract(source):
    rows = list(source.charted_journeys(12))
    assert len(rows) > 1000
    assert rows == list(SimulatorSource().charted_journeys(12))
    assert rows != list(source.charted_journeys(12, seed=5))
    for row in rows:
        assert set(row) == ROW_KEYS
        assert row["waitlist_type"] == f"{row['quota']}WL" and row["final_code"] in ("CNF", "RAC", "WL")
        assert (row["final_position"] is None) == (row["final_code"] == "CNF")
        assert 1 <= row["current_position"] <= row["booking_position"] and row["hours_to_chart"] > 0
        assert validate_pnr(row["pnr"]) == row["pnr"] and 1 <= row["passenger"] <= 6
        json.dumps(row)
    observed = {(r["pnr"], r["passenger"]) for r in rows if r["hours_to_chart"] in (48.0, 24.0, 12.0)}
    assert len(observed) > 100  # passengers are seen again before the chart
    assert any(r["current_position"] < r["booking_position"] for r in rows)


def test_outcome_rows_can_be_limited_to_dates_and_trains(source):
    rows = list(source.charted_journeys(dates=[dt.date(2019, 3, 4)], trains=["12951"], hours_to_chart=(24.0,)))
    assert rows and {r["train_number"] for r in rows} == {"12951"} and {r["journey_date"] for r in rows} == {"2019-03-04"}
    assert {r["hours_to_chart"] for r in rows if r["hours_to_chart"] == 24.0}
    assert {r["hours_to_chart"] for r in rows} - {24.0}  # and at booking


def test_a_bookings_own_pnr_finds_it_from_any_process(source):
    journey = (NOW + dt.timedelta(days=10)).date()
    rows = [r for r in source.charted_journeys(dates=[journey], trains=["12627", "12301"], hours_to_chart=())
            if r["hours_to_chart"] > 10 * 24 + 12]  # booked well before NOW
    assert len(rows) > 50
    fresh = SimulatorSource()
    for row in rows[::10]:
        status = fresh.get_status(row["pnr"], NOW)
        assert (status.train_number, status.journey_date.isoformat(), status.journey_class.value) == (
            row["train_number"], row["journey_date"], row["journey_class"])
        booked = status.passengers[row["passenger"] - 1].booking_status
        assert (booked.code, booked.position, booked.waitlist_type) == (StatusCode.WL, row["booking_position"], row["waitlist_type"])


def test_bad_input_and_settings_are_refused_clearly(source):
    with pytest.raises(InvalidPnr):
        source.get_status("0123456789", NOW)
    with pytest.raises(InvalidPnr):
        source.history("12345", NOW)
    with pytest.raises(TypeError, match="no_such_setting"):
        SimulatorSource(no_such_setting=1)
    with pytest.raises(ValueError, match="era"):
        SimulatorSource(era="1999")
    flushed = SimulatorSource(flushed_fraction=1.0)
    with pytest.raises(PnrNotFound):
        flushed.get_status("4361365838", NOW)


def test_naive_now_is_taken_as_utc(source):
    pnr = source.sample_pnrs(NOW, 1)[0]
    assert source.get_status(pnr, NOW.replace(tzinfo=None)) == source.get_status(pnr, NOW)


def test_statuses_print_as_real_sources_do_and_parse_back(source):
    seats = {}
    for pnr in source.sample_pnrs(NOW, 4):
        for status in source.history(pnr, NOW + dt.timedelta(days=40)):
            for p in status.passengers:
                seats[str(p.booking_status), True] = p.booking_status
                seats[str(p.current_status), False] = p.current_status
    codes = {seat.code for seat in seats.values()}
    assert {StatusCode.WL, StatusCode.CNF} <= codes
    for (_, booking), seat in seats.items():
        for text in (legacy(seat, booking), modern(seat)):
            parsed = parse_status(text)
            assert parsed.code is seat.code, text
            if seat.code in (StatusCode.WL, StatusCode.RAC) and not seat.coach:
                assert parsed.position == seat.position, text
            if seat.coach:
                assert (parsed.coach, parsed.berth) == (seat.coach, seat.berth), text
