"""The final chart: when it is prepared, which quota berths are released, and who gets which berth.

DOMAIN §1.4 and §3.5. At charting the unused emergency quota (used share ~ Beta(4,3)), the unused
LD/SS/DF/FT berths and every queue's unsold berths form one pool, served in the order GN (RAC first,
then GNWL), RL, PQ, TQ, or, when the config gives `chart_pool_weights`, shared between the lists in
proportion to weight x unmet demand. Confirmed passengers keep the berth they booked; everyone confirmed later
gets a free berth in queue order; RAC pairs share the side-lower berths; the waitlisted rest are
auto-cancelled and their status is frozen.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping

import numpy as np

from .booking import CAN, CNF, RAC, WL, QueueLog
from .config import SimConfig
from .trains import IST, ClassPlan, Train

SERVE_ORDER = ("GN", "RL", "PQ", "TQ")
RELEASED_QUOTAS = ("HO", "LD", "SS", "DF", "FT")
CHART_2013_AFTERNOON = dt.time(12, 0)
CHART_2013_EVENING = dt.time(20, 0)
CHART_2013_LEAD_H = 4.0
CHART_2025_WINDOW = (dt.time(5, 0), dt.time(14, 0))
CHART_2025_EVENING = dt.time(21, 0)
CHART_2025_LEAD_H = 8.0


def chart_time(config: SimConfig, train: Train, journey_date: dt.date) -> dt.datetime:
    """When the final chart of a train-date is prepared, by the era's rule (UTC)."""
    departure = train.departure_at(journey_date)
    eve = journey_date - dt.timedelta(days=1)
    if config.chart_rule == "2025":
        lo, hi = CHART_2025_WINDOW
        if lo <= train.departure < hi:
            return dt.datetime.combine(eve, CHART_2025_EVENING, IST).astimezone(dt.UTC)
        return departure - dt.timedelta(hours=CHART_2025_LEAD_H)
    if train.departure >= CHART_2013_AFTERNOON:
        return departure - dt.timedelta(hours=CHART_2013_LEAD_H)
    return dt.datetime.combine(eve, CHART_2013_EVENING, IST).astimezone(dt.UTC)


@dataclasses.dataclass(frozen=True)
class ChartSummary:
    """What charting released and to whom: berths per source quota and per served queue."""

    released: dict[str, int]
    served: dict[str, int]


def _survivor_ranks(queue: QueueLog) -> tuple[np.ndarray, np.ndarray]:
    """Mask of passengers holding tickets at the chart, and their rank among them (-1 for others)."""
    alive = queue.cancel_h == -np.inf
    rank = np.where(alive, np.cumsum(alive) - 1, -1)
    return alive, rank


def _own_berths(plan: ClassPlan, queue: QueueLog) -> tuple[np.ndarray, np.ndarray]:
    """The queue's berths and the slots (indices into them) not held since booking at the chart."""
    own = plan.quota_berths[queue.name]
    alive = queue.cancel_h == -np.inf
    free = np.ones(len(own), dtype=bool)
    free[queue.slot[alive & (queue.slot >= 0)]] = False
    return own, np.flatnonzero(free)


def prepare_chart(plan: ClassPlan, queues: dict[str, QueueLog], rng: np.random.Generator, config: SimConfig) -> ChartSummary:
    """Release unused quota, serve the queues, assign berths; fills each queue's final_* arrays."""
    released: dict[str, int] = {}
    pool: list[np.ndarray] = []
    for quota in RELEASED_QUOTAS:
        berths = plan.quota_berths.get(quota, np.zeros(0, dtype=np.int32))
        a, b = config.eq_usage_beta if quota == "HO" else config.other_usage_beta
        used = round(float(rng.beta(a, b)) * len(berths))
        pool.append(berths[used:])
        released[quota] = len(berths) - used
    for name in SERVE_ORDER:  # each queue fills its own berths first; what it leaves joins the pool
        queue = queues.get(name)
        if queue is None:
            berths = plan.quota_berths.get(name, np.zeros(0, dtype=np.int32))
            leftover = np.concatenate([berths, plan.rac_berths]) if name == "GN" else berths
        else:
            alive, _ = _survivor_ranks(queue)
            own, free = _own_berths(plan, queue)
            spare = np.concatenate([own[free], plan.rac_berths]) if name == "GN" else own[free]
            leftover = spare[int(alive.sum()) - (len(own) - len(free)):]
        pool.append(leftover)
        released[name] = len(leftover)
    pool_berths = np.concatenate(pool) if pool else np.zeros(0, dtype=np.int32)
    names = [name for name in SERVE_ORDER if name in queues]
    deficits = {name: max(0, int(_survivor_ranks(queues[name])[0].sum()) - plan.quota_size(name))
                for name in names}
    served = share_pool(len(pool_berths), deficits, config.chart_pool_weights)
    taken = 0
    for name in names:
        queue = queues[name]
        alive, rank = _survivor_ranks(queue)
        give = served[name]
        _finalise(plan, queue, alive, rank, plan.quota_size(name), pool_berths[taken : taken + give])
        taken += give
    return ChartSummary(released, served)


