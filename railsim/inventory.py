"""One (train, journey date, class) inventory: its whole booking horizon simulated once, then looked up.

The state is a pure function of (seed, train, date, class): a SHA-256-seeded generator drives the
demand, the booking pass of each queue and the chart. Afterwards "the status of booking b at time
t" is arithmetic on the stored event log: count the cancellations ahead of each passenger by t.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools

import numpy as np

from .booking import CAN, CNF, RAC, WL, QueueLog, QueueSpec, book_class
from .charting import ChartSummary, chart_time, prepare_chart
from .config import SimConfig
from .demand import class_requests, train_date_load
from .seeding import stable_rng
from .trains import IST, ClassPlan, Train

QUEUE_NAMES = ("GN", "RL", "PQ", "TQ")
WAITLIST_TYPE = {"GN": "GNWL", "RL": "RLWL", "PQ": "PQWL", "TQ": "TQWL"}
BOOKING_OPENS = dt.time(8, 0)
TATKAL_OPENS_AC = dt.time(10, 0)
TATKAL_OPENS_NON_AC = dt.time(11, 0)
NON_AC_CLASSES = ("SL", "2S", "FC")
__all__ = ["CAN", "CNF", "QUEUE_NAMES", "RAC", "WAITLIST_TYPE", "WL", "Inventory", "simulate_inventory"]


def _hours(delta: dt.timedelta) -> float:
    return delta.total_seconds() / 3600.0


@dataclasses.dataclass
class Inventory:
    """The simulated event log of one class of one train on one date."""

    train: Train
    journey_date: dt.date
    plan: ClassPlan
    departure: dt.datetime
    chart_at: dt.datetime
    open_h: float  # hours before departure when booking opened
    chart_h: float
    load: float
    queues: dict[str, QueueLog]
    chart: ChartSummary
    booking_queue: np.ndarray  # per booking (all queues, time order): queue name index
    booking_index: np.ndarray  # the booking's index within its queue
    booking_h: np.ndarray

    @property
    def n_bookings(self) -> int:
        """PNRs issued (REGRET requests get none)."""
        return len(self.booking_h)

    def tau(self, when: dt.datetime) -> float:
        """Hours from `when` until departure (negative after it)."""
        return _hours(self.departure - when)

    def at(self, tau_h: float) -> dt.datetime:
        """The moment `tau_h` hours before departure."""
        return self.departure - dt.timedelta(hours=float(tau_h))

    def members(self, booking: int) -> tuple[QueueLog, np.ndarray]:
        """The queue of a booking and its passengers' indices in it."""
        q = self.queues[QUEUE_NAMES[int(self.booking_queue[booking])]]
        i = int(self.booking_index[booking])
        first = int(q.pnr_first[i])
        return q, np.arange(first, first + int(q.pnr_size[i]))

    @functools.cached_property
    def waitlisted_at_booking(self) -> np.ndarray:
        """Per booking: True when its last passenger was waitlisted at booking."""
        out = np.zeros(self.n_bookings, dtype=bool)
        for qi, name in enumerate(QUEUE_NAMES):
            q = self.queues.get(name)
            if q is None or not len(q.pnr_first):
                continue
            last = q.pnr_first + q.pnr_size.astype(np.int32) - 1
            code, _ = q.code_at_rank(q.rank_b[last])
            mask = self.booking_queue == qi
            out[mask] = code[self.booking_index[mask]] == WL
        return out

    def booking_states(self, q: QueueLog, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Code, queue position and berth (-1 none) of passengers at the moment they booked."""
        code, pos = q.code_at_rank(q.rank_b[idx])
        own = self.plan.quota_berths[q.name]
        berth = np.where(q.slot[idx] >= 0, own[np.maximum(q.slot[idx], 0)] if len(own) else -1, -1)
        return code, pos, berth

    def states(self, q: QueueLog, idx: np.ndarray, taus: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Code, position and berth of passengers `idx` at each of `taus` (rows) after they booked."""
        taus = np.asarray(taus, dtype=float).reshape(-1)
        ahead = np.sort(q.cancel_h[: idx[0]])
        gone_ahead = len(ahead) - np.searchsorted(ahead, taus, side="left")
        party = q.cancel_h[idx][None, :] >= taus[:, None]  # (k, m): member cancelled by tau
        gone_in_party = np.cumsum(party, axis=1) - party
        rank = idx[None, :] - gone_ahead[:, None] - gone_in_party
        code, pos = q.code_at_rank(rank)
        own = self.plan.quota_berths[q.name]
        slot = q.slot[idx]
        held = (code == CNF) & (slot >= 0)[None, :]
        berth = np.where(held, own[np.maximum(slot, 0)][None, :] if len(own) else -1, -1)
        code = np.where(party, CAN, code)
        pos = np.where(party, 0, pos)
        berth = np.where(party, -1, berth)
        charted = taus <= self.chart_h
        if charted.any():
            code[charted] = q.final_code[idx]
            pos[charted] = q.final_pos[idx]
            berth[charted] = q.final_berth[idx]
        return code, pos, berth

    def change_times(self, booking: int, until_h: float) -> np.ndarray:
        """Hours before departure of every event that may change the booking's statuses, in time order."""
        q, idx = self.members(booking)
        book_h = float(q.book_h[idx[0]])
        cancels = q.cancel_h[: idx[-1] + 1]
        taus = cancels[(cancels < book_h) & (cancels > self.chart_h)]
        taus = np.concatenate([[book_h], taus, [self.chart_h]])
        taus = np.unique(taus[taus >= until_h])
        return taus[::-1]


def simulate_inventory(config: SimConfig, train: Train, plan: ClassPlan, journey_date: dt.date) -> Inventory:
    """Simulate the whole booking horizon of one class of one train-date, chart included."""
    jclass = plan.journey_class
    rng = stable_rng(config.seed, "inventory", train.number, journey_date.isoformat(), jclass)
    load = train_date_load(config, train, journey_date) * float(np.exp(config.class_load_sigma * rng.standard_normal()))
    departure = train.departure_at(journey_date)
    chart_at = chart_time(config, train, journey_date)
    chart_h = _hours(departure - chart_at)
    opens = dt.datetime.combine(journey_date - dt.timedelta(days=config.arp_days), BOOKING_OPENS, IST)
    open_h = _hours(departure - opens)
    tatkal_opens = TATKAL_OPENS_NON_AC if jclass in NON_AC_CLASSES else TATKAL_OPENS_AC
    tatkal_h = _hours(departure - dt.datetime.combine(journey_date - dt.timedelta(days=1), tatkal_opens, IST))
    requests = class_requests(config, train, plan, load, open_h, chart_h, tatkal_h, rng)
    specs = []
    for name in QUEUE_NAMES:
        if name not in requests:
            continue
        rac = len(plan.rac_berths) if name == "GN" else 0
        cap = plan.wl_cap if name == "GN" else max(1, round(plan.wl_cap * config.minor_wl_cap_fraction))
        specs.append(QueueSpec(requests[name], plan.quota_size(name) - rac, 2 * rac, cap))
    queues = book_class(config, specs, chart_h, rng)
    chart = prepare_chart(plan, queues, rng, config)
    qids = [np.full(len(queues[n].pnr_first), i, dtype=np.int8) for i, n in enumerate(QUEUE_NAMES) if n in queues]
    idxs = [np.arange(len(queues[n].pnr_first), dtype=np.int32) for n in QUEUE_NAMES if n in queues]
    times = [queues[n].pnr_book_h for n in QUEUE_NAMES if n in queues]
    qid, idx, book_h = (np.concatenate(a) if a else np.zeros(0) for a in (qids, idxs, times))
    order = np.lexsort((idx, qid, -book_h))
    return Inventory(
        train=train, journey_date=journey_date, plan=plan, departure=departure, chart_at=chart_at,
        open_h=open_h, chart_h=chart_h, load=load, queues=queues, chart=chart,
        booking_queue=qid[order].astype(np.int8), booking_index=idx[order].astype(np.int32), booking_h=book_h[order],
    )
