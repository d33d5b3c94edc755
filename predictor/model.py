"""The waitlist model: predictions for a batch of items, and its JSON model file.

For a passenger at waitlist position Y the clearances until the chart are N = M + A (see clearance.py);
the mean of M is log-linear in class, quota group, log time to chart (and its square), the booking
position (the train-date's rush) and the places already cleared, plus the queue's shrunken offset and
slope in log hours (fit.py). P(WL) = P(N < Y), P(RAC) = P(Y <= N < Y + K), P(CNF) = P(N >= Y + K),
K the places between RAC and a berth of the queue (places.py). What is not known of the journey (its
date offset, the queue's own offset and slope) is averaged over by Gauss-Hermite quadrature.
Where the model file has a section learnt from real outcomes (clearing.py), P(CNF or RAC) is that
section's, split into CNF and RAC in the structure's proportion. The model file is JSON (never
pickle), written atomically.
"""
from __future__ import annotations

import copy
import datetime as dt
import functools
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from plumbing.kept import Kept

from . import calibration, clearance, clearing
from .features import (
    DEFAULT_CENTERS,
    MU_TERMS,
    Q_TERMS,
    QUOTA_GROUPS,
    R_TERMS,
    Features,
    InvalidItem,
    design,
    item_id,
    parse_item,
    to_features,
)
from .places import prior_guess

log = logging.getLogger(__name__)

FORMAT = "pnr-predictor-model"
SCHEMA = 1
MAX_MODEL_FILE_BYTES = 64 * 1024 * 1024
MAX_OFFSET_SD = 100.0
QUADRATURE_NODES = 7  # Gauss-Hermite nodes over the unknown date offset
LOG_SIZE_LIMITS = (-8.0, 9.0)  # NB size between 3e-4 and 8e3: beyond, the numbers say nothing more
FINAL = ("CNF", "RAC", "WL")
# Results kept per normalised item: a PNR asked again (a crowd on one PNR, a page reloaded) is the
# same item until its hours to the chart move by 0.01 h, and a lookup of one item costs ~1 ms of numpy.
MEMO_ITEMS = 8192


class ModelFileError(ValueError):
    """A model file that cannot be read or does not hold a valid model."""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@functools.cache
def _quadrature() -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights averaging over a standard normal (Gauss-Hermite)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(QUADRATURE_NODES)
    return nodes, weights / weights.sum()


