"""Prediction items and outcome rows, checked and turned into the arrays the model computes with.

Items and rows are plain JSON dicts (see the protocol); a bad one becomes an `InvalidItem` naming the
field, so one bad passenger never fails a whole batch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

CLASSES = ("1A", "2A", "3A", "3E", "SL", "CC", "EC", "2S", "FC")
RAC_CLASSES = frozenset({"2A", "3A", "3E", "SL"})
# Waitlists are kept per quota queue; these groups share a behaviour (DOMAIN.md 1.2).
QUOTA_GROUPS = ("GN", "RL", "PQ", "TQ", "OT")
FINAL_CODES = ("CNF", "RAC", "WL")
MAX_POSITION = 5000
MAX_HOURS_TO_CHART = 24.0 * 400
MAX_TEXT_CHARS = 16
MAX_ID_CHARS = 64

_WAITLIST_GROUP = {
    "GNWL": "GN", "RLWL": "RL", "RLGN": "RL", "PQWL": "PQ",
    "TQWL": "TQ", "CKWL": "TQ", "PTWL": "TQ",
}
_QUOTA_GROUP = {"GN": "GN", "RL": "RL", "PQ": "PQ", "TQ": "TQ", "CK": "TQ", "PT": "TQ"}


class InvalidItem(ValueError):
    """An item or row that cannot be predicted from or learned from; the message names the field."""


@dataclass(frozen=True)
class Features:
    """Checked items as parallel arrays; one entry per valid item."""

    train_class: tuple[str, ...]  # "12951|SL": the unit whose history is pooled
    queue: tuple[str, ...]  # "12951|SL|GN": the unit with its own RAC places
    class_index: np.ndarray
    group_index: np.ndarray
    booking_position: np.ndarray
    current_position: np.ndarray
    hours_to_chart: np.ndarray

    @property
    def has_rac(self) -> np.ndarray:
        """Whether each item's class has RAC places between the waitlist and a berth."""
        return np.isin(self.class_index, [CLASSES.index(c) for c in sorted(RAC_CLASSES)])

    def __len__(self) -> int:
        return len(self.train_class)


def item_id(item: object) -> str | int | None:
    """The caller's id of an item, echoed in its result; None when absent or unusable."""
    if isinstance(item, dict):
        value = item.get("id")
        if isinstance(value, str) and len(value) <= MAX_ID_CHARS:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def quota_group(waitlist_type: str | None, quota: str | None) -> str:
    """The queue group of a passenger: the waitlist type says it best, else the quota code."""
    if waitlist_type and waitlist_type.upper() in _WAITLIST_GROUP:
        return _WAITLIST_GROUP[waitlist_type.upper()]
    if quota and quota.upper() in _QUOTA_GROUP:
        return _QUOTA_GROUP[quota.upper()]
    return "OT"


def _text(item: dict[str, Any], key: str, *, required: bool) -> str | None:
    value = item.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidItem(f"{key} must be a non-empty string")
    if len(value) > MAX_TEXT_CHARS:
        raise InvalidItem(f"{key} is longer than {MAX_TEXT_CHARS} characters")
    return value.strip()


def _position(item: dict[str, Any], key: str) -> int:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidItem(f"{key} must be an integer")
    if not 1 <= value <= MAX_POSITION:
        raise InvalidItem(f"{key} must be between 1 and {MAX_POSITION}")
    return value


