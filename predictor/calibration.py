"""Recalibration of the model's probabilities, learnt from journeys the structure was not fitted on.

The structural model (fit.py) is fitted on thinned rows: a few passengers per queue, journey and
hour, so that a long waitlist on one busy day does not pass for certainty. Visitors, though, come
from every row, and the busy days with long waitlists are most of them; on those the structure
over-promises (on simulated journeys: 25 % predicted, 20 % confirmed). A logistic map on the
logit of each probability corrects that, fitted by cross-fitting: the training journeys are split
in folds by train-date, the structure is fitted without each fold and predicts it, and the maps
are fitted to those out-of-fold predictions, every row counting alike (rows drawn at random, as
many as a map's three parameters need: fit.MAX_CALIBRATION_ROWS). Fitting them to in-sample
predictions would teach the wrong lesson (there, the queue offsets are known and the model looks
under-confident).

Three maps: P(CNF) and P(CNF or RAC) where RAC places stand between the waitlist and a berth, and
the one probability of queues without them. A map is beta calibration (Kull, Silva Filho and
Flach, 2017), (a, b, c): p' = sigmoid(a + b log p - c log(1 - p)); the identity is (0, 1, 1), and
a model file without maps predicts as it was fitted. Unlike a logistic map on logit p (b = c), it
can pull the low probabilities down while pushing the high ones up, which is how the structure
errs (held-out, 320 train-dates: ECE 0.048 raw, 0.025 with b = c, 0.015 with both).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

MAPS = ("rac_cnf", "rac_any", "plain")
IDENTITY = (0.0, 1.0, 1.0)
LOGIT_LIMIT = 12.0  # probabilities within 6e-6 of 0 or 1 say no more than that
PRIOR_SD = 1.0  # weak pull towards the identity: a map from few rows stays near it
SLOPE_LIMITS = (0.2, 5.0)
MIN_ROWS = 200
MIN_EACH = 20  # fewer rows than this of either outcome: nothing to learn the map from


def _design(p: np.ndarray) -> np.ndarray:
    """Columns 1, log p, -log(1 - p), with p held within LOGIT_LIMIT of 0 and 1."""
    p = np.clip(p, special.expit(-LOGIT_LIMIT), special.expit(LOGIT_LIMIT))
    return np.column_stack([np.ones_like(p), np.log(p), -np.log1p(-p)])


def apply(abc: tuple[float, ...] | list[float], p: np.ndarray) -> np.ndarray:
    """p' = sigmoid(a + b log p - c log(1 - p)); exact 0 and 1 stay where they are."""
    p = np.asarray(p, dtype=float)
    out = np.asarray(special.expit(_design(p) @ np.asarray(abc, dtype=float)))
    return np.where((p <= 0.0) | (p >= 1.0), p, out)


def fit_map(p: np.ndarray, y: np.ndarray) -> tuple[float, ...]:
    """Maximum a posteriori (a, b, c) for outcomes y in {0, 1} predicted as p; identity if too
    little data to learn from."""
    if len(p) < MIN_ROWS or min(int(y.sum()), int(len(y) - y.sum())) < MIN_EACH:
        return IDENTITY
    from scipy import optimize  # fitting only: the daemon starts faster without it (a restart is an outage)

    x = _design(p)
    n = len(x)
    identity = np.array(IDENTITY)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ theta
        nll = np.logaddexp(0.0, z) - y * z  # -log-likelihood of Bernoulli(sigmoid(z)), stable
        prior = np.sum(((theta - identity) / PRIOR_SD) ** 2) / 2
        grad = x.T @ (special.expit(z) - y) + (theta - identity) / PRIOR_SD**2
        return float((nll.sum() + prior) / n), grad / n

    res = optimize.minimize(objective, identity, jac=True, method="L-BFGS-B",
                            bounds=[(-LOGIT_LIMIT, LOGIT_LIMIT), SLOPE_LIMITS, SLOPE_LIMITS])
    return tuple(float(t) for t in res.x)


def fit_maps(p_cnf: np.ndarray, p_any: np.ndarray, has_rac: np.ndarray, codes: np.ndarray) -> dict[str, list[float]]:
    """The three maps from out-of-fold predictions and the charted codes ("CNF", "RAC", "WL")."""
    cnf, any_ = (codes == "CNF").astype(float), (codes != "WL").astype(float)
    rac, plain = has_rac, ~has_rac
    return {
        "rac_cnf": list(fit_map(p_cnf[rac], cnf[rac])),
        "rac_any": list(fit_map(p_any[rac], any_[rac])),
        "plain": list(fit_map(p_any[plain], any_[plain])),
    }


def calibrated(maps: dict[str, Any], p_cnf: np.ndarray, p_any: np.ndarray, has_rac: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """(P(CNF), P(CNF or RAC)) after the maps; P(CNF) never above P(CNF or RAC), and equal to it
    where no RAC places stand between."""
    plain = apply(maps["plain"], p_any)
    rac_any = apply(maps["rac_any"], p_any)
    rac_cnf = np.minimum(apply(maps["rac_cnf"], p_cnf), rac_any)
    return np.where(has_rac, rac_cnf, plain), np.where(has_rac, rac_any, plain)


def folds(keys: list[str], n_folds: int, seed: int) -> np.ndarray:
    """Fold number of each row, whole journeys (train-dates) together, in random order."""
    unique, index = np.unique(np.array(keys), return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(unique))
    return (order % n_folds)[index]
