"""Fitting the waitlist model to charted outcome rows by penalised maximum likelihood.

Each row is one waitlisted passenger seen `hours_to_chart` before the chart, with the status the chart
gave. What it says about the clearances N (see clearance.py), K being the places between RAC and a
berth (places.py):
  ended WL at f:   N = Y - f exactly;
  ended RAC:       Y <= N < Y + K (how far into RAC depends on how full RAC was: not exact);
  ended CNF:       N >= Y + K (censored: the chart does not say by how much).
Random effects on the log mean: a per-queue offset and slope in log hours to the chart (train,
class and quota group: persistent, the size of its quotas and coaches and how much of its clearing
waits for the chart's release; shrunk towards its class and group, so queues with little history
borrow from them) and a per-queue-date offset (that day's rush or calm: all passengers of a
journey's queue share it). The date offsets are fitted to keep them out of the rest, and
integrated out when predicting (a new journey's is unknown); without them, a train seen on few dates
would take one day's luck for its nature, and the spread of the clearances would shrink to nothing.
Passengers of one queue seen at the same hour of the same journey share nearly all their clearances,
so only one of each such cluster is fitted on (thin; more journeys say more than more
passengers of one). Rounds alternate: coefficients and effects
by L-BFGS (preconditioned, warm started); places to a berth per queue by maximum a posteriori
(places.py); the spreads of the effects, per quota group, by empirical Bayes (a Laplace EM step).
"""
from __future__ import annotations

import contextlib
import copy
import functools
import logging
import math
import multiprocessing
import os
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize
from threadpoolctl import threadpool_limits

from . import calibration, clearance
from .features import (
    DEFAULT_CENTERS,
    MU_TERMS,
    Q_TERMS,
    QUOTA_GROUPS,
    R_TERMS,
    InvalidItem,
    design,
    parse_item,
    parse_outcome,
    to_features,
)
from .model import Model, log_size, row_parameters
from .places import Outcomes, medians

log = logging.getLogger(__name__)

MAX_FIT_ROWS = 100_000
CALIBRATION_FOLDS = 2
# Out-of-fold rows predicted for the recalibration maps, drawn at random: a map's three parameters
# need no more, and predicting all of 400 train-dates' 400,000 rows cost more than the fold fits.
MAX_CALIBRATION_ROWS = 50_000
MIN_CALIBRATION_JOURNEYS = 20
ROWS_PER_CLUSTER = 1  # 400 train-dates at 1 a cluster beat 160 at 3, at the same fitting cost
CLUSTER_LOG_HOURS = 0.25
WARM_START_ROWS = 4000
MAX_ROUNDS = 3
MAX_ITERATIONS = 500
# Relative reduction of the per-row objective at which L-BFGS stops. On the simulator's 400
# train-dates 1e-8 takes nearly twice as long, for held-out Brier scores of 0.0844 and 0.0862 (P(CNF),
# P(CNF or RAC)) against 0.0849 and 0.0866 here: a little lost for half the time.
FTOL = 1e-6
GTOL = 1e-5
EB_TOLERANCE = 0.05
OFFSET_SD_START = 0.3  # both random effects
OFFSET_SD_LIMITS = (0.02, 3.0)
COEF_LIMIT = 20.0
OFFSET_LIMIT = 5.0
DEVIATION_PRIOR_SD = 2.0  # class levels around their mean, quota deviations: shrink towards the rest
SLOPE_PRIOR_SD = 10.0  # intercepts and slopes: nearly flat
CLASS_TERMS = np.array([t.startswith("class:") for t in MU_TERMS])


def _prior_sd(terms: tuple[str, ...]) -> np.ndarray:
    """Prior spreads; the class levels' (infinite here) is around their mean, see _Problem.penalty."""
    return np.array([np.inf if t.startswith("class:") else DEVIATION_PRIOR_SD if ":" in t or t == "rac_class"
                     else SLOPE_PRIOR_SD for t in terms])


