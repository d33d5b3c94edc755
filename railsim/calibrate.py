"""The 2013 era against the original pnr.me's own 2013 lookups: clearance curves side by side, and the fit.

    python -m railsim.calibrate [--realdata DIR] [--fit] [--step DAYS]

The real rows (salilpa/pnr_predictor, `db/prediction.bson`) are read from ../shared/realdata at run
time and never copied: only the fitted parameters and the curves' figures are committed. Each real
lookup names a cell, class x queue x current-WL bucket x hours-before-departure bucket; the
simulator's rate for that cell is the share of its waitlisted passengers, seen in that cell, who
are CNF or RAC after the chart. Averaging those rates over the real lookups of a group (a WL
bucket, an hours bucket, a class, a queue, a two-way cell) gives the simulator's curve weighted
exactly as the real one, so a gap is the simulator's, not a difference in the mix of lookups.
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime as dt
import math
import re
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .booking import CAN, CNF, RAC, WL
from .config import SimConfig
from .inventory import Inventory
from .stats import Outcomes, inventories
from .trains import load_trains

REALDATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "realdata"
PREDICTION_FILE = Path("salilpa-pnr_predictor") / "db" / "prediction.bson"
SOURCE = "salilpa/pnr_predictor on GitHub, the original pnr.me's 2013 lookups"
TRAINING_BEFORE = dt.datetime(2013, 11, 21)  # the training side of the split: boarding before this
# The real journeys of the training side board 2013-10-27 ... 2013-11-20; the simulator runs the same dates.
JOURNEY_DATES = tuple(dt.date(2013, 10, 27) + dt.timedelta(days=d) for d in range(25))
# DOMAIN §3.7 buckets: (first, last), inclusive.
WL_BUCKETS = ((1, 5), (6, 10), (11, 20), (21, 40), (41, 80), (81, 160), (161, 10**6))
HOURS_BUCKETS = ((0, 4), (5, 24), (25, 72), (73, 168), (169, 400), (401, 10**6))
# 2013 waiting-list names -> the simulator's queues; RSWL (road-side, 20 rows) has no queue and is left out.
REAL_QUEUES = {"GNWL": "GN", "RLGN": "RL", "PQWL": "PQ", "CK": "TQ"}
HOURS_PER_BUCKET = 8  # observation times per hours bucket: quantiles of the real lookups' hours
MIN_CELL = 40  # simulated observations a cell needs before its own rate is used (else pooled over classes)
MIN_GROUP = 50  # real lookups a group needs to be compared
# The test's limit on |simulator - real|: TOLERANCE plus Z standard errors of the real rate, which is
# a sample too (Z_MARGINAL for the curves by WL, hours, class, queue; Z_CELL for two-way cells).
TOLERANCE = 0.08
Z_MARGINAL = 2.0
Z_CELL = 3.0
MARGINALS = ("WL", "hours", "class", "queue")


@dataclasses.dataclass(frozen=True)
class Lookup:
    """One labelled real lookup, reduced to its cell and outcome."""

    journey_class: str
    queue: str
    waitlist: int  # current WL at the lookup
    hours: int  # hours before departure
    cleared: bool  # CNF or RAC by departure

    @property
    def cell(self) -> tuple[str, str, int, int]:
        """(class, queue, WL bucket, hours bucket)."""
        return self.journey_class, self.queue, wl_bucket(self.waitlist), hours_bucket(self.hours)


def _bucket(edges: Sequence[tuple[int, int]], value: float) -> int:
    return int(np.searchsorted([lo for lo, _ in edges[1:]], value, side="right"))


def wl_bucket(position: float) -> int:
    """Index of a current WL number's bucket (1-5 ... 161+)."""
    return _bucket(WL_BUCKETS, position)


def hours_bucket(hours: float) -> int:
    """Index of an hours-before-departure bucket (0-4 ... 401+); whole hours, as the real rows count them."""
    return _bucket(HOURS_BUCKETS, math.floor(hours))


