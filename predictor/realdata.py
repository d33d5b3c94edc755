"""Real waitlist outcomes: the original pnr.me's 2013 lookups and trajectories as outcome rows.

The folder is a `mongodump` of salilpa/pnr_predictor (github.com/salilpa/pnr_predictor, `db/`):
`prediction.bson` holds one scored lookup per document, `pnr_change.bson` one waitlist trajectory
per PNR. The files carry no license, so they are read where they lie and never copied; only what
is fitted from them is kept.

What the rows mean, and what they do not say:
- the outcome is "left the waitlist by departure", CNF *or* RAC (final_code CNF_OR_RAC), else WL;
  the two cannot be told apart;
- the booking WL is not stored: a lookup's booking position is the largest WL its PNR showed up
  to that moment (its own trajectory, observed by the same site), a lower bound like a
  trajectory's first WL;
- hours to the chart are hours before departure less CHART_HOURS_BEFORE_DEPARTURE (the 2013
  chart was prepared about four hours before departure);
- a trajectory that stops before departure with a WL left is censored (neither cleared nor not)
  and gives no row.
A row that cannot be read is skipped and counted by reason, never guessed.
"""
from __future__ import annotations

import datetime as dt
import logging
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bson
from bson.errors import BSONError

from .features import CLASSES, MAX_HOURS_TO_CHART, MAX_POSITION

log = logging.getLogger(__name__)

SOURCE_NAME = "salilpa/pnr_predictor on GitHub (the original pnr.me's 2013 lookups, db/*.bson)"
LOOKUPS_FILE = "prediction.bson"
TRAJECTORIES_FILE = "pnr_change.bson"
CHART_HOURS_BEFORE_DEPARTURE = 4.0
# Fit only on journeys boarding before this moment, score on the lookups boarding on or after it.
SPLIT_AT = dt.datetime(2013, 11, 21)
LOOKUP_SOURCE = "pnr.me-2013-lookup"
TRAJECTORY_SOURCE = "pnr.me-2013-trajectory"
CLEARED = "CNF_OR_RAC"
# 2013 quota codes and the waitlist type each stands for (CK was Tatkal, RS the roadside quota).
WAITLIST_TYPES = {"GNWL": "GNWL", "RLGN": "RLGN", "RLWL": "RLWL", "PQWL": "PQWL", "CK": "CKWL", "CKWL": "CKWL",
                  "RSWL": "RSWL", "DP": "DPWL"}


class RealDataError(ValueError):
    """A data file that is missing or is not what it should be; the message names it."""


@dataclass
class Skipped:
    """Rows passed over, by reason."""

    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, reason: str) -> None:
        self.reasons[reason] += 1

    @property
    def total(self) -> int:
        return sum(self.reasons.values())


@dataclass
class RealData:
    """Everything read from one folder: the lookups, the trajectories' rows, what was skipped."""

    lookups: list[dict[str, Any]]
    trajectory_rows: list[dict[str, Any]]
    skipped: Skipped

    def split(self, at: dt.datetime = SPLIT_AT) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(training rows, held-out lookups): training journeys board before `at`, and no PNR that
        boards on or after it is trained on in any form (lookup or trajectory)."""
        day = at.date().isoformat()
        held = [r for r in self.lookups if r["boarding_time"] >= at.isoformat()]
        later = {r["pnr"] for r in held} | {r["pnr"] for r in self.trajectory_rows if r["journey_date"] >= day}
        train = [r for r in self.lookups if r["boarding_time"] < at.isoformat() and r["pnr"] not in later]
        train += [r for r in self.trajectory_rows if r["journey_date"] < day and r["pnr"] not in later]
        return train, held


def _documents(path: Path) -> Iterator[dict[str, Any]]:
    """The documents of one BSON dump; RealDataError naming the file when it cannot be read."""
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise RealDataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with fh:
        try:
            yield from bson.decode_file_iter(fh)
        except (BSONError, ValueError) as exc:
            raise RealDataError(f"{path} is not a BSON dump: {exc}") from exc


def _text(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"missing {key}")
    return value.strip()


def _number(doc: dict[str, Any], key: str) -> float:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"missing {key}")
    return float(value)


def _position(value: float) -> int:
    if value != int(value) or not 1 <= value <= MAX_POSITION:
        raise ValueError("WL out of range")
    return int(value)


def _common(doc: dict[str, Any]) -> dict[str, Any]:
    """Train, class and queue of a document, in the outcome rows' words."""
    journey_class = _text(doc, "class").upper()
    if journey_class not in CLASSES:
        raise ValueError("unknown class")
    quota = _text(doc, "quota").upper()
    if quota not in WAITLIST_TYPES:
        raise ValueError("unknown quota")
    return {"pnr": _text(doc, "pnr"), "passenger": 1, "train_number": _text(doc, "train"),
            "journey_class": journey_class, "quota": quota, "waitlist_type": WAITLIST_TYPES[quota]}


def _hours_to_chart(hours_before: float) -> float:
    if not 0 <= hours_before <= MAX_HOURS_TO_CHART:
        raise ValueError("hours out of range")
    return max(hours_before - CHART_HOURS_BEFORE_DEPARTURE, 0.0)


