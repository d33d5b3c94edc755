"""One refit of the trainer (app/jobs/trainer.py runs it in a child process): fit the model on
charted outcomes, publish it only if it is not worse.

The held-out set decides: the candidate and the current model are scored on the same journeys,
the candidate is written atomically only when its Brier score is no worse, and every predictor
is then asked to reload. The structure learns from complete charted outcomes: stored ones when
there are enough, else the simulator's past journeys, so the predictors always have a model to
start from. The chance of clearing learns from the stored real outcomes (`import-outcomes`, a
deployment's own tracked PNRs); with none stored, the current model's is kept.
"""
from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any

from predictor.clearing_fit import is_real
from predictor.client import PredictorClient, PredictorUnavailable
from predictor.evaluate import evaluate
from predictor.model import Model, ModelFileError
from predictor.training import learn

from .. import services
from ..services.store import StoreUnavailable, get_store

log = logging.getLogger(__name__)

MIN_STORED_ROWS = 2000
HELD_OUT_SHARE = 0.2
SIMULATED_TRAIN_DATES = 400  # as the shipped model and `flask evaluate`
SIMULATED_HELD_OUT_DATES = 160  # the first of the training train-dates, another seed
# Held-out journeys come from another seed than the training ones: no journey is in both.
HELD_OUT_SEED_OFFSET = 1_000_003
NOT_WORSE_BRIER = 1e-4


def held_out(row: dict[str, Any]) -> bool:
    """A stable split by train-date, so all observations of one journey fall on the same side."""
    key = f"{row.get('train_number')}|{row.get('journey_date')}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "big") / 2**32 < HELD_OUT_SHARE


def brier(scores: dict[str, Any]) -> float:
    """The publishing criterion: Brier score of P(CNF) (where held-out rows tell it) plus that of
    P(CNF or RAC), on held-out rows."""
    return float(scores.get("cnf", {"brier": 0.0})["brier"] + scores["cnf_or_rac"]["brier"])


def training_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """(train, held-out, where from): stored complete outcomes when there are enough, else the
    simulator's past journeys; with every stored real outcome, split alike by train-date."""
    try:
        stored = list(get_store().outcomes())
    except StoreUnavailable as exc:
        log.warning("trainer: store unavailable (%s); training on simulated journeys", exc)
        stored = []
    real = [r for r in stored if is_real(r)]
    complete = [r for r in stored if not is_real(r)]
    if len(complete) >= MIN_STORED_ROWS:
        train, test, origin = [r for r in complete if not held_out(r)], [r for r in complete if held_out(r)], "store"
    else:
        train, test, origin = *simulated_rows(len(complete)), "simulator"
    if real:
        origin += f" and {len(real)} stored real outcomes"
    return train + [r for r in real if not held_out(r)], test + [r for r in real if held_out(r)], origin


def simulated_rows(stored: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The simulator's past charted journeys: training ones, and held-out ones of another seed."""
    from railsim.railway import Railway  # the library, whatever source the site reads statuses from

    config = services.current().config
    seed = config["SIM_SEED"]
    railway = Railway(seed, config["SIM_ERA"])
    train = list(railway.charted_journeys(SIMULATED_TRAIN_DATES, seed=seed))
    test = list(railway.charted_journeys(SIMULATED_HELD_OUT_DATES, seed=seed + HELD_OUT_SEED_OFFSET))
    return train, test


def train_once(fresh_for_s: float = 0.0) -> dict[str, Any]:
    """One refit, unless the model file is younger than `fresh_for_s`; returns what happened."""
    path = Path(services.current().config["MODEL_PATH"])
    if fresh_for_s > 0 and path.exists():
        age_s = time.time() - path.stat().st_mtime
        if age_s < fresh_for_s:
            # A restart of the job must not refit a model that is still fresh.
            return {"skipped": "model fresh", "age_s": round(age_s)}
    train, test, origin = training_rows()
    try:
        current: Model | None = Model.load(path)
    except (OSError, ModelFileError) as exc:
        if path.exists():
            log.error("trainer: current model %s unreadable, replacing it: %s", path, exc)
        current = None
    candidate = learn(train, clearing=current.parameters.get("clearing") if current is not None else None)
    scores = evaluate(candidate, test)
    summary: dict[str, Any] = {"rows": len(train), "held_out": len(test), "from": origin, "brier": round(brier(scores), 5)}
    if current is not None:
        current_brier = brier(evaluate(current, test))
        summary["current_brier"] = round(current_brier, 5)
        if brier(scores) > current_brier + NOT_WORSE_BRIER:
            summary["published"] = False
            return summary
    candidate.save(path)
    summary.update(published=True, version=candidate.version)
    try:
        get_store().record_model(candidate.version, scores, str(path))
    except StoreUnavailable as exc:
        log.warning("trainer: model %s published but not recorded: %s", candidate.version, exc)
    summary["reloaded"] = reload_predictors()
    return summary


def reload_predictors() -> int:
    """Ask every predictor of the pool to load the new file; returns how many said yes."""
    cfg = services.current().config
    client = PredictorClient(cfg["PREDICTOR_ENDPOINTS"], request_timeout_ms=cfg["PREDICTOR_TIMEOUT_MS"], deadline_ms=cfg["PREDICTOR_DEADLINE_MS"])
    try:
        replies = client.reload_all()
    except PredictorUnavailable:
        return 0
    finally:
        client.close()
    return sum(1 for reply in replies.values() if isinstance(reply, dict) and reply.get("ok"))