def label(edges: Sequence[tuple[int, int]], i: int) -> str:
    """'1-5', ..., '161+'."""
    lo, hi = edges[i]
    return f"{lo}+" if hi >= 10**6 else f"{lo}-{hi}"


def prediction_file(root: Path | None = None) -> Path:
    """Where the real lookups are expected (they may be absent: callers skip)."""
    return (root or REALDATA) / PREDICTION_FILE


def real_lookups(root: Path | None = None) -> list[Lookup]:
    """The labelled training-side lookups: cleared = (prediction > 0) == (status == "success")."""
    import bson  # pymongo's, read only here

    out = []
    with open(prediction_file(root), "rb") as fh:
        for row in bson.decode_file_iter(fh):
            if row["status"] not in ("success", "failure") or row["prediction"] == 0:
                continue
            if row["boarding_time"] >= TRAINING_BEFORE or row["quota"] not in REAL_QUEUES:
                continue
            out.append(Lookup(row["class"], REAL_QUEUES[row["quota"]], int(row["waiting_list"]),
                              int(row["hours_before"]), (row["prediction"] > 0) == (row["status"] == "success")))
    return out


def observation_hours(lookups: Iterable[Lookup], per_bucket: int = HOURS_PER_BUCKET) -> tuple[float, ...]:
    """Times (hours before departure) at which simulated passengers are seen: per hours bucket, quantiles
    of the real lookups' hours, so that the mix within a bucket (before or after the chart) is the real one."""
    by_bucket = collections.defaultdict(list)
    for lk in lookups:
        by_bucket[hours_bucket(lk.hours)].append(lk.hours)
    out: set[float] = set()
    for hours in by_bucket.values():
        qs = (np.arange(per_bucket) + 0.5) / per_bucket
        out.update(float(h) for h in np.quantile(hours, qs, method="inverted_cdf"))
    return tuple(sorted(out, reverse=True))


@dataclasses.dataclass
class Simulated:
    """Clearance counts of waitlisted simulated passengers per cell, and pooled over classes."""

    cells: Outcomes = dataclasses.field(default_factory=Outcomes)  # (class, queue, wl bucket, hours bucket)
    pooled: Outcomes = dataclasses.field(default_factory=Outcomes)  # (queue, wl bucket, hours bucket)
    coarse: Outcomes = dataclasses.field(default_factory=Outcomes)  # (wl bucket, hours bucket)
    inventories: int = 0

    def add(self, inv: Inventory, hours: Sequence[float]) -> None:
        """Fold in one inventory's waitlisted passengers, seen at each of `hours` before departure."""
        self.inventories += 1
        jclass = inv.plan.journey_class
        taus = np.asarray(hours, dtype=float)
        hour_buckets = np.array([hours_bucket(t) for t in taus.tolist()])
        wl_edges = [lo for lo, _ in WL_BUCKETS[1:]]
        for name, q in inv.queues.items():
            code_b, _ = q.code_at_rank(q.rank_b)
            waiting = np.flatnonzero((code_b == WL) & (q.final_code != CAN))
            if not len(waiting):
                continue
            final = q.final_code[waiting]
            book_h = q.book_h[waiting]
            before = taus > inv.chart_h
            # Before the chart: the rank among those still holding tickets; after it only those still
            # waitlisted show a WL number, their final one.
            gone = q.cancel_h[None, :] >= taus[before][:, None]
            ahead: np.ndarray = (np.cumsum(gone, axis=1) - gone)[:, waiting]
            code, pos = q.code_at_rank(waiting[None, :] - ahead)
            seen_before = (code == WL) & (book_h[None, :] > taus[before][:, None])
            left = final == WL
            seen = np.zeros((len(taus), len(waiting)), dtype=bool)
            seen[before] = seen_before
            seen[~before] = left[None, :]
            position = np.zeros(seen.shape, dtype=np.int64)
            position[before] = pos
            position[~before] = q.final_pos[waiting][None, :]
            rows, cols = np.nonzero(seen)
            if not len(rows):
                continue
            key = hour_buckets[rows] * len(WL_BUCKETS) + np.searchsorted(wl_edges, position[rows, cols], side="right")
            got = final[cols]
            keys, inverse = np.unique(key, return_inverse=True)
            n = np.bincount(inverse)
            cnf = np.bincount(inverse, weights=got == CNF)
            rac = np.bincount(inverse, weights=got == RAC)
            for k, kn, kc, kr in zip(keys.tolist(), n.tolist(), cnf.tolist(), rac.tolist()):
                hb, b = divmod(k, len(WL_BUCKETS))
                for outcomes, cell in ((self.cells, (jclass, name, b, hb)), (self.pooled, (name, b, hb)),
                                       (self.coarse, (b, hb))):
                    outcomes.add_counts(cell, kn, int(kc), int(kr))

    def rate(self, cell: tuple[str, str, int, int]) -> float:
        """The simulator's clearance in a real lookup's cell, pooled over classes (then queues) when thin."""
        jclass, queue, b, hb = cell
        for outcomes, key in ((self.cells, cell), (self.pooled, (queue, b, hb)), (self.coarse, (b, hb))):
            if outcomes.n[key] >= MIN_CELL:
                return outcomes.rate(key)
        return self.coarse.rate((b, hb)) if self.coarse.n[(b, hb)] else 0.0