def share_pool(pool: int, deficits: dict[str, int], weights: Mapping[str, float] | None) -> dict[str, int]:
    """Released berths per waiting list: in serve order (weights None), or shared in proportion to
    weight x unmet demand, none getting more than it lacks (what is left over goes round again)."""
    give = dict.fromkeys(deficits, 0)
    if weights is None:
        for name, deficit in deficits.items():
            give[name] = min(deficit, pool - sum(give.values()))
        return give
    left = pool
    while left > 0:
        open_ = {n: weights.get(n, 0.0) * (d - give[n]) for n, d in deficits.items()
                 if d > give[n] and weights.get(n, 0.0) > 0}
        total = sum(open_.values())
        if total <= 0:
            break
        exact = {n: left * w / total for n, w in open_.items()}
        step = {n: min(int(exact[n]), deficits[n] - give[n]) for n in open_}
        if not sum(step.values()):  # fewer berths than lists: one each, in serve order by largest share
            step = {max(exact, key=lambda n: (exact[n], -SERVE_ORDER.index(n))): 1}
        for n, k in step.items():
            give[n] += k
        left -= sum(step.values())
    for name, deficit in deficits.items():  # lists of weight 0 get what nobody else wanted, in serve order
        if weights.get(name, 0.0) <= 0:
            extra = min(deficit - give[name], left)
            give[name] += extra
            left -= extra
    return give


def _finalise(plan: ClassPlan, queue: QueueLog, alive: np.ndarray, rank: np.ndarray, own_size: int,
              given: np.ndarray) -> None:
    """Final codes, positions and berths of one queue once the pool has been shared out."""
    places = own_size + len(given)
    n = int(alive.sum())
    rac_pairs = min(max(0, n - places), len(plan.rac_berths)) if queue.name == "GN" else 0
    cnf = places - rac_pairs
    code = np.full(len(rank), CAN, dtype=np.int8)
    pos = np.zeros(len(rank), dtype=np.int32)
    berth = np.full(len(rank), -1, dtype=np.int32)
    code[alive & (rank < cnf)] = CNF
    is_rac = alive & (rank >= cnf) & (rank < cnf + 2 * rac_pairs)
    code[is_rac] = RAC
    pos[is_rac] = rank[is_rac] - cnf + 1
    berth[is_rac] = plan.rac_berths[(pos[is_rac] - 1) // 2]
    is_wl = alive & (rank >= cnf + 2 * rac_pairs)
    code[is_wl] = WL
    pos[is_wl] = rank[is_wl] - cnf - 2 * rac_pairs + 1
    own, free = _own_berths(plan, queue)
    keeps = (code == CNF) & (queue.slot >= 0)
    berth[keeps] = own[queue.slot[keeps]]
    newcomers = np.flatnonzero((code == CNF) & (queue.slot < 0))  # already in queue order
    spare = own[free]
    if queue.name == "GN":
        spare = np.concatenate([spare, plan.rac_berths[rac_pairs:]])
    spare = np.concatenate([spare, given])
    berth[newcomers] = spare[: len(newcomers)]
    queue.final_code, queue.final_pos, queue.final_berth = code, pos, berth
