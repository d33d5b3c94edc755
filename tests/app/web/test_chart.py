"""The history chart: valid SVG, lines that fall as the waitlist clears, the chart event marked."""
from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from app.domain.pnr import JourneyClass, Passenger, PnrStatus, SeatStatus, StatusCode
from app.web.chart import HEIGHT, WIDTH, history_svg

SVG = "{http://www.w3.org/2000/svg}"
T0 = dt.datetime(2026, 3, 1, 6, 0, tzinfo=dt.UTC)
CHART = T0 + dt.timedelta(days=20)


def snap(day: float, *current: SeatStatus, charted: bool = False) -> PnrStatus:
    booked = [SeatStatus(StatusCode.WL, 40 + i, waitlist_type="GNWL") for i in range(len(current))]
    return PnrStatus(
        pnr="2412345678", train_number="12951", train_name="MUMBAI RAJDHANI", journey_date=dt.date(2026, 3, 22),
        from_station="BCT", to_station="NDLS", journey_class=JourneyClass.SLEEPER, quota="GN", chart_prepared=charted,
        passengers=tuple(Passenger(i + 1, b, c) for i, (b, c) in enumerate(zip(booked, current))),
        as_of=T0 + dt.timedelta(days=day), chart_time=CHART,
    )


def wl(n: int) -> SeatStatus:
    return SeatStatus(StatusCode.WL, n, waitlist_type="GNWL")


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.get("viewBox") == f"0 0 {WIDTH} {HEIGHT}"
    return root


def dots(root: ET.Element, css: str) -> list[tuple[float, float, str]]:
    found = []
    for c in root.iter(f"{SVG}circle"):
        if css in (c.get("class") or "").split():
            found.append((float(c.get("cx")), float(c.get("cy")), c.find(f"{SVG}title").text))
    return found


def test_a_clearing_waitlist_falls_towards_confirmed_and_the_due_chart_is_marked() -> None:
    history = [snap(0, wl(40)), snap(5, wl(31)), snap(9, wl(12)), snap(12, SeatStatus(StatusCode.RAC, 7))]
    root = parse(history_svg(history, snap(13, SeatStatus(StatusCode.RAC, 7))))
    points = dots(root, "p1")
    assert [p[2].split(": ")[-1] for p in points] == ["GNWL 40", "GNWL 31", "GNWL 12", "RAC 7"]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    assert xs == sorted(xs) and ys == sorted(ys)  # later is right; lower on screen (larger y) is better
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "chart due" in labels and "now" in labels and "CNF" in labels and "WL 40" in labels
    # While the chart is ahead, the time axis reaches it: "now" stands left of "chart due".
    events = {e.get("class").split()[1]: float(e.get("x1")) for e in root.iter(f"{SVG}line")
              if "event" in (e.get("class") or "")}
    assert events["now"] < events["due"]


def test_the_prepared_chart_is_marked_where_it_happened_and_each_passenger_has_a_line() -> None:
    cnf = SeatStatus(StatusCode.CNF, coach="S4", berth=33, berth_code="LB")
    history = [snap(0, wl(3), wl(4)), snap(10, wl(1), wl(2)), snap(20, cnf, SeatStatus(StatusCode.RAC, 2, "S9", 71), charted=True)]
    root = parse(history_svg(history, history[-1]))
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "chart prepared" in labels and "now" not in labels
    assert len(dots(root, "p1")) == 3 and len(dots(root, "p2")) == 3
    assert {p.get("class") for p in root.iter(f"{SVG}polyline")} == {"line p1", "line p2"}
    confirmed_y = dots(root, "p1")[-1][1]
    assert confirmed_y == max(y for _, y, _ in dots(root, "p1") + dots(root, "p2"))  # CNF is the lowest line


def test_a_cancelled_passenger_breaks_the_line_and_one_snapshot_still_draws() -> None:
    history = [snap(0, wl(9)), snap(3, SeatStatus(StatusCode.CAN))]
    root = parse(history_svg(history, history[-1]))
    assert len(dots(root, "p1")) == 1  # CAN has no place on the chart
    single = parse(history_svg([], snap(0, wl(5))))
    assert len(dots(single, "p1")) == 1


def test_text_is_escaped() -> None:
    status = snap(0, wl(5))
    hostile = PnrStatus(**{**status.__dict__, "pnr": "<script>"})
    svg = history_svg([], hostile)
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    parse(svg)