def _trajectory(doc: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[float, int]], str | None, int | None]:
    """(common fields with the journey date, [(hours before departure, WL)] from the first
    observation on, outcome code or None when censored, final WL)."""
    row = _common(doc)
    try:
        row["journey_date"] = dt.datetime.strptime(_text(doc, "date"), "%d-%m-%Y").date().isoformat()
    except ValueError as exc:
        raise ValueError("bad date") from exc
    xs, ys = doc.get("x_val"), doc.get("y_val")
    if not isinstance(xs, list) or not isinstance(ys, list) or not xs or len(xs) != len(ys):
        raise ValueError("missing observations")
    points = []
    for x, y in zip(xs, ys):
        if isinstance(x, bool) or isinstance(y, bool) or not isinstance(x, (int, float)) or not isinstance(y, (int, float)):
            raise ValueError("bad observation")
        if not (math.isfinite(x) and math.isfinite(y)) or x < 0 or y < 0 or y != int(y):
            raise ValueError("bad observation")
        points.append((float(x), int(y)))
    points.sort(key=lambda p: (-p[0], -p[1]))  # earliest first; within one (rounded) hour, the larger WL
    if any(later[1] > earlier[1] for earlier, later in zip(points, points[1:])):
        raise ValueError("WL grows")
    last_hours, last_wl = points[-1]
    if last_wl == 0:
        return row, points, CLEARED, None
    if last_hours == 0:
        return row, points, "WL", last_wl
    return row, points, None, None


def _trajectory_rows(docs: list[dict[str, Any]], skipped: Skipped) -> tuple[list[dict[str, Any]], dict[str, list[tuple[float, int]]]]:
    """One row per waitlisted observation of each trajectory with a known outcome, and every
    readable trajectory's observations by PNR (for the lookups' booking positions)."""
    rows: list[dict[str, Any]] = []
    seen: dict[str, list[tuple[float, int]]] = {}
    for doc in docs:
        try:
            common, points, code, final = _trajectory(doc)
            for x, _y in points:
                _hours_to_chart(x)
        except ValueError as exc:
            skipped.add(f"trajectory: {exc}")
            continue
        seen[common["pnr"]] = points
        if code is None:
            skipped.add("trajectory: censored (stops before departure)")
            continue
        booking = points[0][1]
        if booking == 0:
            skipped.add("trajectory: never waitlisted")
            continue
        for x, y in points:
            if y > 0:
                rows.append({**common, "source": TRAJECTORY_SOURCE, "booking_position": _position(booking),
                             "current_position": _position(y), "hours_to_chart": _hours_to_chart(x),
                             "hours_before_departure": x, "final_code": code, "final_position": final})
    return rows, seen


def _lookup(doc: dict[str, Any], history: dict[str, list[tuple[float, int]]]) -> dict[str, Any]:
    """One scored lookup as an outcome row; ValueError naming why it cannot be."""
    row = _common(doc)
    boarding = doc.get("boarding_time")
    if not isinstance(boarding, dt.datetime):
        raise ValueError("missing boarding_time")
    status, prediction = doc.get("status"), doc.get("prediction")
    if status not in ("success", "failure"):
        raise ValueError("no outcome (status is not success or failure)")
    if isinstance(prediction, bool) or not isinstance(prediction, (int, float)) or prediction == 0:
        raise ValueError("no outcome (the 2013 prediction was undecided)")
    hours = _number(doc, "hours_before")
    current = _position(_number(doc, "waiting_list"))
    earlier = [y for x, y in history.get(row["pnr"], []) if x >= hours]
    cleared = (prediction > 0) == (status == "success")
    return {**row, "source": LOOKUP_SOURCE, "journey_date": boarding.date().isoformat(),
            "boarding_time": boarding.isoformat(), "booking_position": max([current, *earlier]),
            "current_position": current, "hours_to_chart": _hours_to_chart(hours), "hours_before_departure": hours,
            "final_code": CLEARED if cleared else "WL", "final_position": None,
            "site_2013_says_clears": bool(prediction > 0)}


def read(folder: str | Path) -> RealData:
    """Read a salilpa/pnr_predictor `db/` folder (or its parent); RealDataError if a file is bad."""
    folder = Path(folder)
    if (folder / "db").is_dir():
        folder = folder / "db"
    skipped = Skipped()
    trajectory_docs = list(_documents(folder / TRAJECTORIES_FILE))
    rows, history = _trajectory_rows(trajectory_docs, skipped)
    lookups = []
    for doc in _documents(folder / LOOKUPS_FILE):
        try:
            lookups.append(_lookup(doc, history))
        except ValueError as exc:
            skipped.add(f"lookup: {exc}")
    if not lookups and not rows:
        raise RealDataError(f"{folder} holds no usable lookup or trajectory")
    if skipped.total:
        log.warning("real data %s: skipped %d rows: %s", folder, skipped.total,
                    ", ".join(f"{n} {why}" for why, n in sorted(skipped.reasons.items())))
    log.info("real data %s: %d lookups, %d trajectory rows", folder, len(lookups), len(rows))
    return RealData(lookups, rows, skipped)
