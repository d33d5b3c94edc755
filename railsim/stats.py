"""The statistics of DOMAIN §3.6 over many simulated inventories, for the tests and the docs page.

Everything is counted (successes and trials), so a caller can put binomial error bars on it.
"""
from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Iterator

import numpy as np

from .config import SimConfig
from .inventory import CAN, CNF, RAC, WL, Inventory, simulate_inventory
from .trains import Train, class_plans

# Booking-WL buckets of DOMAIN §3.6 item 2: (first, last) positions.
BUCKETS = ((1, 5), (6, 10), (11, 20), (21, 40), (41, 60), (61, 90), (91, 120), (121, 200), (201, 10**6))
BUCKET_EDGES = np.array([b[0] for b in BUCKETS[1:]])
# Booking WL number as a share of the class capacity, for comparing classes (item 3).
RELATIVE_EDGES = np.array([0.02, 0.05, 0.10, 0.20, 0.40])
SEAT_CLASSES = ("CC", "EC", "2S", "1A")
BERTH_CLASSES = ("SL", "3A", "2A")
CURVE_BINS = 20  # booking-curve resolution over the booking horizon
EARLY_H = 48.0  # "the first 2 days after opening" (item 8)


def bucket_label(i: int) -> str:
    """'1-5', ..., '201+' for bucket i."""
    lo, hi = BUCKETS[i]
    return f"{lo}+" if hi >= 10**6 else f"{lo}-{hi}"


@dataclasses.dataclass
class Outcomes:
    """Confirmation counts of waitlisted passengers per key: trials, CNF and RAC at the chart.

    Passengers of one inventory share its fate (one busy day fails many of them together), so
    each `add` is one cluster, and `se` is the cluster-robust standard error of the RAC-or-better
    rate: the binomial error with the inventories, not the passengers, as the independent draws.
    """

    n: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    cnf: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    rac: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    moments: collections.defaultdict = dataclasses.field(
        default_factory=lambda: collections.defaultdict(lambda: np.zeros(4))  # clusters, sum y^2, sum y*n, sum n^2
    )

    def add(self, key: object, final: np.ndarray) -> None:
        """Count one inventory's group of passengers' final codes under a key."""
        self.add_counts(key, len(final), int((final == CNF).sum()), int((final == RAC).sum()))

    def add_counts(self, key: object, n: int, cnf: int, rac: int) -> None:
        """Count one inventory's group of n passengers, cnf of them CNF and rac RAC at the chart."""
        self.n[key] += n
        self.cnf[key] += cnf
        self.rac[key] += rac
        self.moments[key] += (1.0, (cnf + rac) ** 2, (cnf + rac) * n, n * n)

    def rate(self, key: object, with_rac: bool = True) -> float:
        """Share confirmed (with RAC, or CNF only) under a key; NaN without trials."""
        n = self.n[key]
        hits = self.cnf[key] + (self.rac[key] if with_rac else 0)
        return hits / n if n else float("nan")

    def se(self, key: object) -> float:
        """Cluster-robust standard error of the RAC-or-better rate (inf with fewer than 2 inventories)."""
        k, yy, yn, nn = self.moments[key]
        if k < 2:
            return float("inf")
        p = self.rate(key)
        return float(np.sqrt(max(k / (k - 1) * (yy - 2 * p * yn + p * p * nn), 0.0)) / self.n[key])


