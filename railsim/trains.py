"""Trains, their consists and the berths of each class: who may sell which berth, and where RAC sits.

The train list (railsim/data/trains.json) names real-looking trains of each archetype; the number of
coaches per class is drawn once per train number (DOMAIN §3.2), so a train keeps its consist across
dates and seeds. Capacities, RAC berths and quota splits follow DOMAIN §1.5, §1.6 and §3.2.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .config import SimConfig
from .seeding import stable_rng

log = logging.getLogger(__name__)

TRAINS_FILE = Path(__file__).resolve().parent / "data" / "trains.json"
TIERS = ("supersonic", "subsonic", "chuk-chuk")
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
# RAC exists only in classes with side-lower berths to share (DOMAIN §1.5).
RAC_CLASSES = frozenset({"2A", "3A", "3E", "SL"})

# PNR first digit -> the digits of the same passenger reservation system (DOMAIN §1.1).
PRS_DIGITS = {1: (1,), 2: (2, 3), 3: (2, 3), 4: (4, 5), 5: (4, 5), 6: (6, 7), 7: (6, 7), 8: (8, 9), 9: (8, 9)}


@dataclasses.dataclass(frozen=True)
class ClassSpec:
    """How an archetype carries one class: coach count range, berths per coach, coach letter, layout."""

    journey_class: str
    coaches: tuple[int, int]
    berths_per_coach: int
    prefix: str
    layout: tuple[str, ...]


BAY8 = ("LB", "MB", "UB", "LB", "MB", "UB", "SL", "SU")
BAY6 = ("LB", "UB", "LB", "UB", "SL", "SU")
BAY9 = ("LB", "MB", "UB", "LB", "MB", "UB", "SL", "SM", "SU")  # Garib Rath: side-middle berths
CABIN = ("LB", "UB")
CHAIR_3_2 = ("WS", "MS", "AS", "AS", "WS")
CHAIR_2_2 = ("WS", "AS", "AS", "WS")
CHAIR_3_3 = ("WS", "MS", "AS", "AS", "MS", "WS")

ARCHETYPES: dict[str, tuple[ClassSpec, ...]] = {
    "mail": (
        ClassSpec("1A", (0, 1), 18, "H", CABIN),
        ClassSpec("2A", (1, 3), 46, "A", BAY6),
        ClassSpec("3A", (3, 6), 64, "B", BAY8),
        ClassSpec("SL", (8, 12), 72, "S", BAY8),
        ClassSpec("2S", (0, 2), 108, "D", CHAIR_3_3),
    ),
    "rajdhani": (
        ClassSpec("1A", (1, 2), 24, "H", CABIN),
        ClassSpec("2A", (3, 5), 54, "A", BAY6),
        ClassSpec("3A", (8, 11), 72, "B", BAY8),
    ),
    "shatabdi": (ClassSpec("EC", (1, 2), 56, "E", CHAIR_2_2), ClassSpec("CC", (8, 12), 78, "C", CHAIR_3_2)),
    "jan_shatabdi": (ClassSpec("CC", (1, 3), 73, "C", CHAIR_3_2), ClassSpec("2S", (4, 8), 108, "D", CHAIR_3_3)),
    "garib_rath": (ClassSpec("3A", (12, 16), 78, "G", BAY9),),
}
QUOTA_ORDER = ("GN", "TQ", "HO", "LD", "SS", "DF", "FT", "RL", "PQ")


@dataclasses.dataclass(frozen=True)
class Train:
    """One train of the list: what the PNR page shows about it and what drives its demand."""

    number: str
    name: str
    origin: str
    destination: str
    departure: dt.time  # from the origin, Indian Standard Time
    zone_digit: int
    archetype: str
    tier: str
    via: tuple[str, ...] = ()
    coaches: Mapping[str, int] | None = None

    def departure_at(self, journey_date: dt.date) -> dt.datetime:
        """The departure from the origin on a journey date, as an aware UTC datetime."""
        return dt.datetime.combine(journey_date, self.departure, IST).astimezone(dt.UTC)


@dataclasses.dataclass(frozen=True)
class ClassPlan:
    """The berths of one class of one train: coaches, RAC side-lowers and each quota's berths.

    Berths are numbered 0..capacity-1 across the coaches. `quota_berths["GN"]` lists only the GN
    berths confirmed at booking; the RAC side-lowers (also GN) are in `rac_berths`.
    """

    journey_class: str
    coach_names: tuple[str, ...]
    berths_per_coach: int
    layout: tuple[str, ...]
    wl_cap: int
    rac_berths: np.ndarray
    quota_berths: Mapping[str, np.ndarray]

    @property
    def capacity(self) -> int:
        """Berths (or seats) in the class."""
        return len(self.coach_names) * self.berths_per_coach

    def seat(self, berth_index: int) -> tuple[str, int, str]:
        """(coach, berth number, berth code) of a berth index."""
        coach, number = divmod(int(berth_index), self.berths_per_coach)
        return self.coach_names[coach], number + 1, self.layout[number % len(self.layout)]

    def quota_size(self, quota: str) -> int:
        """Berths of a quota (for GN including the RAC side-lowers)."""
        extra = len(self.rac_berths) if quota == "GN" else 0
        return len(self.quota_berths.get(quota, ())) + extra


@functools.cache
def _load_trains(path: str) -> tuple[Train, ...]:
    """Read and check the train list once per process."""
    with open(path, encoding="utf-8") as fh:
        rows = json.load(fh)
    trains = []
    for row in rows:
        if row["archetype"] not in ARCHETYPES or row["tier"] not in TIERS:
            raise ValueError(f"train {row.get('number')}: unknown archetype or tier in {path}")
        trains.append(
            Train(
                number=str(row["number"]), name=row["name"], origin=row["origin"], destination=row["destination"],
                departure=dt.time.fromisoformat(row["departure"]), zone_digit=int(row["zone_digit"]),
                archetype=row["archetype"], tier=row["tier"], via=tuple(row.get("via", ())),
                coaches=row.get("coaches"),
            )
        )
    log.debug("loaded %d trains from %s", len(trains), path)
    return tuple(sorted(trains, key=lambda t: t.number))


def load_trains(path: Path | str | None = None) -> tuple[Train, ...]:
    """The trains of the list, sorted by number (cached per file)."""
    return _load_trains(str(path or TRAINS_FILE))


def trains_of_prs(trains: tuple[Train, ...], first_digit: int) -> tuple[Train, ...]:
    """The trains whose originating zone issues PNRs starting with `first_digit`."""
    digits = PRS_DIGITS.get(first_digit, ())
    return tuple(t for t in trains if t.zone_digit in digits)


def coach_counts(train: Train) -> dict[str, int]:
    """Coaches per class of a train: from the list if given, else drawn once from its number."""
    rng = stable_rng("consist", train.number)
    counts = {}
    for spec in ARCHETYPES[train.archetype]:
        drawn = int(rng.integers(spec.coaches[0], spec.coaches[1] + 1))
        n = int(train.coaches.get(spec.journey_class, drawn)) if train.coaches else drawn
        if n > 0:
            counts[spec.journey_class] = n
    return counts


def class_plans(train: Train, config: SimConfig) -> dict[str, ClassPlan]:
    """The berth plan of every class the train carries, under the era's rules."""
    counts = coach_counts(train)
    return {
        spec.journey_class: _class_plan(train, spec, counts[spec.journey_class], config)
        for spec in ARCHETYPES[train.archetype]
        if spec.journey_class in counts
    }


