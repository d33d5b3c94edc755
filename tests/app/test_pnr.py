"""The status parser, PNR validation and the domain types' dict round trips."""
import datetime as dt

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.domain.pnr import (
    InvalidPnr,
    JourneyClass,
    Passenger,
    PnrStatus,
    SeatStatus,
    Shared,
    StatusCode,
    UnknownStatus,
    parse_journey_class,
    parse_quota,
    parse_status,
    validate_pnr,
)

CNF, RAC, WL = StatusCode.CNF, StatusCode.RAC, StatusCode.WL

EVERY_FORM = [
    # indianrail.gov.in, 2013
    ("W/L 45,GNWL", SeatStatus(WL, position=45, waitlist_type="GNWL")),
    ("W/L  55,GNWL", SeatStatus(WL, position=55, waitlist_type="GNWL")),
    ("W/L  17", SeatStatus(WL, position=17)),
    ("W/L 46,HO", SeatStatus(WL, position=46, quota="HO")),
    ("RAC  8,RLGN", SeatStatus(RAC, position=8, waitlist_type="RLWL")),
    ("RAC  44,GNWL", SeatStatus(RAC, position=44, waitlist_type="GNWL")),
    ("RS13 23", SeatStatus(RAC, coach="S13", berth=23)),
    ("RS6  31", SeatStatus(RAC, coach="S6", berth=31)),
    ("S8 , 61,GN", SeatStatus(CNF, coach="S8", berth=61, quota="GN")),
    ("B6 , 63", SeatStatus(CNF, coach="B6", berth=63)),
    ("B1 , 17", SeatStatus(CNF, coach="B1", berth=17)),
    ("ABE , 5", SeatStatus(CNF, coach="ABE", berth=5)),
    ("Confirmed", SeatStatus(CNF)),
    ("Can/Mod", SeatStatus(StatusCode.CAN)),
    # CRIS / IRCTC
    ("GNWL/45", SeatStatus(WL, position=45, waitlist_type="GNWL")),
    ("GNWL/-/16/GN", SeatStatus(WL, position=16, waitlist_type="GNWL", quota="GN")),
    ("RAC/-/12/GN", SeatStatus(RAC, position=12, quota="GN")),
    ("CNF/B1/57/LB", SeatStatus(CNF, coach="B1", berth=57, berth_code="LB")),
    ("CNF/S6/71/GN", SeatStatus(CNF, coach="S6", berth=71, quota="GN")),
    ("CNF/S6/71/SL/GN", SeatStatus(CNF, coach="S6", berth=71, berth_code="SL", quota="GN")),
    ("RAC/S9/23", SeatStatus(RAC, coach="S9", berth=23)),
    ("RLWL/12", SeatStatus(WL, position=12, waitlist_type="RLWL")),
    # ConfirmTkt and others
    ("GNWL  72", SeatStatus(WL, position=72, waitlist_type="GNWL")),
    ("RAC S9 23", SeatStatus(RAC, coach="S9", berth=23)),
    ("RAC 8 S9 23", SeatStatus(RAC, position=8, coach="S9", berth=23)),
    ("RAC  8", SeatStatus(RAC, position=8)),
    ("CNF S3 40", SeatStatus(CNF, coach="S3", berth=40)),
    ("CNF", SeatStatus(CNF)),
    ("cnf", SeatStatus(CNF)),
    ("CAN", SeatStatus(StatusCode.CAN)),
    ("REGRET", SeatStatus(StatusCode.REGRET)),
    ("REGRET/WL", SeatStatus(StatusCode.REGRET)),
    ("RELEASED", SeatStatus(StatusCode.RELEASED)),
    ("NOSB", SeatStatus(StatusCode.NOSB)),
    ("WL 5", SeatStatus(WL, position=5)),
    ("TQWL 3", SeatStatus(WL, position=3, waitlist_type="TQWL")),
    ("PQWL 7", SeatStatus(WL, position=7, waitlist_type="PQWL")),
    ("CKWL 4", SeatStatus(WL, position=4, waitlist_type="CKWL")),
    ("RSWL 9", SeatStatus(WL, position=9, waitlist_type="RSWL")),
    ("RQWL 2", SeatStatus(WL, position=2, waitlist_type="RQWL")),
    ("LDWL 1", SeatStatus(WL, position=1, waitlist_type="LDWL")),
    ("RLGN 6", SeatStatus(WL, position=6, waitlist_type="RLWL")),
    (" gnwl\u00a0 4 ", SeatStatus(WL, position=4, waitlist_type="GNWL")),
]


