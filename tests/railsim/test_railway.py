"""The Railway as the server, the jobs and the tests use it: lookups, histories, samples, outcome rows.

Statuses are read back from railsim's JSON with the site's own parser (app.services.sources.shapes), as the site reads them."""
import datetime as dt
import itertools
import json
import random

import numpy as np
import pytest

from app.domain.pnr import InvalidPnr, PnrNotFound, PnrStatus, StatusCode, parse_status, validate_pnr
from app.services.sources.shapes import to_status
from railsim import pnrs
from railsim.demand import train_date_load
from railsim.railway import Railway
from railsim.render import confirmtkt
from railsim.strings import legacy, modern

NOW = dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.UTC)  # 7 days into a 30-day lookup window
LATER = NOW + dt.timedelta(days=9)  # same window
ROW_KEYS = {"train_number", "journey_class", "quota", "waitlist_type", "booking_position", "current_position",
            "hours_to_chart", "journey_date", "pnr", "passenger", "final_code", "final_position"}


@pytest.fixture(scope="module")
def source() -> Railway:
    return Railway()


def get_status(railway: Railway, pnr: str, now: dt.datetime) -> PnrStatus:
    """The status as the site reads it from railsim's JSON reply."""
    return to_status(json.loads(json.dumps(railway.reply(pnr, now))), pnr, now)


def history_of(railway: Railway, pnr: str, now: dt.datetime) -> list[PnrStatus]:
    """The history as the site reads it: one reply per change, each as of its change."""
    try:
        return [to_status(confirmtkt(a), pnr, a.as_of) for a in railway.history(pnr, now)]
    except pnrs.PnrNotFound as exc:
        raise PnrNotFound(str(exc)) from None


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
            status = get_status(source, pnr, NOW)
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
    a, b, other = Railway(), Railway(), Railway(seed=99)
    pnrs = random_pnrs[:40]
    for pnr in pnrs:
        try:
            history = history_of(a, pnr, LATER)
        except PnrNotFound:
            with pytest.raises(PnrNotFound):
                history_of(b, pnr, LATER)
            continue
        assert _dump(history) == _dump(history_of(b, pnr, LATER))
    differ = 0
    for pnr in pnrs:
        try:
            differ += _dump(history_of(a, pnr, LATER)) != _dump(history_of(other, pnr, LATER))
        except PnrNotFound:
            differ += 1
    assert differ >= len(pnrs) - 2


def test_different_seeds_draw_independent_demand():
    a, b = Railway(seed=1), Railway(seed=2)
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
            early, late = history_of(source, pnr, NOW), history_of(source, pnr, LATER)
        except PnrNotFound:
            continue
        assert _dump(late[: len(early)]) == _dump(early)
        assert [p.current_status for p in late[-1].passengers] == [p.current_status for p in get_status(source, pnr, LATER).passengers]
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
    assert len(pnrs) == 5 == len(set(pnrs)) and pnrs == Railway().sample_pnrs(NOW, 5)
    for pnr in pnrs:
        assert validate_pnr(pnr) == pnr
        status = get_status(source, pnr, NOW)
        assert not status.chart_prepared
        assert any(p.current_status.code is StatusCode.WL for p in status.passengers)


def test_outcome_rows_follow_the_contract(source):
    rows = list(source.charted_journeys(12))
    assert len(rows) > 1000
    assert rows == list(Railway().charted_journeys(12))
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
    fresh = Railway()
    for row in rows[::10]:
        status = get_status(fresh, row["pnr"], NOW)
        assert (status.train_number, status.journey_date.isoformat(), status.journey_class.value) == (
            row["train_number"], row["journey_date"], row["journey_class"])
        booked = status.passengers[row["passenger"] - 1].booking_status
        assert (booked.code, booked.position, booked.waitlist_type) == (StatusCode.WL, row["booking_position"], row["waitlist_type"])


