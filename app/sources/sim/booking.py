"""The booking pass of one queue: accept or REGRET each request, rank it, time its cancellation.

A passenger's status before the chart is a function of one number, the count of passengers still
holding tickets ahead of them in the same queue (their rank): CNF below the confirmed places, RAC
below the RAC places, then WL. Promotion strictly in queue order is exactly this: a cancellation
ahead lowers every later rank by one.

What couples the requests is causal: the status at booking sets the cancellation multiplier, and
cancellations set later ranks. Without REGRET the unique solution is found as the fixed point of a
vectorised iteration (a few array passes); a queue that reaches its WL cap is run through a short
heap loop in time order instead. Berths held since booking are handed out fresh first, then in
the order they were freed, which needs no loop either.
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
    final_code: np.ndarray | None = None  # after charting
    final_pos: np.ndarray | None = None
    final_berth: np.ndarray | None = None

    def code_at_rank(self, rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Status code and queue position (0 for CNF) of the given ranks before the chart."""
        c, r = self.cnf_places, self.rac_places
        code = np.where(rank < c, CNF, np.where(rank < c + r, RAC, WL))
        pos = np.where(code == RAC, rank - c + 1, np.where(code == WL, rank - c - r + 1, 0))
        return code, pos


def _multipliers(config: SimConfig, queue: str) -> dict[int, tuple[float, bool]]:
    """Hazard multiplier and fee shape per status at booking; confirmed Tatkal is not refunded."""
    m = config.hazard_multipliers
    cnf = (m["TQ_CNF"], False) if queue == "TQ" else (m["CNF"], True)
    return {CNF: cnf, RAC: (m["RAC"], False), WL: (m["WL"], False)}


def _status_of_last(last: np.ndarray, cnf_places: int, rac_places: int) -> np.ndarray:
    """Status at booking that sets a party's cancellation multiplier: that of its last passenger."""
    return np.where(last < cnf_places, CNF, np.where(last < cnf_places + rac_places, RAC, WL))


def _fixed_point(tau: np.ndarray, size: np.ndarray, k: np.ndarray, options: np.ndarray, cnf_places: int,
                 rac_places: int, cap: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Ranks at booking and cancellation times when every request is accepted; None if one is REGRET."""
    ahead = np.concatenate([[0], np.cumsum(size)[:-1]])
    status = _status_of_last(ahead + size - 1, cnf_places, rac_places)
    for _ in range(MAX_FIXED_POINT_ROUNDS):
        when = options[status, np.arange(len(tau))]
        goes = np.flatnonzero(when != NEVER)
        order = goes[np.argsort(-when[goes], kind="stable")]
        gone = np.concatenate([[0], np.cumsum(k[order])])
        rank = ahead - gone[np.searchsorted(-when[order], -tau, side="right")]
        last = rank + size - 1
        if (last >= cnf_places + rac_places + cap).any():
            return None
        new = _status_of_last(last, cnf_places, rac_places)
        if np.array_equal(new, status):
            return rank, when
        status = new
    return None


def _in_time_order(tau: np.ndarray, size: np.ndarray, k: np.ndarray, options: np.ndarray, cnf_places: int,
                   rac_places: int, cap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of accepted requests, their ranks and cancellation times, one request at a time."""
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


def book_queue(config: SimConfig, req: Requests, cnf_places: int, rac_places: int, cap: int, chart_h: float,
               rng: np.random.Generator) -> QueueLog:
    """Run the requests of one queue through the booking counter and the cancellation clocks."""
    n = len(req.tau_h)
    exp_dep, exp_bump = rng.exponential(size=n), rng.exponential(size=n)
    partial = (req.size >= 2) & (rng.random(n) < config.partial_cancel_prob)
    n_cancel = np.where(partial, rng.integers(1, np.maximum(req.size, 2)), req.size)
    multipliers = _multipliers(config, req.queue)
    options = cancellation_times(config, req.tau_h, exp_dep, exp_bump, [multipliers[c] for c in (CNF, RAC, WL)], chart_h)
    solved = _fixed_point(req.tau_h, req.size, n_cancel, options, cnf_places, rac_places, cap)
    if solved is not None:
        kept = np.arange(n)
        ranks, when = solved
    else:
        kept, ranks, when = _in_time_order(req.tau_h, req.size, n_cancel, options, cnf_places, rac_places, cap)
    sizes = req.size[kept]
    firsts = (np.cumsum(sizes) - sizes).astype(np.int32)
    owner = np.repeat(np.arange(len(kept), dtype=np.int32), sizes)
    member = np.arange(int(sizes.sum()), dtype=np.int32) - firsts[owner] + 1
    cancels = np.where(member > (sizes - n_cancel[kept])[owner], np.repeat(when, sizes), NEVER)
    rank_b = (np.repeat(ranks, sizes) + member - 1).astype(np.int32)
    regret = np.setdiff1d(np.arange(n), kept) if len(kept) < n else kept[:0]
    return QueueLog(
        name=req.queue, cnf_places=cnf_places, rac_places=rac_places, cap=cap,
        pnr=owner, member=member.astype(np.int8), book_h=req.tau_h[kept][owner], cancel_h=cancels,
        rank_b=rank_b, slot=_booking_slots(rank_b, cancels, cnf_places),
        pnr_first=firsts, pnr_size=sizes.astype(np.int8), pnr_book_h=req.tau_h[kept],
        regret_requests=len(regret), regret_passengers=int(req.size[regret].sum()),
    )
