"""HttpSource against a real local HTTP server: the four reply shapes, API errors and transport failures."""
from __future__ import annotations

import copy
import datetime as dt
import logging
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.domain.pnr import (
    InvalidPnr,
    JourneyClass,
    PnrError,
    PnrNotFound,
    PnrStatus,
    SourceUnavailable,
    StatusCode,
    parse_status,
)
from app.services.sources import Source
from app.services.sources.http import HttpSource
from app.services.sources.shapes import expected_chart_time

# `fake_api` (tests/app/sources/conftest.py) is a FakeApi: answer(pnr, *replies), asked(pnr), requests.
API_KEY = "s3cr3t/K3Y+9f2"  # '/' and '+' make the URL carry it quoted: both forms must stay hidden
NOW = dt.datetime(2024, 2, 10, 6, 0, tzinfo=dt.UTC)
UTC = dt.UTC

CONFIRMTKT = {
    "Pnr": "4361365838", "TrainNo": "18638", "TrainName": "SMVB HTE EXP", "Doj": "13-02-2024",
    "BookingDate": "25-01-2024", "Quota": "GN", "SourceDoj": "13-02-2024", "DestinationDoj": "14-02-2024",
    "From": "SMVB", "To": "HTE", "BoardingPoint": "SMVB", "ReservationUpto": "HTE", "Class": "3A",
    "ChartPrepared": False, "TrainCancelledFlag": False, "PassengerCount": 1,
    "PassengerStatus": [{
        "Number": 1, "Prediction": "67% Chance", "PredictionPercentage": "67", "ConfirmTktStatus": "Probable",
        "Coach": "", "Berth": 4, "BookingStatus": "GNWL  72", "CurrentStatus": "GNWL  4",
        "BookingStatusNew": "GNWL", "BookingBerthNo": "72", "BookingCoachId": "", "CurrentStatusNew": "GNWL",
        "CurrentBerthNo": "4", "CurrentCoachId": "", "BookingBerthCode": None, "CurrentBerthCode": None,
    }],
    "DepartureTime": "00:30", "ArrivalTime": "11:15", "Duration": "34:45", "ExpectedPlatformNo": "7",
    "BookingFare": "1935", "TicketFare": "1935", "Error": None, "ErrorCode": 0,
}
CRIS = {
    "pnrNumber": "4246494122", "dateOfJourney": "Jul 22, 2018 12:00:00 AM", "trainNumber": "12601",
    "trainName": "MANGALORE MAIL", "sourceStation": "CLT", "destinationStation": "MAQ", "reservationUpto": "MAQ",
    "boardingPoint": "CLT", "journeyClass": "3A", "quota": "PQ", "numberOfpassenger": 2,
    "chartStatus": "Chart Not Prepared", "bookingFare": 540, "ticketFare": 540,
    "bookingDate": "Jul 1, 2018 12:00:00 AM", "isWL": "N", "waitListType": 0,
    "passengerList": [
        {"passengerSerialNumber": 1, "passengerQuota": "PQ", "waitListType": 0, "bookingStatus": "CNF",
         "bookingCoachId": "B1", "bookingBerthNo": 57, "bookingBerthCode": "LB",
         "bookingStatusDetails": "CNF/B1/57/LB", "currentStatus": "CNF", "currentCoachId": "", "currentBerthNo": 0,
         "currentStatusDetails": "CNF", "bookingStatusIndex": 0, "currentStatusIndex": 0},
        {"passengerSerialNumber": 2, "passengerQuota": "PQ", "bookingStatus": "PQWL", "bookingCoachId": "",
         "bookingBerthNo": 16, "bookingStatusDetails": "PQWL/-/16/PQ", "currentStatus": "PQWL",
         "currentCoachId": "", "currentBerthNo": 5, "currentStatusDetails": "PQWL/5"},
    ],
}
RAILWAYAPI_V1 = {
    "response_code": 200, "error": False, "pnr": "2457833461", "train_num": "12951", "train_name": "MUMBAI RAJDHANI",
    "doj": "5-8-2016", "train_start_date": {"day": 5, "month": 8, "year": 2016},
    "from_station": {"code": "BCT", "name": "MUMBAI CENTRAL"}, "to_station": {"code": "NDLS", "name": "NEW DELHI"},
    "boarding_point": {"code": "BCT", "name": "MUMBAI CENTRAL"},
    "reservation_upto": {"code": "NDLS", "name": "NEW DELHI"}, "class": "SL", "chart_prepared": "N",
    "total_passengers": 1, "passengers": [{"no": 1, "booking_status": "W/L 63,GNWL", "current_status": "W/L 10",
                                           "coach_position": 0}],
}
RAILWAYAPI_V2 = {
    "response_code": 200, "debit": 3, "pnr": "8123456789", "doj": "21-12-2017", "total_passengers": 2,
    "chart_prepared": True, "from_station": {"name": "DADAR", "code": "DR"}, "to_station": {"name": "SURAT", "code": "ST"},
    "boarding_point": {"name": "DADAR", "code": "DR"}, "reservation_upto": {"name": "SURAT", "code": "ST"},
    "train": {"name": "SAURASHTRA MAIL", "number": "22945"}, "journey_class": {"code": "SL", "name": "SLEEPER CLASS"},
    "passengers": [{"no": 1, "booking_status": "W/L 287,GNWL", "current_status": "RS13 23"},
                   {"no": 2, "booking_status": "W/L 46,HO", "current_status": "B1 , 17"}],
}
INDIANRAILAPI = {
    "ResponseCode": "200", "Status": "SUCCESS", "PnrNumber": "6512345678", "TrainNumber": "12802",
    "TrainName": "PURUSHOTTAM EXP", "JourneyClass": "SL", "ChatPrepared": "NO", "From": "NDLS", "To": "PURI",
    "JourneyDate": "14-03-2019", "Passangers": [{"Passenger": "Passenger 1", "BookingStatus": "GNWL/-/16/GN",
                                                "CurrentStatus": "GNWL/-/3/GN"}],
}