def simulate(config: SimConfig, hours: Sequence[float], dates: Iterable[dt.date] = JOURNEY_DATES) -> Simulated:
    """Every class of every train on the dates, seen at `hours`."""
    out = Simulated()
    for inv in inventories(config, load_trains(), dates):
        out.add(inv, hours)
    return out


@dataclasses.dataclass(frozen=True)
class Group:
    """One compared group of real lookups: its name, size, real and simulated clearance."""

    kind: str  # "WL", "hours", "class", "queue", "WL x hours", ...
    name: str
    n: int
    real: float
    sim: float

    @property
    def gap(self) -> float:
        """Simulator minus real, as a share."""
        return self.sim - self.real


def _names(lk: Lookup) -> dict[str, str]:
    wl, hours = label(WL_BUCKETS, wl_bucket(lk.waitlist)), label(HOURS_BUCKETS, hours_bucket(lk.hours))
    return {"WL": wl, "hours": hours, "class": lk.journey_class, "queue": lk.queue,
            "WL x hours": f"{wl} / {hours} h", "class x WL": f"{lk.journey_class} / {wl}",
            "queue x WL": f"{lk.queue} / {wl}", "class x hours": f"{lk.journey_class} / {hours} h",
            "queue x hours": f"{lk.queue} / {hours} h", "class x queue": f"{lk.journey_class} / {lk.queue}"}


KINDS = ("WL", "hours", "class", "queue", "WL x hours", "class x WL", "queue x WL", "class x hours",
         "queue x hours", "class x queue")


def compare(lookups: Sequence[Lookup], sim: Simulated, min_n: int = MIN_GROUP) -> list[Group]:
    """Real and simulated clearance of every group of at least `min_n` real lookups (all of them overall)."""
    acc: dict[tuple[str, str], list[float]] = collections.defaultdict(lambda: [0, 0.0, 0.0])
    for lk in lookups:
        p = sim.rate(lk.cell)
        for kind, name in [("all", "all"), *_names(lk).items()]:
            a = acc[(kind, name)]
            a[0] += 1
            a[1] += lk.cleared
            a[2] += p
    order = {k: i for i, k in enumerate(("all", *KINDS))}
    groups = [Group(kind, name, int(n), hits / n, p / n) for (kind, name), (n, hits, p) in acc.items()
              if n >= min_n or kind == "all"]
    return sorted(groups, key=lambda g: (order[g.kind], _sort_key(g.name)))


def _sort_key(name: str) -> tuple[Any, ...]:
    """Buckets in numeric order, classes and queues by name."""
    parts = []
    for part in name.split(" / "):
        bucket = re.fullmatch(r"(\d+)(-\d+|\+)( h)?", part)
        parts.append((0, int(bucket.group(1)), "") if bucket else (1, 0, part))
    return tuple(parts)


