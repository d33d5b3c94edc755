"""Places between reaching RAC and a berth, per waitlist queue, learnt from outcome rows.

A waitlisted passenger at Y in a class with RAC reaches RAC when N >= Y and a berth when N >= Y + K.
On a chart that leaves passengers waitlisted, K is the queue's RAC places (two passengers per
side-lower berth, 2R); on a chart where RAC is not full, side-lower berths no one shares go out whole,
and fewer clearances make a berth (down to R). So K is an effective threshold, learnt per queue:
  - a guess: the largest RAC number seen at a chart of a queue that was seen full (2R), else the
    median of such queues of the same class and quota group;
  - the estimate: maximum a posteriori K (from half the guess up) given the current clearance model,
    where a RAC outcome says Y <= N < Y + K and a CNF outcome N >= Y + K, with a log-normal prior
    around the guess.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import clearance
from .features import RAC_CLASSES

# RAC places per queue when no history says otherwise: 2 passengers per RAC berth (DOMAIN.md 1.5),
# SL 7 berths x 10 coaches, 3A 4 x 4, 3E as 3A, 2A 3 x 2.
DEFAULT_RAC_PLACES = {"SL": 140, "3A": 32, "3E": 32, "2A": 12}
PRIOR_SD_LOG = 0.5  # spread of the prior on log(1 + K), and for queues seen full:
FULL_PRIOR_SD_LOG = 0.3
PRIOR_REACH = 4.0
STEPS = np.unique(np.concatenate([np.arange(16), np.round(16 * 1.15 ** np.arange(1, 30))])).astype(np.int64)


def prior_guess(places: dict[str, int], queue: str) -> int:
    """The guess for a queue's RAC places from similar queues' (class and quota group, class, default)."""
    _train, cls, group = queue.split("|")
    return places.get(f"{cls}|{group}", places.get(cls, DEFAULT_RAC_PLACES.get(cls, 0)))


def medians(places: dict[str, int]) -> dict[str, int]:
    """Median RAC places per "class|group" and per class, the guesses for queues without history."""
    by: dict[str, list[int]] = defaultdict(list)
    for queue, k in places.items():
        _train, cls, group = queue.split("|")
        by[f"{cls}|{group}"].append(k)
        by[cls].append(k)
    return {key: int(np.median(v)) for key, v in by.items()}


@dataclass
class Outcomes:
    """The rows' outcomes as arrays, with each row's queue among the RAC-class queues (-1 if none)."""

    queues: list[str]
    queue_index: np.ndarray
    code: np.ndarray  # 0 CNF, 1 RAC, 2 WL
    final_position: np.ndarray  # RAC/WL number at the chart, 0 for CNF
    current_position: np.ndarray

    @classmethod
    def of(cls, parsed: list[dict[str, Any]], outcomes: list[tuple[str, int | None]]) -> Outcomes:
        """Arrays from parsed rows and their (final_code, final_position)."""
        queues = sorted({p["queue"] for p in parsed if p["journey_class"] in RAC_CLASSES})
        where = {q: i for i, q in enumerate(queues)}
        return cls(
            queues=queues,
            queue_index=np.array([where.get(p["queue"], -1) for p in parsed], dtype=np.int64),
            code=np.array([("CNF", "RAC", "WL").index(c) for c, _ in outcomes], dtype=np.int64),
            final_position=np.array([f or 0 for _, f in outcomes], dtype=np.int64),
            current_position=np.array([p["current_position"] for p in parsed], dtype=np.int64),
        )

    def lower_bounds(self) -> np.ndarray:
        """Per queue, the largest RAC number seen at a chart."""
        rac = (self.code == 1) & (self.queue_index >= 0)
        out = np.zeros(len(self.queues), dtype=np.int64)
        np.maximum.at(out, self.queue_index[rac], self.final_position[rac])
        return out

    def initial(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per queue: smallest candidate, prior guess and prior spread (on log(1 + K))."""
        lower = self.lower_bounds()
        full = np.zeros(len(self.queues), dtype=bool)
        full[self.queue_index[(self.code == 2) & (self.queue_index >= 0)]] = True
        prior = medians({q: int(k) for q, k, f in zip(self.queues, lower, full) if f})
        guess = np.array([int(k) if f else max(int(k), prior_guess(prior, q))
                          for q, k, f in zip(self.queues, lower, full)], dtype=np.int64)
        return lower // 2, guess, np.where(full, FULL_PRIOR_SD_LOG, PRIOR_SD_LOG)

    def observations(self, places: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What each row says about N, as (value, exact, upper): N == value (WL: exact), value <= N < upper
        (RAC), or N >= value (CNF; upper 0)."""
        k = np.where(self.queue_index >= 0, places[np.maximum(self.queue_index, 0)], 0)
        y, f = self.current_position, self.final_position
        value = np.select([self.code == 2, self.code == 1], [y - f, y], k + y)
        upper = np.where(self.code == 1, y + k, 0)
        return value.astype(np.int64), self.code == 2, upper.astype(np.int64)

    def estimate(self, lower: np.ndarray, guess: np.ndarray, spread: np.ndarray, n: np.ndarray, q: np.ndarray,
                 mu: np.ndarray, r: np.ndarray) -> np.ndarray:
        """MAP places per queue (from `lower` up) given each row's clearance distribution (n, q, mu, r)."""
        rows = np.flatnonzero((self.queue_index >= 0) & (self.code < 2))
        if len(self.queues) == 0 or len(rows) == 0:
            return guess.copy()
        candidates = lower[:, None] + STEPS[None, :]
        score = -0.5 * ((np.log1p(candidates) - np.log1p(guess)[:, None]) / spread[:, None]) ** 2
        # Candidates the prior alone rules out (beyond PRIOR_REACH spreads) are not worth evaluating.
        score[:, 1:][score[:, 1:] < -0.5 * PRIOR_REACH**2] = -np.inf
        # Every (row, live candidate of its queue) pair in one vectorised evaluation.
        pair_row, pair_step = np.nonzero(np.isfinite(score[self.queue_index[rows]]))
        i, qi = rows[pair_row], self.queue_index[rows[pair_row]]
        k, y, is_rac = candidates[qi, pair_step], self.current_position[i], self.code[i] == 1
        ll = clearance.log_likelihood(n[i], q[i], mu[i], r[i], np.where(is_rac, y, k + y), np.zeros(len(i), bool),
                                      np.where(is_rac, y + k, 0))[0]
        np.add.at(score, (qi, pair_step), ll)
        return candidates[np.arange(len(self.queues)), np.argmax(score, axis=1)]