def _charted(payload: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of a sample reply with top-level fields changed."""
    return {**copy.deepcopy(payload), **changes}


def _with_passengers(payload: dict[str, Any], key: str, *changes: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a sample reply with each passenger's fields changed."""
    new = copy.deepcopy(payload)
    for p, change in zip(new[key], changes):
        p.update(change)
    return new


@pytest.fixture
def make_source(fake_api: Any) -> Iterator[Callable[..., HttpSource]]:
    """HttpSource factory pointed at the fake API (quick timeouts and backoff); closes what it made."""
    made: list[HttpSource] = []

    def make(**kw: Any) -> HttpSource:
        settings = {"timeout_s": 5.0, "retries": 0, "backoff_s": 0.01, **kw}
        source = HttpSource(settings.pop("base_url", fake_api.url), settings.pop("api_key", API_KEY), **settings)
        made.append(source)
        return source

    yield make
    for source in made:
        source.close()


def _passenger_statuses(status: PnrStatus) -> list[tuple[str, str]]:
    return [(str(p.booking_status), str(p.current_status)) for p in status.passengers]


@pytest.mark.parametrize(
    ("payload", "pnr", "train", "journey", "stations", "quota", "chart", "passengers"),
    [
        (CONFIRMTKT, "4361365838", "18638", ("2024-02-13", "3A"), ("SMVB", "HTE"), "GN", False, [("GNWL 72", "GNWL 4")]),
        ({"status": True, "message": "Success", "data": _with_passengers(
            _charted(CONFIRMTKT, ChartPrepared=True), "PassengerStatus",
            {"BookingStatus": "GNWL  36", "CurrentStatus": "RAC S9 23", "CurrentBerthNo": "23", "CurrentCoachId": "S9"})},
         "4361365838", "18638", ("2024-02-13", "3A"), ("SMVB", "HTE"), "GN", True, [("GNWL 36", "RAC S9 23")]),
        ({"status": True, "data": _with_passengers(CONFIRMTKT, "PassengerStatus", {"CurrentStatus": "WL"})},
         "4361365838", "18638", ("2024-02-13", "3A"), ("SMVB", "HTE"), "GN", False, [("GNWL 72", "WL 4")]),
        (CRIS, "4246494122", "12601", ("2018-07-22", "3A"), ("CLT", "MAQ"), "PQ", False,
         [("CNF/B1/57/LB", "CNF"), ("PQWL 16", "PQWL 5")]),
        ({"success": True, "data": _with_passengers(
            _charted(CRIS, chartStatus="Chart Prepared"), "passengerList",
            {"currentStatusDetails": "CNF/B2/12/UB"}, {"currentStatusDetails": "RAC/S9/23"})},
         "4246494122", "12601", ("2018-07-22", "3A"), ("CLT", "MAQ"), "PQ", True,
         [("CNF/B1/57/LB", "CNF/B2/12/UB"), ("PQWL 16", "RAC S9 23")]),
        (RAILWAYAPI_V1, "2457833461", "12951", ("2016-08-05", "SL"), ("BCT", "NDLS"), "GN", False,
         [("GNWL 63", "WL 10")]),
        (RAILWAYAPI_V2, "8123456789", "22945", ("2017-12-21", "SL"), ("DR", "ST"), "GN", True,
         [("GNWL 287", "RAC S13 23"), ("WL 46", "CNF/B1/17")]),
        (INDIANRAILAPI, "6512345678", "12802", ("2019-03-14", "SL"), ("NDLS", "PURI"), "GN", False,
         [("GNWL 16", "GNWL 3")]),
        (_with_passengers(_charted(INDIANRAILAPI, ChatPrepared="YES"), "Passangers", {"CurrentStatus": "CNF/S6/71/GN"}),
         "6512345678", "12802", ("2019-03-14", "SL"), ("NDLS", "PURI"), "GN", True, [("GNWL 16", "CNF/S6/71")]),
    ],
    ids=["confirmtkt", "irctc1-charted", "irctc1-bare-wl", "cris", "cris-wrapped-charted", "railwayapi-v1",
         "railwayapi-v2-charted", "indianrailapi", "indianrailapi-charted"],
)
def test_each_shape_maps_onto_pnr_status(
    fake_api: Any, make_source: Callable[..., HttpSource], payload: dict[str, Any], pnr: str, train: str,
    journey: tuple[str, str], stations: tuple[str, str], quota: str, chart: bool, passengers: list[tuple[str, str]],
) -> None:
    fake_api.answer(pnr, payload)
    source: Source = make_source()
    status = source.get_status(pnr, NOW)
    assert (status.pnr, status.train_number, status.journey_date.isoformat(), status.journey_class.value) == (
        pnr, train, *journey)
    assert (status.from_station, status.to_station, status.quota, status.chart_prepared) == (*stations, quota, chart)
    assert _passenger_statuses(status) == passengers
    chart_due = None if status.departure is None else expected_chart_time(status.departure)
    assert status.as_of == NOW and status.chart_time == chart_due  # no shape says: inferred from the departure
    hours = None if chart_due is None else max(0.0, (chart_due - NOW).total_seconds() / 3600)
    assert status.hours_to_chart == (0.0 if chart else hours)
    assert PnrStatus.from_dict(status.to_dict()) == status


def test_confirmtkt_journey_details(fake_api: Any, make_source: Callable[..., HttpSource]) -> None:
    fake_api.answer("4361365838", CONFIRMTKT)
    status = make_source(shape="confirmtkt").get_status("43613-65838", NOW)
    assert status.train_name == "SMVB HTE EXP" and status.journey_class is JourneyClass.THIRD_AC
    assert status.departure == dt.datetime(2024, 2, 12, 19, 0, tzinfo=UTC)  # 00:30 IST on 13 Feb
    assert (status.boarding_point, status.reservation_upto) == ("SMVB", "HTE")
    assert status.booking_date == dt.date(2024, 1, 25) and status.train_cancelled is False
    assert status.passengers[0].current_status == parse_status("GNWL  4")
    assert fake_api.requests[0][0] == "/pnr-status/pnr/4361365838/apikey/s3cr3t%2FK3Y%2B9f2/"


def test_cris_and_railwayapi_details(fake_api: Any, make_source: Callable[..., HttpSource]) -> None:
    fake_api.answer("4246494122", CRIS)
    fake_api.answer("8123456789", RAILWAYAPI_V2)
    source = make_source()
    cris = source.get_status("4246494122", NOW)
    assert cris.booking_date == dt.date(2018, 7, 1) and cris.departure is None
    assert cris.passengers[0].booking_status.berth_code == "LB"
    assert cris.passengers[1].current_status.position == 5
    railway = source.get_status("8123456789", NOW)
    assert railway.train_name == "SAURASHTRA MAIL" and railway.boarding_point == "DR"
    assert railway.passengers[1].booking_status.quota == "HO"
    assert railway.passengers[0].current_status.code is StatusCode.RAC


def test_key_in_a_header_and_the_pnr_in_the_query(fake_api: Any, make_source: Callable[..., HttpSource]) -> None:
    fake_api.answer("4361365838", {"status": True, "data": CONFIRMTKT})
    source = make_source(path_template="/api/v3/getPNRStatus?pnrNumber={pnr}", key_header="x-rapidapi-key",
                         headers={"x-rapidapi-host": "irctc1.p.rapidapi.com"})
    assert source.get_status("4361365838", NOW).train_number == "18638"
    path, headers = fake_api.requests[0]
    assert path == "/api/v3/getPNRStatus?pnrNumber=4361365838"
    assert headers["x-rapidapi-key"] == API_KEY and headers["x-rapidapi-host"] == "irctc1.p.rapidapi.com"


REPORTED_ERRORS = [
    ({"Error": "Invalid PNR number, please check", "ErrorCode": 301, "Pnr": None}, InvalidPnr, "not a valid PNR"),
    ({"status": False, "message": "PNR Not found."}, PnrNotFound, "PNR Not found."),
    ({"success": False, "message": "Invalid PNR"}, InvalidPnr, "not a valid PNR"),
    ({"response_code": 220, "pnr": "4361365838"}, PnrNotFound, "flushed"),
    ({"response_code": 221}, InvalidPnr, "response_code 221"),
    ({"response_code": 500}, SourceUnavailable, "rejected the API key"),
    ({"response_code": 403, "error": "Quota exhausted for day"}, SourceUnavailable, "quota"),
    ({"error": "Quota exhausted for day", "response_code": 200}, SourceUnavailable, "Quota exhausted for day"),
    ({"ResponseCode": "204", "Status": "FAILED", "Message": "Invalid PNR Number"}, InvalidPnr, "Invalid PNR Number"),
    ({"status": False, "message": "You have exceeded the MONTHLY quota"}, SourceUnavailable, "over its quota"),
    ({"hello": "world"}, SourceUnavailable, "unknown shape"),
    ([CONFIRMTKT], SourceUnavailable, "not an object"),
    ((200, b"{'Pnr': oops"), SourceUnavailable, "malformed JSON"),
    ((200, b"<html>busy</html>"), SourceUnavailable, "malformed JSON"),
    (_with_passengers(CONFIRMTKT, "PassengerStatus", {"CurrentStatus": "XYZ 12"}), SourceUnavailable, "'XYZ 12'"),
    ({k: v for k, v in CONFIRMTKT.items() if k != "Doj"}, SourceUnavailable, "lacks the field 'Doj'"),
    (_charted(CONFIRMTKT, Class="4A"), SourceUnavailable, "unknown journey class '4A'"),
    (_charted(CONFIRMTKT, Doj="13th Feb"), SourceUnavailable, "unknown date format"),
    (_charted(CONFIRMTKT, PassengerStatus=[]), SourceUnavailable, "no passengers"),
    (_charted(CONFIRMTKT, Pnr="4361365839"), SourceUnavailable, "another PNR"),
    (_charted(CRIS, pnrNumber="4361365838", chartStatus="Maybe"), SourceUnavailable, "not a yes/no value"),
    ((404, {"message": "no such endpoint"}), SourceUnavailable, "HTTP 404"),
    ((403, {"message": "You are not subscribed to this API."}), SourceUnavailable, "HTTP 403"),
]


@pytest.mark.parametrize(("reply", "error", "fragment"), REPORTED_ERRORS)
def test_errors_map_to_domain_errors_without_retrying(
    fake_api: Any, make_source: Callable[..., HttpSource], reply: Any, error: type[PnrError], fragment: str
) -> None:
    fake_api.answer("4361365838", reply)
    with pytest.raises(error, match=None) as caught:
        make_source(retries=2).get_status("4361365838", NOW)
    assert type(caught.value) is error
    assert fragment in str(caught.value)
    assert fake_api.asked("4361365838") == 1
    _assert_key_hidden(caught.value)


@pytest.mark.parametrize(("replies", "asked"), [((500,), 3), ((503, 503), 3), ((429,), 3), ((502, 500), 3)])
def test_server_errors_are_retried_then_reported(
    fake_api: Any, make_source: Callable[..., HttpSource], replies: tuple[int, ...], asked: int
) -> None:
    fake_api.answer("4361365838", *[(code, {"message": "try later"}) for code in replies])
    with pytest.raises(SourceUnavailable, match=f"after 3 attempts: HTTP {replies[-1]}") as caught:
        make_source(retries=2).get_status("4361365838", NOW)
    assert fake_api.asked("4361365838") == asked
    _assert_key_hidden(caught.value)


@pytest.mark.parametrize("first", [(500, b"oops"), (429, {"message": "Too many requests"}), (503, b"")])
def test_a_transient_failure_then_an_answer(
    fake_api: Any, make_source: Callable[..., HttpSource], first: tuple[int, Any]
) -> None:
    fake_api.answer("4361365838", first, CONFIRMTKT)
    assert make_source(retries=1).get_status("4361365838", NOW).pnr == "4361365838"
    assert fake_api.asked("4361365838") == 2


def test_a_hanging_api_times_out(fake_api: Any, make_source: Callable[..., HttpSource]) -> None:
    fake_api.answer("4361365838", fake_api.HANG)
    with pytest.raises(SourceUnavailable, match=r"after 2 attempts: no answer within 0.2 s") as caught:
        make_source(timeout_s=0.2, retries=1).get_status("4361365838", NOW)
    assert fake_api.asked("4361365838") == 2
    _assert_key_hidden(caught.value)


def test_connection_refused(make_source: Callable[..., HttpSource], closed_port: int) -> None:
    source = make_source(base_url=f"http://127.0.0.1:{closed_port}", retries=1)
    with pytest.raises(SourceUnavailable, match=r"after 2 attempts: cannot connect: \[Errno 111\] Connection refused") as caught:
        source.get_status("4361365838", NOW)
    _assert_key_hidden(caught.value)


def test_the_key_stays_out_of_the_logs(
    fake_api: Any, make_source: Callable[..., HttpSource], closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_api.answer("4361365838", (500, b"down"), CONFIRMTKT)
    make_source(retries=1).get_status("4361365838", NOW)
    with pytest.raises(SourceUnavailable):
        make_source(base_url=f"http://127.0.0.1:{closed_port}").get_status("4361365838", NOW)
    messages = [record.getMessage() for record in caplog.records]
    assert any("urllib3" in record.name for record in caplog.records)  # the URL-printing lines were seen
    assert any("***" in message for message in messages)
    assert not [m for m in messages if API_KEY in m or "s3cr3t%2FK3Y" in m]


def test_an_invalid_pnr_is_refused_before_asking(fake_api: Any, make_source: Callable[..., HttpSource]) -> None:
    with pytest.raises(InvalidPnr):
        make_source().get_status("0123456789", NOW)
    assert fake_api.requests == []


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [({"base_url": "ftp://example"}, "http://"), ({"base_url": ""}, "http://"), ({"shape": "xml"}, "shape"),
     ({"api_key": None}, "needs a key"), ({"path_template": "/pnr/{pnr}/{user}"}, "path template"),
     ({"timeout_s": 0}, "timeout_s"), ({"retries": -1}, "retries")],
)
def test_bad_settings_are_refused(make_source: Callable[..., HttpSource], kw: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        make_source(**kw)


def test_no_key_needed_when_the_template_has_none(fake_api: Any, make_source: Callable[..., HttpSource]) -> None:
    fake_api.answer("6512345678", INDIANRAILAPI)
    source = make_source(api_key=None, path_template="/PNRCheck/PNRNumber/{pnr}/", shape="indianrailapi")
    assert source.get_status("6512345678", NOW).train_number == "12802"


def _assert_key_hidden(exc: BaseException) -> None:
    """Neither the message nor the traceback that log.exception would print shows the key."""
    printed = "".join(traceback.format_exception(exc))
    assert API_KEY not in printed and "s3cr3t%2FK3Y" not in printed