def log_size(x_r: np.ndarray, gamma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log r, softly held within LOG_SIZE_LIMITS, and its derivative in the linear predictor.

    Soft, not clipped: a hard clip would leave the likelihood flat in gamma where it binds while the
    gradient said otherwise, and the optimiser would stall there.
    """
    lo, hi = LOG_SIZE_LIMITS
    eta = x_r @ gamma
    return lo + np.logaddexp(0.0, eta - lo) - np.logaddexp(0.0, eta - hi), _sigmoid(eta - lo) - _sigmoid(eta - hi)


def row_parameters(x_mu: np.ndarray, x_q: np.ndarray, x_r: np.ndarray, beta: np.ndarray, alpha: np.ndarray,
                   gamma: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row (mu, q, r) of the clearance distribution from design matrices and coefficients."""
    mu = np.exp(np.clip(x_mu @ beta + offset, -30.0, 30.0))
    q = np.clip(_sigmoid(x_q @ alpha), 1e-12, 1 - 1e-12)
    r = np.exp(log_size(x_r, gamma)[0])
    return mu, q, r


def _as_float_map(value: object, what: str, keys: Sequence[str] | None = None) -> dict[str, float]:
    if not isinstance(value, dict):
        raise ModelFileError(f"{what} must be an object")
    out: dict[str, float] = {}
    for k, v in value.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
            raise ModelFileError(f"{what}[{k!r}] must be a finite number")
        out[str(k)] = float(v)
    if keys is not None and set(out) != set(keys):
        raise ModelFileError(f"{what} must have exactly the terms {', '.join(keys)}")
    return out


class Model:
    """A fitted waitlist model; never changed once made (treat `parameters` as read-only), so a daemon
    can swap models by reference."""

    def __init__(self, parameters: dict[str, Any], *, version: str | None = None,
                 created_at: str | None = None, metrics: dict[str, Any] | None = None):
        self.created_at = created_at or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.metrics = dict(metrics or {})
        self.parameters = self._checked(parameters)
        p = self.parameters
        self.beta = np.array([p["log_mean"][t] for t in MU_TERMS])
        self.alpha = np.array([p["logit_cancel_ahead"][t] for t in Q_TERMS])
        self.gamma = np.array([p["log_size"][t] for t in R_TERMS])
        digest = hashlib.sha256(json.dumps(p, sort_keys=True).encode()).hexdigest()[:10]
        self.version = version or f"{self.created_at.replace('-', '').replace(':', '')}-{digest}"
        self._memo: Kept[tuple[Any, ...], dict[str, Any]] = Kept(MEMO_ITEMS)  # of this model only: a reload starts afresh

    @staticmethod
    def _checked(p: object) -> dict[str, Any]:
        if not isinstance(p, dict):
            raise ModelFileError("parameters must be an object")
        centers = _as_float_map(p.get("centers", DEFAULT_CENTERS), "centers", tuple(DEFAULT_CENTERS))
        places = _as_float_map(p.get("rac_places", {}), "rac_places")
        prior = _as_float_map(p.get("rac_places_prior", {}), "rac_places_prior")
        if any(v < 0 or v != int(v) for v in [*places.values(), *prior.values()]):
            raise ModelFileError("RAC places must be non-negative integers")
        spreads = {}
        for key in ("train_offset_sd", "train_slope_sd", "date_offset_sd"):
            sd = p.get(key, 0.0)  # one spread for every quota group, or one per group
            by_group = _as_float_map(sd if isinstance(sd, dict) else dict.fromkeys(QUOTA_GROUPS, sd), key, QUOTA_GROUPS)
            if not all(0 <= x < MAX_OFFSET_SD for x in by_group.values()):
                raise ModelFileError(f"{key} must be in [0, {MAX_OFFSET_SD})")
            spreads[key] = by_group
        return {
            "centers": centers,
            "log_mean": _as_float_map(p.get("log_mean"), "log_mean", MU_TERMS),
            "logit_cancel_ahead": _as_float_map(p.get("logit_cancel_ahead"), "logit_cancel_ahead", Q_TERMS),
            "log_size": _as_float_map(p.get("log_size"), "log_size", R_TERMS),
            "train_offset_sd": spreads["train_offset_sd"],
            "train_offsets": _as_float_map(p.get("train_offsets", {}), "train_offsets"),
            "train_offset_sds": _as_float_map(p.get("train_offset_sds", {}), "train_offset_sds"),
            "train_slope_sd": spreads["train_slope_sd"],
            "train_slopes": _as_float_map(p.get("train_slopes", {}), "train_slopes"),
            "train_slope_sds": _as_float_map(p.get("train_slope_sds", {}), "train_slope_sds"),
            "date_offset_sd": spreads["date_offset_sd"],
            "rac_places": {k: int(v) for k, v in places.items()},
            "rac_places_prior": {k: int(v) for k, v in prior.items()},
            "calibration": Model._maps(p.get("calibration", {})),
            **Model._clearing(p.get("clearing")),
        }

    @staticmethod
    def _clearing(value: object) -> dict[str, Any]:
        """The optional section learnt from real outcomes (clearing.py): absent, the structure alone."""
        if value is None:
            return {}
        try:
            return {"clearing": clearing.check(value)}
        except ValueError as exc:
            raise ModelFileError(str(exc)) from exc

    @staticmethod
    def _maps(value: object) -> dict[str, list[float]]:
        """Recalibration maps (calibration.py), each [a, b, c]; missing ones are the identity."""
        if not isinstance(value, dict) or set(value) - set(calibration.MAPS):
            raise ModelFileError(f"calibration must be an object with some of {', '.join(calibration.MAPS)}")
        maps = {}
        for name in calibration.MAPS:
            abc = value.get(name, list(calibration.IDENTITY))
            if (not isinstance(abc, list) or len(abc) != len(calibration.IDENTITY)
                    or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x) for x in abc)):
                raise ModelFileError(f"calibration[{name!r}] must be {len(calibration.IDENTITY)} finite numbers")
            lo, hi = calibration.SLOPE_LIMITS
            if not all(lo <= x <= hi for x in abc[1:]):
                raise ModelFileError(f"calibration[{name!r}] slopes must be in [{lo}, {hi}]")
            maps[name] = [float(x) for x in abc]
        return maps

    def rac_places(self, f: Features) -> np.ndarray:
        """K for each item: the queue's learnt RAC places, else its class's, else a default."""
        places, prior = self.parameters["rac_places"], self.parameters["rac_places_prior"]
        rac = f.has_rac
        return np.array([(places[q] if q in places else prior_guess(prior, q)) if has else 0
                         for q, has in zip(f.queue, rac)], dtype=np.int64)

    def distribution(self, f: Features) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(n, q, mu, r) of each item's clearances N = M + Binomial(n, q), at the queue's offset."""
        p = self.parameters
        x_mu, x_q, x_r = design(f, p["centers"])
        hours = x_mu[:, MU_TERMS.index("log_hours")]
        offset = np.array([p["train_offsets"].get(queue, 0.0) for queue in f.queue])
        offset += hours * np.array([p["train_slopes"].get(queue, 0.0) for queue in f.queue])
        mu, q, r = row_parameters(x_mu, x_q, x_r, self.beta, self.alpha, self.gamma, offset)
        return f.current_position - 1, q, mu, r

    def uncertainty(self, f: Features) -> np.ndarray:
        """Spread of each item's unknown log-mean offset: its journey's date offset and what is not
        known of its queue's offset and slope (posterior spreads if the queue has history, else the
        priors')."""
        p = self.parameters
        hours = np.log1p(f.hours_to_chart) - p["centers"]["log_hours"]

        def by_group(key: str) -> np.ndarray:
            return np.array([p[key][g] for g in QUOTA_GROUPS])[f.group_index]

        known = np.array([queue in p["train_offsets"] for queue in f.queue])
        offset_sd = np.array([p["train_offset_sds"].get(queue, 0.0) for queue in f.queue])
        slope_sd = np.array([p["train_slope_sds"].get(queue, 0.0) for queue in f.queue])
        offset_sd = np.where(known, offset_sd, by_group("train_offset_sd"))
        slope_sd = np.where(known, slope_sd, by_group("train_slope_sd"))
        return np.sqrt(by_group("date_offset_sd") ** 2 + offset_sd**2 + (slope_sd * hours) ** 2)

    def probabilities(self, f: Features) -> dict[str, np.ndarray]:
        """P(CNF), P(RAC), P(WL) at the chart, the expected final status and its RAC/WL number.

        The journey's own date offset is unknown, so each probability is averaged over it (Gauss-Hermite
        quadrature of its normal distribution). The expected status is the median one (CNF if
        P(CNF) >= 1/2, else RAC if P(CNF or RAC) >= 1/2); its number is what the expected clearances
        leave, kept within that status.
        """
        n, q, mu, r = self.distribution(f)
        y, k = f.current_position, self.rac_places(f)
        nodes, weights = _quadrature()
        g = len(nodes)
        shift = np.exp(nodes[:, None] * self.uncertainty(f)[None, :])
        shifted = (mu[None, :] * shift).ravel()
        reach = clearance.prob_at_least(np.tile(n, 2 * g), np.tile(q, 2 * g), np.tile(shifted, 2),
                                        np.tile(r, 2 * g), np.concatenate([np.tile(y, g), np.tile(y + k, g)]))
        reach = weights @ reach.reshape(2 * g, len(y)).reshape(2, g, len(y))
        p_rac_or_better, p_cnf = np.clip(reach[0], 0.0, 1.0), np.clip(reach[1], 0.0, 1.0)
        p_cnf = np.where(k > 0, np.minimum(p_cnf, p_rac_or_better), p_rac_or_better)
        p_cnf, p_rac_or_better = calibration.calibrated(self.parameters["calibration"], p_cnf, p_rac_or_better, k > 0)
        if "clearing" in self.parameters:
            # Real outcomes say how likely the waitlist clears; the structure, how that splits.
            share_cnf = np.divide(p_cnf, p_rac_or_better, out=(k == 0).astype(float), where=p_rac_or_better > 1e-12)
            p_rac_or_better = clearing.probability(self.parameters["clearing"], f)
            p_cnf = p_rac_or_better * np.clip(share_cnf, 0.0, 1.0)
        final = np.where(p_cnf >= 0.5, 0, np.where(p_rac_or_better >= 0.5, 1, 2))
        expected = (weights @ shift) * mu + n * q
        left = y + k - np.rint(expected).astype(np.int64)  # place in the RAC-then-WL queue
        position = np.where(final == 1, np.clip(left, 1, np.maximum(k, 1)), np.clip(left - k, 1, y))
        return {"p_cnf": p_cnf, "p_rac": p_rac_or_better - p_cnf, "p_wl": 1.0 - p_rac_or_better,
                "final": final, "position": np.where(final == 0, 0, position)}

    def predict(self, items: Sequence[object]) -> list[dict[str, Any]]:
        """One result per item, in order; an invalid item gets {"id", "error"} instead of raising."""
        results: list[dict[str, Any] | None] = [None] * len(items)
        parsed, keys, where = [], [], []
        for i, item in enumerate(items):
            try:
                fields = parse_item(item)
            except InvalidItem as exc:
                results[i] = {"id": item_id(item), "error": str(exc)}
                continue
            key = tuple(fields.values())
            known = self._memo.get(key)
            if known is not None:
                results[i] = {"id": item_id(item), **known}
                continue
            parsed.append(fields)
            keys.append(key)
            where.append(i)
        if parsed:
            p = self.probabilities(to_features(parsed))
            for j, i in enumerate(where):
                final = FINAL[int(p["final"][j])]
                result = {"p_cnf": float(p["p_cnf"][j]), "p_rac": float(p["p_rac"][j]), "p_wl": float(p["p_wl"][j]),
                          "expected_final": final,
                          "expected_position": None if final == "CNF" else int(p["position"][j])}
                self._memo.put(keys[j], result)
                results[i] = {"id": item_id(items[i]), **result}
        return [r for r in results if r is not None]

    def to_dict(self) -> dict[str, Any]:
        """The model file's content (a copy: changing it leaves the model as it is)."""
        return copy.deepcopy({"format": FORMAT, "schema": SCHEMA, "version": self.version,
                              "created_at": self.created_at, "metrics": self.metrics, "parameters": self.parameters})

    @classmethod
    def from_dict(cls, data: object) -> Model:
        """A model from a model file's content; raises ModelFileError naming what is wrong."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ModelFileError(f"not a {FORMAT} file")
        if data.get("schema") != SCHEMA:
            raise ModelFileError(f"model schema {data.get('schema')!r} is not {SCHEMA}")
        version, created = data.get("version"), data.get("created_at")
        if not isinstance(version, str) or not version or not isinstance(created, str):
            raise ModelFileError("version and created_at must be strings")
        metrics, parameters = data.get("metrics", {}), data.get("parameters")
        if not isinstance(metrics, dict) or not isinstance(parameters, dict):
            raise ModelFileError("metrics and parameters must be objects")
        return cls(parameters, version=version, created_at=created, metrics=metrics)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model file atomically: temp file in the same directory, fsync, rename."""
        target = Path(path)
        body = json.dumps(self.to_dict(), indent=1, sort_keys=True, allow_nan=False).encode()
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a crash
        finally:
            os.close(dir_fd)
        log.info("saved model %s to %s", self.version, target)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Model:
        """Read a model file; raises ModelFileError (missing, too big, not JSON, not a model)."""
        try:
            with open(path, "rb") as fh:
                body = fh.read(MAX_MODEL_FILE_BYTES + 1)
        except OSError as exc:
            raise ModelFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
        if len(body) > MAX_MODEL_FILE_BYTES:
            raise ModelFileError(f"{path} is larger than {MAX_MODEL_FILE_BYTES} bytes")
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise ModelFileError(f"{path} is not valid JSON: {exc}") from exc
        return cls.from_dict(data)