def _class_plan(train: Train, spec: ClassSpec, n_coaches: int, config: SimConfig) -> ClassPlan:
    """Split one class's berths into RAC side-lowers and quota blocks."""
    per_coach = spec.berths_per_coach
    capacity = n_coaches * per_coach
    rac_per_coach = config.rac_berths_per_coach.get(spec.journey_class, 0) if spec.journey_class in RAC_CLASSES else 0
    side_lowers = [n for n in range(per_coach) if spec.layout[n % len(spec.layout)] == "SL"]
    rac = np.array(
        [c * per_coach + n for c in range(n_coaches) for n in side_lowers[:rac_per_coach]], dtype=np.int32
    )
    shares = config.quota_shares.get(train.archetype, {})
    class_shares = shares.get(spec.journey_class, shares.get("*", {}))
    sizes = {q: round(class_shares.get(q, 0.0) * capacity) for q in QUOTA_ORDER if q != "GN"}
    if not train.via:
        sizes["RL"] = 0  # no intermediate station with its own quota
    sizes["GN"] = capacity - sum(sizes.values()) - len(rac)
    if sizes["GN"] < 0:
        raise ValueError(f"train {train.number} {spec.journey_class}: quota shares exceed the capacity")
    rest = np.setdiff1d(np.arange(capacity, dtype=np.int32), rac)
    rest = stable_rng("berths", train.number, spec.journey_class).permutation(rest)
    blocks, start = {}, 0
    for q in QUOTA_ORDER:
        blocks[q] = rest[start : start + sizes[q]]
        start += sizes[q]
    coach_names = tuple(f"{spec.prefix}{i + 1}" for i in range(n_coaches))
    return ClassPlan(
        journey_class=spec.journey_class,
        coach_names=coach_names,
        berths_per_coach=per_coach,
        layout=spec.layout,
        wl_cap=config.wl_cap(spec.journey_class, capacity),
        rac_berths=rac,
        quota_berths=blocks,
    )
