"""The waitlist history of one PNR as an inline SVG, drawn on the server from the stored snapshots.

Time runs left to right from the first snapshot (the booking, when the source knows it) to now, or
to the expected chart while it is still ahead. Height is how far a passenger is from a berth: the
waitlist on top, RAC below it, confirmed at the bottom, so a line falling is good news. Every change
is a dot with its time and status as a tooltip; the chart is marked where it was (or will be) made.
No script: it is drawn once, styled by site.css through classes (the CSP allows no inline style).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from markupsafe import Markup, escape

from plumbing.zones import IST

from ..domain.pnr import PnrStatus, SeatStatus, StatusCode
from .filters import ist

WIDTH, HEIGHT = 600, 270
LEFT, RIGHT, TOP, BOTTOM = 84, 14, 26, 32
X_TICKS = 4
# Shares of the plot height, from the bottom: CNF at 0, RAC band, then the waitlist band up to 1.
RAC_BAND = (0.12, 0.36)
WL_BAND_WITH_RAC = (0.46, 1.0)
WL_BAND_WITHOUT_RAC = (0.16, 1.0)
MIN_SPAN = dt.timedelta(hours=1)
DATES_ONLY_SPAN = dt.timedelta(days=3)
LABEL_GAP = 110  # viewBox units two event labels need side by side at the phone's font size


@dataclasses.dataclass(frozen=True)
class Point:
    """One passenger's status from `at` until the next point."""

    at: dt.datetime
    status: SeatStatus


class _Scale:
    def __init__(self, statuses: Sequence[SeatStatus], start: dt.datetime, end: dt.datetime):
        self.max_wl = max((s.position or 1 for s in statuses if s.code is StatusCode.WL), default=0)
        self.max_rac = max((s.position or 1 for s in statuses if s.code is StatusCode.RAC), default=0)
        self.wl_band = WL_BAND_WITH_RAC if self.max_rac else WL_BAND_WITHOUT_RAC
        self.start = start
        self.span = max(end - start, MIN_SPAN)
        self.plot_w = WIDTH - LEFT - RIGHT
        self.plot_h = HEIGHT - TOP - BOTTOM

    def x(self, at: dt.datetime) -> float:
        share = (at - self.start) / self.span
        return round(LEFT + min(max(share, 0.0), 1.0) * self.plot_w, 1)

    def level(self, s: SeatStatus) -> float | None:
        """0 (confirmed) to 1 (the longest waitlist seen); None for statuses without a place."""
        if s.code is StatusCode.CNF:
            return 0.0
        if s.code is StatusCode.RAC:
            lo, hi = RAC_BAND
            return lo + (hi - lo) * (s.position or 1) / max(self.max_rac, 1)
        if s.code is StatusCode.WL:
            lo, hi = self.wl_band
            return lo + (hi - lo) * (s.position or 1) / max(self.max_wl, 1)
        return None

    def y(self, level: float) -> float:
        return round(TOP + (1.0 - level) * self.plot_h, 1)


def passenger_points(history: Sequence[PnrStatus]) -> dict[int, list[Point]]:
    """Per passenger, the moments their current status changed (consecutive repeats dropped)."""
    points: dict[int, list[Point]] = {}
    for snap in history:
        for p in snap.passengers:
            line = points.setdefault(p.number, [])
            if not line or line[-1].status != p.current_status:
                line.append(Point(snap.as_of, p.current_status))
    return points


def _chart_moment(history: Sequence[PnrStatus], current: PnrStatus) -> tuple[dt.datetime | None, bool]:
    """When the chart was prepared (True) or is expected (False); None when unknown."""
    for snap in history:
        if snap.chart_prepared:
            return snap.as_of, True
    if current.chart_prepared:
        return current.as_of, True
    return current.chart_time, False