@dataclasses.dataclass
class Stats:
    """Aggregates over inventories; the passenger counters are keyed by season ("ordinary", "diwali"...)."""

    booked: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    cancelled: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    unmet: collections.Counter = dataclasses.field(default_factory=collections.Counter)  # WL at chart
    autocancel_pnrs: int = 0
    autocancel_passengers: int = 0
    regret_requests: int = 0
    by_bucket: Outcomes = dataclasses.field(default_factory=Outcomes)  # (class, waitlist type, bucket)
    by_relative: Outcomes = dataclasses.field(default_factory=Outcomes)  # (class, relative bucket), GN only
    by_class: Outcomes = dataclasses.field(default_factory=Outcomes)  # class, every WL type
    gn_booked: collections.Counter = dataclasses.field(default_factory=collections.Counter)  # by popularity tier
    gn_early: collections.Counter = dataclasses.field(default_factory=collections.Counter)  # ... in the first 2 days
    gn_curve: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)  # tier -> bookings per horizon bin
    inventories: int = 0

    def curve_r2(self, tier: str) -> float:
        """R^2 of a tier's cumulative GN booking curve against the best straight line."""
        cum = np.cumsum(self.gn_curve[tier]) / self.gn_curve[tier].sum()
        x = (np.arange(CURVE_BINS) + 1.0) / CURVE_BINS
        fit = np.polyval(np.polyfit(x, cum, 1), x)
        return float(1.0 - ((cum - fit) ** 2).sum() / ((cum - cum.mean()) ** 2).sum())

    def share(self, counter: collections.Counter, seasons: Iterable[str] | None = None) -> float:
        """A counter over booked passengers, for journey dates in the given seasons (all if None)."""
        keys = list(self.booked) if seasons is None else list(seasons)
        booked = sum(self.booked[k] for k in keys)
        return sum(counter[k] for k in keys) / booked if booked else float("nan")

    @property
    def pax_per_autocancelled_pnr(self) -> float:
        """WL passengers per PNR left waitlisted at the chart (RTI: 1.48-1.57)."""
        return self.autocancel_passengers / self.autocancel_pnrs if self.autocancel_pnrs else float("nan")

    def add(self, inv: Inventory, season: str) -> None:
        """Fold one inventory in."""
        self.inventories += 1
        jclass = inv.plan.journey_class
        for name, q in inv.queues.items():
            self.regret_requests += q.regret_requests
            if not len(q.pnr):
                continue
            self.booked[season] += len(q.pnr)
            self.cancelled[season] += int((q.final_code == CAN).sum())
            left = q.final_code == WL
            self.unmet[season] += int(left.sum())
            pnrs_left = np.unique(q.pnr[left])
            self.autocancel_pnrs += len(pnrs_left)
            self.autocancel_passengers += int(left.sum())
            code_b, pos_b = q.code_at_rank(q.rank_b)
            waited = (code_b == WL) & (q.final_code != CAN)
            final, pos = q.final_code[waited], pos_b[waited]
            buckets = np.searchsorted(BUCKET_EDGES, pos, side="right")
            wl_type = f"{name}WL"
            for b in np.unique(buckets):
                self.by_bucket.add((jclass, wl_type, int(b)), final[buckets == b])
            self.by_class.add(jclass, final)
            if name == "GN":
                self._add_curve(inv, q.book_h)
                rel = np.searchsorted(RELATIVE_EDGES, pos / inv.plan.capacity, side="right")
                for b in np.unique(rel):
                    self.by_relative.add((jclass, int(b)), final[rel == b])


    def _add_curve(self, inv: Inventory, book_h: np.ndarray) -> None:
        """Fold the GN booking times of one inventory into its tier's curve (item 8)."""
        tier = inv.train.tier
        since_open = inv.open_h - book_h
        self.gn_booked[tier] += len(book_h)
        self.gn_early[tier] += int((since_open <= EARLY_H).sum())
        u = np.minimum((since_open / (inv.open_h - inv.chart_h) * CURVE_BINS).astype(int), CURVE_BINS - 1)
        self.gn_curve[tier] = self.gn_curve.get(tier, np.zeros(CURVE_BINS)) + np.bincount(u, minlength=CURVE_BINS)


    def to_json(self) -> str:
        """The aggregates as JSON (to hand a run from one process to another)."""
        def pairs(counter: dict) -> list:
            return [[list(k) if isinstance(k, tuple) else k, v.tolist() if isinstance(v, np.ndarray) else v]
                    for k, v in counter.items()]
        out: dict[str, object] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Outcomes):
                out[f.name] = {g.name: pairs(getattr(value, g.name)) for g in dataclasses.fields(value)}
            elif isinstance(value, dict):
                out[f.name] = pairs(value)
            else:
                out[f.name] = value
        return json.dumps(out)

    @classmethod
    def from_json(cls, text: str) -> Stats:
        """The inverse of `to_json`."""
        def unpair(rows: list, into: dict, array: bool = False) -> dict:
            for k, v in rows:
                into[tuple(k) if isinstance(k, list) else k] = np.array(v) if array else v
            return into
        data, stats = json.loads(text), cls()
        for f in dataclasses.fields(cls):
            value = getattr(stats, f.name)
            if isinstance(value, Outcomes):
                for g in dataclasses.fields(value):
                    unpair(data[f.name][g.name], getattr(value, g.name), g.name == "moments")
            elif isinstance(value, dict):
                unpair(data[f.name], value, f.name == "gn_curve")
            else:
                setattr(stats, f.name, data[f.name])
        return stats


def inventories(config: SimConfig, trains: Iterable[Train], dates: Iterable[dt.date]) -> Iterator[Inventory]:
    """Every class inventory of the given trains on the given dates."""
    trains = list(trains)
    plans = {t.number: class_plans(t, config) for t in trains}
    for date in dates:
        for train in trains:
            for plan in plans[train.number].values():
                yield simulate_inventory(config, train, plan, date)


def collect(config: SimConfig, trains: Iterable[Train], dates: Iterable[dt.date]) -> Stats:
    """Simulate and aggregate every inventory of the trains on the dates."""
    stats = Stats()
    for inv in inventories(config, trains, dates):
        stats.add(inv, config.season(inv.journey_date))
    return stats