def test_bad_input_and_settings_are_refused_clearly(source):
    with pytest.raises(InvalidPnr):
        get_status(source, "0123456789", NOW)
    with pytest.raises(pnrs.InvalidPnr):
        source.history("12345", NOW)
    with pytest.raises(TypeError, match="no_such_setting"):
        Railway(no_such_setting=1)
    with pytest.raises(ValueError, match="era"):
        Railway(era="1999")
    flushed = Railway(flushed_fraction=1.0)
    with pytest.raises(PnrNotFound):
        get_status(flushed, "4361365838", NOW)


def test_naive_now_is_taken_as_utc(source):
    pnr = source.sample_pnrs(NOW, 1)[0]
    assert get_status(source, pnr, NOW.replace(tzinfo=None)) == get_status(source, pnr, NOW)


def test_statuses_print_as_real_sources_do_and_parse_back(source):
    seats = {}
    for pnr in source.sample_pnrs(NOW, 4):
        for status in source.history(pnr, NOW + dt.timedelta(days=40)):
            for _, booked, current in status.passengers:
                seats[repr(booked), True] = booked
                seats[repr(current), False] = current
    codes = {seat.code for seat in seats.values()}
    assert {"WL", "CNF"} <= codes
    for (_, booking), seat in seats.items():
        for text in (legacy(seat, booking), modern(seat)):
            parsed = parse_status(text)
            assert parsed.code.value == seat.code, text
            if seat.code in ("WL", "RAC") and not seat.coach:
                assert parsed.position == seat.position, text
            if seat.coach:
                assert (parsed.coach, parsed.berth) == (seat.coach, seat.berth), text


def test_errors_are_the_shapes_own_answers(source):
    invalid, missing = source.reply("0123456789", NOW), Railway(flushed_fraction=1.0).reply("4361365838", NOW)
    assert invalid["ErrorCode"] == 301 and missing["ErrorCode"] != 0 and "Not found" in missing["Error"]
    with pytest.raises(InvalidPnr):
        to_status(invalid, "0123456789", NOW)
    with pytest.raises(PnrNotFound):
        to_status(missing, "4361365838", NOW)


def test_a_railway_asked_before_answers_as_one_that_never_was(random_pnrs):
    """Which booking a PNR is, is kept per PNR, day and lookup window: a railway that has answered
    these PNRs at other moments (another hour, another day, another window) must answer each moment
    exactly as a fresh railway does, foreign PNRs and a booking's own PNR alike, and an own PNR
    asked, on the same day, before its booking was made is still not found."""
    moments = [NOW, NOW + dt.timedelta(hours=5), LATER, NOW + dt.timedelta(days=40)]
    journey = (NOW + dt.timedelta(days=10)).date()
    own = [r["pnr"] for r in Railway().charted_journeys(dates=[journey], trains=["12627"], hours_to_chart=())]
    pnrs_asked = random_pnrs[:80] + own[::25]
    warm = Railway()
    for when in moments:
        for pnr in pnrs_asked:
            warm.reply(pnr, when)

    def answers(railway: Railway, when: dt.datetime) -> str:
        return json.dumps([railway.reply(pnr, when) for pnr in pnrs_asked], sort_keys=True)

    for when in reversed(moments):
        assert answers(warm, when) == answers(Railway(), when)

    ist = dt.timezone(dt.timedelta(hours=5, minutes=30))
    for pnr in own:
        inv, booking = Railway()._resolve(pnr, NOW + dt.timedelta(days=9))  # noqa: SLF001 - when it was made
        made = inv.at(float(inv.booking_h[booking]))
        after, before = made + dt.timedelta(minutes=30), made - dt.timedelta(minutes=30)
        if after.astimezone(ist).date() == before.astimezone(ist).date():
            break
    else:
        pytest.fail("no booking made away from midnight")
    assert warm.reply(pnr, after)["ErrorCode"] == 0
    assert warm.reply(pnr, before) == Railway().reply(pnr, before)
    assert warm.reply(pnr, before)["ErrorCode"] != 0
