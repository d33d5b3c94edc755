"""railsim's JSON (ConfirmTkt's shape) read back by the site's parser loses nothing the site shows."""
import datetime as dt
import json

from app.domain.pnr import StatusCode
from app.services.sources.shapes import detect_shape, to_status
from railsim.railway import Railway
from railsim.render import Answer, Seat, confirmtkt

NOW = dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.UTC)


def _seat_facts(seat: Seat, booking: bool) -> tuple[object, ...]:
    """What the site shows of a status: the waitlist type of a WL place, the booked quota of a WL or CNF one."""
    wl_type = seat.waitlist_type if seat.code == "WL" else None
    quota = seat.quota if booking and seat.code in ("WL", "CNF") and seat.coach else None
    return seat.code, seat.position, seat.coach, seat.berth, seat.berth_code, wl_type, quota


def _parsed_facts(seat: object, code: str, booking: bool) -> tuple[object, ...]:
    s = seat  # app.domain.pnr.SeatStatus
    wl_type = s.waitlist_type if code == "WL" else None  # type: ignore[attr-defined]
    quota = s.quota if booking and code in ("WL", "CNF") and s.coach else None  # type: ignore[attr-defined]
    return (s.code.value, s.position, s.coach, s.berth, s.berth_code, wl_type, quota)  # type: ignore[attr-defined]


def _check(answer: Answer) -> None:
    reply = json.loads(json.dumps(confirmtkt(answer)))
    assert detect_shape(reply) == "confirmtkt"
    status = to_status(reply, answer.pnr, answer.as_of)
    assert (status.train_number, status.train_name, status.journey_date, status.journey_class.value, status.quota) == (
        answer.train.number, answer.train.name, answer.journey_date, answer.journey_class, answer.quota)
    assert (status.from_station, status.to_station, status.boarding_point, status.reservation_upto) == (
        answer.boarding_point, answer.reservation_upto, answer.boarding_point, answer.reservation_upto)
    assert (status.chart_prepared, status.train_cancelled, status.departure, status.booking_date) == (
        answer.chart_prepared, answer.train_cancelled, answer.departure, answer.booking_date)
    assert status.chart_time == answer.chart_time  # not in the shape: the site infers it from the departure
    assert len(status.passengers) == len(answer.passengers)
    for parsed, (number, booked, current) in zip(status.passengers, answer.passengers):
        assert parsed.number == number
        assert _parsed_facts(parsed.booking_status, booked.code, True) == _seat_facts(booked, True)
        assert _parsed_facts(parsed.current_status, current.code, False) == _seat_facts(current, False)
        if booked.code == "WL" and booked.quota:
            assert parsed.booking_status.quota == booked.quota


def test_every_status_of_sampled_pnrs_reads_back_whole():
    railway = Railway()
    seen = set()
    for pnr in railway.sample_pnrs(NOW, 12):
        later = railway.status(pnr, NOW).chart_time + dt.timedelta(hours=1)
        for answer in railway.history(pnr, later):
            _check(answer)
            seen |= {s.code for _, b, c in answer.passengers for s in (b, c)}
        _check(railway.status(pnr, NOW))
    assert {"WL", "CNF"} <= seen


def test_the_reply_is_the_status_as_of_the_moment_asked():
    railway = Railway()
    pnr = railway.sample_pnrs(NOW, 1)[0]
    later = railway.status(pnr, NOW).chart_time + dt.timedelta(hours=1)
    now, charted = to_status(railway.reply(pnr, NOW), pnr, NOW), to_status(railway.reply(pnr, later), pnr, later)
    assert not now.chart_prepared and any(p.current_status.code is StatusCode.WL for p in now.passengers)
    assert charted.chart_prepared