def allowed_gap(group: Group) -> float:
    """The largest |simulator - real| the test accepts for a group."""
    z = Z_MARGINAL if group.kind in (*MARGINALS, "all") else Z_CELL
    return TOLERANCE + z * math.sqrt(group.real * (1.0 - group.real) / group.n)


def loss(groups: Sequence[Group]) -> float:
    """Fit objective: squared gaps weighted by real lookups, the marginal curves counted twice."""
    return sum((2.0 if g.kind in MARGINALS else 1.0) * g.n * g.gap ** 2 for g in groups)


# The parameters fitted for the 2013 era: (SimConfig field or field[key], lower, upper bound).
# "hazard_near_per_h" stands for h0 (1 + beta), the hazard just before departure: searching it and h0
# separately moves the far and the near level one at a time (hazard_beta follows from the two).
FITTED = (
    ("hazard_h0_per_h", 5e-5, 1e-3),
    ("hazard_near_per_h", 5e-5, 1e-2),
    ("hazard_tau_d_h", 12.0, 400.0),
    ("hazard_multipliers[WL]", 1.0, 8.0),
    ("segment_shares[RL]", 0.02, 0.6),
    ("segment_shares[PQ]", 0.02, 0.3),
    ("chart_pool_weights[PQ]", 0.0, 2.0),
    ("chart_pool_weights[TQ]", 0.0, 2.0),
)
FITTED_NAMES = tuple(item[0] for item in FITTED)
NEAR = "hazard_near_per_h"


def with_params(era: str, values: Sequence[float] | np.ndarray, names: Sequence[str] = FITTED_NAMES,
                **overrides: Any) -> SimConfig:
    """The era's config with fitted values set (a `field[key]` name sets one entry of a mapping or pair)."""
    base = SimConfig.for_era(era, **overrides)
    changes: dict[str, Any] = {}
    for name, value in zip(names, values):
        if name == NEAR:
            h0 = changes.get("hazard_h0_per_h", base.hazard_h0_per_h)
            changes["hazard_beta"] = max(0.0, float(value) / h0 - 1.0)
            continue
        field, _, key = name.partition("[")
        if not key:
            changes[field] = float(value)
            continue
        key = key.rstrip("]")
        current = changes.get(field, getattr(base, field))
        if isinstance(current, tuple):
            items = list(current)
            items[int(key)] = float(value)
            changes[field] = tuple(items)
        else:
            changes[field] = {**current, key: float(value)}
    return dataclasses.replace(base, **changes)


def fit(lookups: Sequence[Lookup], dates: Sequence[dt.date], start: Sequence[float] | None = None,
        max_evals: int = 60, step: float = 0.3) -> tuple[list[float], float]:
    """Coordinate search on the FITTED parameters within their bounds: each in turn is moved up and
    down by `step` of its value (or of its range, near 0), kept where the loss falls; the step halves
    after a sweep without gain. Deterministic: the seeded simulator gives common random numbers."""
    hours = observation_hours(lookups)
    lo = np.array([b for _, b, _ in FITTED])
    hi = np.array([b for _, _, b in FITTED])
    best = np.array(start if start is not None else [_current(name) for name, _, _ in FITTED], dtype=float)
    evals = 0

    def objective(values: np.ndarray) -> float:
        nonlocal evals
        evals += 1
        started = time.perf_counter()
        value = loss(compare(lookups, simulate(with_params("2013", values), hours, dates)))
        print(f"  {' '.join(f'{v:.4g}' for v in values)} -> {value:.2f} ({time.perf_counter() - started:.0f} s)",
              flush=True)
        return value

    best_loss = objective(best)
    while evals < max_evals and step > 0.02:
        improved = False
        for i in range(len(best)):
            delta = max(abs(best[i]) * step, (hi[i] - lo[i]) * step / 10)
            for sign in (1.0, -1.0):
                if evals >= max_evals:
                    break
                trial = best.copy()
                trial[i] = float(np.clip(best[i] + sign * delta, lo[i], hi[i]))
                if trial[i] == best[i]:
                    continue
                value = objective(trial)
                if value < best_loss:
                    best, best_loss, improved = trial, value, True
                    break
        if not improved:
            step /= 2
    return best.tolist(), best_loss


