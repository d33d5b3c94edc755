"""Who wants to book: the load factor of a train-date, and the booking requests of each queue.

DOMAIN §3.3: the load factor is GN demand over GN+RAC places, log-normal around a median set by the
train's popularity tier, raised on weekends and in festival windows. Requests arrive as an
opening-day surge (steeper on busier trains), a flat stream and a late bump; Tatkal requests rush in
minutes after the Tatkal window opens the day before the journey.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from .config import SimConfig
from .seeding import stable_rng
from .trains import ClassPlan, Train

WEEKEND_DAYS = (4, 5, 6)  # Friday, Saturday, Sunday
MAX_TATKAL_PARTY = 4
SURGE_SHARE_PER_LOAD = 0.3  # extra opening-surge share per unit of load above the tier's median
SURGE_SHARE_RANGE = (0.02, 0.8)


@dataclasses.dataclass(frozen=True)
class Requests:
    """Booking requests of one queue in time order: hours before departure and party sizes."""

    queue: str
    tau_h: np.ndarray  # float64, descending: earlier requests are further from departure
    size: np.ndarray  # int64, 1..6 (1..4 for Tatkal)


def train_date_load(config: SimConfig, train: Train, journey_date: dt.date) -> float:
    """The load factor of a train on a date, before the per-class spread."""
    rng = stable_rng(config.seed, "load", train.number, journey_date.isoformat())
    load = config.load_median[train.tier] * float(np.exp(config.load_sigma * rng.standard_normal()))
    if journey_date.weekday() in WEEKEND_DAYS:
        load *= config.weekend_multiplier
    return load * config.festival_multiplier(journey_date)


def party_sizes(config: SimConfig, n: int, rng: np.random.Generator, tatkal: bool = False) -> np.ndarray:
    """Passengers per PNR for n requests: at most 6, at most 4 for Tatkal."""
    probs = np.asarray(config.party_size_probs, dtype=float)
    if tatkal:
        probs = probs[:MAX_TATKAL_PARTY]
    cumulative = np.cumsum(probs) / probs.sum()
    return np.minimum(np.searchsorted(cumulative, rng.random(n), side="right"), len(probs) - 1) + 1


def _regular_times(config: SimConfig, train: Train, load: float, n: int, open_h: float, chart_h: float,
                   rng: np.random.Generator) -> np.ndarray:
    """Booking times (hours before departure) of n GN/RL/PQ requests: surge, flat and late parts."""
    extra = SURGE_SHARE_PER_LOAD * (load - config.load_median[train.tier])
    surge = float(np.clip(config.surge_share[train.tier] + extra, *SURGE_SHARE_RANGE))
    part = rng.choice(3, size=n, p=[surge, config.late_share, 1.0 - surge - config.late_share])
    flat = rng.uniform(chart_h, open_h, size=n)
    tau = np.where(part == 0, open_h - rng.exponential(config.surge_scale_h[train.tier], size=n), flat)
    tau = np.where(part == 1, chart_h + rng.exponential(config.late_scale_h, size=n), tau)
    tau = np.where((tau <= chart_h) | (tau > open_h), flat, tau)
    return tau


def class_requests(config: SimConfig, train: Train, plan: ClassPlan, load: float, open_h: float, chart_h: float,
                   tatkal_h: float, rng: np.random.Generator) -> dict[str, Requests]:
    """The booking requests of every queue of one class on one date."""
    mean_party = float(np.dot(np.arange(1, len(config.party_size_probs) + 1), config.party_size_probs))
    gn_places = plan.quota_size("GN") + len(plan.rac_berths)
    shares = config.segment_shares
    out: dict[str, Requests] = {}
    for queue in ("GN", "RL", "PQ"):
        if plan.quota_size(queue) <= 0:
            continue
        mean_pax = load * gn_places * shares.get(queue, 0.0) / shares["GN"]
        n = int(rng.poisson(mean_pax / mean_party))
        tau = _regular_times(config, train, load, n, open_h, chart_h, rng)
        order = np.argsort(-tau, kind="stable")
        out[queue] = Requests(queue, tau[order], party_sizes(config, n, rng)[order])
    tq = plan.quota_size("TQ")
    if tq > 0 and tatkal_h > chart_h:
        ratio = float(np.sqrt(load)) * rng.uniform(*config.tatkal_demand_range)
        probs = np.asarray(config.party_size_probs[:MAX_TATKAL_PARTY])
        n = int(rng.poisson(ratio * tq / float(np.dot(np.arange(1, len(probs) + 1), probs / probs.sum()))))
        tau = np.maximum(tatkal_h - rng.exponential(config.tatkal_rush_scale_h, size=n), chart_h + 1e-3)
        out["TQ"] = Requests("TQ", np.sort(tau)[::-1].copy(), party_sizes(config, n, rng, tatkal=True))
    return out