@pytest.mark.parametrize(("text", "expected"), EVERY_FORM)
def test_every_documented_form(text: str, expected: SeatStatus) -> None:
    assert parse_status(text) == expected


@pytest.mark.parametrize(
    ("text", "number", "coach", "expected"),
    [
        ("WL", "4", "", SeatStatus(WL, position=4)),
        ("GNWL", 72, None, SeatStatus(WL, position=72, waitlist_type="GNWL")),
        ("RAC", "8", "", SeatStatus(RAC, position=8)),
        ("RAC", "23", "S9", SeatStatus(RAC, coach="S9", berth=23)),
        ("CNF", 40, "s3", SeatStatus(CNF, coach="S3", berth=40)),
        ("CNF", 0, "", SeatStatus(CNF)),
        ("CNF", "57", "", SeatStatus(CNF)),  # a berth without a coach is dropped, not guessed
        ("GNWL  4", "99", "B1", SeatStatus(WL, position=4, waitlist_type="GNWL")),  # the string wins
        ("RAC S9 23", "23", "S9", SeatStatus(RAC, coach="S9", berth=23)),
    ],
)
def test_separately_given_number_and_coach(text: str, number: object, coach: str | None, expected: SeatStatus) -> None:
    assert parse_status(text, number=number, coach=coach) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    ["", "WL", "GNWL", "RAC", "W/L", "WL 0", "GNWL/0", "RAC/-", "XXWL 5", "WL 5,XY", "CNF 5", "CNF/B1",
     "GNWL 12345", "RAC,5", "S8 , 61,ZZ", "CNF/B1/57/GN/GN", "RAC 8 S9", "GNWL ٤٥", "ＷＬ 5", "WL 5,GNWL,GN",
     "Chart Prepared", "RCNF 5", "GNWL 5,TQWL", "CNF/GNWL1/5"],
)
def test_unknown_strings_raise_naming_the_string(text: str) -> None:
    with pytest.raises(UnknownStatus) as err:
        parse_status(text)
    assert repr(text) in str(err.value)


@pytest.mark.parametrize(("number", "coach"), [(-1, None), (True, None), (1.5, None), ("x", None), (10**6, None),
                                               ("4", "ß"), ("4", "B-1"), ("4", 7)])
def test_bad_separate_parts_raise(number: object, coach: object) -> None:
    with pytest.raises(UnknownStatus):
        parse_status("RAC", number=number, coach=coach)  # type: ignore[arg-type]


def test_non_text_status_raises() -> None:
    with pytest.raises(UnknownStatus, match="None"):
        parse_status(None)


def _same_seat(a: SeatStatus, b: SeatStatus) -> bool:
    """Equal in everything str() keeps: it leaves out the quota, RAC's berth code and waitlist type."""
    same = all(getattr(a, k) == getattr(b, k) for k in ("code", "position", "coach", "berth"))
    if a.code is WL:
        return same and a.waitlist_type == b.waitlist_type
    return same and (a.code is not CNF or a.berth_code == b.berth_code)


@pytest.mark.parametrize(("text", "expected"), EVERY_FORM)
def test_str_parses_back(text: str, expected: SeatStatus) -> None:
    status = parse_status(text)
    assert _same_seat(parse_status(str(status)), status)