def parse_item(item: object) -> dict[str, Any]:
    """Check one prediction item and return its normalised fields; raises InvalidItem."""
    if not isinstance(item, dict):
        raise InvalidItem("item must be a JSON object")
    train = _text(item, "train_number", required=True)
    journey_class = _text(item, "journey_class", required=True)
    assert train is not None and journey_class is not None
    journey_class = journey_class.upper()
    if journey_class not in CLASSES:
        raise InvalidItem(f"journey_class {journey_class!r} is not one of {', '.join(CLASSES)}")
    group = quota_group(_text(item, "waitlist_type", required=False), _text(item, "quota", required=False))
    booking = _position(item, "booking_position")
    current = _position(item, "current_position")
    if current > booking:
        raise InvalidItem("current_position is behind booking_position (a waitlist never grows)")
    hours = item.get("hours_to_chart")
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not math.isfinite(hours):
        raise InvalidItem("hours_to_chart must be a finite number")
    if not 0 <= hours <= MAX_HOURS_TO_CHART:
        raise InvalidItem(f"hours_to_chart must be between 0 and {MAX_HOURS_TO_CHART:g}")
    return {
        "train_class": f"{train}|{journey_class}", "queue": f"{train}|{journey_class}|{group}",
        "journey_class": journey_class, "group": group,
        "booking_position": booking, "current_position": current, "hours_to_chart": float(hours),
    }


def parse_outcome(row: dict[str, Any], parsed: dict[str, Any]) -> tuple[str, int | None]:
    """Check an outcome row's label (given its parsed item): final code and RAC/WL number at the chart."""
    code = row.get("final_code")
    if code not in FINAL_CODES:
        raise InvalidItem(f"final_code must be one of {', '.join(FINAL_CODES)}")
    if code == "RAC" and parsed["journey_class"] not in RAC_CLASSES:
        raise InvalidItem(f"class {parsed['journey_class']} has no RAC")
    if code == "CNF":
        return code, None
    position = row.get("final_position")
    if isinstance(position, bool) or not isinstance(position, int) or position < 1:
        raise InvalidItem("final_position must be a positive integer for RAC and WL outcomes")
    if code == "WL" and position > parsed["current_position"]:
        raise InvalidItem("final WL position is behind the observed position")
    return code, position


def to_features(parsed: list[dict[str, Any]]) -> Features:
    """Stack parsed items into arrays (one numpy array per field)."""
    return Features(
        train_class=tuple(p["train_class"] for p in parsed),
        queue=tuple(p["queue"] for p in parsed),
        class_index=np.array([CLASSES.index(p["journey_class"]) for p in parsed], dtype=np.int64),
        group_index=np.array([QUOTA_GROUPS.index(p["group"]) for p in parsed], dtype=np.int64),
        booking_position=np.array([p["booking_position"] for p in parsed], dtype=np.int64),
        current_position=np.array([p["current_position"] for p in parsed], dtype=np.int64),
        hours_to_chart=np.array([p["hours_to_chart"] for p in parsed], dtype=np.float64),
    )


MU_TERMS = (
    *(f"class:{c}" for c in CLASSES), *(f"quota:{g}" for g in QUOTA_GROUPS[1:]),
    "log_hours", "log_hours_sq", "log_booking", "log_cleared",
)
Q_TERMS = ("intercept", "log_hours", *(f"quota:{g}" for g in QUOTA_GROUPS[1:]))
R_TERMS = ("intercept", "log_hours", "rac_class")
DEFAULT_CENTERS = {"log_hours": math.log1p(72.0), "log_booking": math.log1p(50.0), "log_cleared": math.log1p(10.0)}


def design(f: Features, centers: dict[str, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Design matrices for log mean of outside clearances, logit of cancel share ahead, log NB size."""
    n = len(f)
    hours = np.log1p(f.hours_to_chart) - centers["log_hours"]
    cls = np.zeros((n, len(CLASSES)))
    cls[np.arange(n), f.class_index] = 1.0
    grp = np.zeros((n, len(QUOTA_GROUPS)))
    grp[np.arange(n), f.group_index] = 1.0
    booking = np.log1p(f.booking_position) - centers["log_booking"]
    cleared = np.log1p(f.booking_position - f.current_position) - centers["log_cleared"]
    ones = np.ones(n)
    x_mu = np.column_stack([cls, grp[:, 1:], hours, hours**2, booking, cleared])
    x_q = np.column_stack([ones, hours, grp[:, 1:]])
    x_r = np.column_stack([ones, hours, f.has_rac.astype(float)])
    return x_mu, x_q, x_r