def _axes(scale: _Scale) -> list[str]:
    parts = [f'<line class="axis" x1="{LEFT}" y1="{scale.y(0)}" x2="{WIDTH - RIGHT}" y2="{scale.y(0)}"/>']
    labels = [(0.0, "CNF")]
    if scale.max_rac:
        labels += [(RAC_BAND[0] + (RAC_BAND[1] - RAC_BAND[0]) / max(scale.max_rac, 1), "RAC 1"),
                   (RAC_BAND[1], f"RAC {scale.max_rac}")] if scale.max_rac > 1 else [(RAC_BAND[1], "RAC 1")]
    if scale.max_wl:
        lo, hi = scale.wl_band
        labels += [(lo + (hi - lo) / scale.max_wl, "WL 1"), (hi, f"WL {scale.max_wl}")] if scale.max_wl > 1 else [(hi, "WL 1")]
    for level, text in labels:
        y = scale.y(level)
        parts.append(f'<line class="grid" x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}"/>')
        parts.append(f'<text class="ylabel" x="{LEFT - 6}" y="{y + 4}" text-anchor="end">{escape(text)}</text>')
    # Dates alone need room for five labels; with times, three fit.
    fmt, ticks = ("%d %b", X_TICKS) if scale.span >= DATES_ONLY_SPAN else ("%d %b %H:%M", X_TICKS // 2)
    shown = set()
    for i in range(ticks + 1):
        at = scale.start + scale.span * (i / ticks)
        text = at.astimezone(IST).strftime(fmt)
        if text in shown:
            continue
        shown.add(text)
        anchor = "start" if i == 0 else "end" if i == ticks else "middle"
        parts.append(f'<text class="xlabel" x="{scale.x(at)}" y="{HEIGHT - 8}" text-anchor="{anchor}">{escape(text)}</text>')
    return parts


def _event(scale: _Scale, at: dt.datetime, label: str, css: str, lower: bool = False, before: bool = False) -> str:
    """A vertical line across the plot, labelled above it (or just inside, clear of a neighbour's label):
    after the line, or before it when asked to or when the right edge is near."""
    x = scale.x(at)
    anchor = "end" if (before and x > LEFT + 60) or x > WIDTH - RIGHT - 60 else "start"
    dx = -4 if anchor == "end" else 4
    y = TOP + 18 if lower else TOP - 9
    return (f'<line class="event {css}" x1="{x}" y1="{TOP - 6}" x2="{x}" y2="{scale.y(0)}"/>'
            f'<text class="event-label {css}" x="{x + dx}" y="{y}" text-anchor="{anchor}">{escape(label)}</text>')


def _line(scale: _Scale, number: int, points: list[Point], end: dt.datetime) -> list[str]:
    parts: list[list[str]] = []
    run: list[str] = []
    for i, point in enumerate(points):
        level = scale.level(point.status)
        until = points[i + 1].at if i + 1 < len(points) else end
        if level is None:
            if run:
                parts.append(run)
            run = []
            continue
        y = scale.y(level)
        run += [f"{scale.x(point.at)},{y}", f"{scale.x(until)},{y}"]
    if run:
        parts.append(run)
    css = f"p{(number - 1) % 6 + 1}"
    out = [f'<polyline class="line {css}" points="{" ".join(r)}"/>' for r in parts]
    for point in points:
        level = scale.level(point.status)
        if level is not None:
            tip = f"Passenger {number}, {ist(point.at)}: {point.status}"
            out.append(f'<circle class="dot {css}" cx="{scale.x(point.at)}" cy="{scale.y(level)}" r="3.5">'
                       f"<title>{escape(tip)}</title></circle>")
    return out


def _as_booked(current: PnrStatus, first: PnrStatus) -> PnrStatus | None:
    """The booking itself as a first point, when the history starts later and the statuses moved since."""
    if current.booking_date is None:
        return None
    booked_at = dt.datetime.combine(current.booking_date, dt.time(), IST).astimezone(dt.UTC)
    if booked_at >= first.as_of or all(p.booking_status == p.current_status for p in first.passengers):
        return None
    passengers = tuple(dataclasses.replace(p, current_status=p.booking_status) for p in current.passengers)
    return dataclasses.replace(current, as_of=booked_at, chart_prepared=False, passengers=passengers)


def history_svg(history: Sequence[PnrStatus], current: PnrStatus) -> Markup:
    """The chart for a PNR page; `history` oldest first, `current` the status shown above it."""
    snaps = list(history)
    if not snaps or snaps[-1].as_of < current.as_of:
        snaps.append(current)
    if (booked := _as_booked(current, snaps[0])) is not None:
        snaps.insert(0, booked)
    lines = passenger_points(snaps)
    start = snaps[0].as_of
    now = max(current.as_of, snaps[-1].as_of)
    chart_at, chart_done = _chart_moment(snaps, current)
    end = now if chart_done or chart_at is None else max(now, chart_at)
    scale = _Scale([pt.status for pts in lines.values() for pt in pts], start, end)
    parts = _axes(scale)
    charted = chart_at if chart_at is not None and start <= chart_at <= end else None
    if charted is not None:
        parts.append(_event(scale, charted, "chart prepared" if chart_done else "chart due", "chart" if chart_done else "due"))
    if not chart_done:
        crowded = charted is not None and abs(scale.x(now) - scale.x(charted)) < LABEL_GAP
        parts.append(_event(scale, now, "now", "now", lower=crowded, before=True))
    for number, points in sorted(lines.items()):
        parts += _line(scale, number, points, now)
    title = f"Waitlist history of PNR {current.pnr}"
    desc = "; ".join(f"passenger {n}: " + " then ".join(str(p.status) for p in pts) for n, pts in sorted(lines.items()))
    return Markup(
        f'<svg class="history" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title chart-desc" '
        f'xmlns="http://www.w3.org/2000/svg"><title id="chart-title">{escape(title)}</title>'
        f'<desc id="chart-desc">{escape(desc)}</desc>' + "".join(parts) + "</svg>"
    )
