"""Simple predictors the model must beat, with the model's predict(items) interface.

- BaseRate: the training share of each final status, the same for everyone.
- Empirical: the method of INR-PNR-Prediction (DOMAIN.md 4.2): among past train-dates of the same
  train and class, observed at a similar time before the chart, the share whose clearances reached
  the passenger's deficit (Y + K for a berth, Y for RAC); averaged per train-date.
- Logistic: two logistic regressions (CNF; CNF or RAC) on the model's features, by scipy.optimize.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from scipy import optimize, special

from .features import (
    CLASSES,
    QUOTA_GROUPS,
    RAC_CLASSES,
    InvalidItem,
    item_id,
    parse_item,
    to_features,
)
from .fit import parse_rows
from .places import Outcomes, medians, prior_guess

HOURS_BAND_LOG = 0.4  # "similar time before the chart": within a factor e^0.4 ~ 1.5
MIN_DATES = 3  # fewer past train-dates than this: use the whole class
LOGISTIC_L2 = 1e-3


def _results(items: list[Any], p_cnf: np.ndarray, p_rac: np.ndarray, where: list[int],
             errors: dict[int, str]) -> list[dict[str, Any]]:
    """Results in the model's shape (no expected status: baselines give probabilities only)."""
    out: list[dict[str, Any]] = []
    j = 0
    for i, item in enumerate(items):
        if i in errors:
            out.append({"id": item_id(item), "error": errors[i]})
            continue
        c, r = float(p_cnf[j]), float(p_rac[j])
        out.append({"id": item_id(item), "p_cnf": c, "p_rac": r, "p_wl": max(0.0, 1.0 - c - r)})
        j += 1
    return out


def _parse(items: list[Any]) -> tuple[list[dict[str, Any]], list[int], dict[int, str]]:
    parsed, where, errors = [], [], {}
    for i, item in enumerate(items):
        try:
            parsed.append(parse_item(item))
            where.append(i)
        except InvalidItem as exc:
            errors[i] = str(exc)
    return parsed, where, errors


class BaseRate:
    """Everyone gets the training shares of CNF and RAC (RAC only where the class has it)."""

    def __init__(self, rows: list[dict[str, Any]]):
        _parsed, outcomes, _ = parse_rows(rows)
        codes = [c for c, _ in outcomes]
        self.p_cnf = codes.count("CNF") / max(1, len(codes))
        self.p_rac = codes.count("RAC") / max(1, len(codes))

    def predict(self, items: list[Any]) -> list[dict[str, Any]]:
        """The base rates for every valid item."""
        parsed, where, errors = _parse(items)
        f = to_features(parsed)
        p_rac = np.where(f.has_rac, self.p_rac, 0.0)
        return _results(items, np.full(len(parsed), self.p_cnf), p_rac, where, errors)


