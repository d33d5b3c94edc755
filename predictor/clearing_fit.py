"""Fitting the clearing section (clearing.py) to outcome rows by penalised maximum likelihood.

Kept apart from clearing.py so that a predictor daemon, which only predicts, never loads
scipy.optimize.
"""
from __future__ import annotations

import logging
import math
import time
from collections import Counter
from typing import Any

import numpy as np
from scipy import optimize, special

from .clearing import TERMS, design, level_keys
from .features import InvalidItem, parse_item, to_features

log = logging.getLogger(__name__)

EFFECT_SD = 0.3  # of each level's intercepts, in log odds
COEF_L2 = 1e-3  # per unit of row weight: a nudge for terms the rows cannot tell (a class never seen)
MAX_ITERATIONS = 1000
# Converged to the optimum (the objective is strictly convex), not stopped near it: at L-BFGS-B's
# default tolerances the fitted chance moved by 1e-5 in Brier score between two CPUs' BLAS kernels
# (Haswell, SkylakeX); at these it agrees to 1e-8, for 0.2 s more on the 2013 rows.
TOLERANCES = {"ftol": 1e-14, "gtol": 1e-10}


def is_real(row: dict[str, Any]) -> bool:
    """Whether an outcome row was seen on the real railway: such rows name their `source` (the 2013
    readers', a deployment's tracked PNRs); simulated rows name none."""
    return (bool(row.get("source")) and row.get("source") != "simulator") or row.get("final_code") == "CNF_OR_RAC"


def outcome(row: dict[str, Any]) -> int:
    """1 if the row's passenger left the waitlist by the chart (CNF, RAC or either), 0 if not."""
    code = row.get("final_code")
    if code in ("CNF", "RAC", "CNF_OR_RAC"):
        return 1
    if code == "WL":
        return 0
    raise InvalidItem("final_code must be CNF, RAC, CNF_OR_RAC or WL")


def fit(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the clearing section of a model file, what the fit saw) from outcome rows; ValueError if
    none is usable."""
    started = time.monotonic()
    parsed, labels, passengers = [], [], []
    skipped: Counter[str] = Counter()
    for row in rows:
        try:
            item, label = parse_item(row), outcome(row)
        except InvalidItem as exc:
            skipped[str(exc)] += 1
            continue
        parsed.append(item)
        labels.append(label)
        passengers.append((row.get("source"), row.get("pnr"), row.get("journey_date"), row.get("passenger")))
    if skipped:
        log.warning("clearing: skipped %d of %d rows: %s", sum(skipped.values()), len(rows), dict(skipped))
    if not parsed:
        raise ValueError("no usable outcome rows to fit the clearing model on")
    f = to_features(parsed)
    x, y = design(f), np.array(labels, dtype=float)
    count = Counter(passengers)
    w = np.array([1.0 / math.sqrt(count[p]) for p in passengers])
    total = w.sum()
    index, names = [], []
    offset = 0
    for level, values in level_keys(f).items():
        uniq, inverse = np.unique(np.array(values), return_inverse=True)
        index.append(inverse + offset)
        names.append((level, uniq))
        offset += len(uniq)
    k = x.shape[1]
    ridge = np.full(k, COEF_L2)
    ridge[0] = 0.0

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        beta, u = theta[:k], theta[k:]
        z = x @ beta + sum(u[i] for i in index)
        residual = w * (special.expit(z) - y) / total
        value = (np.sum(w * (np.logaddexp(0.0, z) - y * z)) / total + np.sum(ridge * beta**2)
                 + 0.5 * np.sum(u**2) / EFFECT_SD**2 / total)
        grad_u = sum(np.bincount(i, weights=residual, minlength=offset) for i in index) + u / EFFECT_SD**2 / total
        return float(value), np.concatenate([x.T @ residual + 2 * ridge * beta, grad_u])

    res = optimize.minimize(objective, np.zeros(k + offset), jac=True, method="L-BFGS-B",
                            options={"maxiter": MAX_ITERATIONS, **TOLERANCES})
    beta, u = res.x[:k], res.x[k:]
    effects: dict[str, dict[str, float]] = {}
    start = 0
    for level, uniq in names:
        effects[level] = {str(key): round(float(v), 6) for key, v in zip(uniq, u[start:start + len(uniq)])}
        start += len(uniq)
    seconds = time.monotonic() - started
    log.info("clearing: fitted %d rows (%d passengers, %d queues) in %.1f s, converged %s", len(y), len(count),
             len(effects["queue"]), seconds, res.success)
    section = {"terms": dict(zip(TERMS, (round(float(b), 8) for b in beta))), "effects": effects}
    info = {"rows": len(y), "rows_skipped": sum(skipped.values()), "passengers": len(count),
            "queues": len(effects["queue"]), "fit_seconds": round(seconds, 3), "converged": bool(res.success)}
    return section, info
