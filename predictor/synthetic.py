"""Outcome rows drawn from a known model, to check fitting and evaluation against the truth.

The rows follow the contract's outcome-row format; their outcomes come from the model's own
generative process (N = M + A, with one shared offset per train-date drawn from the model's date
spread), so a fit should recover the parameters and beat the baselines.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from .features import MU_TERMS, Q_TERMS, QUOTA_GROUPS, parse_item, to_features
from .model import Model

# Train archetypes and the classes they carry (DOMAIN.md 3.2).
ARCHETYPES = (("SL", "3A", "2A"), ("CC", "EC"), ("3A", "2A", "1A"), ("2S", "CC"), ("SL", "3E"))
WAITLIST_TYPES = (("GNWL", "GN", 0.7), ("RLWL", "RL", 0.1), ("PQWL", "PQ", 0.1), ("TQWL", "TQ", 0.1))
# RAC places per queue in the synthetic trains (kept small so every outcome is common).
RAC_PLACES = {"SL": 24, "3A": 8, "3E": 10, "2A": 6}
FIRST_DATE = dt.date(2026, 1, 1)
DATES = 6


def reference_model(trains: int = 15, seed: int = 7) -> Model:
    """A model with plausible parameters and `trains` trains of several classes each."""
    rng = np.random.default_rng(seed)
    log_mean = dict.fromkeys(MU_TERMS, 0.0)
    log_mean.update({
        "class:1A": 1.4, "class:2A": 1.8, "class:3A": 2.3, "class:3E": 2.3, "class:SL": 2.9, "class:CC": 2.7,
        "class:EC": 1.7, "class:2S": 2.8, "class:FC": 2.3, "quota:RL": -0.6, "quota:PQ": -0.9, "quota:TQ": -1.3,
        "quota:OT": -1.0, "log_hours": 0.55, "log_hours_sq": -0.06, "log_booking": 0.25, "log_cleared": 0.15,
    })
    cancel = dict.fromkeys(Q_TERMS, 0.0)
    cancel.update({"intercept": -1.4, "log_hours": 0.45, "quota:TQ": -0.8})
    size = {"intercept": 1.2, "log_hours": 0.25, "rac_class": 0.4}
    offsets, slopes, places = {}, {}, {}
    for t in range(trains):
        number = f"{12001 + 37 * t}"
        for cls in ARCHETYPES[t % len(ARCHETYPES)]:
            for group in QUOTA_GROUPS:
                offsets[f"{number}|{cls}|{group}"] = float(rng.normal(0.0, 0.4))
                slopes[f"{number}|{cls}|{group}"] = float(rng.normal(0.0, 0.15))
                if cls in RAC_PLACES:
                    places[f"{number}|{cls}|{group}"] = 0 if group == "TQ" else RAC_PLACES[cls]
    parameters = {"log_mean": log_mean, "logit_cancel_ahead": cancel, "log_size": size, "train_offset_sd": 0.4,
                  "train_offsets": offsets, "train_slope_sd": 0.15, "train_slopes": slopes,
                  "date_offset_sd": {"GN": 0.2, "RL": 0.4, "PQ": 0.4, "TQ": 0.4, "OT": 0.4},
                  "rac_places": places}
    return Model(parameters, created_at="2026-01-01T00:00:00Z")


def random_items(model: Model, count: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Prediction items for the model's trains: popular trains often, some rarely (Zipf-like)."""
    keys = sorted({queue.rsplit("|", 1)[0] for queue in model.parameters["train_offsets"]})
    weight = 1.0 / np.arange(1, len(keys) + 1) ** 1.2
    chosen = rng.choice(len(keys), size=count, p=weight / weight.sum())
    wl = rng.choice(len(WAITLIST_TYPES), size=count, p=[w[2] for w in WAITLIST_TYPES])
    booking = np.minimum(400, 1 + np.floor(rng.lognormal(np.log(30.0), 0.8, size=count))).astype(int)
    current = 1 + np.floor(rng.random(count) * booking).astype(int)
    hours = np.expm1(rng.uniform(np.log(3.0), np.log(2000.0), size=count))
    items = []
    for i in range(count):
        train, cls = keys[chosen[i]].split("|")
        items.append({
            "id": str(i), "train_number": train, "journey_class": cls, "quota": WAITLIST_TYPES[wl[i]][1],
            "waitlist_type": WAITLIST_TYPES[wl[i]][0], "booking_position": int(booking[i]),
            "current_position": int(current[i]), "hours_to_chart": round(float(hours[i]), 2),
        })
    return items


def simulate_rows(model: Model, count: int, seed: int = 0) -> list[dict[str, Any]]:
    """`count` outcome rows whose final status is drawn from `model`'s clearance distribution."""
    rng = np.random.default_rng(seed)
    items = random_items(model, count, rng)
    f = to_features([parse_item(item) for item in items])
    n, q, mu, r = model.distribution(f)
    dates = rng.integers(0, DATES, size=count)
    days, first, day_index = np.unique([f"{key}|{d}" for key, d in zip(f.queue, dates)], return_index=True,
                                       return_inverse=True)
    spread = np.array([model.parameters["date_offset_sd"][QUOTA_GROUPS[g]] for g in f.group_index[first]])
    mu = mu * np.exp(rng.normal(0.0, 1.0, len(days)) * spread)[day_index]
    cleared = rng.negative_binomial(r, r / (r + mu)) + rng.binomial(n, q)
    y, k = f.current_position, model.rac_places(f)
    rows = []
    for i, item in enumerate(items):
        row = {key: v for key, v in item.items() if key != "id"}
        if cleared[i] >= y[i] + k[i]:
            code, position = "CNF", None
        elif cleared[i] >= y[i]:
            code, position = "RAC", int(y[i] + k[i] - cleared[i])
        else:
            code, position = "WL", int(y[i] - cleared[i])
        row.update({"journey_date": (FIRST_DATE + dt.timedelta(days=int(dates[i]))).isoformat(),
                    "pnr": f"{2400000000 + i}", "passenger": 1, "final_code": code, "final_position": position})
        rows.append(row)
    return rows