class Empirical:
    """Share of past train-dates whose clearances from a similar time on reached the deficit."""

    def __init__(self, rows: list[dict[str, Any]]):
        parsed, outcomes, kept = parse_rows(rows)
        seen = Outcomes.of(parsed, outcomes)
        _lower, guess, _spread = seen.initial()
        self.places = {q: int(k) for q, k in zip(seen.queues, guess)}
        self.prior = medians(self.places)
        # Clearances each row saw, as that method counts them: a RAC number at the chart as if RAC was
        # full, a confirmation as just enough (the chart does not say how many more).
        k = np.where(seen.queue_index >= 0, guess[np.maximum(seen.queue_index, 0)], 0)
        y, f = seen.current_position, seen.final_position
        value = np.select([seen.code == 2, seen.code == 1], [y - f, k + y - f], k + y)
        dates = [str(rows[i].get("journey_date", "")) for i in kept]
        self.history: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        groups: dict[str, list[int]] = defaultdict(list)
        for i, p in enumerate(parsed):
            groups[p["train_class"]].append(i)
            groups[p["journey_class"]].append(i)
        hours = np.log1p([p["hours_to_chart"] for p in parsed])
        date_ids = np.unique(np.array(dates), return_inverse=True)[1] if dates else np.zeros(0, dtype=int)
        for key, idx in groups.items():
            ix = np.array(idx)
            order = np.argsort(hours[ix])
            self.history[key] = (hours[ix][order], value[ix][order], date_ids[ix][order])

    def _share(self, key: str, hours: float, deficit: int) -> float | None:
        hist = self.history.get(key)
        if hist is None:
            return None
        h, cleared, date = hist
        lo, hi = np.searchsorted(h, [hours - HOURS_BAND_LOG, hours + HOURS_BAND_LOG])
        if len(np.unique(date[lo:hi])) < MIN_DATES:
            return None
        reached = np.bincount(date[lo:hi], weights=cleared[lo:hi] >= deficit)
        count = np.bincount(date[lo:hi])
        return float(np.mean(reached[count > 0] / count[count > 0]))

    def predict(self, items: list[Any]) -> list[dict[str, Any]]:
        """P(CNF) and P(RAC) as shares of past train-dates that cleared far enough."""
        parsed, where, errors = _parse(items)
        p_cnf, p_rac = np.zeros(len(parsed)), np.zeros(len(parsed))
        for j, p in enumerate(parsed):
            k = 0
            if p["journey_class"] in RAC_CLASSES:
                k = self.places.get(p["queue"], prior_guess(self.prior, p["queue"]))
            hours, y = float(np.log1p(p["hours_to_chart"])), p["current_position"]
            shares = []
            for deficit in (y + k, y):
                share = self._share(p["train_class"], hours, deficit)
                shares.append(self._share(p["journey_class"], hours, deficit) if share is None else share)
            cnf, any_place = (s if s is not None else 0.0 for s in shares)
            p_cnf[j], p_rac[j] = cnf, max(0.0, any_place - cnf)
        return _results(items, p_cnf, p_rac, where, errors)


def _logistic_features(parsed: list[dict[str, Any]]) -> np.ndarray:
    f = to_features(parsed)
    n = len(f)
    cls = np.zeros((n, len(CLASSES)))
    cls[np.arange(n), f.class_index] = 1.0
    grp = np.zeros((n, len(QUOTA_GROUPS)))
    grp[np.arange(n), f.group_index] = 1.0
    return np.column_stack([cls, grp[:, 1:], np.log1p(f.hours_to_chart), np.log1p(f.booking_position),
                            np.log1p(f.current_position), np.log1p(f.booking_position - f.current_position)])


def _fit_logistic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ w
        value = np.sum(np.logaddexp(0.0, z) - y * z) / len(y) + 0.5 * LOGISTIC_L2 * w @ w
        return float(value), x.T @ (special.expit(z) - y) / len(y) + LOGISTIC_L2 * w

    return optimize.minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B").x


class Logistic:
    """Logistic regressions for P(CNF) and P(CNF or RAC) on class, quota group, hours and positions."""

    def __init__(self, rows: list[dict[str, Any]]):
        parsed, outcomes, _ = parse_rows(rows)
        x = _logistic_features(parsed)
        codes = np.array([c for c, _ in outcomes])
        self.w_cnf = _fit_logistic(x, (codes == "CNF").astype(float))
        self.w_any = _fit_logistic(x, (codes != "WL").astype(float))

    def predict(self, items: list[Any]) -> list[dict[str, Any]]:
        """Probabilities from the two regressions, P(CNF or RAC) kept at least P(CNF)."""
        parsed, where, errors = _parse(items)
        if not parsed:
            return _results(items, np.zeros(0), np.zeros(0), where, errors)
        x = _logistic_features(parsed)
        p_cnf = special.expit(x @ self.w_cnf)
        p_any = np.maximum(special.expit(x @ self.w_any), p_cnf)
        has_rac = to_features(parsed).has_rac
        return _results(items, np.where(has_rac, p_cnf, p_any), np.where(has_rac, p_any - p_cnf, 0.0),
                        where, errors)
