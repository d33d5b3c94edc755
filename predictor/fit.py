"""Fitting the waitlist model to charted outcome rows by penalised maximum likelihood.

Each row is one waitlisted passenger seen `hours_to_chart` before the chart, with the status the chart
gave. What it says about the clearances N (see clearance.py), K being the queue's RAC places:
  ended WL at f:   N = Y - f exactly;
  ended RAC at f:  N = K + Y - f exactly;
  ended CNF:       N >= K + Y (censored: the chart does not say by how much).
Rounds alternate: coefficients by L-BFGS (preconditioned, warm started); RAC places per queue by
maximum a posteriori (places.py); the spread of the per-train offsets by empirical Bayes (a Laplace
EM step). Offsets are shrunk towards their class, so trains with little history borrow from it.
"""
from __future__ import annotations

import copy
import logging
import time
from typing import Any

import numpy as np
from scipy import optimize

from . import clearance
from .features import (DEFAULT_CENTERS, MU_TERMS, Q_TERMS, R_TERMS, InvalidItem, design, parse_item, parse_outcome,
                       to_features)
from .model import Model, row_parameters
from .places import Outcomes, medians

log = logging.getLogger(__name__)

MAX_FIT_ROWS = 200_000
WARM_START_ROWS = 4000
MAX_ROUNDS = 3
MAX_ITERATIONS = 500
EB_TOLERANCE = 0.05
OFFSET_SD_START = 0.3
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
    """The penalised negative log-likelihood over (beta, alpha, gamma, offsets) and its gradient."""

    def __init__(self, parsed: list[dict[str, Any]]):
        f = to_features(parsed)
        self.x_mu, self.x_q, self.x_r = design(f, DEFAULT_CENTERS)
        self.groups, self.group_index = np.unique(np.array(f.train_class), return_inverse=True)
        self.n = f.current_position - 1
        self.value = np.zeros(len(f), dtype=np.int64)
        self.exact = np.zeros(len(f), dtype=bool)
        self.sizes = (len(MU_TERMS), len(Q_TERMS), len(R_TERMS), len(self.groups))
        self.prior_sd = np.concatenate([_prior_sd(MU_TERMS), _prior_sd(Q_TERMS), _prior_sd(R_TERMS)])
        self.offset_sd = OFFSET_SD_START

    def subset(self, rows: np.ndarray) -> _Problem:
        """The same problem (same parameter layout) on some of the rows."""
        part = copy.copy(self)
        part.x_mu, part.x_q, part.x_r = self.x_mu[rows], self.x_q[rows], self.x_r[rows]
        part.group_index, part.n = self.group_index[rows], self.n[rows]
        part.value, part.exact = self.value[rows], self.exact[rows]
        return part

    def split(self, theta: np.ndarray) -> list[np.ndarray]:
        """theta -> [beta, alpha, gamma, offsets]."""
        return np.split(theta, np.cumsum(self.sizes)[:-1])

    def distribution(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per-row (n, q, mu, r) of the clearances."""
        beta, alpha, gamma, u = self.split(theta)
        mu, q, r = row_parameters(self.x_mu, self.x_q, self.x_r, beta, alpha, gamma, u[self.group_index])
        return self.n, q, mu, r

    def row_terms(self, theta: np.ndarray) -> tuple[np.ndarray, ...]:
        """Per-row log-likelihood and its derivatives in log mu, logit q, log r."""
        n, q, mu, r = self.distribution(theta)
        return clearance.log_likelihood(n, q, mu, r, self.value, self.exact)

    def penalty(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Minus the log prior and its gradient: Gaussian, class levels around their own mean.

        Centring the class levels (no separate intercept) keeps the problem free of a flat direction,
        and pulls a class without history to the average class.
        """
        beta, alpha, gamma, u = self.split(theta)
        coef = np.concatenate([beta, alpha, gamma])
        levels = beta[CLASS_TERMS] - beta[CLASS_TERMS].mean()
        value = 0.5 * (np.sum((coef / self.prior_sd) ** 2) + np.sum((levels / DEVIATION_PRIOR_SD) ** 2)
                       + np.sum((u / self.offset_sd) ** 2))
        grad = np.concatenate([coef / self.prior_sd**2, u / self.offset_sd**2])
        grad[: len(MU_TERMS)][CLASS_TERMS] += levels / DEVIATION_PRIOR_SD**2
        return value, grad

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        ll, d_mu, d_q, d_r = self.row_terms(theta)
        penalty, penalty_grad = self.penalty(theta)
        grad = np.concatenate([
            self.x_mu.T @ d_mu, self.x_q.T @ d_q, self.x_r.T @ d_r,
            np.bincount(self.group_index, weights=d_mu, minlength=len(self.groups)),
        ]) - penalty_grad
        return float(-(ll.sum() - penalty) / len(ll)), -grad / len(ll)

    def scale(self, theta: np.ndarray) -> np.ndarray:
        """Square roots of an outer-product estimate of the Hessian's diagonal, to precondition with."""
        _ll, d_mu, d_q, d_r = self.row_terms(theta)
        diag = np.concatenate([
            (self.x_mu**2).T @ d_mu**2, (self.x_q**2).T @ d_q**2, (self.x_r**2).T @ d_r**2,
            np.bincount(self.group_index, weights=d_mu**2, minlength=len(self.groups)),
        ])
        diag += np.concatenate([np.where(np.isfinite(self.prior_sd), self.prior_sd**-2, DEVIATION_PRIOR_SD**-2),
                                np.full(self.sizes[3], self.offset_sd**-2)])
        return np.sqrt(diag / len(d_mu))

    def start(self) -> np.ndarray:
        """A starting point: a few clearances, a tenth of those ahead cancelling, moderate spread."""
        theta = np.zeros(sum(self.sizes))
        beta, alpha, gamma, _u = self.split(theta)
        beta[CLASS_TERMS] = np.log(max(2.0, float(np.mean(self.value))))
        alpha[0], gamma[0] = -2.0, 1.0
        return theta

    def bounds(self) -> list[tuple[float, float]]:
        """Box bounds; the places already cleared may only raise the mean (keeps it monotone)."""
        coef = [(-COEF_LIMIT, COEF_LIMIT)] * (self.sizes[0] + self.sizes[1] + self.sizes[2])
        coef[MU_TERMS.index("log_cleared")] = (0.0, COEF_LIMIT)
        return coef + [(-OFFSET_LIMIT, OFFSET_LIMIT)] * self.sizes[3]

    def minimise(self, theta: np.ndarray) -> optimize.OptimizeResult:
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
                                options={"maxiter": MAX_ITERATIONS, "ftol": 1e-8, "gtol": 1e-5})
        res.x = res.x / scale
        return res

    def offset_spread(self, theta: np.ndarray) -> float:
        """Empirical Bayes update of the offsets' spread: posterior means and (outer-product) variances."""
        d_mu = self.row_terms(theta)[1]
        info = np.bincount(self.group_index, weights=d_mu**2, minlength=len(self.groups))
        u = self.split(theta)[3]
        return float(np.clip(np.sqrt(np.mean(u**2 + 1.0 / (info + self.offset_sd**-2))), *OFFSET_SD_LIMITS))


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