NEAR_MISS_TOKENS = [
    "W/L", "WL", "RAC", "CNF", "GNWL", "RLGN", "TQWL", "XXWL", "R", "S13", "B1", "AB", "Can/Mod", "Confirmed",
    "REGRET", "NOSB", " ", "  ", ",", " , ", "/", "-", "/-/", "0", "7", "45", "007", "99999", "LB", "GN", "HO",
    "SL", "٣", "\u00a0", "ß", "ı", "\n", "\t", "ＷＬ",
]
near_miss = st.lists(st.sampled_from(NEAR_MISS_TOKENS), max_size=7).map("".join)
separate_number = st.one_of(st.none(), st.integers(), st.text(max_size=6), st.booleans(), st.floats())
separate_coach = st.one_of(st.none(), st.text(max_size=4), st.sampled_from(["S9", "B1", "-", "RAC", "GNWL"]))


@settings(max_examples=400)
@given(text=st.one_of(st.text(), near_miss), number=separate_number, coach=separate_coach)
@example(text="RAC", number=10**5000, coach=None)
@example(text="WL", number="9" * 5000, coach=None)
@example(text="RAC/S9/23/SL", number=None, coach=None)
def test_parse_status_raises_only_unknown_status(text: str, number: object, coach: object) -> None:
    try:
        status = parse_status(text, number=number, coach=coach)  # type: ignore[arg-type]
    except UnknownStatus as err:
        assert repr(text) in str(err)
        return
    if status.code in (WL, RAC):
        assert status.position is not None or (status.coach and status.berth)
    else:
        assert status.position is None
    assert status.position is None or 1 <= status.position <= 9999
    assert _same_seat(parse_status(str(status)), status)


@given(near_miss)
def test_near_misses_round_trip_when_accepted(text: str) -> None:
    try:
        status = parse_status(text)
    except UnknownStatus:
        return
    assert _same_seat(parse_status(str(status)), status)


@pytest.mark.parametrize(("text", "expected"), [("GN", "GN"), (" tq ", "TQ"), ("HO", "HO"), ("PQ", "PQ")])
def test_parse_quota(text: str, expected: str) -> None:
    assert parse_quota(text) == expected


@pytest.mark.parametrize("text", ["", "XX", "ß", None, "GNWL"])
def test_parse_quota_unknown(text: object) -> None:
    with pytest.raises(ValueError, match="quota"):
        parse_quota(text)


@pytest.mark.parametrize(("text", "expected"), [("SL", JourneyClass.SLEEPER), ("3ac", JourneyClass.THIRD_AC),
                                                ("2S", JourneyClass.SECOND_SITTING), (" CC", JourneyClass.CHAIR_CAR)])
def test_parse_journey_class(text: str, expected: JourneyClass) -> None:
    assert parse_journey_class(text) == expected


@pytest.mark.parametrize("text", ["", "4A", "sleeper class", None, "ＳＬ"])
def test_parse_journey_class_unknown(text: object) -> None:
    with pytest.raises(ValueError, match="journey class"):
        parse_journey_class(text)


# --- validate_pnr ---------------------------------------------------------------------------------

canonical_pnr = st.from_regex(r"[1-9][0-9]{9}", fullmatch=True)


@given(canonical_pnr, st.lists(st.sampled_from([" ", "-"]), min_size=10, max_size=10), st.sampled_from(["", " ", "\t", "\n "]))
def test_any_ten_ascii_digits_not_starting_with_zero_are_accepted(pnr: str, seps: list[str], pad: str) -> None:
    decorated = pad + "".join(d + s for d, s in zip(pnr, seps)) + pad
    assert validate_pnr(decorated) == pnr
    assert validate_pnr(pnr) == pnr


