"""P(the waitlist clears a passenger by the chart), learnt from real outcomes.

Real outcomes seldom say CNF or RAC apart (the 2013 lookups only say "left the waitlist by
departure"), and the simulator's railway is not the real one, so the chance of clearing at all is
learnt here from real rows alone; the structural model (model.py) only splits it into CNF and RAC.

A logistic model: log WL, log hours to the chart (and its square), whether the chart is out, their
interaction, the places cleared since booking, class and quota group; plus random intercepts for
the train's zone (the first two digits of its number), the train and its queue (train, class,
quota group), shrunk towards zero with a spread of EFFECT_SD, so a train seen once borrows from its
zone and a train never seen is its zone's (or the average). Observations of one passenger share
their outcome: each weighs 1/sqrt(their count), so a trajectory of fifty looks is not fifty
passengers. The spread, the weighting and the terms were chosen on journeys boarding 3-20 Nov 2013
fitted on the earlier ones (docs/predictor.md), never on the held-out lookups.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special

from .features import CLASSES, QUOTA_GROUPS, Features

TERMS = (
    "intercept", "log_wl", "log_hours", "log_hours_sq", "chart_out", "log_wl_x_log_hours", "log_cleared",
    *(f"class:{c}" for c in CLASSES if c != "SL"), *(f"quota:{g}" for g in QUOTA_GROUPS[1:]),
)
LEVELS = ("zone", "train", "queue")
LOG_HOURS_CENTER = 4.0  # about 54 hours


def level_keys(f: Features) -> dict[str, list[str]]:
    trains = [tc.split("|", 1)[0] for tc in f.train_class]
    return {"zone": [t[:2] for t in trains], "train": trains, "queue": list(f.queue)}


def design(f: Features) -> np.ndarray:
    """The fixed-effect design matrix, one column per TERMS entry."""
    n = len(f)
    wl = np.log(f.current_position.astype(float))
    hours = np.log1p(f.hours_to_chart) - LOG_HOURS_CENTER
    cols = [np.ones(n), wl, hours, hours**2, (f.hours_to_chart <= 0).astype(float), wl * hours,
            np.log1p((f.booking_position - f.current_position).astype(float))]
    cols += [(f.class_index == CLASSES.index(c)).astype(float) for c in CLASSES if c != "SL"]
    cols += [(f.group_index == g).astype(float) for g in range(1, len(QUOTA_GROUPS))]
    return np.column_stack(cols)


def probability(parameters: dict[str, Any], f: Features) -> np.ndarray:
    """P(CNF or RAC at the chart) for each item."""
    coef = np.array([parameters["terms"][t] for t in TERMS])
    z = design(f) @ coef
    for level, names in level_keys(f).items():
        effects = parameters["effects"][level]
        z = z + np.array([effects.get(k, 0.0) for k in names])
    return special.expit(z)


def check(value: object) -> dict[str, Any]:
    """A clearing section of a model file, checked; ValueError naming what is wrong."""
    if not isinstance(value, dict):
        raise ValueError("clearing must be an object")
    terms, effects = value.get("terms"), value.get("effects")
    if not isinstance(terms, dict) or set(terms) != set(TERMS):
        raise ValueError(f"clearing.terms must have exactly the terms {', '.join(TERMS)}")
    if not isinstance(effects, dict) or set(effects) != set(LEVELS):
        raise ValueError(f"clearing.effects must have exactly {', '.join(LEVELS)}")
    out: dict[str, Any] = {"terms": {}, "effects": {level: {} for level in LEVELS}}
    for name, number in terms.items():
        out["terms"][name] = _finite(number, f"clearing.terms[{name!r}]")
    for level in LEVELS:
        if not isinstance(effects[level], dict):
            raise ValueError(f"clearing.effects[{level!r}] must be an object")
        for key, number in effects[level].items():
            out["effects"][level][str(key)] = _finite(number, f"clearing.effects[{level!r}][{key!r}]")
    return out


def _finite(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number")
    return float(value)