def fit(rows: list[dict[str, Any]], *, seed: int = 0, max_rows: int = MAX_FIT_ROWS) -> Model:
    """Fit the model to outcome rows (the contract's row format); raises ValueError if none is usable."""
    started = time.monotonic()
    parsed, outcomes, kept = parse_rows(rows)
    skipped = len(rows) - len(kept)
    if skipped:
        log.warning("skipped %d of %d outcome rows that are not valid", skipped, len(rows))
    if not parsed:
        raise ValueError("no usable outcome rows to fit")
    if len(parsed) > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(parsed), max_rows, replace=False))
        parsed, outcomes = [parsed[i] for i in keep], [outcomes[i] for i in keep]
    seen = Outcomes.of(parsed, outcomes)
    lower, guess = seen.initial()
    places = guess
    problem = _Problem(parsed)
    problem.value, problem.exact = seen.observations(places)
    theta, iterations, converged, rounds = problem.start(), 0, True, 0
    if len(parsed) > 2 * WARM_START_ROWS:
        # Most of the way on a sample: full-data iterations are what costs.
        sample = np.random.default_rng(seed).choice(len(parsed), WARM_START_ROWS, replace=False)
        theta = problem.subset(sample).minimise(theta).x
    for rounds in range(1, MAX_ROUNDS + 1):
        res = problem.minimise(theta)
        theta, iterations, converged = res.x, iterations + int(res.nit), bool(res.success)
        log.debug("round %d: %d iterations, %s", rounds, res.nit, res.message)
        new_places = seen.estimate(lower, guess, *problem.distribution(theta))
        spread = problem.offset_spread(theta)
        settled = (np.array_equal(new_places, places)
                   and abs(spread - problem.offset_sd) < EB_TOLERANCE * problem.offset_sd)
        places, problem.offset_sd = new_places, spread
        problem.value, problem.exact = seen.observations(places)
        if settled:
            break
    beta, alpha, gamma, u = problem.split(theta)
    ll = problem.row_terms(theta)[0]
    fitted_places = {q: int(k) for q, k in zip(seen.queues, places)}
    parameters = {
        "centers": dict(DEFAULT_CENTERS),
        "log_mean": dict(zip(MU_TERMS, beta.tolist())),
        "logit_cancel_ahead": dict(zip(Q_TERMS, alpha.tolist())),
        "log_size": dict(zip(R_TERMS, gamma.tolist())),
        "train_offset_sd": problem.offset_sd,
        "train_offsets": dict(zip(problem.groups.tolist(), u.tolist())),
        "rac_places": fitted_places,
        "rac_places_prior": medians(fitted_places),
    }
    metrics = {
        "rows": len(parsed), "rows_skipped": skipped, "train_classes": len(problem.groups),
        "queues_with_rac": len(seen.queues), "exact_rows": int(problem.exact.sum()),
        "log_likelihood_per_row": float(ll.mean()), "rounds": rounds, "iterations": iterations,
        "converged": converged, "fit_seconds": round(time.monotonic() - started, 3),
    }
    log.info("fitted %d rows over %d train-classes in %.1f s (%d rounds, offset sd %.3f, converged %s)",
             len(parsed), len(problem.groups), metrics["fit_seconds"], rounds, problem.offset_sd, converged)
    return Model(parameters, metrics=metrics)