@settings(max_examples=400)
@given(st.one_of(st.text(), st.text(alphabet="0123456789 -٣٤۵０１߁\u00a0"), st.integers(), st.none(), st.binary()))
@example("４２４６４９４１２２")
@example("4246494122\u0663")
@example("424649412٢")
def test_validate_pnr_accepts_exactly_ten_ascii_digits(text: object) -> None:
    try:
        pnr = validate_pnr(text)
    except InvalidPnr:
        stripped = text.strip().replace(" ", "").replace("-", "") if isinstance(text, str) else None
        ok = stripped is not None and len(stripped) == 10 and stripped.isascii() and stripped.isdigit()
        assert not (ok and stripped[0] != "0")
        return
    assert isinstance(text, str)
    assert len(pnr) == 10 and pnr.isascii() and pnr.isdigit() and pnr[0] != "0"
    assert pnr == text.strip().replace(" ", "").replace("-", "")


@pytest.mark.parametrize(("text", "rule"), [("", "nothing"), ("424649412", "exactly 10"), ("0246494122", "start with 0"),
                                            ("42464941a2", "digits only"), ("４２４６４９４１２２", "digits only"),
                                            (4246494122, "text")])
def test_validate_pnr_names_the_rule(text: object, rule: str) -> None:
    with pytest.raises(InvalidPnr, match=rule):
        validate_pnr(text)


# --- dict round trips -----------------------------------------------------------------------------

def test_pnr_status_dict_round_trip() -> None:
    now = dt.datetime(2024, 2, 10, 6, 0, tzinfo=dt.UTC)
    status = PnrStatus(
        pnr="4361365838", train_number="18638", train_name="SMVB HTE EXP", journey_date=dt.date(2024, 2, 13),
        from_station="SMVB", to_station="HTE", journey_class=JourneyClass.THIRD_AC, quota="GN",
        chart_prepared=False,
        passengers=(Passenger(1, parse_status("GNWL  72"), parse_status("GNWL  4")),
                    Passenger(2, parse_status("CNF/B1/57/LB"), parse_status("CNF"))),
        as_of=now, chart_time=now + dt.timedelta(hours=70, minutes=30), booking_date=dt.date(2024, 1, 25),
    )
    assert PnrStatus.from_dict(status.to_dict()) == status
    assert status.hours_to_chart == 70.5


def test_a_history_parsed_with_one_shared_holds_each_value_once() -> None:
    start = dt.datetime(2024, 2, 1, 6, 0, tzinfo=dt.UTC)
    history = [
        PnrStatus(pnr="4361365838", train_number="18638", train_name="SMVB HTE EXP", journey_date=dt.date(2024, 2, 13),
                  from_station="SMVB", to_station="HTE", journey_class=JourneyClass.THIRD_AC, quota="GN",
                  chart_prepared=day == 3,
                  passengers=(Passenger(1, parse_status("GNWL  72"), parse_status(f"GNWL  {40 - day}")),
                              Passenger(2, parse_status("GNWL  73"), parse_status("RAC 1" if day else "GNWL 1"))),
                  as_of=start + dt.timedelta(days=day), chart_time=start + dt.timedelta(days=12))
        for day in range(4)
    ]
    docs = [s.to_dict() for s in history]
    shared = Shared()
    parsed = [PnrStatus.from_dict(d, shared) for d in docs]
    assert parsed == history == [PnrStatus.from_dict(d) for d in docs]
    first, *rest = parsed
    for later in rest:
        assert later.train_name is first.train_name and later.chart_time is first.chart_time
        assert later.passengers[0].booking_status is first.passengers[0].booking_status
    assert parsed[2].passengers[1] is parsed[1].passengers[1]  # "RAC 1" on both days: one passenger
    assert parsed[0].passengers[1] is not parsed[1].passengers[1]


def test_shared_never_stands_one_type_for_another_that_compares_equal() -> None:
    shared = Shared()
    assert shared.one("WL") == StatusCode.WL and type(shared.one(StatusCode.WL)) is StatusCode
    assert shared.one(True) is True and shared.one(1) == 1 and type(shared.one(1)) is int
    assert shared.one(["a"]) == ["a"]  # unhashable: as it is