class _Problem:
    """The penalised negative log-likelihood over (beta, alpha, gamma, queue offsets, queue slopes, date
    offsets)."""

    def __init__(self, parsed: list[dict[str, Any]], dates: list[str]):
        f = to_features(parsed)
        self.x_mu, self.x_q, self.x_r = design(f, DEFAULT_CENTERS)
        self.trains, self.train_index = np.unique(np.array(f.queue), return_inverse=True)
        days = np.array([f"{t}|{d}" for t, d in zip(f.queue, dates)])
        self.days, self.day_index = np.unique(days, return_inverse=True)
        self.day_train = np.zeros(len(self.days), dtype=np.int64)
        self.day_train[self.day_index] = self.train_index  # each train-date's train
        self.n = f.current_position - 1
        self.value = np.zeros(len(f), dtype=np.int64)
        self.exact = np.zeros(len(f), dtype=bool)
        self.upper = np.zeros(len(f), dtype=np.int64)
        self.hours = self.x_mu[:, MU_TERMS.index("log_hours")]
        self.sizes = (len(MU_TERMS), len(Q_TERMS), len(R_TERMS), len(self.trains), len(self.trains), len(self.days))
        self.prior_sd = np.concatenate([_prior_sd(MU_TERMS), _prior_sd(Q_TERMS), _prior_sd(R_TERMS)])
        # Spreads of queue offsets, queue slopes and date offsets, per quota group: a few clearances of a
        # small quota vary far more, in log terms, than the many of a general queue.
        self.sd = np.full((3, len(QUOTA_GROUPS)), OFFSET_SD_START)
        group_of = {p["queue"]: QUOTA_GROUPS.index(p["group"]) for p in parsed}
        self.queue_group = np.array([group_of[q] for q in self.trains], dtype=np.int64)
        self.day_group = self.queue_group[self.day_train]

    def subset(self, rows: np.ndarray) -> _Problem:
        """The same problem (same parameter layout) on some of the rows."""
        part = copy.copy(self)
        part.x_mu, part.x_q, part.x_r = self.x_mu[rows], self.x_q[rows], self.x_r[rows]
        part.train_index, part.day_index, part.n = self.train_index[rows], self.day_index[rows], self.n[rows]
        part.hours = self.hours[rows]
        part.value, part.exact, part.upper = self.value[rows], self.exact[rows], self.upper[rows]
        return part

    def split(self, theta: np.ndarray) -> list[np.ndarray]:
        """theta -> [beta, alpha, gamma, queue offsets, queue slopes, date offsets]."""
        return np.split(theta, np.cumsum(self.sizes)[:-1])

    def distribution(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per-row (n, q, mu, r) of the clearances, given the rows' train and date offsets."""
        beta, alpha, gamma, u, w, v = self.split(theta)
        offset = u[self.train_index] + w[self.train_index] * self.hours + v[self.day_index]
        mu, q, r = row_parameters(self.x_mu, self.x_q, self.x_r, beta, alpha, gamma, offset)
        return self.n, q, mu, r

    def row_terms(self, theta: np.ndarray) -> tuple[np.ndarray, ...]:
        """Per-row log-likelihood and its derivatives in log mu, logit q, log r."""
        n, q, mu, r = self.distribution(theta)
        return clearance.log_likelihood(n, q, mu, r, self.value, self.exact, self.upper)

    def penalty(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Minus the log prior and its gradient: Gaussian, class levels around their own mean.

        Centring the class levels (no separate intercept) keeps the problem free of a flat direction,
        and pulls a class without history to the average class.
        """
        beta, alpha, gamma, u, w, v = self.split(theta)
        coef = np.concatenate([beta, alpha, gamma])
        levels = beta[CLASS_TERMS] - beta[CLASS_TERMS].mean()
        queue_sd, slope_sd, day_sd = self.spread_of()
        value = 0.5 * (np.sum((coef / self.prior_sd) ** 2) + np.sum((levels / DEVIATION_PRIOR_SD) ** 2)
                       + np.sum((u / queue_sd) ** 2) + np.sum((w / slope_sd) ** 2) + np.sum((v / day_sd) ** 2))
        grad = np.concatenate([coef / self.prior_sd**2, u / queue_sd**2, w / slope_sd**2, v / day_sd**2])
        grad[: len(MU_TERMS)][CLASS_TERMS] += levels / DEVIATION_PRIOR_SD**2
        return value, grad

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        ll, d_mu, d_q, d_r = self.row_terms(theta)
        d_r = d_r * log_size(self.x_r, self.split(theta)[2])[1]
        penalty, penalty_grad = self.penalty(theta)
        grad = np.concatenate([
            self.x_mu.T @ d_mu, self.x_q.T @ d_q, self.x_r.T @ d_r,
            np.bincount(self.train_index, weights=d_mu, minlength=len(self.trains)),
            np.bincount(self.train_index, weights=d_mu * self.hours, minlength=len(self.trains)),
            np.bincount(self.day_index, weights=d_mu, minlength=len(self.days)),
        ]) - penalty_grad
        return float(-(ll.sum() - penalty) / len(ll)), -grad / len(ll)

    def scale(self, theta: np.ndarray) -> np.ndarray:
        """Square roots of an outer-product estimate of the Hessian's diagonal, to precondition with."""
        _ll, d_mu, d_q, d_r = self.row_terms(theta)
        d_r = d_r * log_size(self.x_r, self.split(theta)[2])[1]
        diag = np.concatenate([
            (self.x_mu**2).T @ d_mu**2, (self.x_q**2).T @ d_q**2, (self.x_r**2).T @ d_r**2,
            np.bincount(self.train_index, weights=d_mu**2, minlength=len(self.trains)),
            np.bincount(self.train_index, weights=(d_mu * self.hours) ** 2, minlength=len(self.trains)),
            np.bincount(self.day_index, weights=d_mu**2, minlength=len(self.days)),
        ])
        diag += np.concatenate([np.where(np.isfinite(self.prior_sd), self.prior_sd**-2, DEVIATION_PRIOR_SD**-2),
                                *(sd**-2 for sd in self.spread_of())])
        return np.sqrt(diag / len(d_mu))

    def spread_of(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each queue offset's, queue slope's and date offset's prior spread (by its quota group)."""
        return self.sd[0][self.queue_group], self.sd[1][self.queue_group], self.sd[2][self.day_group]

    def start(self) -> np.ndarray:
        """A starting point: a few clearances, a tenth of those ahead cancelling, moderate spread."""
        theta = np.zeros(sum(self.sizes))
        beta, alpha, gamma = self.split(theta)[:3]
        beta[CLASS_TERMS] = np.log(max(2.0, float(np.mean(self.value))))
        alpha[0], gamma[0] = -2.0, 1.0
        return theta

    def bounds(self) -> list[tuple[float, float]]:
        """Box bounds; the places already cleared may only raise the mean (keeps it monotone)."""
        coef = [(-COEF_LIMIT, COEF_LIMIT)] * (self.sizes[0] + self.sizes[1] + self.sizes[2])
        coef[MU_TERMS.index("log_cleared")] = (0.0, COEF_LIMIT)
        return coef + [(-OFFSET_LIMIT, OFFSET_LIMIT)] * (self.sizes[3] + self.sizes[4] + self.sizes[5])

    def minimise(self, theta: np.ndarray, ftol: float = FTOL) -> optimize.OptimizeResult:
        """L-BFGS-B from theta in coordinates scaled by the curvature.

        Without the scaling, rare trains' offsets and the class levels are nearly flat directions next
        to well-determined slopes, and L-BFGS crawls.
        """
        scale = self.scale(theta)
        bounds = [(lo * s, hi * s) for (lo, hi), s in zip(self.bounds(), scale)]

        def scaled(z: np.ndarray) -> tuple[float, np.ndarray]:
            value, grad = self(z / scale)
            return value, grad / scale

        res = optimize.minimize(scaled, theta * scale, jac=True, method="L-BFGS-B", bounds=bounds,
                                options={"maxiter": MAX_ITERATIONS, "ftol": ftol, "gtol": GTOL})
        res.x = res.x / scale
        return res

    def spreads(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Empirical Bayes update of the spreads (per quota group) of queue offsets, queue slopes and date
        offsets, and each queue's posterior variances (Laplace: posterior means, outer-product
        information).

        A date's rows inform its own offset; about the queue's offset a date tells less, its own
        offset being unknown: 1 / (date spread^2 + 1 / information).
        """
        d_mu = self.row_terms(theta)[1]
        u, w, v = self.split(theta)[3:]
        queue_sd, slope_sd, day_sd = self.spread_of()
        day_info = np.bincount(self.day_index, weights=d_mu**2, minlength=len(self.days))
        train_info = np.bincount(self.day_train, weights=1.0 / (day_sd**2 + 1.0 / np.maximum(day_info, 1e-12)),
                                 minlength=len(self.trains))
        slope_info = np.bincount(self.train_index, weights=(d_mu * self.hours) ** 2, minlength=len(self.trains))
        train_var = 1.0 / (train_info + queue_sd**-2)
        slope_var = 1.0 / (slope_info + slope_sd**-2)
        day_var = 1.0 / (day_info + day_sd**-2)
        spreads = self.sd.copy()
        effects = [(u, train_var, self.queue_group), (w, slope_var, self.queue_group), (v, day_var, self.day_group)]
        for row, (effect, var, group) in enumerate(effects):
            for g in np.unique(group):
                spreads[row, g] = np.sqrt(np.mean((effect**2 + var)[group == g]))
        return np.clip(spreads, *OFFSET_SD_LIMITS), train_var, slope_var


def parse_rows(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[tuple[str, int | None]], list[int]]:
    """Valid rows' parsed fields and outcomes, and the indices of those rows (invalid ones are skipped)."""
    parsed: list[dict[str, Any]] = []
    outcomes: list[tuple[str, int | None]] = []
    kept: list[int] = []
    for i, row in enumerate(rows):
        try:
            p = parse_item(row)
            outcomes.append(parse_outcome(row, p))
            parsed.append(p)
            kept.append(i)
        except InvalidItem as exc:
            log.debug("skipping row %d: %s", i, exc)
    return parsed, outcomes, kept


def thin(parsed: list[dict[str, Any]], dates: list[str], per_cluster: int, max_rows: int,
         rng: np.random.Generator) -> np.ndarray:
    """Indices of the rows to fit on: at most `per_cluster` of each (queue, train-date, hours to chart
    within a factor e^CLUSTER_LOG_HOURS) and at most `max_rows` in all.

    Passengers of one queue seen at the same moment of the same journey share nearly all of their
    clearances (one draw of M for all): hundreds of them say little more than a few, and fitted as
    if independent they would make one day's luck look like certainty.
    """
    keys = [f"{p['queue']}|{d}|{round(math.log1p(p['hours_to_chart']) / CLUSTER_LOG_HOURS)}"
            for p, d in zip(parsed, dates)]
    order = rng.permutation(len(parsed))
    taken: dict[str, int] = defaultdict(int)
    keep = []
    for i in order:
        if taken[keys[i]] < per_cluster:
            taken[keys[i]] += 1
            keep.append(i)
    return np.sort(np.array(keep[:max_rows], dtype=np.int64))


@dataclass
class _Rows:
    """Valid outcome rows, parsed, with their train-dates; `valid` and `skipped` count the rows given."""

    parsed: list[dict[str, Any]]
    outcomes: list[tuple[str, int | None]]
    dates: list[str]
    valid: int
    skipped: int

    def take(self, index: np.ndarray, *, whole: bool = False) -> _Rows:
        """Some of the rows; `whole` when they are all there is (a fold), not a sample of the rest."""
        counts = (len(index), 0) if whole else (self.valid, self.skipped)
        return _Rows([self.parsed[i] for i in index], [self.outcomes[i] for i in index],
                     [self.dates[i] for i in index], *counts)


def _prepare(rows: list[dict[str, Any]]) -> tuple[_Rows, list[int]]:
    """The valid rows parsed, once, and their indices among `rows`; raises ValueError if there are none."""
    parsed, outcomes, kept = parse_rows(rows)
    skipped = len(rows) - len(kept)
    if skipped:
        log.warning("skipped %d of %d outcome rows that are not valid", skipped, len(rows))
    if not parsed:
        raise ValueError("no usable outcome rows to fit")
    dates = [str(rows[i].get("journey_date") or "") for i in kept]
    return _Rows(parsed, outcomes, dates, len(kept), skipped), kept


def _thinned(data: _Rows, seed: int, max_rows: int, per_cluster: int) -> _Rows:
    """The rows to fit on (see thin)."""
    keep = thin(data.parsed, data.dates, per_cluster, max_rows, np.random.default_rng(seed))
    if len(keep) == len(data.parsed):
        return data
    log.info("fitting on %d of %d rows (at most %d per queue, journey and hour)", len(keep), len(data.parsed),
             per_cluster)
    return data.take(keep)


def fit(rows: list[dict[str, Any]], *, seed: int = 0, max_rows: int = MAX_FIT_ROWS,
        per_cluster: int = ROWS_PER_CLUSTER, folds: int = CALIBRATION_FOLDS, parallel: bool = True,
        ftol: float = FTOL, calibration_rows: int | None = MAX_CALIBRATION_ROWS) -> Model:
    """Fit the model to outcome rows (the contract's row format), then its recalibration maps by
    cross-fitting over `folds` folds of train-dates (calibration.py; none when folds < 2 or the rows
    span fewer than MIN_CALIBRATION_JOURNEYS train-dates); raises ValueError if no row is usable.

    With `parallel` (and more than one core) the fold fits, each with its predictions of the fold
    held out, run in child processes while this one fits the full structure; `ftol` is where L-BFGS
    stops (see FTOL); the maps are fitted to at most `calibration_rows` out-of-fold rows drawn at
    random (None: all).
    """
    started = time.monotonic()
    data, kept = _prepare(rows)
    full = _thinned(data, seed, max_rows, per_cluster)
    keys = [f"{row.get('train_number')}|{row.get('journey_date')}" if isinstance(row, dict) else "" for row in rows]
    if folds < 2 or len(set(keys)) < MIN_CALIBRATION_JOURNEYS:
        return _structure(full, seed=seed, ftol=ftol)
    fold_of = calibration.folds(keys, folds, seed)[kept]
    scored = np.arange(len(fold_of))
    if calibration_rows is not None and calibration_rows < len(scored):
        scored = np.sort(np.random.default_rng(seed).choice(len(scored), calibration_rows, replace=False))
    parts = [(_thinned(data.take(np.flatnonzero(fold_of != k), whole=True), seed, max_rows, per_cluster),
              data.take(scored[fold_of[scored] == k])) for k in range(folds)]
    one = functools.partial(_out_of_fold, seed=seed, ftol=ftol)
    workers = min(folds, os.cpu_count() or 1) if parallel else 1
    with _pool(workers) as pool:
        pending = pool.map(one, parts) if pool else map(one, parts)  # submitted now, or run when asked
        model = _structure(full, seed=seed, ftol=ftol)
        p_cnf, p_any, has_rac, codes = zip(*pending)
    maps = calibration.fit_maps(*(np.concatenate(x) for x in (p_cnf, p_any, has_rac, codes)))
    metrics = {**model.metrics, "calibration_folds": folds, "fit_seconds": round(time.monotonic() - started, 3)}
    log.info("recalibrated from %d out-of-fold rows in %d folds: %s", sum(map(len, codes)), folds, maps)
    return Model({**model.parameters, "calibration": maps}, metrics=metrics)


def _pool(workers: int) -> ProcessPoolExecutor | contextlib.nullcontext[None]:
    """Child processes for the fold fits, or none for one worker.

    Spawned, not forked: a fork of a process holding threads (the web app's, a BLAS pool) can inherit
    a held lock. Rows and predictions travel as the executor's pickles, never leaving this process tree.
    """
    if workers < 2:
        return contextlib.nullcontext()
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _out_of_fold(part: tuple[_Rows, _Rows], *, seed: int, ftol: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The structure fitted on a fold's training rows, and its (P(CNF), P(CNF or RAC), whether RAC
    places stand between, charted code) for each held-out row."""
    train, held = part
    model = _structure(train, seed=seed, ftol=ftol)
    if not held.parsed:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool), np.zeros(0, dtype=str)
    features = to_features(held.parsed)
    probs = model.probabilities(features)
    return (probs["p_cnf"], probs["p_cnf"] + probs["p_rac"], model.rac_places(features) > 0,
            np.array([code for code, _position in held.outcomes]))


def fit_structure(rows: list[dict[str, Any]], *, seed: int = 0, max_rows: int = MAX_FIT_ROWS,
                  per_cluster: int = ROWS_PER_CLUSTER) -> Model:
    """The structural model alone (no recalibration); raises ValueError if no row is usable."""
    return _structure(_thinned(_prepare(rows)[0], seed, max_rows, per_cluster), seed=seed)


@threadpool_limits.wrap(limits=1)
def _structure(data: _Rows, *, seed: int, ftol: float = FTOL) -> Model:
    """The structure fitted on all of `data`, BLAS on one thread: its products are of a few columns, and
    the fold fits run beside the full one, where BLAS's threads waiting for a core doubled each fit's time
    (a fold alone 32 s either way, two at once 62 s against 32 s on two cores)."""
    started = time.monotonic()
    parsed, outcomes, dates = data.parsed, data.outcomes, data.dates
    seen = Outcomes.of(parsed, outcomes)
    lower, guess, spread = seen.initial()
    places = guess
    problem = _Problem(parsed, dates)
    problem.value, problem.exact, problem.upper = seen.observations(places)
    theta, iterations, converged, rounds = problem.start(), 0, True, 0
    if len(parsed) > 2 * WARM_START_ROWS:
        # Most of the way on a sample: full-data iterations are what costs.
        sample = np.random.default_rng(seed).choice(len(parsed), WARM_START_ROWS, replace=False)
        theta = problem.subset(sample).minimise(theta, ftol).x
    for rounds in range(1, MAX_ROUNDS + 1):
        res = problem.minimise(theta, ftol)
        theta, iterations, converged = res.x, iterations + int(res.nit), bool(res.success)
        log.debug("round %d: %d iterations, %s", rounds, res.nit, res.message)
        new_places = seen.estimate(lower, guess, spread, *problem.distribution(theta))
        spreads, offset_var, slope_var = problem.spreads(theta)
        settled = np.array_equal(new_places, places) and bool(np.all(np.abs(spreads / problem.sd - 1) < EB_TOLERANCE))
        places, problem.sd = new_places, spreads
        problem.value, problem.exact, problem.upper = seen.observations(places)
        if settled:
            break
    beta, alpha, gamma, u, w, _v = problem.split(theta)
    ll = problem.row_terms(theta)[0]
    fitted_places = {q: int(k) for q, k in zip(seen.queues, places)}
    parameters = {
        "centers": dict(DEFAULT_CENTERS),
        "log_mean": dict(zip(MU_TERMS, beta.tolist())),
        "logit_cancel_ahead": dict(zip(Q_TERMS, alpha.tolist())),
        "log_size": dict(zip(R_TERMS, gamma.tolist())),
        "train_offset_sd": dict(zip(QUOTA_GROUPS, problem.sd[0].tolist())),
        "train_offsets": dict(zip(problem.trains.tolist(), u.tolist())),
        "train_offset_sds": dict(zip(problem.trains.tolist(), np.sqrt(offset_var).tolist())),
        "train_slope_sd": dict(zip(QUOTA_GROUPS, problem.sd[1].tolist())),
        "train_slopes": dict(zip(problem.trains.tolist(), w.tolist())),
        "train_slope_sds": dict(zip(problem.trains.tolist(), np.sqrt(slope_var).tolist())),
        "date_offset_sd": dict(zip(QUOTA_GROUPS, problem.sd[2].tolist())),
        "rac_places": fitted_places,
        "rac_places_prior": medians(fitted_places),
    }
    metrics = {
        "rows": len(parsed), "rows_valid": data.valid, "rows_skipped": data.skipped, "queues": len(problem.trains),
        "queue_dates": len(problem.days), "queues_with_rac": len(seen.queues), "exact_rows": int(problem.exact.sum()),
        "log_likelihood_per_row": float(ll.mean()), "rounds": rounds, "iterations": iterations,
        "converged": converged, "fit_seconds": round(time.monotonic() - started, 3),
    }
    log.info("fitted %d rows over %d queues, %d queue-dates in %.1f s (%d rounds, %d iterations; GN spreads: "
             "queue %.3f, slope %.3f, date %.3f; converged %s)", len(parsed), len(problem.trains), len(problem.days),
             metrics["fit_seconds"], rounds, iterations, *problem.sd[:, 0], converged)
    return Model(parameters, metrics=metrics)