def _current(name: str) -> float:
    config = SimConfig.for_era("2013")
    if name == NEAR:
        return config.hazard_h0_per_h * (1.0 + config.hazard_beta)
    field, _, key = name.partition("[")
    value = getattr(config, field)
    return float(value if not key else value[int(key.rstrip("]"))] if isinstance(value, tuple) else value[key.rstrip("]")])


# Era 2013 before the fit (tuned to published averages only), kept to show what the fit changed.
BEFORE_FIT: dict[str, Any] = {
    "hazard_h0_per_h": 0.000115, "hazard_beta": 3.0, "hazard_tau_d_h": 72.0,
    "hazard_multipliers": {"CNF": 1.0, "RAC": 1.3, "WL": 3.0, "TQ_CNF": 0.1},
    "segment_shares": {"GN": 0.90, "RL": 0.05, "PQ": 0.05}, "chart_pool_weights": None,
}


def side_by_side(lookups: Sequence[Lookup], after: Sequence[Group], before: Sequence[Group]) -> list[str]:
    """Markdown rows of every compared group: real, simulator before and after the fit, and the tolerance."""
    old = {(g.kind, g.name): g.sim for g in before}
    lines = ["| Group | | Real lookups | Real cleared | Simulator, fitted | Gap (points) | Before the fit |",
             "|---|---|---|---|---|---|---|"]
    for g in after:
        was = old.get((g.kind, g.name))
        lines.append(f"| {g.kind} | {g.name} | {g.n} | {100 * g.real:.0f} % | {100 * g.sim:.0f} % | "
                     f"{100 * g.gap:+.1f} | {'-' if was is None else f'{100 * was:.0f} %'} |")
    return lines


def table(groups: Sequence[Group]) -> list[str]:
    """Markdown rows: group, real lookups, real and simulated clearance, gap in points."""
    lines = ["| Group | | Real lookups | Real cleared | Simulator | Gap (points) |", "|---|---|---|---|---|---|"]
    for g in groups:
        lines.append(f"| {g.kind} | {g.name} | {g.n} | {100 * g.real:.0f} % | {100 * g.sim:.0f} % | {100 * g.gap:+.1f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Print the side-by-side curves of the 2013 era (and with --fit, fit its parameters first)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", type=Path, default=REALDATA, help="the shared realdata folder")
    parser.add_argument("--fit", action="store_true", help="fit the 2013 parameters before comparing")
    parser.add_argument("--step", type=int, default=1, help="days between simulated journey dates")
    parser.add_argument("--max-evals", type=int, default=60)
    parser.add_argument("--start", type=float, nargs="*", help="first values of the fitted parameters")
    args = parser.parse_args(argv)
    if not prediction_file(args.realdata).exists():
        print(f"no {prediction_file(args.realdata)} (from {SOURCE})", file=sys.stderr)
        return 2
    lookups = real_lookups(args.realdata)
    dates = JOURNEY_DATES[:: args.step]
    config = SimConfig.for_era("2013")
    if args.fit:
        values, value = fit(lookups, dates, args.start or None, max_evals=args.max_evals)
        print("fitted:", dict(zip((f for f, _, _ in FITTED), values)), f"loss {value:.2f}")
        config = with_params("2013", values)
    started = time.perf_counter()
    sim = simulate(config, observation_hours(lookups), dates)
    groups = compare(lookups, sim)
    print("\n".join(table(groups)))
    worst = max((g for g in groups if g.kind != "all"), key=lambda g: abs(g.gap))
    print(f"{len(lookups)} lookups, {sim.inventories} inventories in {time.perf_counter() - started:.0f} s; "
          f"largest gap {100 * worst.gap:+.1f} points ({worst.kind} {worst.name}); loss {loss(groups):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
