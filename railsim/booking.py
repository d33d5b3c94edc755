"""The booking pass of one queue: accept or REGRET each request, rank it, time its cancellation.

A passenger's status before the chart is a function of one number, the count of passengers still
holding tickets ahead of them in the same queue (their rank): CNF below the confirmed places, RAC
below the RAC places, then WL. Promotion strictly in queue order is exactly this: a cancellation
ahead lowers every later rank by one.

What couples the requests is causal: the status at booking sets the cancellation multiplier, and
cancellations set later ranks. Without REGRET the unique solution is found as the fixed point of a
vectorised iteration over all queues of a class at once (a few array passes); a queue that reaches
its WL cap is run through a short heap loop in time order instead. Berths held since booking are
handed out fresh first, then in the order they were freed, which needs no loop either.
"""
from __future__ import annotations

import dataclasses
import heapq
import logging

import numpy as np

from .config import SimConfig
from .demand import Requests
from .hazard import NEVER, cancellation_times

log = logging.getLogger(__name__)

CNF, RAC, WL, CAN = 0, 1, 2, 3  # status codes in the arrays
MAX_FIXED_POINT_ROUNDS = 40


@dataclasses.dataclass
class QueueLog:
    """Every accepted passenger of one queue, in queue order, and what the chart made of them."""

    name: str  # GN, RL, PQ or TQ
    cnf_places: int  # confirmed places before the chart
    rac_places: int  # RAC places (two per side-lower berth), GN only
    cap: int  # WL limit
    pnr: np.ndarray  # int32, the booking's index in its queue
    member: np.ndarray  # int8, 1-based passenger number within the PNR
    book_h: np.ndarray  # float64, hours before departure
    cancel_h: np.ndarray  # float64, NEVER unless cancelled before the chart
    rank_b: np.ndarray  # int32, passengers ahead at booking
    slot: np.ndarray  # int32, berth slot held since booking, -1 if not confirmed at booking
    pnr_first: np.ndarray  # int32, first passenger of each PNR
    pnr_size: np.ndarray  # int8
    pnr_book_h: np.ndarray  # float64
    regret_requests: int = 0
    regret_passengers: int = 0
    final_code: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int8))  # set by the chart
    final_pos: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int32))
    final_berth: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int32))

    def code_at_rank(self, rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Status code and queue position (0 for CNF) of the given ranks before the chart."""
        c, r = self.cnf_places, self.rac_places
        code = np.where(rank < c, CNF, np.where(rank < c + r, RAC, WL))
        pos = np.where(code == RAC, rank - c + 1, np.where(code == WL, rank - c - r + 1, 0))
        return code, pos


@dataclasses.dataclass(frozen=True)
class QueueSpec:
    """One queue to book: its requests, confirmed and RAC places before the chart, and WL cap."""

    requests: Requests
    cnf_places: int
    rac_places: int
    cap: int


def _status_of_last(last: np.ndarray, cnf_places: np.ndarray, rac_places: np.ndarray) -> np.ndarray:
    """Status at booking that sets a party's cancellation multiplier: that of its last passenger."""
    return np.where(last < cnf_places, CNF, np.where(last < cnf_places + rac_places, RAC, WL))


def _fixed_point(qid: np.ndarray, tau: np.ndarray, size: np.ndarray, k: np.ndarray, options: np.ndarray,
                 c: np.ndarray, r: np.ndarray, cap: np.ndarray, n_queues: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ranks at booking and cancellation times of every request when all are accepted, and the queues
    for which that fails (a request would be REGRET, or no fixed point within the round limit).

    Requests are grouped by queue (qid ascending) and in time order within a queue; counting
    cancellations per queue uses one sorted key of (queue, time).
    """
    n = len(tau)
    pax = np.cumsum(size)
    first = np.searchsorted(qid, qid, side="left")
    ahead = pax - size - (pax - size)[first]
    top = float(tau.max()) + 1.0 if n else 1.0
    span = 2.0 * top
    query = qid * span + (top - tau)
    status = _status_of_last(ahead + size - 1, c, r)
    failed = np.zeros(n_queues, dtype=bool)
    rank = when = ahead
    for _ in range(MAX_FIXED_POINT_ROUNDS):
        when = options[status, np.arange(n)]
        events = np.flatnonzero(when != NEVER)
        keys = qid[events] * span + (top - when[events])
        order = np.argsort(keys, kind="stable")
        gone = np.concatenate([[0], np.cumsum(k[events][order])])
        keys = keys[order]
        rank = ahead - (gone[np.searchsorted(keys, query, side="right")] - gone[np.searchsorted(keys, qid * span, side="left")])
        last = rank + size - 1
        failed[qid[last >= c + r + cap]] = True
        new = _status_of_last(last, c, r)
        settled = np.array_equal(new[~failed[qid]], status[~failed[qid]])
        status = new
        if settled:
            return rank, when, failed
    return rank, when, np.ones_like(failed)


def _in_time_order(tau: np.ndarray, size: np.ndarray, k: np.ndarray, options: np.ndarray, cnf_places: int,
                   rac_places: int, cap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of accepted requests of one queue, their ranks and cancellation times, one request at a time."""
    pending: list[tuple[float, int]] = []  # (-cancel_h, passengers)
    accepted = cancelled = 0
    kept, ranks, whens = [], [], []
    opts = options.tolist()
    for p, (t, s, gone) in enumerate(zip(tau.tolist(), size.tolist(), k.tolist())):
        while pending and -pending[0][0] >= t:
            cancelled += heapq.heappop(pending)[1]
        rank = accepted - cancelled
        last = rank + s - 1
        if last >= cnf_places + rac_places + cap:
            continue
        status = CNF if last < cnf_places else RAC if last < cnf_places + rac_places else WL
        when = opts[status][p]
        if when != NEVER:
            heapq.heappush(pending, (-when, gone))
        kept.append(p)
        ranks.append(rank)
        whens.append(when)
        accepted += s
    return np.array(kept, dtype=np.int64), np.array(ranks, dtype=np.int64), np.array(whens, dtype=float)


def _booking_slots(rank_b: np.ndarray, cancel_h: np.ndarray, cnf_places: int) -> np.ndarray:
    """The berth slot each passenger confirmed at booking holds: fresh slots first, then freed ones in order.

    The j-th passenger seated once the fresh slots are gone takes the slot of the j-th seated
    passenger to cancel; there is always one, freed before that booking, because a passenger is
    confirmed only when fewer than `cnf_places` hold tickets ahead.
    """
    slot = np.full(len(rank_b), -1, dtype=np.int32)
    seated = np.flatnonzero(rank_b < cnf_places)
    if not len(seated):
        return slot
    leaving = np.flatnonzero(cancel_h[seated] != NEVER)
    leaving = leaving[np.lexsort((leaving, -cancel_h[seated][leaving]))]
    source = np.arange(len(seated))
    reuse = len(seated) - cnf_places
    if reuse > 0:
        source[cnf_places:] = leaving[:reuse]
    while True:  # follow each reused slot back to the passenger who first held it
        nxt = source[source]
        if np.array_equal(nxt, source):
            break
        source = nxt
    slot[seated] = source
    return slot


def _queue_log(spec: QueueSpec, kept: np.ndarray, ranks: np.ndarray, when: np.ndarray, n_cancel: np.ndarray) -> QueueLog:
    """Expand a queue's accepted bookings to passengers: ranks, cancellations (of the last k), slots."""
    req = spec.requests
    sizes = req.size[kept]
    firsts = (np.cumsum(sizes) - sizes).astype(np.int32)
    owner = np.repeat(np.arange(len(kept), dtype=np.int32), sizes)
    member = np.arange(int(sizes.sum()), dtype=np.int32) - firsts[owner] + 1
    cancels = np.where(member > (sizes - n_cancel[kept])[owner], np.repeat(when, sizes), NEVER)
    rank_b = (np.repeat(ranks, sizes) + member - 1).astype(np.int32)
    regret = np.setdiff1d(np.arange(len(req.tau_h)), kept) if len(kept) < len(req.tau_h) else kept[:0]
    return QueueLog(
        name=req.queue, cnf_places=spec.cnf_places, rac_places=spec.rac_places, cap=spec.cap,
        pnr=owner, member=member.astype(np.int8), book_h=req.tau_h[kept][owner], cancel_h=cancels,
        rank_b=rank_b, slot=_booking_slots(rank_b, cancels, spec.cnf_places),
        pnr_first=firsts, pnr_size=sizes.astype(np.int8), pnr_book_h=req.tau_h[kept],
        regret_requests=len(regret), regret_passengers=int(req.size[regret].sum()),
    )


def book_class(config: SimConfig, specs: list[QueueSpec], chart_h: float, rng: np.random.Generator) -> dict[str, QueueLog]:
    """Run every queue of one class through the booking counter and the cancellation clocks."""
    counts = [len(s.requests.tau_h) for s in specs]
    qid = np.repeat(np.arange(len(specs)), counts)
    tau = np.concatenate([s.requests.tau_h for s in specs]) if specs else np.zeros(0)
    size = np.concatenate([s.requests.size for s in specs]).astype(np.int64) if specs else np.zeros(0, np.int64)
    per_queue = {name: np.array([getattr(s, name) for s in specs], dtype=np.int64)[qid]
                 for name in ("cnf_places", "rac_places", "cap")}
    n = len(tau)
    exp_dep, exp_bump = rng.exponential(size=n), rng.exponential(size=n)
    partial = (size >= 2) & (rng.random(n) < config.partial_cancel_prob)
    n_cancel = np.where(partial, rng.integers(1, np.maximum(size, 2)), size)
    m = config.hazard_multipliers
    tatkal = np.array([s.requests.queue == "TQ" for s in specs], dtype=bool)[qid]
    confirmed_m = np.where(tatkal, m["TQ_CNF"], m["CNF"])  # a confirmed Tatkal ticket is not refunded
    options = cancellation_times(config, tau, exp_dep, exp_bump,
                                 [(confirmed_m, True), (m["RAC"], False), (m["WL"], False)], chart_h)
    rank, when, failed = _fixed_point(qid, tau, size, n_cancel, options, per_queue["cnf_places"],
                                      per_queue["rac_places"], per_queue["cap"], len(specs))
    out = {}
    for i, spec in enumerate(specs):
        lo, hi = int(np.searchsorted(qid, i)), int(np.searchsorted(qid, i, side="right"))
        if failed[i]:
            log.debug("%s queue reaches its WL cap of %d: booked in time order", spec.requests.queue, spec.cap)
            kept, ranks, whens = _in_time_order(tau[lo:hi], size[lo:hi], n_cancel[lo:hi], options[:, lo:hi],
                                                spec.cnf_places, spec.rac_places, spec.cap)
        else:
            kept, ranks, whens = np.arange(hi - lo), rank[lo:hi], when[lo:hi]
        out[spec.requests.queue] = _queue_log(spec, kept, ranks, whens, n_cancel[lo:hi])
    return out
